use std::process::ExitCode;

use clap::Subcommand;

use super::output::{clip, print_list};
use super::Format;
use crate::store::audit::{self, AuditFilter, AuditRow};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit entries, newest first.
    List {
        #[arg(long)]
        job: Option<String>,
        #[arg(long)]
        record: Option<String>,
        #[arg(long)]
        change: Option<i64>,
        #[arg(long, default_value_t = 200)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub async fn run(store: &Store, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::List {
        job,
        record,
        change,
        limit,
        format,
    } = command;
    let filter = AuditFilter {
        job,
        record_id: record,
        change_id: change,
        limit: Some(limit),
    };
    let rows = store.db.run(move |conn| audit::list(conn, &filter)).await?;
    print_list(
        format,
        &[
            "id", "at", "actor", "action", "job", "record", "field", "old", "new", "change",
        ],
        &rows,
        |a: &AuditRow| {
            vec![
                a.id.to_string(),
                a.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                a.actor.clone(),
                a.action.clone(),
                a.job.clone(),
                a.record_id.clone(),
                a.field.clone().unwrap_or_default(),
                clip(a.old_value.as_deref(), 24),
                clip(a.new_value.as_deref(), 24),
                a.change_id.map(|c| c.to_string()).unwrap_or_default(),
            ]
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
