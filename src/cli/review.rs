use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::output::{clip, print_list};
use super::{Format, UsageError};
use crate::config::Config;
use crate::domain::lifecycle::Verdict;
use crate::domain::model::ChangeStatus;
use crate::store::audit::{self, AuditFilter};
use crate::store::changes::{self, ChangeFilter, ChangeRow};
use crate::store::{status, Store};
use crate::sync::apply::{apply_approved, ApplyCounts};
use crate::sync::review::decide;

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List changes (default: those waiting for review).
    List(ListArgs),
    /// Show one change with the match explanation and its history.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Approve changes by id or by filter; `--value` edits the new value first.
    Approve {
        #[command(flatten)]
        select: Select,
        /// The value to write instead of the register's (one change only).
        #[arg(long)]
        value: Option<String>,
    },
    /// Reject changes by id or by filter; not proposed again while the CRM value stays.
    Reject {
        #[command(flatten)]
        select: Select,
    },
    /// Mark the register value wrong for this record: never proposed for it again.
    Wrong {
        #[command(flatten)]
        select: Select,
    },
    /// Say whether a record's match is right: evidence for `refsync tune`.
    #[command(subcommand)]
    Match(super::review_match::MatchCommand),
    /// Write approved changes to the CRM (guarded: a value edited meanwhile is a conflict).
    Apply {
        /// Only this job's changes.
        #[arg(long)]
        job: Option<String>,
        /// Who applies, for the audit log.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    job: Option<String>,
    /// Statuses to list (repeatable); default `proposed`.
    #[arg(long = "status", value_parser = parse_status)]
    statuses: Vec<ChangeStatus>,
    /// Every status.
    #[arg(long, conflicts_with = "statuses")]
    all: bool,
    #[arg(long)]
    pass: Option<i64>,
    #[arg(long)]
    field: Option<String>,
    #[arg(long)]
    record: Option<String>,
    #[arg(long, default_value_t = 200)]
    limit: i64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
pub struct Select {
    /// Change ids.
    ids: Vec<i64>,
    /// Every proposed change of this job …
    #[arg(long)]
    job: Option<String>,
    /// … of this pass …
    #[arg(long)]
    pass: Option<i64>,
    /// … of this field …
    #[arg(long)]
    field: Option<String>,
    /// … of this record.
    #[arg(long)]
    record: Option<String>,
    /// Who decides, for the audit log.
    #[arg(long, env = "USER", default_value = "cli")]
    by: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_status(s: &str) -> Result<ChangeStatus, String> {
    s.parse()
}

impl Select {
    fn filter(&self) -> Result<ChangeFilter, UsageError> {
        let by_filter = self.job.is_some()
            || self.pass.is_some()
            || self.field.is_some()
            || self.record.is_some();
        if self.ids.is_empty() && !by_filter {
            return Err(UsageError(
                "name change ids, or select by --job, --pass, --field or --record".into(),
            ));
        }
        Ok(ChangeFilter {
            ids: self.ids.clone(),
            job: self.job.clone(),
            pass_id: self.pass,
            field: self.field.clone(),
            record_id: self.record.clone(),
            // A bulk decision only ever takes changes that wait for one.
            statuses: if self.ids.is_empty() {
                vec![ChangeStatus::Proposed]
            } else {
                vec![]
            },
            ..Default::default()
        })
    }
}

pub async fn run(
    config: &Config,
    store: &Store,
    command: ReviewCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ReviewCommand::List(args) => list(store, args).await,
        ReviewCommand::Show { id, format } => show(store, id, format).await,
        ReviewCommand::Approve { select, value } => {
            if value.is_some() && select.ids.len() != 1 {
                return Err(UsageError(
                    "--value edits one change: name exactly one change id".into(),
                )
                .into());
            }
            decide_and_print(store, &select, Verdict::Approve { edited: value }).await
        }
        ReviewCommand::Reject { select } => decide_and_print(store, &select, Verdict::Reject).await,
        ReviewCommand::Wrong { select } => decide_and_print(store, &select, Verdict::Wrong).await,
        ReviewCommand::Apply { job, by } => apply(config, store, job, &by).await,
        ReviewCommand::Match(cmd) => super::review_match::run(config, store, cmd).await,
    }
}

fn change_cells(c: &ChangeRow) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.job.clone(),
        c.record_id.clone(),
        c.kind.to_string(),
        c.field.clone(),
        clip(c.old_value.as_deref(), 28),
        clip(c.new_value.as_deref(), 28),
        format!("{:.2}", c.score),
        c.status.to_string(),
    ]
}

const CHANGE_HEADERS: &[&str] = &[
    "id", "job", "record", "kind", "field", "old", "new", "score", "status",
];

