use std::process::ExitCode;

use clap::Args;

use super::{Format, UsageError};
use crate::config::Config;
use crate::daemon::lease::{self, Claim};
use crate::store::Store;
use crate::sync::{run_pass, PassReport, Stop};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run one pass now and exit (the daemon runs passes on schedule).
    #[arg(long)]
    pub once: bool,
    /// Only this job (default: every job, in name order).
    #[arg(long)]
    pub job: Option<String>,
    /// `table` prints a human summary; `json` the reports.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(config: &Config, store: &Store, args: RunArgs) -> anyhow::Result<ExitCode> {
    if !args.once {
        return Err(UsageError(
            "`run` needs --once; use `refsync daemon` to run on the schedule".into(),
        )
        .into());
    }
    let jobs: Vec<String> = match &args.job {
        Some(job) if !config.job.contains_key(job) => {
            let known = config.job.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(
                UsageError(format!("no job `{job}` in the config; known jobs: {known}")).into(),
            );
        }
        Some(job) => vec![job.clone()],
        // Organisations first: contact checks read their organisations' fresh status.
        None => {
            let mut jobs: Vec<(&String, &crate::config::JobConfig)> = config.job.iter().collect();
            jobs.sort_by_key(|(name, job)| {
                (
                    job.entity != crate::domain::model::EntityKind::Organisation,
                    name.to_string(),
                )
            });
            jobs.into_iter().map(|(name, _)| name.clone()).collect()
        }
    };
    if jobs.is_empty() {
        return Err(UsageError("no jobs are configured; add a [job.NAME] section".into()).into());
    }
    let stop = Stop::default();
    let mut reports = Vec::new();
    let mut failed = false;
    let instance = lease::instance_name();
    let ttl = chrono::Duration::seconds(config.daemon.lease_secs as i64);
    for job in &jobs {
        // A manual pass holds the job's lease too, so it never overlaps a daemon's pass.
        let (name, holder) = (job.clone(), instance.clone());
        match store
            .db
            .run(move |conn| lease::claim(conn, &name, &holder, None, ttl))
            .await?
        {
            Claim::Acquired { .. } => {}
            Claim::Held { holder } => {
                failed = true;
                eprintln!("refsync: job `{job}` is running in instance {holder}; try again when its pass ends (see `refsync status`)");
                continue;
            }
            // Without a slot this only happens when the holder let go meanwhile.
            Claim::SlotDone => {
                failed = true;
                eprintln!("refsync: job `{job}` was busy in another instance; try again");
                continue;
            }
        }
        let result = run_pass(config, job, store, &stop).await;
        let (name, holder) = (job.clone(), instance.clone());
        store
            .db
            .run(move |conn| lease::release(conn, &name, &holder))
            .await?;
        match result {
            Ok(report) => {
                // A pass whose lookups failed checked less than it read: not a success.
                failed |= !report.succeeded();
                reports.push(report);
            }
            Err(e) => {
                failed = true;
                eprintln!("refsync: job `{job}` failed: {e}");
            }
        }
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
        Format::Table => {
            for report in &reports {
                print_summary(report);
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_summary(r: &PassReport) {
    let c = &r.counts;
    println!(
        "pass {} of job `{}` ({}) {} in {:.2} s",
        r.pass_id,
        r.job,
        r.entity,
        r.status,
        r.duration().as_secs_f64()
    );
    if let Some(problem) = &r.error {
        println!("  problem          {problem}");
    }
    println!("  records read     {}", c.records_read);
    if c.unchanged > 0 {
        println!(
            "  unchanged        {} (values, review decisions, register and model as at their last check: left as they stood, not counted below)",
            c.unchanged
        );
    }
    println!(
        "  matched          {} auto, {} review",
        c.matched_auto, c.matched_review
    );
    println!("  not found        {}", c.not_found);
    println!("  ambiguous        {}", c.ambiguous);
    println!("  lookup failed    {}", c.lookup_failed);
    println!("  inactive         {}", c.inactive);
    println!("  skipped          {}", c.skipped);
    if c.unreadable_values > 0 {
        println!(
            "  unreadable       {} values compared as missing (flagged for review)",
            c.unreadable_values
        );
    }
    println!(
        "  in sync          {}, different {}",
        c.in_sync, c.different
    );
    println!(
        "  changes          {} proposed, {} applied, {} conflicts, {} failed",
        c.changes_proposed, c.changes_applied, c.conflicts, c.changes_failed
    );
    println!(
        "  pending review   {} (proposed in earlier passes)",
        c.pending_review
    );
    println!("  match model      {}", r.model.describe());
    let t = &r.register;
    if t.requests + t.cache_hits > 0 {
        println!(
            "  register         {} requests, {} cache hits ({} revalidated), {} retries, {} rate-limit waits",
            t.requests, t.cache_hits, t.cache_revalidated, t.retries, t.rate_limit_waits
        );
    }
    if t.queried_records > 0 {
        println!(
            "  queries          {} for {} records ({:.2} per record: identifiers, then name forms until one finds candidates)",
            t.queries,
            t.queried_records,
            t.queries as f64 / t.queried_records as f64
        );
    }
    if let Some(d) = &r.duplicates {
        println!(
            "  duplicates       {} clusters, {} merges proposed ({:.2} s); `refsync duplicates list`",
            d.clusters,
            d.proposed,
            d.time.as_secs_f64()
        );
    }
    let s = &r.stages;
    println!(
        "  time             read {:.2} s, lookup {:.2} s, score {:.2} s, store {:.2} s, apply {:.2} s{}",
        s.read.as_secs_f64(),
        s.lookup.as_secs_f64(),
        s.score.as_secs_f64(),
        s.persist.as_secs_f64(),
        s.apply.as_secs_f64(),
        r.peak_memory_mib
            .map_or(String::new(), |m| format!("; peak memory {m} MiB"))
    );
}
