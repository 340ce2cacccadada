//! `refsync retention run`: pseudonymise old values now (the daemon does it on schedule).

use std::process::ExitCode;

use clap::Subcommand;

use super::{sync_error, Format};
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Pseudonymise audit and change values older than [privacy] retention_days and remove
    /// expired telephone consent proofs of erased contacts.
    Run {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub async fn run(
    config: &Config,
    store: &Store,
    cmd: RetentionCommand,
) -> anyhow::Result<ExitCode> {
    let RetentionCommand::Run { format } = cmd;
    let r = crate::sync::retention::run(config, store)
        .await
        .map_err(sync_error)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        Format::Table => {
            match r.cutoff {
                Some(cutoff) => println!(
                    "values older than {} pseudonymised: {} audit entries, {} changes",
                    cutoff.format("%Y-%m-%d %H:%M"),
                    r.audit_entries_pseudonymised,
                    r.changes_pseudonymised
                ),
                None => println!("no [privacy] retention_days set: values are kept"),
            }
            println!(
                "expired telephone consent proofs removed: {}",
                r.phone_proofs_removed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