async fn list(store: &Store, args: ListArgs) -> anyhow::Result<ExitCode> {
    let statuses = if args.all {
        vec![]
    } else if args.statuses.is_empty() {
        vec![ChangeStatus::Proposed]
    } else {
        args.statuses
    };
    let filter = ChangeFilter {
        job: args.job,
        statuses,
        pass_id: args.pass,
        field: args.field,
        record_id: args.record,
        limit: Some(args.limit),
        ..Default::default()
    };
    let (rows, total) = store
        .db
        .run(move |conn| {
            let rows = changes::list(conn, &filter)?;
            let total = changes::count(conn, &filter)?;
            diesel::QueryResult::Ok((rows, total))
        })
        .await?;
    print_list(args.format, CHANGE_HEADERS, &rows, change_cells)?;
    // A list cut at --limit says so, on stderr so that JSON on stdout stays whole.
    if total > rows.len() as i64 {
        eprintln!(
            "refsync: showing {} of {total} changes; raise --limit or narrow the list with --job, --pass, --field or --record",
            rows.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &Store, id: i64, format: Format) -> anyhow::Result<ExitCode> {
    let found = store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let Some(change) = changes::get(conn, id)? else {
                return Ok(None);
            };
            let status = status::get_status(conn, &change.job, &change.record_id)?;
            let history = audit::list(
                conn,
                &AuditFilter {
                    change_id: Some(id),
                    ..Default::default()
                },
            )?;
            Ok(Some((change, status, history)))
        })
        .await?;
    let Some((change, status, history)) = found else {
        return Err(UsageError(format!(
            "no change {id}; `refsync review list --all` shows the ids"
        ))
        .into());
    };
    let explanation: serde_json::Value = status
        .as_ref()
        .and_then(|s| serde_json::from_str(&s.detail).ok())
        .unwrap_or(serde_json::Value::Null);
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "change": change,
                "record_status": status.as_ref().map(|s| &s.status),
                "explanation": explanation,
                "history": history,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table => {
            println!(
                "change {} · job {} · {} {} · status {}",
                change.id, change.job, change.entity, change.record_id, change.status
            );
            println!("  field      {}", change.field);
            println!("  old        {}", clip(change.old_value.as_deref(), 200));
            println!("  new        {}", clip(change.new_value.as_deref(), 200));
            println!("  kind       {}", change.kind);
            println!(
                "  source     register {} record {}",
                change.source, change.register_id
            );
            println!("  score      {:.3}", change.score);
            if let Some(s) = explanation.get("register_score").and_then(|s| s.as_str()) {
                println!("  service    {s} (the register's own score; refsync decides on its own)");
            }
            println!("  policy     {}", change.policy);
            println!("  reason     {}", change.reason);
            if let Some(e) = &change.error {
                println!("  note       {e}");
            }
            if let Some(comparisons) = explanation.get("comparisons").and_then(|c| c.as_array()) {
                println!("  match explanation:");
                for c in comparisons {
                    println!(
                        "    {:<16} {:<8} {:>+6.3}  CRM {} | register {}",
                        c["field"].as_str().unwrap_or(""),
                        c["level"].as_str().unwrap_or(""),
                        c["contribution"].as_f64().unwrap_or(0.0),
                        c["crm"].as_str().unwrap_or("∅"),
                        c["register"].as_str().unwrap_or("∅"),
                    );
                }
            }
            if let Some(fields) = explanation.get("fields").and_then(|f| f.as_object()) {
                println!("  fields of the record:");
                for (name, f) in fields {
                    println!(
                        "    {name:<16} {:<13} CRM {} | register {}",
                        f["state"].as_str().unwrap_or(""),
                        f["crm"].as_str().unwrap_or("∅"),
                        f["register"].as_str().unwrap_or("∅"),
                    );
                }
            }
            for h in history.iter().rev() {
                println!(
                    "  {} {} by {}{}",
                    h.at.format("%Y-%m-%d %H:%M:%S"),
                    h.action,
                    h.actor,
                    h.detail
                        .as_ref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide_and_print(
    store: &Store,
    select: &Select,
    verdict: Verdict,
) -> anyhow::Result<ExitCode> {
    let filter = select.filter()?;
    let wanted = select.ids.clone();
    let decided = decide(store, filter, verdict, &select.by).await?;
    let missing: Vec<i64> = wanted
        .into_iter()
        .filter(|id| !decided.iter().any(|d| d.id == *id))
        .collect();
    match select.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "decided": decided, "unknown_ids": missing })
            )?
        ),
        Format::Table => {
            let done = decided.iter().filter(|d| d.refused.is_none()).count();
            println!("{done} change(s) decided");
            for d in decided.iter().filter(|d| d.refused.is_some()) {
                println!(
                    "  change {} left as {}: {}",
                    d.id,
                    d.status,
                    d.refused.as_deref().unwrap_or("")
                );
            }
            for id in &missing {
                println!("  no change {id}");
            }
        }
    }
    // An id that names no change is a bad argument, as in `review show` (2); a change that
    // could not be decided is work that failed (1).
    let refused = decided.iter().any(|d| d.refused.is_some());
    Ok(if !missing.is_empty() {
        ExitCode::from(2)
    } else if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn apply(
    config: &Config,
    store: &Store,
    only: Option<String>,
    by: &str,
) -> anyhow::Result<ExitCode> {
    let per_job = apply_approved(config, store, only.as_deref(), by)
        .await
        .map_err(super::sync_error)?;
    let mut total = ApplyCounts::default();
    for applied in &per_job {
        let counts = &applied.counts;
        println!(
            "job `{}` ({}): {} applied, {} conflicts, {} failed",
            applied.job, applied.entity, counts.applied, counts.conflicts, counts.failed
        );
        total.add(counts);
    }
    if total.applied + total.conflicts + total.failed == 0 {
        println!("no approved changes to apply");
    }
    Ok(if total.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
