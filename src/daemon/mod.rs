//! The long-running service. Every job runs in its own task on its own schedule, so a job
//! never overlaps itself while different jobs may run side by side; a lease in the store
//! keeps other instances on the same store from running the same job or slot.
//!
//! Signals: SIGTERM/SIGINT let running passes finish their batch, commit and exit within
//! `daemon.drain_secs`; SIGHUP reloads the config and keeps the old one if the new is bad.
//! Under systemd it reports READY/RELOADING/STOPPING and pings the watchdog.

pub mod http;
pub mod lease;
pub mod notify;
pub mod schedule;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::{CatchUp, Config, Overrun};
use crate::metrics;
use crate::store::passes::{self, PassOutcome};
use crate::store::{changes, status, Store};
use crate::sync::{run_pass, PassReport, Stop, SyncError};
use lease::Claim;
use notify::Notifier;
use schedule::JobSchedule;

/// A random number without a crate: std's hasher keys are random per process and call.
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// A random delay of at most `max_secs`, at millisecond resolution.
fn jitter(max_secs: u64) -> Duration {
    if max_secs == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(random_u64() % (max_secs * 1000 + 1))
}

/// What every job task shares.
struct Ctx {
    store: Store,
    config: watch::Receiver<Arc<Config>>,
    shutdown: watch::Receiver<bool>,
    /// Set on SIGTERM; passes stop after their current batch.
    stop: Stop,
    instance: String,
    /// For `systemctl status`: the last pass in one line.
    notifier: Arc<Notifier>,
    /// With a listener: the jobs' check indexes, rebuilt after each pass of their job.
    checks: Option<Arc<crate::sync::check::Warm>>,
}

/// The longest single sleep: waking now and then keeps schedules right after the wall
/// clock jumps (NTP, suspend) and costs nothing.
const MAX_NAP: Duration = Duration::from_secs(60);

/// The deep check at start, said in the log: a reference that does not fit its CRM or
/// register at error level, one that cannot be reached now as a warning. It runs beside the
/// scheduler, not before it: the daemon starts either way (a register file may yet be
/// delivered, a CRM come up; its passes then say what failed in `status` and `/readyz`),
/// and a register that times out must not hold up systemd's start.
async fn preflight(config: &Config) {
    let found = crate::preflight::check(config).await;
    for f in &found {
        match f.severity {
            crate::preflight::Severity::Ok => debug!(subject = %f.subject, "{}", f.message),
            crate::preflight::Severity::Warning => warn!(subject = %f.subject, "{}", f.message),
            crate::preflight::Severity::Error => error!(subject = %f.subject, "{}", f.message),
        }
    }
    let errors = crate::preflight::errors(&found);
    if errors > 0 {
        error!(
            errors,
            "the config does not fit its CRM or register; passes will fail until it is fixed \
             (`refsync check-config --deep` lists what)"
        );
    } else {
        info!(
            checked = found.len(),
            "the config fits its CRMs and registers"
        );
    }
}

