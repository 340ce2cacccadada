//! One pass of a job, as its stages: open what the job needs, settle interrupted applies,
//! fit the model, then batch by batch read, set aside the records nothing has happened to
//! since their last check (`unchanged`), look up, score, persist and apply the rest, and at
//! the end propose merges of records that share a register record and move the cursor.

mod apply;
mod context;
pub mod dedupe;
mod lookup;
pub(crate) mod persist;
mod read;
mod score;
mod unchanged;
mod write;

pub(crate) use context::PassContext;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::task::AbortOnDropHandle;
use tracing::{info, instrument, warn};

use crate::config::Config;
use crate::domain::model::{EntityKind, Field};
use crate::register::vies::Vies;
use crate::register::RegisterStats;
use crate::store::passes::{self, PassCounts, PassOutcome};
use crate::store::{Store, StoreError};

use super::{Stop, SyncError, REMOTE_EM_RECORDS};

/// What a pass did, for the summary and for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct PassReport {
    pub pass_id: i64,
    pub job: String,
    pub entity: EntityKind,
    pub status: PassOutcome,
    pub counts: PassCounts,
    /// What the register did: requests, cache hits, retries, rate-limit waits.
    pub register: RegisterStats,
    /// Where the time went, per stage.
    pub stages: StageTimes,
    /// What the duplicates stage found, when the job has it enabled.
    pub duplicates: Option<dedupe::Found>,
    /// Where the match parameters the pass scored with came from.
    pub model: ModelSource,
    /// The process's peak resident memory so far (Linux), in MiB.
    pub peak_memory_mib: Option<u64>,
    pub duration_ms: u128,
    pub error: Option<String>,
}

/// Where a pass's match parameters came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// The starting model, unfitted by this pass (EM off, too few pairs, or the pass
    /// stopped before fitting): the built-in m and u with the configured pins, or for a
    /// remote register the last pass's fit.
    #[default]
    BuiltIn,
    /// Fitted by EM in this pass.
    Fitted,
    /// The last pass's fit, kept: the register holds as many records as then.
    Reused,
}

impl ModelSource {
    /// For the pass summary.
    pub fn describe(self) -> &'static str {
        match self {
            ModelSource::BuiltIn => "not fitted by this pass (EM off or too few pairs)",
            ModelSource::Fitted => "fitted by EM in this pass",
            ModelSource::Reused => "the last pass's fit (the register holds as many records)",
        }
    }
}

impl PassReport {
    /// Whether the pass ran to its end and checked what it read (interrupted counts: the
    /// next pass goes on where it stopped).
    pub fn succeeded(&self) -> bool {
        !self.status.went_wrong()
    }

    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms as u64)
    }
}

/// Wall time per stage of a pass: reading the CRM and the store's history, asking the
/// register, scoring and deciding, storing outcomes, writing the CRM.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimes {
    #[serde(serialize_with = "as_millis")]
    pub read: Duration,
    #[serde(serialize_with = "as_millis")]
    pub lookup: Duration,
    #[serde(serialize_with = "as_millis")]
    pub score: Duration,
    #[serde(serialize_with = "as_millis")]
    pub persist: Duration,
    #[serde(serialize_with = "as_millis")]
    pub apply: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs one pass of `job_name`. A failure after the pass has started is recorded on the
