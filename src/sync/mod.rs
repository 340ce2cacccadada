//! One pass of a job: read CRM records in batches, look each up in the register, decide,
//! store changes and statuses (one transaction per batch), then apply approved changes.

pub mod apply;
pub mod consent;
pub mod erase;
mod evaluate;
use evaluate::{evaluate, History, JobPlan, Outcome};
mod lookup;
mod model;
use lookup::{triage, Triaged};
pub(crate) use model::{fit, scorer_for, stored_model};
use model::{save_model, REMOTE_EM_RECORDS};
pub mod explain;
pub mod import;
pub(crate) mod persist;
pub mod retention;
pub mod revert;
pub mod review;
pub mod subject_access;
pub mod tune;
pub mod verdicts;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::Connection;
use serde::Serialize;
use tracing::{info, instrument, warn};

use crate::config::{Config, JobConfig};
use crate::crm::{CrmError, CrmSource};
use crate::domain::model::MatchStatus;
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::validate;
use crate::register::{Lookup, RegisterError, RegisterStats};
use crate::store::passes::{self, PassCounts, PassOutcome};
use crate::store::{cursors, provenance, resume, suppressions, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no job `{0}` in the config; see `refsync check-config` for the defined jobs")]
    NoSuchJob(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crm(#[from] CrmError),
    #[error("{0}")]
    Register(#[from] RegisterError),
    #[error("{0}")]
    Refused(String),
    #[error("job `{job}`: {problem}; fix [job.{job}.matching]")]
    Matching { job: String, problem: String },
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Store(e.into())
    }
}

impl From<crate::db::DbError> for SyncError {
    fn from(e: crate::db::DbError) -> Self {
        SyncError::Store(e.into())
    }
}

/// Set by SIGTERM/SIGINT: the pass finishes the batch it is in and stops.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

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
    /// The process's peak resident memory so far (Linux), in MiB.
    pub peak_memory_mib: Option<u64>,
    pub duration_ms: u128,
    pub error: Option<String>,
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
    let result = run_batches(config, job_name, job, store, stop, pass_id, &mut tally).await;
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
}

/// How a pass that ran to its end went: `failed` when every lookup failed (nothing was
/// checked), `degraded` when more than `max_failed_share` of them did, else `succeeded`;
/// with the first reasons and their counts.
fn judge(
    counts: &PassCounts,
    failures: &BTreeMap<String, i64>,
    max_failed_share: f64,
) -> (PassOutcome, Option<String>) {
    let asked = counts.records_read - counts.skipped;
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

/// Returns whether the pass was stopped early.
async fn run_batches(
    config: &Config,
    job_name: &str,
    job: &JobConfig,
    store: &Store,
    stop: &Stop,
    pass_id: i64,
    tally: &mut Tally,
) -> Result<bool, SyncError> {
    let Tally {
        counts,
        register: traffic,
        stages,
        failures,
    } = tally;
    let crm_config = config
        .crm
        .get(&job.crm)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let register_config = config
        .register
        .get(&job.register)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let mapping = crm_config.mapping(job.entity).ok_or_else(|| {
        SyncError::Refused(format!(
            "[crm.{}] has no mapping for {} records",
            job.crm, job.entity
        ))
    })?;
    let plan = JobPlan {
        job,
        rules: job.rules(mapping),
        mapped: mapping.columns.keys().copied().collect(),
    };
    let register =
        crate::register::open(&job.register, register_config, Some(store.clone())).await?;
    let vies = match job.vies.as_ref().map(|v| (v, config.register.get(v))) {
        Some((name, Some(crate::config::RegisterConfig::Vies(v)))) => Some(
            crate::register::vies::Vies::new(name, v, Some(store.clone()))?,
        ),
        _ => None,
    };
    let crm: Box<dyn CrmSource> = crate::crm::open(&job.crm, crm_config).await?;
    // Changes whose apply was cut short (crash, kill) are settled before anything new.
    let at = Instant::now();
    let reconciled = apply::reconcile(store, crm.as_ref(), job_name, job.entity).await?;
    reconciled.add_to(counts);
    stages.apply += at.elapsed();
    let organisation_jobs = config
        .job
        .iter()
        .filter(|(_, j)| j.crm == job.crm && j.entity == EntityKind::Organisation)
        .map(|(name, _)| name.clone())
        .collect();
    let ctx = persist::Context {
        organisation_jobs,
        job: job_name.to_string(),
        crm: job.crm.clone(),
        entity: job.entity,
        pass_id,
        register: register.name().to_string(),
    };

    // Contacts with an address of their own are checked against their organisation's.
    let check_addresses = job.entity == EntityKind::Contact
        && crm_config.mapping(EntityKind::Organisation).is_some()
        && [Field::Postcode, Field::City]
            .iter()
            .any(|f| mapping.columns.contains_key(f));
    let mut scorer = scorer_for(job_name, job, register.as_ref())?;
    for field in crate::domain::comparison::unused_fields(
        mapping.columns.keys().copied(),
        &scorer.model.comparisons,
        &[],
    ) {
        warn!(
            pass = pass_id,
            field = field.as_str(),
            "a mapped field is not compared; add it to [job.NAME.matching] comparisons to match on it"
        );
    }
    // EM on a remote register starts from the last pass's fit: it gives no random pairs
    // and one batch's candidates are few, so what earlier passes learned is refined. A
    // register that holds its records gives EM all it needs in every pass.
    let holds_records = register.holds_records();
    if !holds_records {
        if let Some((_, previous)) = stored_model(store, job_name, &scorer.model).await? {
            scorer.model = previous;
        }
    }
    let mut fitted = !job.matching.estimate;
    let (since, full) = start_point(store, job_name, job).await?;
    match &since {
        Some(since) => info!(
            pass = pass_id,
            since = since.as_str(),
            "incremental pass: records modified since"
        ),
        None => info!(pass = pass_id, "full pass"),
    }
    // An erased person never comes back: their records are skipped before any lookup.
    let suppression = erase::SuppressionCheck::open(config, store, job.entity).await?;
    let mut newest_seen: Option<String> = None;
    // A sweep an earlier pass left unfinished goes on after its last committed batch.
    let resume_job = job_name.to_string();
    let mut offset = store
        .db
        .run(move |conn| resume::get(conn, &resume_job))
        .await? as usize;
    if offset > 0 {
        info!(
            pass = pass_id,
            from_record = offset,
            "resuming the sweep an earlier pass left unfinished"
        );
    }
    // Batches read ahead for a remote register's EM, triaged and looked up once; the pass
    // below takes them first instead of reading and asking again.
    let mut prefetched: VecDeque<(Vec<Record>, Triaged)> = VecDeque::new();
    let mut em_sample: Option<(Vec<Record>, Vec<Lookup>)> = None;
    if !fitted && !holds_records {
        // EM learns from the candidates of the pass's first few thousand records, not of
        // one batch (638 pairs left it unconverged).
        let (mut at, mut sampled) = (offset, 0);
        while sampled < REMOTE_EM_RECORDS {
            let records = crm
                .read_batch(job.entity, since.as_deref(), at, job.batch_size)
                .await?;
            if records.is_empty() {
                break;
            }
            at += records.len();
            let read = records.clone();
            let batch = triage(store, &suppression, job, &plan, register.as_ref(), records).await?;
            sampled += batch.to_look_up.len();
            prefetched.push_back((read, batch));
        }
        em_sample = Some((
            prefetched
                .iter()
                .flat_map(|(_, b)| b.to_look_up.clone())
                .collect(),
            prefetched
                .iter()
                .flat_map(|(_, b)| b.lookups.clone())
                .collect(),
        ));
    }
    loop {
        if stop.requested() {
            warn!(
                pass = pass_id,
                records_done = offset,
                "stop requested; the pass ends after a committed batch"
            );
            return Ok(true);
        }
        let at = Instant::now();
        let (records, ready) = match prefetched.pop_front() {
            Some((records, batch)) => (records, Some(batch)),
            None => (
                crm.read_batch(job.entity, since.as_deref(), offset, job.batch_size)
                    .await?,
                None,
            ),
        };
        if records.is_empty() {
            let resume_job = job_name.to_string();
            store
                .db
                .run(move |conn| resume::clear(conn, &resume_job))
                .await?;
            break;
        }
        offset += records.len();
        let newest = records
            .iter()
            .filter_map(|r| r.modified.as_ref()?.at.clone())
            .max();
        newest_seen = newest_seen.max(newest);

        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let organisations: Vec<(String, String)> = records
            .iter()
            .filter_map(|r| Some((r.id.clone(), r.get(Field::OrganisationId)?.to_string())))
            .collect();
        let (history_ctx, links) = (ctx.clone(), organisations.clone());
        let mut histories = store
            .db
            .run(move |conn| load_histories(conn, &history_ctx, &ids, &links))
            .await?;

        if check_addresses {
            let org_ids: BTreeSet<String> = organisations.iter().map(|(_, o)| o.clone()).collect();
            let org_ids: Vec<String> = org_ids.into_iter().collect();
            let orgs: BTreeMap<String, Record> = crm
                .read_by_ids(EntityKind::Organisation, &org_ids)
                .await?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            for (record, org) in &organisations {
                if let Some(o) = orgs.get(org) {
                    histories.entry(record.clone()).or_default().organisation = Some(o.clone());
                }
            }
        }
        stages.read += at.elapsed();
        let at = Instant::now();
        let Triaged {
            skipped: mut outcomes,
            to_look_up,
            lookups,
        } = match ready {
            Some(batch) => batch,
            None => triage(store, &suppression, job, &plan, register.as_ref(), records).await?,
        };
        stages.lookup += at.elapsed();
        let at = Instant::now();
        if !fitted {
            // EM learns m and the prior from the first batch's candidate pairs (a remote
            // register: from those read ahead) and, where the register holds its records,
            // u from random pairs; later batches are scored with the same model, so one
            // pass is one consistent scale.
            let (sample, sample_lookups) = match &em_sample {
                Some((records, found)) => (&records[..], &found[..]),
                None => (&to_look_up[..], &lookups[..]),
            };
            fit(
                &mut scorer,
                job,
                sample,
                sample_lookups,
                register.as_ref(),
                pass_id,
            );
            em_sample = None;
            fitted = true;
            save_model(store, job_name, pass_id, &scorer.model).await?;
        }
        stages.score += at.elapsed();
        *traffic = register.stats();
        let at = Instant::now();
        let mut vies_results = Vec::with_capacity(to_look_up.len());
        for record in &to_look_up {
            vies_results.push(match (&vies, record.get(Field::VatId)) {
                // A malformed id is already flagged by the format check.
                (Some(vies), Some(vat)) if validate::check(Field::VatId, vat).is_ok() => {
                    Some(vies.check(vat).await)
                }
                _ => None,
            });
        }
        if let Some(vies) = &vies {
            *traffic = register.stats().plus(vies.stats());
        }
        stages.lookup += at.elapsed();
        let at = Instant::now();
        let work: Vec<(Record, Lookup, History, Option<validate::Invalid>)> = to_look_up
            .into_iter()
            .zip(lookups)
            .zip(vies_results)
            .map(|((record, lookup), vies)| {
                let (lookup, vies_invalid) = match vies {
                    // VIES could not tell: the record waits for the next pass.
                    Some(Err(e)) => (Err(e), None),
                    Some(Ok(false)) => (
                        lookup,
                        Some(validate::Invalid {
                            field: Field::VatId,
                            reason: "VIES reports it as not registered".into(),
                        }),
                    ),
                    _ => (lookup, None),
                };
                let history = histories.remove(&record.id).unwrap_or_default();
                (record, lookup, history, vies_invalid)
            })
            .collect();
        // Scoring is pure: the batch's records are spread over the cores.
        let decided = crate::matching::parallel_map(&work, |(record, lookup, history, vies)| {
            evaluate(&plan, &scorer, record, lookup, history, vies.as_ref())
        });
        outcomes.extend(work.into_iter().map(|(record, ..)| record).zip(decided));
        stages.score += at.elapsed();

        let at = Instant::now();
        let batch_ctx = ctx.clone();
        let rules = plan.rules.clone();
        let stored = store
            .db
            .run(move |conn| {
                conn.transaction(|conn| persist::store_batch(conn, &batch_ctx, &rules, &outcomes))
            })
            .await?;
        stored.add_to(counts);
        for (reason, n) in &stored.failures {
            *failures.entry(reason.clone()).or_default() += n;
        }
        stages.persist += at.elapsed();
        let at = Instant::now();
        let applied = apply::apply_changes(
            store,
            crm.as_ref(),
            &ctx.job,
            job.entity,
            &stored.to_apply,
            crate::store::audit::SYSTEM,
        )
        .await?;
        applied.add_to(counts);
        stages.apply += at.elapsed();
        let at = Instant::now();
        let (refresh_ctx, record_ids) = (ctx.clone(), stored.matched_records);
        let statuses = store
            .db
            .run(move |conn| {
                conn.transaction(|conn| persist::refresh_statuses(conn, &refresh_ctx, &record_ids))
            })
            .await?;
        counts.in_sync += statuses.0;
        counts.different += statuses.1;
        let (resume_job, next) = (job_name.to_string(), offset as i64);
        store
            .db
            .run(move |conn| resume::save(conn, &resume_job, next, pass_id))
            .await?;
        stages.persist += at.elapsed();
    }
    let at = Instant::now();
    let dup_ctx = ctx.clone();
    let proposed = store
        .db
        .run(move |conn| conn.transaction(|conn| persist::merge_candidates(conn, &dup_ctx)))
        .await?;
    counts.changes_proposed += proposed.changes_proposed;
    counts.pending_review += proposed.pending_review;
    stages.persist += at.elapsed();
    // Only a pass that read everything it meant to moves the cursor.
    let job_owned = job_name.to_string();
    store
        .db
        .run(move |conn| cursors::save(conn, &job_owned, newest_seen, full))
        .await?;
    Ok(false)
}

/// Where this pass starts: `(None, true)` for a full pass, else the CRM time to read from.
async fn start_point(
    store: &Store,
    job_name: &str,
    job: &JobConfig,
) -> Result<(Option<String>, bool), SyncError> {
    if !job.incremental {
        return Ok((None, true));
    }
    let owned = job_name.to_string();
    let cursor = store.db.run(move |conn| cursors::get(conn, &owned)).await?;
    let Some(cursor) = cursor else {
        return Ok((None, true));
    };
    let due = cursor.full_pass_at.is_none_or(|at| {
        crate::store::now() - at >= chrono::Duration::hours(job.full_pass_every_hours as i64)
    });
    match cursor.cursor {
        Some(c) if !due => Ok((Some(with_overlap(&c, job.overlap_seconds)), false)),
        _ => Ok((None, true)),
    }
}

/// The cursor moved back by the overlap window, in a form both the CRM's text and its
/// timestamp columns compare with. A value refsync cannot read as a time is used as it is.
pub(crate) fn with_overlap(cursor: &str, overlap_seconds: u64) -> String {
    let trimmed = cursor.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(trimmed)
        .map(|d| d.naive_utc())
        .or_else(|_| {
            chrono::DateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S%.f%#z")
                .map(|d| d.naive_utc())
        })
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f"));
    match parsed {
        Ok(t) => (t - chrono::Duration::seconds(overlap_seconds as i64))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => {
            warn!("the CRM's modified value is not a time refsync can read; reading from it without overlap");
            trimmed.to_string()
        }
    }
}

/// Provenance and suppressions of a batch's records.
fn load_histories(
    conn: &mut crate::db::AnyConnection,
    ctx: &persist::Context,
    ids: &[String],
    organisations: &[(String, String)],
) -> diesel::QueryResult<BTreeMap<String, History>> {
    let mut out: BTreeMap<String, History> = BTreeMap::new();
    if !organisations.is_empty() {
        let org_ids: Vec<String> = organisations.iter().map(|(_, o)| o.clone()).collect();
        let inactive = crate::store::status::with_status(
            conn,
            &ctx.organisation_jobs,
            &org_ids,
            MatchStatus::Inactive,
        )?;
        for (record, org) in organisations {
            if inactive.contains(org) {
                out.entry(record.clone()).or_default().organisation_inactive = true;
            }
        }
    }
    for (record, rows) in provenance::for_records(conn, &ctx.crm, ctx.entity.as_str(), ids)? {
        let h = out.entry(record).or_default();
        for row in rows {
            if let Ok(field) = row.field.parse::<Field>() {
                h.written.insert(field, row.value);
            }
        }
    }
    for (record, rows) in suppressions::for_records(conn, &ctx.job, ids)? {
        let h = out.entry(record).or_default();
        for row in rows {
            if let Ok(field) = row.field.parse::<Field>() {
                h.suppressed.insert((field, row.value_key));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn cursor_overlap_table() {
        let cases = [
            ("2026-11-27 10:00:00", 300, "2026-11-27 09:55:00"),
            ("2026-11-27 10:00:00.123456", 0, "2026-11-27 10:00:00"),
            ("2026-11-27T10:00:00Z", 60, "2026-11-27 09:59:00"),
            ("2026-11-27 10:00:00+01", 0, "2026-11-27 09:00:00"),
            ("not a time", 300, "not a time"),
        ];
        for (cursor, overlap, want) in cases {
            assert_eq!(with_overlap(cursor, overlap), want, "{cursor}");
        }
    }
}