pub async fn run(config_path: &Path, config: Config, store: Store) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    if config.job.is_empty() {
        anyhow::bail!("no jobs are configured; add a [job.NAME] section to the config");
    }
    let notifier = Arc::new(Notifier::from_env());
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let drain = Duration::from_secs(config.daemon.drain_secs);
    let (config_tx, config_rx) = watch::channel(Arc::new(config.clone()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let checks = config
        .http
        .listen
        .map(|_| Arc::new(crate::sync::check::Warm::default()));
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        config: config_rx.clone(),
        shutdown: shutdown_rx.clone(),
        stop: Stop::default(),
        instance: lease::instance_name(),
        notifier: Arc::clone(&notifier),
        checks: checks.clone(),
    });
    refresh_store_gauges(&ctx.store, &config).await;

    let listener = match (config.http.listen, &checks) {
        (Some(addr), Some(checks)) => {
            // Built beside the scheduler: checks answer 503 until their job's index is ready.
            let (warm, first, db) = (Arc::clone(checks), config.clone(), store.clone());
            tokio::spawn(async move { warm.build_all(&first, &db).await });
            Some(
                http::serve(
                    addr,
                    config_rx.clone(),
                    shutdown_rx.clone(),
                    store.seal.clone(),
                    Arc::clone(checks),
                )
                .await?,
            )
        }
        _ => None,
    };

    let mut tasks: BTreeMap<String, JoinHandle<()>> = BTreeMap::new();
    spawn_jobs(&ctx, &config, &mut tasks);
    let retention = tokio::spawn(retention_loop(Arc::clone(&ctx)));
    let reports = tokio::spawn(report_loop(Arc::clone(&ctx)));
    info!(
        jobs = tasks.len(),
        instance = %ctx.instance,
        "daemon started"
    );
    notifier.ready(&format!("{} jobs scheduled", tasks.len()));
    let checked = config.clone();
    tokio::spawn(async move { preflight(&checked).await });

    let mut watchdog = notifier.watchdog_every().map(tokio::time::interval);
    let signal_name = loop {
        let ping = async {
            match watchdog.as_mut() {
                Some(interval) => interval.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => {
                notifier.reloading();
                // Cloned first: a borrow held across send_replace would deadlock.
                let old = Arc::clone(&config_tx.borrow());
                if let Some(new) = reload(config_path, &old) {
                    // Published first: tasks of new jobs read it as they start.
                    let new = Arc::new(new);
                    config_tx.send_replace(Arc::clone(&new));
                    spawn_jobs(&ctx, &new, &mut tasks);
                }
                tasks.retain(|_, task| !task.is_finished());
                notifier.ready(&format!("{} jobs scheduled", tasks.len()));
            }
            _ = ping => notifier.watchdog(),
        }
    };

    info!(
        signal = signal_name,
        drain_secs = drain.as_secs(),
        "stopping after the current batch"
    );
    notifier.stopping();
    ctx.stop.request();
    shutdown_tx.send_replace(true);
    let all = async {
        for (_, task) in std::mem::take(&mut tasks) {
            let _ = task.await;
        }
    };
    // The watchdog keeps being fed while passes drain, or systemd would kill the drain.
    let drained = async {
        tokio::pin!(all);
        loop {
            let ping = async {
                match watchdog.as_mut() {
                    Some(interval) => interval.tick().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut all => return,
                _ = ping => notifier.watchdog(),
            }
        }
    };
    if tokio::time::timeout(drain, drained).await.is_err() {
        // The pass holds the shared connection; give the leases back over a new one so the
        // next start need not wait for them to expire.
        let (url, holder) = (config.store.url.clone(), ctx.instance.clone());
        let released = tokio::task::spawn_blocking(move || {
            let (mut conn, _) = crate::db::connect(&url, crate::db::Missing::Refuse)?;
            lease::release_all(&mut conn, &holder).map_err(crate::db::DbError::from)
        })
        .await;
        if !matches!(released, Ok(Ok(_))) {
            warn!("cannot give back the job leases; they expire after daemon.lease_secs");
        }
        anyhow::bail!(
            "passes did not finish their batch within daemon.drain_secs = {}; the uncommitted batch is redone by the next pass (raise drain_secs if batches are slow)",
            drain.as_secs()
        );
    }
    retention.abort();
    reports.abort();
    // The listener stopped accepting at shutdown; an idle keep-alive connection (a
    // Prometheus scraper) must not hold up the exit.
    if let Some(listener) = listener {
        listener.abort();
    }
    info!("daemon stopped");
    Ok(())
}

fn spawn_jobs(ctx: &Arc<Ctx>, config: &Config, tasks: &mut BTreeMap<String, JoinHandle<()>>) {
    for name in config.job.keys() {
        let running = tasks.get(name).is_some_and(|t| !t.is_finished());
        if !running {
            tasks.insert(
                name.clone(),
                tokio::spawn(job_loop(name.clone(), Arc::clone(ctx))),
            );
        }
    }
}

/// Loads and validates the config again; `None` (after logging why) keeps the old one.
fn reload(path: &Path, old: &Config) -> Option<Config> {
    match Config::load(path, crate::config::environment()) {
        Ok(new) => {
            for (key, changed) in [
                (
                    "store.url",
                    new.store.url.expose() != old.store.url.expose(),
                ),
                ("http.listen", new.http.listen != old.http.listen),
                // The audit key is read once: entries of one run all chain under it.
                (
                    "audit",
                    format!("{:?}", new.audit) != format!("{:?}", old.audit),
                ),
                (
                    "logging",
                    format!("{:?}", new.logging) != format!("{:?}", old.logging),
                ),
                (
                    "daemon.drain_secs",
                    new.daemon.drain_secs != old.daemon.drain_secs,
                ),
            ] {
                if changed {
                    warn!(key, "this setting changes only with a restart; the running value stays until then");
                }
            }
            info!(jobs = new.job.len(), "config reloaded");
            metrics::global().inc(&metrics::CONFIG_RELOADS, &[("result", "applied")], 1);
            Some(new)
        }
        Err(e) => {
            error!(error = %e, "config reload rejected; the running config stays");
            metrics::global().inc(&metrics::CONFIG_RELOADS, &[("result", "rejected")], 1);
            None
        }
    }
}

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(at, Utc)
}

