//! Check on entry: one record checked the moment it arrives (`POST /api/v1/check`,
//! `refsync check`). A job's CRM index, its opened register (a file register with its index
//! in memory) and its scorer are built once ([`WarmJob::open`]) and kept in [`Warm`]: the
//! server builds them at start and the daemon again after each pass of the job, so a request
//! reads no file. Nothing is written unless asked; then a proposal, never a CRM write.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde::Serialize;
use tracing::{info, warn};

use super::import::{propose_lead, Lead};
use super::pass::PassContext;
use super::persist::{self, Stored};
use super::{stored_model, SyncError};
use crate::config::{Config, JobConfig};
use crate::crm::CrmSource;
use crate::domain::check::{self as pure, Candidate, Channels, Problem, Proposal, RegisterMatch};
use crate::domain::evaluate::Plan;
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::packed::Packer;
use crate::domain::score::Scorer;
use crate::register::index::RecordIndex;
use crate::register::Register;
use crate::store::passes::{self, PassCounts, PassOutcome};
use crate::store::Store;
use crate::sync::erase::SuppressionCheck;

/// Every record of the job's kind in `crm`, indexed for blocking (the index is built here,
/// not on first use).
pub(crate) async fn index_crm(
    crm: &dyn CrmSource,
    kind: EntityKind,
) -> Result<RecordIndex, SyncError> {
    let mut records = Packer::default();
    crate::crm::for_each_page(crm, kind, 5_000, |batch| {
        for r in &batch {
            records.push(r);
        }
    })
    .await?;
    let index = RecordIndex::new(records.finish(), Default::default());
    tokio::task::spawn_blocking(move || {
        index.term_frequencies(kind);
        index
    })
    .await
    .map_err(|e| SyncError::Refused(format!("building the CRM index failed: {e}")))
}

/// What checking a record of one job needs, built once.
pub struct WarmJob {
    pub job_name: String,
    pub job: JobConfig,
    pub(crate) plan: Plan,
    pub(crate) crm_index: RecordIndex,
    pub(crate) register: Box<dyn Register>,
    pub(crate) scorer: Scorer,
    pub built_at: NaiveDateTime,
}

impl WarmJob {
    /// Opens the job's register and scorer (the model the last pass fitted, if it stored
    /// one) and reads its CRM whole into an index.
    pub async fn open(
        config: &Config,
        store: &Store,
        job_name: &str,
    ) -> Result<WarmJob, SyncError> {
        let PassContext {
            job,
            plan,
            crm,
            register,
            mut scorer,
            ..
        } = PassContext::open(config, store, job_name).await?;
        if let Some((_, model)) = stored_model(store, job_name, &scorer.model).await? {
            scorer.model = model;
        }
        let crm_index = index_crm(crm.as_ref(), job.entity).await?;
        // A file register builds its blocking index on first use: here, not in a request.
        register.term_frequencies(job.entity);
        Ok(WarmJob {
            job_name: job_name.to_string(),
            job: job.clone(),
            plan,
            crm_index,
            register,
            scorer,
            built_at: crate::store::now(),
        })
    }
}

/// The warm jobs of a server, by name; a rebuilt job replaces its entry whole, so a request
/// sees the old index or the new one, never a half-built one.
#[derive(Default)]
pub struct Warm {
    jobs: RwLock<BTreeMap<String, Arc<WarmJob>>>,
}

impl Warm {
    pub fn get(&self, job: &str) -> Option<Arc<WarmJob>> {
        self.jobs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .cloned()
    }

    /// (Re)builds the indexes of `job`; the old ones serve until the new ones are ready.
    pub async fn build(&self, config: &Config, store: &Store, job: &str) -> Result<(), SyncError> {
        let started = Instant::now();
        let warm = Arc::new(WarmJob::open(config, store, job).await?);
        let crm_records = warm.crm_index.len();
        self.jobs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_string(), warm);
        // Logged once requests are answered from it, not before (a test waits for it).
        info!(
            job,
            crm_records,
            build_ms = started.elapsed().as_millis() as u64,
            "check index built"
        );
        Ok(())
    }

    /// Builds every job's indexes; a job that fails is logged and left unchecked until its
    /// next pass rebuilds it.
    pub async fn build_all(&self, config: &Config, store: &Store) {
        for job in config.job.keys() {
            if let Err(e) = self.build(config, store, job).await {
                warn!(job = %job, error = %e, "cannot build the check index; checks of this job answer 503 until its next pass");
            }
        }
    }
}