/// pass (status `failed`, with the error) and returned; nothing already stored is lost.
#[instrument(skip_all, fields(job = job_name))]
pub async fn run_pass(
    config: &Config,
    job_name: &str,
    store: &Store,
    stop: &Stop,
) -> Result<PassReport, SyncError> {
    let job = config
        .job
        .get(job_name)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let started = Instant::now();
    let (job_owned, entity) = (job_name.to_string(), job.entity.as_str());
    let pass_id = store
        .db
        .run(move |conn| passes::begin(conn, &job_owned, entity))
        .await?;
    info!(pass = pass_id, entity, "pass started");

    let mut tally = Tally::default();
    let result = run_stages(config, job_name, store, stop, pass_id, &mut tally).await;
    let (status, error) = match &result {
        Ok(true) => (PassOutcome::Interrupted, None),
        Ok(false) => judge(&tally.counts, &tally.failures, job.max_failed_share),
        Err(e) => (PassOutcome::Failed, Some(e.to_string())),
    };
    if let Some(problem) = error.as_deref().filter(|_| result.is_ok()) {
        warn!(
            pass = pass_id,
            status = status.as_str(),
            problem,
            "the pass checked less than it read"
        );
    }
    let Tally {
        counts,
        register,
        stages,
        duplicates,
        model,
        ..
    } = tally;
    let (finish_counts, finish_error) = (counts.clone(), error.clone());
    store
        .db
        .run(move |conn| {
            passes::finish(
                conn,
                pass_id,
                status,
                &finish_counts,
                finish_error.as_deref(),
            )
        })
        .await?;
    // After the pass's last commit: the head it leaves, also in its log line, so that the
    // journal keeps a second record of how long the audit log was.
    let audit_head = store.checkpoint().await?;
    let report = PassReport {
        pass_id,
        job: job_name.to_string(),
        entity: job.entity,
        status,
        counts,
        register,
        stages,
        duplicates,
        model,
        peak_memory_mib: crate::metrics::peak_memory_mib(),
        duration_ms: started.elapsed().as_millis(),
        error,
    };
    let c = &report.counts;
    info!(
        pass = pass_id,
        status = status.as_str(),
        records_read = c.records_read,
        matched_auto = c.matched_auto,
        matched_review = c.matched_review,
        not_found = c.not_found,
        ambiguous = c.ambiguous,
        lookup_failed = c.lookup_failed,
        skipped = c.skipped,
        unreadable_values = c.unreadable_values,
        changes_proposed = c.changes_proposed,
        changes_applied = c.changes_applied,
        conflicts = c.conflicts,
        register_requests = report.register.requests,
        register_cache_hits = report.register.cache_hits,
        register_retries = report.register.retries,
        register_rate_limit_waits = report.register.rate_limit_waits,
        duration_ms = report.duration_ms as u64,
        audit_entries = audit_head.entries,
        audit_head = %audit_head.hash,
        "pass finished"
    );
    result.map(|_| report)
}

/// What a pass gathers while it runs, for its report and its outcome.
#[derive(Default)]
struct Tally {
    counts: PassCounts,
    register: RegisterStats,
    stages: StageTimes,
    /// Why lookups failed, with how many records each.
    failures: BTreeMap<String, i64>,
    duplicates: Option<dedupe::Found>,
    model: ModelSource,
}

impl Tally {
    fn add(&mut self, written: Option<write::Written>) {
        let Some(w) = written else { return };
        self.counts += &w.counts;
        for (reason, n) in w.failures {
            *self.failures.entry(reason).or_default() += n;
        }
        self.stages.persist += w.persist;
        self.stages.apply += w.apply;
    }
}

/// When a pass refreshes the store's planner statistics: after its first batch, then each
/// time it has stored twice as many records (a first pass grows its tables from nothing;
/// about ten refreshes for a million records in batches of a thousand). Each refresh runs
/// on a task of its own: on PostgreSQL one `ANALYZE` took 75 ms at 4,000 records of 5,000,
/// while neither the front nor the writer moved.
#[derive(Debug)]
struct Statistics {
    next: i64,
    running: Option<AbortOnDropHandle<Result<(), StoreError>>>,
}

impl Default for Statistics {
    fn default() -> Self {
        Statistics {
            next: 1,
            running: None,
        }
    }
}

impl Statistics {
    fn due(&mut self, stored: i64) -> bool {
        if stored < self.next {
            return false;
        }
        self.next = stored.saturating_mul(2);
        true
    }

    /// Starts a refresh when one is due, once the one before it is done.
    async fn refresh(&mut self, store: &Store, stored: i64) -> Result<(), SyncError> {
        if !self.due(stored) {
            return Ok(());
        }
        self.finish().await?;
        let store = store.clone();
        let task = tokio::spawn(async move { store.refresh_statistics().await });
        self.running = Some(AbortOnDropHandle::new(task));
        Ok(())
    }

    /// Waits for the refresh under way, if any.
    async fn finish(&mut self) -> Result<(), SyncError> {
        let Some(task) = self.running.take() else {
            return Ok(());
        };
        match task.await {
            Ok(refreshed) => Ok(refreshed?),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(SyncError::Refused(format!(
                "refreshing the store's statistics was cancelled ({e})"
            ))),
        }
    }
}

/// How a pass that ran to its end went: `failed` when every lookup failed (nothing was
/// checked), `degraded` when more than `max_failed_share` of them did, else `succeeded`;
/// with the first reasons and their counts.
fn judge(
    counts: &PassCounts,
    failures: &BTreeMap<String, i64>,
    max_failed_share: f64,
) -> (PassOutcome, Option<String>) {
    // Records left unchanged were not asked: they neither hide nor count as failures.
    let asked = counts.records_read - counts.skipped - counts.unchanged;
    let failed = counts.lookup_failed;
    if failed == 0 || asked <= 0 {
        return (PassOutcome::Succeeded, None);
    }
    let share = failed as f64 / asked as f64;
    let mut reasons: Vec<(&String, &i64)> = failures.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let reasons = reasons
        .iter()
        .take(3)
        .map(|(reason, n)| format!("{n}× {reason}"))
        .collect::<Vec<_>>()
        .join("; ");
    if failed >= asked {
        let text = format!("every lookup failed ({failed} records): {reasons}");
        (PassOutcome::Failed, Some(text))
    } else if share > max_failed_share {
        let text = format!(
            "{failed} of {asked} lookups failed ({:.0} %, above max_failed_share {max_failed_share}): {reasons}",
            share * 100.0
        );
        (PassOutcome::Degraded, Some(text))
    } else {
        (PassOutcome::Succeeded, None)
    }
}

