//! One pass of a job: read CRM records in batches, look each up in the register, decide,
//! store changes and statuses (one transaction per batch), then apply approved changes.

pub mod apply;
pub mod explain;
mod persist;
pub mod review;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::Connection;
use serde::Serialize;
use tracing::{info, instrument, warn};

use crate::config::{Config, JobConfig};
use crate::crm::{CrmError, CrmSource};
use crate::domain::decide::{decide, Decision};
use crate::domain::diff::{diff, PlannedChange};
use crate::domain::em;
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::normalise::fold_text;
use crate::domain::score::{gamma, Gamma, Prepared, Scorer};
use crate::register::{Lookup, RegisterError};
use crate::store::passes::{self, outcome, PassCounts};
use crate::store::{Store, StoreError};

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
    #[error("job `{job}`: {problem}; fix [job.{job}.matching]")]
    Matching { job: String, problem: String },
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
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
    pub status: &'static str,
    pub counts: PassCounts,
    pub duration_ms: u128,
    pub error: Option<String>,
}

impl PassReport {
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms as u64)
    }
}

/// What became of one CRM record in this pass, before anything is stored.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Failed(String),
    Decided {
        decision: Decision,
        planned: Vec<PlannedChange>,
        inactive: bool,
    },
}

/// Register status values that mean the entity no longer trades.
fn is_inactive(status: &str) -> bool {
    matches!(
        fold_text(status).as_str(),
        "inactive"
            | "dissolved"
            | "merged"
            | "retired"
            | "geloescht"
            | "erloschen"
            | "aufgeloest"
            | "inaktiv"
    )
}

