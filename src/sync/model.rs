//! The model stage of a pass: the job's scorer, fitted by EM to the candidate pairs (or
//! taken from the pass before), and stored with the pass so `explain` repeats it.

use super::SyncError;
use crate::config::JobConfig;
use crate::domain::blocking::{Rule, RuleKeys};
use crate::domain::em;
use crate::domain::evaluate::Plan;
use crate::domain::link::{random_gammas, MatchSettings, Sample};
use crate::domain::model::Record;
use crate::domain::score::{gamma, Prepared, Scorer};
use crate::domain::sharing::SharedAddresses;
use crate::register::Lookup;
use crate::store::Store;
use tracing::info;

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

/// Fits the scorer by EM to the candidate pairs of one batch, if there are enough;
/// returns whether it did.
pub(crate) fn fit(
    scorer: &mut Scorer,
    (plan, settings, rules): (&Plan, &MatchSettings, &[Rule]),
    records: &[Record],
    lookups: &[Lookup],
    register: &dyn crate::register::Register,
    pass_id: i64,
) -> bool {
    let prepare = |r: &Record| Prepared::new(plan.entity, r);
    let crm: Vec<Prepared> = records.iter().map(prepare).collect();
    // EM learns per rule only with random pairs (a register that holds its records); a
    // remote register's candidates need not be keyed.
    let rules = if register.holds_records() { rules } else { &[] };
    let sample = candidate_gammas(
        &scorer.model,
        rules,
        &crm,
        lookups,
        settings.em_sample_pairs,
    );
    if sample.gammas.len() < em::MIN_PAIRS {
        info!(
            pass = pass_id,
            pairs = sample.gammas.len(),
            "too few candidate pairs for EM; built-in m/u used"
        );
        return false;
    }
    let addresses = SharedAddresses::weigh(&mut scorer.model, &sample.gammas);
    // A register that holds its records gives random ones: u and the prior then describe
    // any two records, not the ones blocking brought together.
    let random = register
        .sample(RANDOM_SAMPLE)
        .map(|(mut drawn, population)| {
            plan.minimise(&mut drawn);
            let register: Vec<Prepared> = drawn.iter().map(prepare).collect();
            (
                random_gammas(&scorer.model, &crm, &register, sample.gammas.len()),
                population,
            )
        });
    let (model, report) = em::estimate(
        &scorer.model,
        &sample.gammas,
        &sample.ends,
        random.as_ref().map(|(gammas, population)| em::RandomPairs {
            gammas,
            register_size: *population,
        }),
        Some(em::Sessions {
            shared: &sample.shared,
            rules,
        }),
        settings.em_max_iterations,
        1e-4,
    );
    info!(
        pass = pass_id,
        pairs = report.pairs,
        iterations = report.iterations,
        sessions = report.sessions,
        addresses_own = addresses.is_some_and(|a| a.own()),
        converged = report.converged,
        lambda = model.lambda,
        matched_share = report.matched_share,
        "match parameters estimated (EM)"
    );
    scorer.model = model;
    true
}

/// The model the newest pass of `job_name` stored, if it has the shape of `current` (the
/// same comparisons and pins), with that pass's id.
pub(crate) async fn stored_model(
    store: &Store,
    job_name: &str,
    current: &crate::domain::score::Model,
) -> Result<Option<(i64, crate::domain::score::Model)>, SyncError> {
    let job = job_name.to_string();
    let row = store
        .db
        .run(move |conn| crate::store::pass_models::latest(conn, &job))
        .await?;
    Ok(row.and_then(|(pass, text)| {
        let model: crate::domain::score::Model = serde_json::from_str(&text).ok()?;
        current.same_shape(&model).then_some((pass, model))
    }))
}

/// Stores the model pass `pass_id` scores with.
pub(crate) async fn save_model(
    store: &Store,
    job_name: &str,
    pass_id: i64,
    model: &crate::domain::score::Model,
) -> Result<(), SyncError> {
    let (job, text) = (
        job_name.to_string(),
        serde_json::to_string(model).unwrap_or_default(),
    );
    store
        .db
        .run(move |conn| crate::store::pass_models::save(conn, pass_id, &job, &text))
        .await?;
    Ok(())
}

/// CRM records whose candidates a remote register's EM learns from, at most.
pub(crate) const REMOTE_EM_RECORDS: usize = 5_000;

/// Register records drawn at random for counting u: enough for every level to show.
pub(super) const RANDOM_SAMPLE: usize = 5_000;

/// A batch's (prepared) records compared with their candidates, at most `limit` pairs, with
/// the blocking `rules` each pair shares.
pub(super) fn candidate_gammas(
    model: &crate::domain::score::Model,
    rules: &[Rule],
    records: &[Prepared],
    lookups: &[Lookup],
    limit: usize,
) -> Sample {
    let mut out = Sample::default();
    for (crm, lookup) in records.iter().zip(lookups) {
        let Ok(candidates) = lookup else { continue };
        let keys = RuleKeys::of(rules, crm);
        let room = limit.saturating_sub(out.gammas.len());
        out.push(
            candidates
                .iter()
                .take(room)
                .map(|c| {
                    let c = Prepared::new(model.kind, c);
                    (gamma(model, crm, &c), keys.shared(rules, &c))
                })
                .collect(),
        );
        if out.gammas.len() >= limit {
            break;
        }
    }
    out
}
