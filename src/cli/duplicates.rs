use std::process::ExitCode;

use clap::Subcommand;

use super::output::{clip, print_list};
use super::{sync_error, Format, UsageError};
use crate::config::Config;
use crate::domain::model::MergeStatus;
use crate::store::Store;
use crate::sync::duplicates::{self, MergeVerdict, MergeView};

#[derive(Debug, Subcommand)]
pub enum DuplicatesCommand {
    /// List proposed merges of duplicates (default: those waiting for a decision).
    List {
        #[arg(long)]
        job: Option<String>,
        /// Only merges in this status (default `proposed`).
        #[arg(long, value_parser = parse_status, conflicts_with = "all")]
        status: Option<MergeStatus>,
        /// Every status.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one merge: its records and the merged record, each value with its source.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Approve a proposed merge; `refsync duplicates apply` writes it to the CRM.
    Approve {
        id: i64,
        /// Who decides, for the audit log.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Write the approved merges to the CRM, each in one transaction: the merged values
    /// onto the survivor, foreign keys repointed to it, the other records deactivated.
    /// A merge whose records were edited or deleted since the proposal fails alone.
    Apply {
        /// Only this job's merges.
        #[arg(long)]
        job: Option<String>,
        /// Who applies, for the audit log.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Reject a proposed merge; not proposed again while its records stay as they are.
    Reject {
        id: i64,
        /// Who decides, for the audit log.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Split records out of a proposed merge's cluster: they are not the others' entity.
    /// The merge is rejected; no pass joins them with the others again, and the records
    /// that stay together are proposed afresh.
    Split {
        id: i64,
        /// A record to split out (repeatable).
        #[arg(long = "record", required = true)]
        records: Vec<String>,
        /// Who decides, for the audit log.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
}

fn parse_status(s: &str) -> Result<MergeStatus, String> {
    s.parse()
}

pub async fn run(
    config: &Config,
    store: &Store,
    command: DuplicatesCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        DuplicatesCommand::List {
            job,
            status,
            all,
            format,
        } => {
            let status = if all {
                None
            } else {
                Some(status.unwrap_or(MergeStatus::Proposed))
            };
            let merges = duplicates::list(store, job, status)
                .await
                .map_err(sync_error)?;
            print_list(format, HEADERS, &merges, cells)?;
        }
        DuplicatesCommand::Show { id, format } => {
            let Some(merge) = duplicates::show(store, id).await.map_err(sync_error)? else {
                return Err(UsageError(format!(
                    "no merge {id}; `refsync duplicates list --all` shows the ids"
                ))
                .into());
            };
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&merge)?),
                Format::Table => print_merge(&merge),
            }
        }
        DuplicatesCommand::Approve { id, by } => {
            decide(store, id, MergeVerdict::Approve, &by).await?;
        }
        DuplicatesCommand::Apply { job, by } => return apply(config, store, job, &by).await,
        DuplicatesCommand::Reject { id, by } => {
            decide(store, id, MergeVerdict::Reject, &by).await?;
        }
        DuplicatesCommand::Split { id, records, by } => {
            decide(store, id, MergeVerdict::Split(records), &by).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide(store: &Store, id: i64, verdict: MergeVerdict, by: &str) -> anyhow::Result<()> {
    let merge = duplicates::decide(store, id, verdict, by)
        .await
        .map_err(sync_error)?;
    println!(
        "merge {} of cluster {} ({} records): {}",
        merge.id,
        merge.cluster_id,
        serde_json::from_str::<Vec<String>>(&merge.members).map_or(0, |m| m.len()),
        merge.status
    );
    Ok(())
}

async fn apply(
    config: &Config,
    store: &Store,
    job: Option<String>,
    by: &str,
) -> anyhow::Result<ExitCode> {
    let settled = duplicates::apply_approved(config, store, job.as_deref(), by)
        .await
        .map_err(sync_error)?;
    if settled.is_empty() {
        println!("no approved merges to apply");
    }
    for m in &settled {
        match &m.error {
            None => println!(
                "merge {} of cluster {} (job `{}`): {}",
                m.id, m.cluster_id, m.job, m.status
            ),
            Some(e) => println!(
                "merge {} of cluster {} (job `{}`): {}: {e}",
                m.id, m.cluster_id, m.job, m.status
            ),
        }
    }
    // A merge that failed is work not done: exit 1, like `review apply`.
    Ok(if settled.iter().any(|m| m.error.is_some()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

const HEADERS: &[&str] = &[
    "id", "job", "cluster", "records", "survivor", "weakest", "review", "status",
];

fn cells(m: &MergeView) -> Vec<String> {
    vec![
        m.id.to_string(),
        m.job.clone(),
        m.cluster_id.clone(),
        m.members.len().to_string(),
        m.golden.survivor.clone(),
        format!("{:.3}", m.weakest_link),
        if m.review { "yes" } else { "" }.to_string(),
        m.status.to_string(),
    ]
}

fn print_merge(m: &MergeView) {
    println!(
        "merge {} · job {} · cluster {} · status {}",
        m.id, m.job, m.cluster_id, m.status
    );
    println!("  records    {}", m.members.join(", "));
    println!("  survivor   {}", m.golden.survivor);
    println!("  weakest    {:.3}", m.weakest_link);
    if m.review {
        println!("  review     the chaining guard kept a record out of this cluster: look closer");
    }
    println!("  merged record (field, value, from record, rule):");
    for (field, kept) in &m.golden.values {
        println!(
            "    {:<18} {:<40} {:<12} {}",
            field.as_str(),
            clip(Some(&kept.value), 40),
            kept.from,
            kept.rule.map_or("all agree or tie", |r| r.as_str())
        );
    }
    if let (Some(by), Some(at)) = (&m.decided_by, m.decided_at) {
        println!("  decided    {} by {by}", at.format("%Y-%m-%d %H:%M:%S"));
    }
    if let Some(e) = &m.error {
        println!("  note       {e}");
    }
}