/// The stages of a pass. Returns whether the pass was stopped early.
async fn run_stages(
    config: &Config,
    job_name: &str,
    store: &Store,
    stop: &Stop,
    pass_id: i64,
    tally: &mut Tally,
) -> Result<bool, SyncError> {
    let mut pass = PassContext::open(config, store, job_name).await?;
    let job = pass.job;
    let vies = match job.vies.as_ref().map(|v| (v, config.register.get(v))) {
        Some((name, Some(crate::config::RegisterConfig::Vies(v)))) => {
            Some(Vies::new(name, v, Some(store.clone()))?)
        }
        _ => None,
    };
    let ctx = persist::Context {
        organisation_jobs: config
            .job
            .iter()
            .filter(|(_, j)| j.crm == job.crm && j.entity == EntityKind::Organisation)
            .map(|(name, _)| name.clone())
            .collect(),
        job: job_name.to_string(),
        crm: job.crm.clone(),
        entity: job.entity,
        pass_id,
        register: pass.register.name().to_string(),
    };
    // Contacts with an address of their own are checked against their organisation's.
    let check_addresses = job.entity == EntityKind::Contact
        && pass.crm.mapping(EntityKind::Organisation).is_some()
        && [Field::Postcode, Field::City]
            .iter()
            .any(|f| pass.plan.mapped.contains(f));
    for field in crate::domain::comparison::unused_fields(
        pass.plan.mapped.iter().copied(),
        &pass.scorer.model.comparisons,
        &[],
    ) {
        warn!(
            pass = pass_id,
            field = field.as_str(),
            "a mapped field is not compared; add it to [job.NAME.matching] comparisons to match on it"
        );
    }

    let at = Instant::now();
    apply::reconcile(&pass, store, &mut tally.counts).await?;
    tally.stages.apply += at.elapsed();

    let at = Instant::now();
    let mut reader = read::Reader::start(&pass, store, pass_id).await?;
    let fitted_before = score::start_from_last_fit(&mut pass, store, pass_id).await?;
    if fitted_before {
        tally.model = ModelSource::Reused;
        info!(
            pass = pass_id,
            "match parameters of the last pass reused: the register holds as many records as then"
        );
    } else if job.matching.estimate {
        // EM learns from the candidates of the first batch, or for a remote register of
        // the pass's first few thousand records (one batch's 638 pairs left it
        // unconverged); those batches are read ahead and looked up once.
        let enough = if pass.register.holds_records() {
            1
        } else {
            REMOTE_EM_RECORDS
        };
        let sample = reader.read_ahead(&pass, store, enough).await?;
        tally.stages.lookup += at.elapsed();
        let at = Instant::now();
        if score::fit_model(&mut pass, store, pass_id, (&sample.0, &sample.1)).await? {
            tally.model = ModelSource::Fitted;
        }
        tally.stages.score += at.elapsed();
    }

    pass.basis = pass.settled_basis();

    // Batches N and N+1 are stored and applied (the writer's tasks, N+1 stored while N is
    // applied) while batch N+2 is read, looked up and scored here: the halves use the
    // cores and the store's server together rather than one at a time.
    let writer = write::Writer {
        store: store.clone(),
        ctx: ctx.clone(),
        rules: std::sync::Arc::new(pass.plan.rules.clone()),
        crm: std::sync::Arc::clone(&pass.crm),
    };
    let mut in_flight = write::InFlight::default();
    let mut committed = reader.done();
    let mut statistics = Statistics::default();
    loop {
        // A batch whose reading began before a stop was asked for is still written, as
        // when the stages ran one after another: the pass ends after its current batch.
        let stopping = stop.requested();
        let front = match stopping {
            true => Ok(None),
            false => {
                let reading = (&mut reader, vies.as_ref(), check_addresses);
                next_outcomes(&pass, store, &ctx, reading, tally).await
            }
        };
        // Whatever the next batch came to, the oldest in flight is written out first; at the
        // end (or on an error) every one of them.
        let more = matches!(front, Ok(Some(_)));
        while !(more && in_flight.has_room()) {
            let Some(written) = in_flight.finish().await? else {
                break;
            };
            tally.add(Some(written));
            statistics.refresh(store, tally.counts.records_read).await?;
        }
        match front? {
            Some((decided, end)) => {
                committed = end.done;
                in_flight.start(&writer, decided, end);
            }
            None if stopping => {
                warn!(
                    pass = pass_id,
                    records_done = committed,
                    "stop requested; the pass ends after a committed batch"
                );
                return Ok(true);
            }
            None => break,
        }
    }
    statistics.finish().await?;
    let at = Instant::now();
    reader.swept(store, job_name).await?;
    let proposed = persist::merge(store, &ctx).await?;
    tally.counts.changes_proposed += proposed.changes_proposed;
    tally.counts.pending_review += proposed.pending_review;
    if job.duplicates.enabled {
        tally.duplicates = Some(dedupe::run(&pass, config, store, pass_id).await?);
    }
    // Only a pass that read everything it meant to moves the cursor.
    reader.finish(store, job_name).await?;
    tally.stages.persist += at.elapsed();
    Ok(false)
}

