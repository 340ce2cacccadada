//! `refsync review match confirm|reject`: a steward's verdict on a record's match.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Format;
use crate::config::Config;
use crate::domain::tune::MatchVerdict;
use crate::store::Store;
use crate::sync::verdicts::{judge, Pair};

#[derive(Debug, Subcommand)]
pub enum MatchCommand {
    /// The register record is the same entity as the CRM record.
    Confirm(MatchArgs),
    /// It is not (evidence for `refsync tune`; reject or flag its changes to stop them).
    Reject(MatchArgs),
}

#[derive(Debug, Args)]
pub struct MatchArgs {
    #[arg(long)]
    job: String,
    /// The CRM record id.
    #[arg(long)]
    record: String,
    /// The register record, if not the record's current match (a candidate `refsync
    /// explain` or `review show` lists).
    #[arg(long)]
    register: Option<String>,
    /// Who decides, for the audit log.
    #[arg(long, env = "USER", default_value = "cli")]
    by: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn run(
    config: &Config,
    store: &Store,
    command: MatchCommand,
) -> anyhow::Result<ExitCode> {
    let (verdict, args) = match command {
        MatchCommand::Confirm(args) => (MatchVerdict::Confirmed, args),
        MatchCommand::Reject(args) => (MatchVerdict::Rejected, args),
    };
    super::job(config, &args.job)?;
    let pair = Pair {
        job: args.job,
        record_id: args.record,
        register_id: args.register,
    };
    let row = judge(store, pair, verdict, &args.by)
        .await
        .map_err(super::sync_error)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&row)?),
        Format::Table => println!(
            "match of record {} (job {}) with register record {} (probability {:.3}) {} by {}",
            row.record_id, row.job, row.register_id, row.score, row.verdict, row.decided_by
        ),
    }
    Ok(ExitCode::SUCCESS)
}