/// The record a request sends: canonical field names, or a form's own names through a
/// configured mapping (`mapping` of `[job.NAME.check.mappings]`).
pub fn record_of(
    job_name: &str,
    job: &JobConfig,
    mapping: Option<&str>,
    values: &BTreeMap<String, String>,
) -> Result<Record, String> {
    let form = match mapping {
        Some(name) => Some(job.check.mappings.get(name).ok_or_else(|| {
            let known = job.check.mappings.keys().cloned().collect::<Vec<_>>();
            format!(
                "no mapping `{name}` in [job.{job_name}.check.mappings]; known: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?),
        None => None,
    };
    let mut record = Record::new("check");
    for (name, value) in values {
        let field = match form {
            Some(form) => *form.get(name).ok_or_else(|| {
                format!(
                    "form field `{name}` is not in mapping `{}`; it maps: {}",
                    mapping.unwrap_or_default(),
                    form.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?,
            None => name.parse::<Field>().map_err(|e| e.to_string())?,
        };
        record.values.insert(field, value.clone());
    }
    if record.values.values().all(|v| v.trim().is_empty()) {
        return Err("the record has no values; send at least one field".into());
    }
    Ok(record)
}

/// Where a stored check went: its proposals wait in the review queue under this pass.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCheck {
    pub pass_id: i64,
    /// The CRM record the proposals are for, or the id the new record is proposed under.
    pub record_id: String,
    pub changes_proposed: i64,
}

/// The answer to a check, in one object.
#[derive(Debug, Clone, Serialize)]
pub struct CheckAnswer {
    pub job: String,
    pub entity: EntityKind,
    /// The person was erased: nothing is checked, shown or stored about them.
    pub erased: bool,
    pub normalised: BTreeMap<Field, String>,
    pub problems: Vec<Problem>,
    /// CRM records the record probably duplicates, most likely first.
    pub duplicates: Vec<Candidate>,
    pub register: Option<RegisterMatch>,
    /// What the record itself suggests: list mappings, standard forms, split names.
    pub suggestions: Vec<Proposal>,
    /// Contacts: the UWG §7 verdict per channel.
    pub channels: Option<Channels>,
    pub stored: Option<StoredCheck>,
    /// When the CRM index this answer used was built (after the job's last pass).
    pub index_built_at: NaiveDateTime,
}

impl CheckAnswer {
    /// The answer for a caller who may not read the CRM (`intake`): each duplicate keeps its
    /// id, probability and per-field levels, not the CRM record's values.
    pub fn without_crm_values(mut self) -> CheckAnswer {
        for comparison in self.duplicates.iter_mut().flat_map(|d| &mut d.explanation) {
            comparison.register = None;
        }
        self
    }
}

/// Checks `record` against the warm job; with `store_as` (who asks) also stores what it
/// means for the CRM as proposals.
pub async fn check(
    warm: &WarmJob,
    config: &Config,
    store: &Store,
    record: Record,
    store_as: Option<&str>,
) -> Result<CheckAnswer, SyncError> {
    let kind = warm.job.entity;
    let plan = &warm.plan;
    let normalised = pure::normalise(&record);
    let mut answer = CheckAnswer {
        job: warm.job_name.clone(),
        entity: kind,
        erased: false,
        normalised: BTreeMap::new(),
        problems: Vec::new(),
        duplicates: Vec::new(),
        register: None,
        suggestions: Vec::new(),
        channels: None,
        stored: None,
        index_built_at: warm.built_at,
    };
    let suppression = SuppressionCheck::open(config, store, kind).await?;
    if !suppression
        .suppressed(store, None, std::slice::from_ref(&normalised))
        .await?
        .is_empty()
    {
        info!(job = %warm.job_name, "check of an erased person refused");
        answer.erased = true;
        return Ok(answer);
    }
    answer.problems = pure::problems(kind, &normalised);

    let mut lookups = warm
        .register
        .candidates(kind, std::slice::from_ref(&normalised))
        .await;
    let mut lookup = lookups.pop().unwrap_or_else(|| Ok(Vec::new()));
    if let Ok(candidates) = lookup.as_mut() {
        plan.minimise(candidates);
    }
    let (register, auto, suggestions) =
        pure::register_match(plan, &warm.scorer, &normalised, &lookup);
    let corrected = pure::corrected(&normalised, &plan.rules, auto.as_ref());
    let candidates = warm.crm_index.candidates(kind, &corrected);
    answer.duplicates = pure::duplicates(&warm.scorer, &plan.thresholds, &corrected, &candidates);
    let crm = pure::crm_match(&warm.scorer, &plan.thresholds, &corrected, candidates);
    if kind == EntityKind::Contact {
        answer.channels = Some(match &crm {
            Some((existing, _, _)) => {
                let held = super::consent::verdicts_of(
                    store,
                    warm.job_name.clone(),
                    &warm.job.crm,
                    &existing.id,
                    Some(existing),
                )
                .await?;
                Channels {
                    audience: held.audience,
                    audience_reason: held.audience_reason,
                    verdicts: held.verdicts,
                }
            }
            None => pure::channels(&normalised, crate::store::now()),
        });
    }
    info!(
        job = %warm.job_name,
        problems = answer.problems.len(),
        duplicates = answer.duplicates.len(),
        register = %register.status,
        "record checked"
    );
    if let Some(actor) = store_as {
        let register_match =
            auto.map(|r| (r, register.best.as_ref().map_or(0.0, |b| b.probability)));
        answer.stored =
            Some(store_check(warm, store, actor, corrected.clone(), crm, register_match).await?);
    }
    answer.normalised = normalised.values;
    answer.register = Some(register);
    answer.suggestions = suggestions;
    Ok(answer)
}

/// Stores a checked record as proposals under a pass of its own (`JOB:check`): a new
/// record, or updates of (or a duplicate of) the CRM record it matches.
async fn store_check(
    warm: &WarmJob,
    store: &Store,
    actor: &str,
    mut record: Record,
    crm: Option<(Record, crate::domain::model::Band, f64)>,
    register: Option<(Record, f64)>,
) -> Result<StoredCheck, SyncError> {
    let (name, entity) = (format!("{}:check", warm.job_name), warm.job.entity.as_str());
    let pass_id = store
        .db
        .run(move |conn| passes::begin(conn, &name, entity))
        .await?;
    record.id = format!("check:{pass_id}");
    let updates = match &crm {
        Some((existing, _, _)) => pure::updates(&warm.plan.rules, &record, existing),
        None => Vec::new(),
    };
    let record_id = crm
        .as_ref()
        .map_or(record.id.clone(), |(r, _, _)| r.id.clone());
    let ctx = persist::Context {
        organisation_jobs: Vec::new(),
        job: warm.job_name.clone(),
        crm: warm.job.crm.clone(),
        entity: warm.job.entity,
        pass_id,
        register: warm.job.register.clone(),
    };
    let from = format!("check by {actor}");
    let proposed = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let mut stored = Stored::default();
                let lead = Lead {
                    from,
                    record: &record,
                    crm: crm.as_ref(),
                    register: register.as_ref(),
                    updates: &updates,
                };
                propose_lead(conn, &ctx, &lead, &mut stored)?;
                Ok::<_, diesel::result::Error>(stored.counts.changes_proposed)
            })
        })
        .await?;
    let counts = PassCounts {
        records_read: 1,
        changes_proposed: proposed,
        ..Default::default()
    };
    store
        .db
        .run(move |conn| passes::finish(conn, pass_id, PassOutcome::Succeeded, &counts, None))
        .await?;
    Ok(StoredCheck {
        pass_id,
        record_id,
        changes_proposed: proposed,
    })
}
