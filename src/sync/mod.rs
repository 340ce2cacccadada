//! One pass of a job: read CRM records in batches, look each up in the register, decide,
//! store changes and statuses (one transaction per batch), then apply approved changes.

pub mod apply;
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
use crate::domain::model::{EntityKind, Field, Policy, Record};
use crate::domain::normalise::{comparable, fold_text};
use crate::domain::policy::Action;
use crate::domain::score::score;
use crate::domain::validate;
use crate::register::{Lookup, RegisterError, RegisterStats};
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
    /// What the register did: requests, cache hits, retries, rate-limit waits.
    pub register: RegisterStats,
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
/// `vies_invalid` is a VAT id VIES said is not registered.
pub(crate) fn evaluate(
    kind: EntityKind,
    job: &JobConfig,
    record: &Record,
    lookup: Lookup,
    vies_invalid: Option<validate::Invalid>,
) -> Outcome {
    let candidates = match lookup {
        Ok(candidates) => candidates,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    // Invalid identifiers never take part in matching; each becomes a change of its own.
    let (mut usable, mut invalid) = validate::screen(record);
    if let Some(v) = vies_invalid {
        usable.values.remove(&v.field);
        invalid.push(v);
    }
    let scored = candidates.iter().map(|c| score(kind, &usable, c)).collect();
    let decision = decide(scored, &job.thresholds);
    let (planned, inactive) = match &decision {
        Decision::Matched { best, band } => {
            let register_record = candidates.iter().find(|c| c.id == best.register_id);
            match register_record {
                Some(reg) => {
                    let mut planned = diff(record, reg, &job.fields, *band, &job.placeholders);
                    planned.retain(|p| !invalid.iter().any(|i| i.field == p.field));
                    planned.extend(
                        invalid
                            .iter()
                            .filter(|i| {
                                job.fields
                                    .get(&i.field)
                                    .is_some_and(|p| *p != Policy::Ignore)
                            })
                            .map(|i| correction(record, reg, i)),
                    );
                    (planned, reg.get(Field::Status).is_some_and(is_inactive))
                }
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

/// For an invalid CRM identifier: the register's valid value as a proposed correction,
/// else a proposal to clear it (a flag a steward resolves). Never applied automatically.
fn correction(crm: &Record, register: &Record, invalid: &validate::Invalid) -> PlannedChange {
    let same = |v: &str| {
        crm.get(invalid.field)
            .is_some_and(|c| comparable(invalid.field, c) == comparable(invalid.field, v))
    };
    let valid = register
        .get(invalid.field)
        .filter(|v| validate::check(invalid.field, v).is_ok() && !same(v));
    let (new, note) = match valid {
        Some(v) => (
            v.to_string(),
            format!(
                "is invalid ({}); the register's value is proposed",
                invalid.reason
            ),
        ),
        None => (
            String::new(),
            format!(
                "is invalid ({}) and the register has no valid value; clear or correct it",
                invalid.reason
            ),
        ),
    };
    PlannedChange {
        field: invalid.field,
        old: crm.raw(invalid.field).map(str::to_string),
        new,
        policy: Policy::Propose,
        action: Action::Propose,
        note: Some(note),
    }
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
    let mut register = RegisterStats::default();
    let result = run_batches(
        config,
        job_name,
        job,
        store,
        stop,
        pass_id,
        (&mut counts, &mut register),
    )
    .await;
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
        register,
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
        register_requests = report.register.requests,
        register_cache_hits = report.register.cache_hits,
        register_retries = report.register.retries,
        register_rate_limit_waits = report.register.rate_limit_waits,
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
    (counts, traffic): (&mut PassCounts, &mut RegisterStats),
) -> Result<bool, SyncError> {
    let crm_config = config
        .crm
        .get(&job.crm)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let register_config = config
        .register
        .get(&job.register)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let register =
        crate::register::open(&job.register, register_config, Some(store.clone())).await?;
    let crm: Box<dyn CrmSource> = crate::crm::open(&job.crm, crm_config).await?;
    let vies = match job.vies.as_ref().map(|v| (v, config.register.get(v))) {
        Some((name, Some(crate::config::RegisterConfig::Vies(v)))) => Some(
            crate::register::vies::Vies::new(name, v, Some(store.clone()))?,
        ),
        _ => None,
    };
    let ctx = persist::Context {
        job: job_name.to_string(),
        entity: job.entity,
        pass_id,
        register: register.name().to_string(),
    };

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
        *traffic = register.stats();
        let mut vies_results = Vec::with_capacity(records.len());
        for record in &records {
            vies_results.push(match (&vies, record.get(Field::VatId)) {
                // A malformed id is already flagged by the format check.
                (Some(vies), Some(vat)) if validate::check(Field::VatId, vat).is_ok() => {
                    Some(vies.check(vat).await)
                }
                _ => None,
            });
        }
        let outcomes: Vec<(Record, Outcome)> = records
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
                let outcome = evaluate(job.entity, job, &record, lookup, vies_invalid);
                (record, outcome)
            })
            .collect();
        if let Some(vies) = &vies {
            *traffic = register.stats().plus(vies.stats());
        }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn job() -> JobConfig {
        JobConfig {
            entity: EntityKind::Organisation,
            crm: "crm".into(),
            register: "reg".into(),
            vies: None,
            schedule: "0 0 * * * *".into(),
            thresholds: Default::default(),
            batch_size: 10,
            placeholders: Vec::new(),
            fields: BTreeMap::from([
                (Field::Lei, Policy::Overwrite),
                (Field::VatId, Policy::FillEmpty),
            ]),
        }
    }

    fn fraport(id: &str) -> Record {
        Record::new(id)
            .with(Field::LegalName, "Fraport AG")
            .with(Field::Postcode, "60547")
            .with(Field::City, "Frankfurt am Main")
    }

    #[test]
    fn invalid_identifiers_are_not_matched_on_and_become_proposals() {
        let crm = fraport("c1")
            .with(Field::Lei, "5299001ERX0K10IZUL41")
            .with(Field::VatId, "DE136695977");
        // A register record sharing the invalid LEI exactly: it must not win on it.
        let decoy = Record::new("decoy")
            .with(Field::LegalName, "Other Holding SE")
            .with(Field::Lei, "5299001ERX0K10IZUL41");
        let right = fraport("r1").with(Field::Lei, "5299001ERX0K10IZUL40");
        let Outcome::Decided {
            decision, planned, ..
        } = evaluate(
            EntityKind::Organisation,
            &job(),
            &crm,
            Ok(vec![decoy, right]),
            None,
        )
        else {
            panic!("not decided");
        };
        let Decision::Matched { best, .. } = decision else {
            panic!("not matched: {decision:?}");
        };
        assert_eq!(best.register_id, "r1");
        let lei = planned
            .iter()
            .find(|p| p.field == Field::Lei)
            .expect("LEI change");
        assert_eq!(lei.new, "5299001ERX0K10IZUL40");
        assert_eq!(lei.action, Action::Propose, "never applied automatically");
        assert!(lei.note.as_deref().unwrap().contains("invalid"));
        // No valid VAT id in the register: a proposal to clear the invalid one.
        let vat = planned
            .iter()
            .find(|p| p.field == Field::VatId)
            .expect("VAT flag");
        assert_eq!(vat.new, "");
        assert!(
            vat.note.as_deref().unwrap().contains("check digit"),
            "{:?}",
            vat.note
        );
    }
}