/// Scores, decides and diffs one record: pure, given the register's answer.
pub(crate) fn evaluate(
    scorer: &Scorer,
    job: &JobConfig,
    record: &Record,
    lookup: Lookup,
) -> Outcome {
    let candidates = match lookup {
        Ok(candidates) => candidates,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let kind = scorer.kind();
    let crm = Prepared::new(kind, record);
    let scored = candidates
        .iter()
        .map(|c| scorer.score(&crm, &Prepared::new(kind, c)))
        .collect();
    let decision = decide(scored, &job.thresholds);
    let (planned, inactive) = match &decision {
        Decision::Matched { best, band } => {
            let register_record = candidates.iter().find(|c| c.id == best.register_id);
            match register_record {
                Some(reg) => (
                    diff(record, reg, &job.fields, *band, &job.placeholders),
                    reg.get(Field::Status).is_some_and(is_inactive),
                ),
                None => (Vec::new(), false),
            }
        }
        _ => (Vec::new(), false),
    };
    Outcome::Decided {
        decision,
        planned,
        inactive,
    }
}

/// The job's scorer before EM: built-in m/u with the configured pins, and the register's
/// term frequencies when the job wants them.
pub(crate) fn scorer_for(
    job_name: &str,
    job: &JobConfig,
    register: &dyn crate::register::Register,
) -> Result<Scorer, SyncError> {
    let model = job
        .matching
        .model(job.entity)
        .map_err(|problem| SyncError::Matching {
            job: job_name.to_string(),
            problem,
        })?;
    let mut scorer = Scorer::new(model);
    if job.matching.term_frequency {
        scorer.term_frequencies = register.term_frequencies(job.entity);
    }
    Ok(scorer)
}

/// Fits the scorer by EM to the candidate pairs of one batch, if there are enough.
pub(crate) fn fit(
    scorer: &mut Scorer,
    job: &JobConfig,
    records: &[Record],
    lookups: &[Lookup],
    pass_id: i64,
) {
    let pairs = candidate_gammas(job.entity, records, lookups, job.matching.em_sample_pairs);
    if pairs.len() < em::MIN_PAIRS {
        info!(
            pass = pass_id,
            pairs = pairs.len(),
            "too few candidate pairs for EM; built-in m/u used"
        );
        return;
    }
    let (model, report) = em::estimate(&scorer.model, &pairs, job.matching.em_max_iterations, 1e-4);
    info!(
        pass = pass_id,
        pairs = report.pairs,
        iterations = report.iterations,
        converged = report.converged,
        lambda = model.lambda,
        "match parameters estimated (EM)"
    );
    scorer.model = model;
}

/// The comparison vectors of a batch's candidate pairs, at most `limit`.
fn candidate_gammas(
    kind: EntityKind,
    records: &[Record],
    lookups: &[Lookup],
    limit: usize,
) -> Vec<Gamma> {
    let mut out = Vec::new();
    for (record, lookup) in records.iter().zip(lookups) {
        let Ok(candidates) = lookup else { continue };
        let crm = Prepared::new(kind, record);
        out.extend(
            candidates
                .iter()
                .map(|c| gamma(kind, &crm, &Prepared::new(kind, c))),
        );
        if out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    out
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

    let mut counts = PassCounts::default();
    let result = run_batches(config, job_name, job, store, stop, pass_id, &mut counts).await;
    let (status, error) = match &result {
        Ok(true) => (outcome::INTERRUPTED, None),
        Ok(false) => (outcome::SUCCEEDED, None),
        Err(e) => (outcome::FAILED, Some(e.to_string())),
    };
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
    let report = PassReport {
        pass_id,
        job: job_name.to_string(),
        entity: job.entity,
        status,
        counts,
        duration_ms: started.elapsed().as_millis(),
        error,
    };
    let c = &report.counts;
    info!(
        pass = pass_id,
        status,
        records_read = c.records_read,
        matched_auto = c.matched_auto,
        matched_review = c.matched_review,
        not_found = c.not_found,
        ambiguous = c.ambiguous,
        lookup_failed = c.lookup_failed,
        changes_proposed = c.changes_proposed,
        changes_applied = c.changes_applied,
        conflicts = c.conflicts,
        duration_ms = report.duration_ms as u64,
        "pass finished"
    );
    result.map(|_| report)
}

/// Returns whether the pass was stopped early.
async fn run_batches(
    config: &Config,
    job_name: &str,
    job: &JobConfig,
    store: &Store,
    stop: &Stop,
    pass_id: i64,
    counts: &mut PassCounts,
) -> Result<bool, SyncError> {
    let crm_config = config
        .crm
        .get(&job.crm)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let register_config = config
        .register
        .get(&job.register)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let register = crate::register::open(&job.register, register_config).await?;
    let crm: Box<dyn CrmSource> = crate::crm::open(&job.crm, crm_config).await?;
    let ctx = persist::Context {
        job: job_name.to_string(),
        entity: job.entity,
        pass_id,
        register: register.name().to_string(),
    };

    let mut scorer = scorer_for(job_name, job, register.as_ref())?;
    let mut fitted = !job.matching.estimate;

    let mut offset = 0;
    loop {
        if stop.requested() {
            warn!(
                pass = pass_id,
                records_done = offset,
                "stop requested; the pass ends after a committed batch"
            );
            return Ok(true);
        }
        let records = crm.read_batch(job.entity, offset, job.batch_size).await?;
        if records.is_empty() {
            return Ok(false);
        }
        offset += records.len();
        let lookups = register.candidates(job.entity, &records).await;
        if !fitted {
            // EM learns m, u and the prior from the first batch's candidate pairs; later
            // batches are scored with the same model, so one pass is one consistent scale.
            fit(&mut scorer, job, &records, &lookups, pass_id);
            fitted = true;
        }
        let outcomes: Vec<(Record, Outcome)> = records
            .into_iter()
            .zip(lookups)
            .map(|(record, lookup)| {
                let outcome = evaluate(&scorer, job, &record, lookup);
                (record, outcome)
            })
            .collect();
        let batch_ctx = ctx.clone();
        let stored = store
            .db
            .run(move |conn| {
                conn.transaction(|conn| persist::store_batch(conn, &batch_ctx, &outcomes))
            })
            .await?;
        stored.add_to(counts);
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
        let (refresh_ctx, record_ids) = (ctx.clone(), stored.matched_records);
        let statuses = store
            .db
            .run(move |conn| {
                conn.transaction(|conn| persist::refresh_statuses(conn, &refresh_ctx, &record_ids))
            })
            .await?;
        counts.in_sync += statuses.0;
        counts.different += statuses.1;
    }
}