/// When this job last ran on this store, by any instance: the point missed slots are
/// counted from. `None` on a fresh store, where nothing was missed.
pub(crate) async fn last_activity(store: &Store, job: &str) -> Option<DateTime<Utc>> {
    let name = job.to_string();
    let found = store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let slot = lease::get(conn, &name)?.and_then(|l| l.last_slot);
            let started = passes::list(conn, Some(&name), 1)?
                .into_iter()
                .next()
                .map(|p| p.started_at);
            Ok(slot.max(started))
        })
        .await;
    match found {
        Ok(at) => at.map(utc),
        Err(e) => {
            warn!(job, error = %e, "cannot read when the job last ran; missed slots are not caught up");
            None
        }
    }
}

/// What a job does next: run a slot that was missed now, or wait for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Missed(DateTime<Utc>),
    At(DateTime<Utc>),
}

/// The next slot to run. `missed_since`, when given, is the point from which slots count
/// as missed (after downtime with `catch_up = run_once`, or after an overrun with
/// `overrun = wait`); the latest of them runs once, now.
pub(crate) fn plan(
    schedule: &JobSchedule,
    missed_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Next> {
    if let Some(slot) = missed_since.and_then(|since| schedule.latest_missed(since, now)) {
        return Some(Next::Missed(slot));
    }
    schedule.next_after(now).map(Next::At)
}

/// Why a wait ended.
enum Wake {
    Due,
    /// The config was reloaded: plan again.
    Reloaded,
    /// Shutting down (or the config channel closed).
    Stop,
}

/// Sleeps until `at` in short naps, so clock jumps and reloads are noticed.
async fn sleep_until(
    at: DateTime<Utc>,
    config_rx: &mut watch::Receiver<Arc<Config>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Wake {
    loop {
        let left = (at - Utc::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(left.min(MAX_NAP)) => {}
            changed = config_rx.changed() => {
                return if changed.is_err() { Wake::Stop } else { Wake::Reloaded };
            }
            _ = shutdown.changed() => return Wake::Stop,
        }
    }
    if *shutdown.borrow() {
        Wake::Stop
    } else {
        Wake::Due
    }
}

/// Waits for `at`; without a slot, for a reload or the shutdown.
async fn wait_for_slot(
    at: Option<DateTime<Utc>>,
    config_rx: &mut watch::Receiver<Arc<Config>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Wake {
    match at {
        Some(at) => sleep_until(at, config_rx, shutdown).await,
        None => tokio::select! {
            changed = config_rx.changed() => if changed.is_err() { Wake::Stop } else { Wake::Reloaded },
            _ = shutdown.changed() => Wake::Stop,
        },
    }
}

/// Runs the retention job on `[privacy] retention_schedule` (UTC). Every instance on a
/// store may run it: it is idempotent.
async fn retention_loop(ctx: Arc<Ctx>) {
    let mut config_rx = ctx.config.clone();
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let config = config_rx.borrow_and_update().clone();
        let next = crate::config::parse_cron(&config.privacy.retention_schedule)
            .ok()
            .and_then(|s| s.upcoming(Utc).next());
        if next.is_none() {
            warn!("the retention schedule has no future run; it waits for a config reload");
        }
        match wait_for_slot(next, &mut config_rx, &mut shutdown).await {
            Wake::Stop => return,
            Wake::Reloaded => continue,
            Wake::Due => {}
        }
        if let Err(e) = crate::sync::retention::run(&config, &ctx.store).await {
            error!(error = %e, "retention failed; it runs again at the next slot");
        }
    }
}

/// Writes each job's report on its `report_schedule`. Every instance on a store may: the
/// files of a day are replaced whole.
async fn report_loop(ctx: Arc<Ctx>) {
    let mut config_rx = ctx.config.clone();
    let mut shutdown = ctx.shutdown.clone();
    let mut after = Utc::now();
    loop {
        let config = config_rx.borrow_and_update().clone();
        // The earliest next slot of all jobs, and the jobs due at it.
        let mut next: Option<(DateTime<Utc>, Vec<String>)> = None;
        for (name, job) in &config.job {
            let Ok(Some(schedule)) = JobSchedule::of_reports(job) else {
                continue;
            };
            let Some(at) = schedule.next_after(after) else {
                continue;
            };
            match &mut next {
                Some((first, _)) if at > *first => {}
                Some((first, due)) if at == *first => due.push(name.clone()),
                _ => next = Some((at, vec![name.clone()])),
            }
        }
        match wait_for_slot(
            next.as_ref().map(|(at, _)| *at),
            &mut config_rx,
            &mut shutdown,
        )
        .await
        {
            Wake::Stop => return,
            Wake::Reloaded => continue,
            Wake::Due => {}
        }
        let Some((at, due)) = next else {
            continue;
        };
        for job in &due {
            write_report(&config, &ctx.store, job).await;
        }
        // Slots that passed while writing are skipped, not written late one after another.
        after = at.max(Utc::now());
    }
}

/// One scheduled report; a failure is logged and counted, and the next slot tries again.
async fn write_report(config: &Config, store: &Store, job: &str) {
    let Some(dir) = config.job.get(job).and_then(|j| j.report_dir.as_deref()) else {
        return;
    };
    match crate::sync::report::write_files(config, store, job, dir).await {
        Ok(written) => {
            info!(job, records = written.records, files = ?written.files, "report written");
            metrics::global().inc(&metrics::REPORTS, &[("job", job), ("result", "written")], 1);
        }
        Err(e) => {
            error!(job, error = %e, "report not written; the next slot tries again");
            metrics::global().inc(&metrics::REPORTS, &[("job", job), ("result", "failed")], 1);
        }
    }
}

async fn job_loop(name: String, ctx: Arc<Ctx>) {
    let mut config_rx = ctx.config.clone();
    let mut shutdown = ctx.shutdown.clone();
    let catch_up = config_rx
        .borrow()
        .job
        .get(&name)
        .is_some_and(|j| j.catch_up == CatchUp::RunOnce);
    let mut missed_since = if catch_up {
        last_activity(&ctx.store, &name).await
    } else {
        None
    };
    loop {
        let config = config_rx.borrow_and_update().clone();
        let Some(job) = config.job.get(&name) else {
            info!(job = %name, "job is no longer in the config; it stops being scheduled");
            return;
        };
        let next = JobSchedule::from_job(job).map(|s| plan(&s, missed_since, Utc::now()));
        let (slot, fire_at) = match next {
            Ok(Some(Next::Missed(slot))) => {
                info!(job = %name, slot = %slot.to_rfc3339(), "running a slot that was missed");
                (slot, Utc::now() + jitter(job.jitter_secs))
            }
            Ok(Some(Next::At(slot))) => {
                let fire_at = slot + jitter(job.jitter_secs);
                info!(job = %name, next_run = %fire_at.to_rfc3339(), "waiting for the next run");
                (slot, fire_at)
            }
            Ok(None) | Err(_) => {
                warn!(job = %name, "the schedule has no future run; the job waits for a config reload");
                tokio::select! {
                    changed = config_rx.changed() => if changed.is_err() { return } else { continue },
                    _ = shutdown.changed() => return,
                }
            }
        };
        match sleep_until(fire_at, &mut config_rx, &mut shutdown).await {
            Wake::Stop => return,
            Wake::Reloaded => continue,
            Wake::Due => {}
        }
        run_slot(&name, &config, slot, &ctx).await;
        missed_since = (job.overrun == Overrun::Wait).then_some(slot);
    }
}

/// Claims the slot's lease, runs one pass holding it, and records the outcome.
async fn run_slot(job: &str, config: &Config, slot: DateTime<Utc>, ctx: &Ctx) {
    let ttl = chrono::Duration::seconds(config.daemon.lease_secs as i64);
    let db = ctx.store.db.clone();
    match tokio::task::spawn_blocking(move || db.ensure_connected()).await {
        Ok(Ok(false)) => {}
        Ok(Ok(true)) => warn!(job, "the store connection had broken; reconnected"),
        Ok(Err(e)) => {
            error!(job, error = %e, "the store is unreachable; slot skipped, the next one retries");
            metrics::global().inc(
                &metrics::PASSES,
                &[("job", job), ("outcome", PassOutcome::Failed.as_str())],
                1,
            );
            return;
        }
        Err(e) => {
            error!(job, error = %e, "checking the store connection failed; slot skipped");
            return;
        }
    }
    let (name, holder) = (job.to_string(), ctx.instance.clone());
    let claim = ctx
        .store
        .db
        .run(move |conn| lease::claim(conn, &name, &holder, Some(slot.naive_utc()), ttl))
        .await;
    match claim {
        Ok(Claim::Acquired { orphans }) => {
            if orphans > 0 {
                warn!(
                    job,
                    passes = orphans,
                    "marked passes interrupted that a stopped instance left running"
                );
            }
        }
        Ok(Claim::Held { holder }) => {
            info!(job, slot = %slot.to_rfc3339(), holder = %holder, "another instance is running this job; slot skipped");
            return;
        }
        Ok(Claim::SlotDone) => {
            info!(job, slot = %slot.to_rfc3339(), "another instance already ran this slot");
            return;
        }
        Err(e) => {
            error!(job, error = %e, "cannot claim the job's lease in the store; slot skipped, the next one retries");
            metrics::global().inc(
                &metrics::PASSES,
                &[("job", job), ("outcome", PassOutcome::Failed.as_str())],
                1,
            );
            return;
        }
    }
    info!(job, slot = %slot.to_rfc3339(), instance = %ctx.instance, "slot claimed");

    let pass_stop = Stop::default();
    let keeper = tokio::spawn(keep_lease(
        job.to_string(),
        ctx.instance.clone(),
        ttl,
        ctx.store.clone(),
        ctx.stop.clone(),
        pass_stop.clone(),
    ));
    let result = run_pass(config, job, &ctx.store, &pass_stop).await;
    keeper.abort();
    let (name, holder) = (job.to_string(), ctx.instance.clone());
    if let Err(e) = ctx
        .store
        .db
        .run(move |conn| lease::release(conn, &name, &holder))
        .await
    {
        warn!(job, error = %e, "cannot release the job's lease; it expires on its own");
    }
    // The store's gauges first: a scrape that sees the pass counted sees the records and
    // changes as it left them (the other order left a window that the metrics test hit).
    refresh_store_gauges(&ctx.store, config).await;
    record_pass(job, &result);
    ctx.notifier.status(&match &result {
        Ok(r) => format!(
            "last pass: job {job} {} ({} records, {} changes proposed, {} applied)",
            r.status, r.counts.records_read, r.counts.changes_proposed, r.counts.changes_applied
        ),
        Err(_) => format!("last pass: job {job} failed (see the log)"),
    });
    if let (Some(checks), Ok(_)) = (&ctx.checks, &result) {
        if let Err(e) = checks.build(config, &ctx.store, job).await {
            warn!(job, error = %e, "cannot rebuild the check index; checks use the one before");
        }
    }
}

/// While a pass runs: renews its lease, and stops the pass after its batch on SIGTERM or
/// when the lease was lost (another instance took over after it expired).
async fn keep_lease(
    job: String,
    holder: String,
    ttl: chrono::Duration,
    store: Store,
    stop: Stop,
    pass_stop: Stop,
) {
    let renew_every = (ttl / 3).to_std().unwrap_or(Duration::from_secs(1));
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stop.requested() {
            pass_stop.request();
        }
        if last_renewal.elapsed() < renew_every {
            continue;
        }
        last_renewal = tokio::time::Instant::now();
        let (j, h) = (job.clone(), holder.clone());
        match store
            .db
            .run(move |conn| lease::renew(conn, &j, &h, ttl))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                error!(job = %job, "lost the job's lease to another instance; the pass stops after its batch");
                pass_stop.request();
            }
            Err(e) => warn!(job = %job, error = %e, "cannot renew the job's lease; retrying"),
        }
    }
}

