use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::output::{clip, print_list};
use super::Format;
use crate::store::audit::{self, AuditFilter, AuditRow, CheckpointCheck, Verification};
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
                        a.action.to_string(),
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
            let seal = store.seal.clone();
            let found = store.db.run(move |conn| audit::verify(conn, &seal)).await?;
            let lines = verify_lines(&found, &store.seal.checkpoint_path);
            for line in &lines {
                println!("{line}");
            }
            Ok(if found.intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// What `audit verify` prints: a first line that says intact or names the first problem,
/// then one line per further finding.
fn verify_lines(found: &Verification, checkpoint: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(b) = &found.broken {
        lines.push(format!("audit log BROKEN at entry {}: {}", b.id, b.problem));
    }
    for r in &found.unexplained_redactions {
        lines.push(format!("audit log entry {} is FORGED: {}", r.id, r.problem));
    }
    let at = |at: &chrono::NaiveDateTime| at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let file = checkpoint.display();
    let restored = format!(
        "if the store was restored from a backup on purpose, keep the old log and remove {file}"
    );
    match &found.checkpoint {
        CheckpointCheck::Missing => {}
        CheckpointCheck::Reached { .. } => {}
        CheckpointCheck::Emptied { entries, at: when } => lines.push(format!(
            "audit log EMPTIED: the table has no entries, but the checkpoint of {} counted {entries}; {restored}",
            at(when)
        )),
        CheckpointCheck::TailRemoved {
            entries,
            found: now,
            at: when,
        } => lines.push(format!(
            "audit log TAIL REMOVED: {now} entries, but the checkpoint of {} counted {entries}: the last {} are gone; {restored}",
            at(when),
            entries - now
        )),
        CheckpointCheck::HeadDiffers { entries, at: when } => lines.push(format!(
            "audit log REWRITTEN: entry number {entries} is not the head the checkpoint of {} recorded: the tail was replaced or the chain recomputed; {restored}",
            at(when)
        )),
        CheckpointCheck::Unusable(problem) => lines.push(format!(
            "audit checkpoint UNUSABLE: {problem}"
        )),
    }
    if lines.is_empty() {
        lines.push(format!(
            "audit log intact: {} entries, hash chain verified",
            found.entries
        ));
    }
    if found.unkeyed > 0 {
        lines.push(format!(
            "  {} entries from before the audit key verify by the unkeyed rule of their time",
            found.unkeyed
        ));
    }
    match &found.checkpoint {
        CheckpointCheck::Missing => lines.push(format!(
            "  no checkpoint at {file} yet (a new install): it is written after the next pass or command that adds entries"
        )),
        CheckpointCheck::Reached { entries, at: when } => lines.push(format!(
            "  checkpoint of {}: {entries} entries, its head found in place",
            at(when)
        )),
        // A checkpoint that disagrees was named above, with its file.
        _ => {}
    }
    lines
}
