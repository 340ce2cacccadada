use std::process::ExitCode;

use clap::Args;

use super::{Format, UsageError};
use crate::config::Config;
use crate::store::Store;
use crate::sync::revert::{revert, Target};
use crate::sync::SyncError;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["change", "pass", "merge"])))]
pub struct RevertArgs {
    /// Restore the value one applied change replaced.
    #[arg(long)]
    change: Option<i64>,
    /// Restore every value a pass changed.
    #[arg(long)]
    pass: Option<i64>,
    /// Undo an applied merge of duplicates: the survivor's values back, the merged records
    /// active again, the rows it repointed pointing at them again.
    #[arg(long)]
    merge: Option<i64>,
    /// Who reverts, for the audit log.
    #[arg(long, env = "USER", default_value = "cli")]
    by: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn run(config: &Config, store: &Store, args: RevertArgs) -> anyhow::Result<ExitCode> {
    if let Some(id) = args.merge {
        return revert_merge(config, store, id, &args.by, args.format).await;
    }
    let target = match (args.change, args.pass) {
        (Some(id), _) => Target::Change(id),
        (None, Some(pass)) => Target::Pass(pass),
        (None, None) => {
            return Err(UsageError("name --change ID, --pass ID or --merge ID".into()).into())
        }
    };
    let report = match revert(config, store, target, &args.by).await {
        Err(SyncError::Refused(why)) => return Err(UsageError(why).into()),
        other => other?,
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => println!(
            "{} revert change(s): {} applied, {} conflicts (the CRM value changed since; not overwritten), {} failed",
            report.reverts.len(),
            report.counts.applied,
            report.counts.conflicts,
            report.counts.failed
        ),
    }
    Ok(if report.counts.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn revert_merge(
    config: &Config,
    store: &Store,
    id: i64,
    by: &str,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let merge = match crate::sync::duplicates::revert(config, store, id, by).await {
        Err(SyncError::Refused(why)) => return Err(UsageError(why).into()),
        other => other?,
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&merge)?),
        Format::Table => match &merge.error {
            None => println!(
                "merge {id} of cluster {}: {}",
                merge.cluster_id, merge.status
            ),
            Some(e) => println!("merge {id} of cluster {}: {e}", merge.cluster_id),
        },
    }
    // A revert stopped by an edit is work not done.
    Ok(if merge.error.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