fn record_pass(job: &str, result: &Result<PassReport, SyncError>) {
    let m = metrics::global();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            error!(job, error = %e, "pass failed; the next slot retries");
            m.inc(
                &metrics::PASSES,
                &[("job", job), ("outcome", PassOutcome::Failed.as_str())],
                1,
            );
            return;
        }
    };
    m.inc(
        &metrics::PASSES,
        &[("job", job), ("outcome", report.status.as_str())],
        1,
    );
    m.observe(
        &metrics::PASS_DURATION,
        &[("job", job)],
        report.duration().as_secs_f64(),
    );
    if report.status == PassOutcome::Succeeded {
        m.set(
            &metrics::LAST_SUCCESS,
            &[("job", job)],
            Utc::now().timestamp() as f64,
        );
    }
    let c = &report.counts;
    for (result, n) in [
        ("read", c.records_read),
        ("matched_auto", c.matched_auto),
        ("matched_review", c.matched_review),
        ("not_found", c.not_found),
        ("ambiguous", c.ambiguous),
        ("lookup_failed", c.lookup_failed),
        ("inactive", c.inactive),
        ("unchanged", c.unchanged),
    ] {
        m.inc(
            &metrics::PASS_RECORDS,
            &[("job", job), ("result", result)],
            n.max(0) as u64,
        );
    }
    for (action, n) in [
        ("proposed", c.changes_proposed),
        ("applied", c.changes_applied),
        ("conflict", c.conflicts),
        ("failed", c.changes_failed),
    ] {
        m.inc(
            &metrics::PASS_CHANGES,
            &[("job", job), ("action", action)],
            n.max(0) as u64,
        );
    }
}