/// The front of the pipeline: the next batch read, looked up and scored (its unchanged
/// records left as they stand), with where the sweep stands once it is written; `None`
/// once the CRM has no more.
async fn next_outcomes(
    pass: &PassContext<'_>,
    store: &Store,
    ctx: &persist::Context,
    (reader, vies, check_addresses): (&mut read::Reader, Option<&Vies>, bool),
    tally: &mut Tally,
) -> Result<Option<(persist::Decided, read::Position)>, SyncError> {
    let at = Instant::now();
    let Some(batch) = reader.next(pass).await? else {
        return Ok(None);
    };
    let histories = read::histories(pass, store, ctx, &batch.records, check_addresses).await?;
    let inputs = unchanged::inputs(pass, &batch.records, &histories);
    tally.stages.read += at.elapsed();

    let at = Instant::now();
    let (triaged, unchanged) = match batch.looked_up {
        Some(triaged) => (triaged, Vec::new()),
        None => {
            let (skipped, records) = lookup::sort(pass, store, batch.records).await?;
            let (unchanged, to_look_up) =
                unchanged::split(store, pass.job_name, records, &inputs).await?;
            (lookup::ask(pass, skipped, to_look_up).await, unchanged)
        }
    };
    let vies_checks = lookup::vies_checks(vies, &triaged.to_look_up).await;
    tally.register = match vies {
        Some(vies) => pass.register.stats().plus(vies.stats()),
        None => pass.register.stats(),
    };
    tally.stages.lookup += at.elapsed();

    let at = Instant::now();
    let outcomes = score::score_batch(pass, triaged, vies_checks, histories);
    tally.stages.score += at.elapsed();
    let decided = persist::Decided {
        outcomes,
        unchanged,
        inputs,
    };
    Ok(Some((decided, batch.end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_refreshed_as_the_stored_records_double() {
        let mut statistics = Statistics::default();
        let due: Vec<i64> = [0, 500, 999, 1_000, 1_500, 1_999, 2_000, 2_500, 4_100, 8_200]
            .into_iter()
            .filter(|&n| statistics.due(n))
            .collect();
        assert_eq!(due, [500, 1_000, 2_000, 4_100, 8_200]);
    }

    #[test]
    fn a_pass_whose_lookups_failed_is_degraded_or_failed_never_succeeded() {
        let counts = |read, skipped, lookup_failed| PassCounts {
            records_read: read,
            skipped,
            lookup_failed,
            ..PassCounts::default()
        };
        let reasons: BTreeMap<String, i64> = [
            ("register `x` unavailable: HTTP 503".to_string(), 30),
            ("register `x` unavailable: timed out".to_string(), 10),
        ]
        .into();
        let cases = [
            (counts(100, 0, 0), PassOutcome::Succeeded),
            (counts(100, 0, 20), PassOutcome::Succeeded),
            (counts(100, 0, 21), PassOutcome::Degraded),
            (counts(100, 60, 40), PassOutcome::Failed),
            (counts(100, 0, 100), PassOutcome::Failed),
            // Nothing asked (all skipped): nothing failed.
            (counts(10, 10, 0), PassOutcome::Succeeded),
            // Every record asked failed; the rest were left unchanged, not checked.
            (
                PassCounts {
                    unchanged: 60,
                    ..counts(100, 0, 40)
                },
                PassOutcome::Failed,
            ),
            (
                PassCounts {
                    unchanged: 60,
                    ..counts(100, 0, 9)
                },
                PassOutcome::Degraded,
            ),
        ];
        for (c, want) in cases {
            let (status, problem) = judge(&c, &reasons, 0.2);
            assert_eq!(status, want, "{c:?}");
            assert_eq!(problem.is_some(), want != PassOutcome::Succeeded, "{c:?}");
            if let Some(p) = problem {
                assert!(
                    p.contains("30× register `x` unavailable: HTTP 503; 10×"),
                    "{p}"
                );
            }
        }
    }
}
