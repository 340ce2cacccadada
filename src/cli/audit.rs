use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::output::{clip, print_list};
use super::Format;
use crate::store::audit::{self, AuditFilter, AuditRow};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit entries, newest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, default_value_t = 200)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Every matching entry, oldest first, as CSV or JSON (to a file or stdout).
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the hash chain of the whole log; names the first entry that was tampered with.
    Verify,
}

#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    #[arg(long)]
    job: Option<String>,
    #[arg(long)]
    record: Option<String>,
    #[arg(long)]
    change: Option<i64>,
    #[arg(long)]
    pass: Option<i64>,
}

impl FilterArgs {
    fn filter(self, limit: Option<i64>) -> AuditFilter {
        AuditFilter {
            job: self.job,
            record_id: self.record,
            change_id: self.change,
            pass_id: self.pass,
            actor: None,
            limit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

pub async fn run(store: &Store, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::List {
            filter,
            limit,
            format,
        } => {
            let filter = filter.filter(Some(limit));
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
        AuditCommand::Export {
            filter,
            format,
            out,
        } => {
            let filter = filter.filter(None);
            let mut rows = store.db.run(move |conn| audit::list(conn, &filter)).await?;
            rows.reverse();
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            match format {
                ExportFormat::Json => {
                    serde_json::to_writer_pretty(&mut sink, &rows)?;
                    writeln!(sink)?;
                }
                ExportFormat::Csv => audit::write_csv(&rows, sink)?,
            }
            if let Some(path) = out {
                eprintln!("{} audit entries written to {}", rows.len(), path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let (checked, broken) = store.db.run(audit::verify).await?;
            match broken {
                None => {
                    println!("audit log intact: {checked} entries, hash chain verified");
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    println!("audit log BROKEN at entry {}: {}", b.id, b.problem);
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
