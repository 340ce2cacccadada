//! `refsync explain`: how one CRM record is matched, candidate by candidate, with the same
//! blocking and the model the last pass stored, so that it repeats that pass's decision;
//! before any pass (or after the comparisons changed) with a fit as a pass would make.

use serde::Serialize;

use super::{fit, scorer_for, stored_model, SyncError};
use crate::config::Config;
use crate::crm::CrmSource;
use crate::domain::decide::{decide, Decision};
use crate::domain::model::Record;
use crate::domain::score::{Model, Prepared, Scored};
use crate::store::Store;

/// The candidates of one CRM record, best first, and what the pass would decide.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub job: String,
    pub record: Record,
    /// `matched:auto`, `matched:review`, `ambiguous` or `not_found`.
    pub decision: String,
    pub candidates: Vec<Scored>,
    pub model: Model,
    /// The pass whose stored model scored the candidates; `None`: fitted afresh.
    pub model_pass: Option<i64>,
}

/// Explains record `record_id` of job `job_name`; `Ok(None)` when the CRM has no such record.
pub async fn explain(
    store: Option<&Store>,
    config: &Config,
    job_name: &str,
    record_id: &str,
) -> Result<Option<Explanation>, SyncError> {
    let job = config
        .job
        .get(job_name)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let (Some(crm_config), Some(register_config)) =
        (config.crm.get(&job.crm), config.register.get(&job.register))
    else {
        return Err(SyncError::NoSuchJob(job_name.to_string()));
    };
    let plan = job.plan(crm_config.mapping(job.entity).ok_or_else(|| {
        SyncError::Refused(format!(
            "[crm.{}] has no mapping for {} records",
            job.crm, job.entity
        ))
    })?);
    let register = crate::register::open(&job.register, register_config, None).await?;
    let crm: Box<dyn CrmSource> = crate::crm::open(&job.crm, crm_config).await?;
    let mut scorer = scorer_for(job_name, job, register.as_ref())?;
    let stored = match store {
        Some(store) => stored_model(store, job_name, &scorer.model).await?,
        None => None,
    };
    let model_pass = stored.as_ref().map(|(pass, _)| *pass);
    if let Some((_, model)) = stored {
        scorer.model = model;
    }

    // The CRM is read in the pass's batches; without a stored model the first one fits
    // the model, as in a pass.
    let mut after: Option<String> = None;
    let mut found = None;
    loop {
        let batch = crm
            .read_batch(job.entity, None, after.as_deref(), job.batch_size)
            .await?;
        let Some(last) = batch.last() else {
            break;
        };
        let first = after.is_none();
        after = Some(last.id.clone());
        if first && job.matching.estimate && model_pass.is_none() {
            let mut lookups = register.candidates(job.entity, &batch).await;
            for candidates in lookups.iter_mut().flatten() {
                plan.minimise(candidates);
            }
            let rules = register_config.blocking().rules(job.entity);
            let model = (&plan, &job.matching, &rules[..]);
            fit(&mut scorer, model, &batch, &lookups, register.as_ref(), 0);
        }
        if let Some(record) = batch.into_iter().find(|r| r.id == record_id) {
            found = Some(record);
            break;
        }
    }
    let Some(record) = found else {
        return Ok(None);
    };
    let mut lookup = register
        .candidates(job.entity, std::slice::from_ref(&record))
        .await
        .pop()
        .unwrap_or_else(|| Ok(Vec::new()))?;
    // As in the pass: a contact is compared only on the fields it may be enriched with.
    plan.minimise(&mut lookup);
    let crm_prepared = Prepared::new(job.entity, &record);
    let mut candidates: Vec<Scored> = lookup
        .iter()
        .map(|c| scorer.score(&crm_prepared, &Prepared::new(job.entity, c)))
        .collect();
    candidates.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.register_id.cmp(&b.register_id))
    });
    let decision = match decide(candidates.clone(), &job.thresholds) {
        Decision::Matched { band, .. } => format!("matched:{band}"),
        Decision::Ambiguous { .. } => "ambiguous".to_string(),
        Decision::NotFound { .. } => "not_found".to_string(),
    };
    Ok(Some(Explanation {
        job: job_name.to_string(),
        record,
        decision,
        candidates,
        model: scorer.model,
        model_pass,
    }))
}
