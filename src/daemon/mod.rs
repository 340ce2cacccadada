//! The long-running service: runs every job on its cron schedule, one pass at a time, so a
//! job never overlaps itself. SIGTERM or SIGINT ends the current batch and exits cleanly.

use std::sync::Arc;

use chrono::{DateTime, Local};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::store::Store;
use crate::sync::{run_pass, Stop};

/// Waits for SIGTERM or SIGINT, then asks the running pass to stop.
fn watch_signals(stop: Stop, wake: Arc<Notify>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(signal = name, "stopping after the current batch");
        stop.request();
        wake.notify_one();
    });
    Ok(())
}

/// The next due job after `now`, earliest first; ties go to the job named first.
fn next_due(
    schedules: &[(String, cron::Schedule)],
    now: DateTime<Local>,
) -> Option<(DateTime<Local>, &str)> {
    schedules
        .iter()
        .filter_map(|(job, schedule)| schedule.after(&now).next().map(|at| (at, job.as_str())))
        .min_by_key(|(at, _)| *at)
}

pub async fn run(config: &Config, store: &Store) -> anyhow::Result<()> {
    let stop = Stop::default();
    let wake = Arc::new(Notify::new());
    watch_signals(stop.clone(), Arc::clone(&wake))?;
    let schedules: Vec<(String, cron::Schedule)> = config
        .job
        .iter()
        .map(|(name, job)| {
            job.cron()
                .map(|s| (name.clone(), s))
                .map_err(anyhow::Error::msg)
        })
        .collect::<anyhow::Result<_>>()?;
    if schedules.is_empty() {
        anyhow::bail!("no jobs are configured; add a [job.NAME] section to the config");
    }
    info!(jobs = schedules.len(), "daemon started");
    while !stop.requested() {
        let Some((at, job)) = next_due(&schedules, Local::now()) else {
            anyhow::bail!("no job has a future run time; check the schedules");
        };
        info!(job, next_run = %at.to_rfc3339(), "waiting for the next run");
        let wait = (at - Local::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => break,
        }
        if stop.requested() {
            break;
        }
        // Passes run one after another here: a pass that outlives its slot makes the
        // slots it covered pass by; the next run is computed from when it ends.
        match run_pass(config, job, store, &stop).await {
            Ok(report) if report.error.is_none() => {}
            Ok(report) => warn!(job, pass = report.pass_id, "pass ended with an error"),
            Err(e) => error!(job, error = %e, "pass failed; the next run retries"),
        }
    }
    info!("daemon stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_cron;
    use chrono::TimeZone;

    #[test]
    fn next_due_picks_the_earliest_job() {
        let schedules = vec![
            ("nightly".to_string(), parse_cron("0 0 3 * * *").unwrap()),
            ("hourly".to_string(), parse_cron("0 0 * * * *").unwrap()),
        ];
        let now = Local.with_ymd_and_hms(2026, 11, 26, 12, 30, 0).unwrap();
        let (at, job) = next_due(&schedules, now).unwrap();
        assert_eq!(job, "hourly");
        assert_eq!(at, Local.with_ymd_and_hms(2026, 11, 26, 13, 0, 0).unwrap());
    }
}