/// Sets the record and change gauges from the store.
async fn refresh_store_gauges(store: &Store, config: &Config) {
    let jobs: Vec<String> = config.job.keys().cloned().collect();
    let counted = store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let (mut records, mut changed) = (Vec::new(), Vec::new());
            for job in &jobs {
                for (state, n) in status::count_by_status(conn, Some(job))? {
                    records.push((vec![("job", job.clone()), ("status", state)], n as f64));
                }
                for (state, n) in changes::count_by_status(conn, Some(job))? {
                    changed.push((vec![("job", job.clone()), ("status", state)], n as f64));
                }
            }
            Ok((records, changed))
        })
        .await;
    match counted {
        Ok((records, changed)) => {
            metrics::global().replace(&metrics::RECORDS, records);
            metrics::global().replace(&metrics::CHANGES, changed);
        }
        Err(e) => warn!(error = %e, "cannot count records and changes for /metrics"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_cron;
    use schedule::Zone;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn nightly() -> JobSchedule {
        JobSchedule::new(
            parse_cron("0 30 2 * * *").unwrap(),
            Zone::Named(chrono_tz::Europe::Berlin),
        )
    }

    #[test]
    fn without_catch_up_missed_slots_are_skipped() {
        let next = plan(&nightly(), None, at("2026-12-03T09:00:00Z"));
        assert_eq!(next, Some(Next::At(at("2026-12-04T01:30:00Z"))));
    }

    #[test]
    fn catch_up_runs_the_latest_missed_slot_once() {
        // Down from the 1st to the 3rd: three nightly slots missed, one run now.
        let next = plan(
            &nightly(),
            Some(at("2026-12-01T01:30:00Z")),
            at("2026-12-03T09:00:00Z"),
        );
        assert_eq!(next, Some(Next::Missed(at("2026-12-03T01:30:00Z"))));
        // Nothing missed: wait for the next slot as usual.
        let next = plan(
            &nightly(),
            Some(at("2026-12-03T01:30:00Z")),
            at("2026-12-03T09:00:00Z"),
        );
        assert_eq!(next, Some(Next::At(at("2026-12-04T01:30:00Z"))));
    }

    #[test]
    fn an_overrun_waits_for_the_pass_or_skips_the_slots_it_covered() {
        let every_10_min = JobSchedule::new(
            parse_cron("0 */10 * * * *").unwrap(),
            Zone::Named(chrono_tz::Europe::Berlin),
        );
        // The 12:00 pass ends at 12:25: the 12:10 and 12:20 slots passed meanwhile.
        let slot = at("2026-12-03T12:00:00Z");
        let end = at("2026-12-03T12:25:00Z");
        assert_eq!(
            plan(&every_10_min, Some(slot), end),
            Some(Next::Missed(at("2026-12-03T12:20:00Z"))),
            "overrun = wait: one run right after"
        );
        assert_eq!(
            plan(&every_10_min, None, end),
            Some(Next::At(at("2026-12-03T12:30:00Z"))),
            "overrun = skip: the next slot"
        );
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        assert_eq!(jitter(0), Duration::ZERO);
        for _ in 0..200 {
            assert!(jitter(3) <= Duration::from_secs(3));
        }
        let spread: std::collections::BTreeSet<_> = (0..50).map(|_| jitter(60)).collect();
        assert!(spread.len() > 1, "jitter is not random: {spread:?}");
    }
}
