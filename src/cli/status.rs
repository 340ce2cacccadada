//! `refsync status`: the jobs, when each runs next, how its last pass went, and how many
//! changes wait for review. Reads the config and the store; no daemon needs to run.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use super::Format;
use crate::config::{CatchUp, Config};
use crate::daemon::lease;
use crate::daemon::schedule::JobSchedule;
use crate::daemon::{last_activity, plan, Next};
use crate::store::passes::{self, PassOutcome, PassRow};
use crate::store::{changes, Store};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Serialize)]
struct JobStatus {
    job: String,
    entity: String,
    schedule: String,
    timezone: String,
    /// When a daemon runs it next (before jitter); `null` if the schedule has no future run.
    next_run: Option<DateTime<Utc>>,
    /// The same in the schedule's time zone.
    next_run_local: String,
    /// True when a missed slot runs as soon as a daemon starts (`catch_up = run_once`).
    catching_up: bool,
    /// The instance holding the job's lease, while a pass runs.
    running_on: Option<String>,
    last_pass: Option<PassRow>,
}

#[derive(Debug, Serialize)]
struct Status {
    jobs: Vec<JobStatus>,
    review_queue: i64,
}

pub async fn run(config: &Config, store: &Store, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let mut jobs = Vec::new();
    for (name, job) in &config.job {
        let schedule = JobSchedule::from_job(job).map_err(anyhow::Error::msg)?;
        let missed_since = match job.catch_up {
            CatchUp::RunOnce => last_activity(store, name).await,
            CatchUp::Skip => None,
        };
        let next = plan(&schedule, missed_since, now);
        let next_run = next.map(|n| match n {
            Next::Missed(_) => now,
            Next::At(at) => at,
        });
        let job_name = name.clone();
        let (last_pass, lease) = store
            .db
            .run(move |conn| -> diesel::QueryResult<_> {
                Ok((
                    passes::list(conn, Some(&job_name), 1)?.into_iter().next(),
                    lease::get(conn, &job_name)?,
                ))
            })
            .await?;
        let at = crate::store::now();
        jobs.push(JobStatus {
            job: name.clone(),
            entity: job.entity.to_string(),
            schedule: job.schedule.clone(),
            timezone: schedule.zone_name(),
            next_run,
            next_run_local: next_run
                .map(|at| schedule.wall_clock(at))
                .unwrap_or_default(),
            catching_up: matches!(next, Some(Next::Missed(_))),
            running_on: lease.and_then(|l| l.active_holder(at).map(str::to_string)),
            last_pass,
        });
    }
    let review_queue = store
        .db
        .run(|conn| changes::count_by_status(conn, None))
        .await?
        .into_iter()
        .find(|(status, _)| status == "proposed")
        .map_or(0, |(_, n)| n);
    let status = Status { jobs, review_queue };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        Format::Table => print_table(&status),
    }
    Ok(ExitCode::SUCCESS)
}

/// A pass status as the table shows it: one that needs attention in red on a terminal,
/// and marked in words where there is no colour.
fn shown_status(status: PassOutcome) -> String {
    use std::io::IsTerminal;
    if !status.went_wrong() {
        return status.to_string();
    }
    if std::io::stdout().is_terminal() {
        format!("\x1b[31m{status}\x1b[0m")
    } else {
        format!("{status} (needs attention)")
    }
}

fn print_table(status: &Status) {
    for j in &status.jobs {
        println!("job `{}` ({})", j.job, j.entity);
        println!("  schedule       {} ({})", j.schedule, j.timezone);
        let next = match (j.next_run, j.catching_up) {
            (Some(_), true) => "as soon as the daemon runs (a slot was missed)".to_string(),
            (Some(_), false) => j.next_run_local.clone(),
            (None, _) => "never (the schedule has no future run)".to_string(),
        };
        println!("  next run       {next}");
        if let Some(holder) = &j.running_on {
            println!("  running on     {holder}");
        }
        match &j.last_pass {
            None => println!("  last pass      none yet"),
            Some(p) => {
                println!(
                    "  last pass      {} {} at {} UTC",
                    p.id,
                    shown_status(p.status),
                    p.started_at.format("%Y-%m-%d %H:%M:%S")
                );
                let unchanged = match p.unchanged {
                    0 => String::new(),
                    n => format!(" ({n} unchanged since their last check)"),
                };
                println!(
                    "                 {} read{unchanged}, {} matched, {} not found, {} lookup failed; {} proposed, {} applied, {} conflicts",
                    p.records_read,
                    p.matched_auto + p.matched_review,
                    p.not_found,
                    p.lookup_failed,
                    p.changes_proposed,
                    p.changes_applied,
                    p.conflicts
                );
                if let Some(error) = &p.error {
                    println!("                 error: {error}");
                }
            }
        }
    }
    println!("review queue     {} proposed changes", status.review_queue);
}
