//! The score stage of a pass: the model fitted once, then each batch's records scored,
//! decided and diffed (pure, in `domain::evaluate`), spread over the cores.

use std::collections::BTreeMap;

use super::context::{prepare_register, PassContext};
use super::lookup::{Asked, Triaged};
use crate::domain::evaluate::{evaluate_prepared, History, Outcome};
use crate::domain::model::{Field, Record};
use crate::domain::score::Prepared;
use crate::domain::validate;
use crate::register::{Lookup, RegisterError};
use crate::store::Store;
use crate::sync::{fit, save_model, stored_model, SyncError};

/// Makes the scorer the pass scores with and stores it with the pass, so `explain`
/// repeats it. EM learns m and the prior from `sample`'s candidate pairs and, where the
/// register holds its records, u from random pairs; every batch is then scored with the
/// same model, so one pass is one consistent scale. Returns whether EM fitted it (too few
/// pairs leave the starting model).
pub(super) async fn fit_model(
    pass: &mut PassContext<'_>,
    store: &Store,
    pass_id: i64,
    (records, lookups): (&[Record], &[Lookup]),
) -> Result<bool, SyncError> {
    let model = (&pass.plan, &pass.job.matching, &pass.rules[..]);
    let register = pass.register.as_ref();
    // A model fitted anew is part of every record's inputs, so this pass scores every
    // record: the register's records are prepared for it meanwhile, on the core that EM
    // (one thread) leaves idle, rather than when the first batch is scored.
    let (fitted, prepared) = std::thread::scope(|scope| {
        let preparing = scope.spawn(|| prepare_register(register, &pass.plan));
        let fitted = fit(&mut pass.scorer, model, records, lookups, register, pass_id);
        let prepared = preparing.join();
        (
            fitted,
            prepared.unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    });
    pass.keep_prepared(prepared);
    save_model(store, pass.job_name, pass_id, &pass.scorer.model).await?;
    Ok(fitted)
}

/// What the last pass's fit gives this one. Where the register does not hold its
/// records, EM starts from it: a remote register gives no random pairs, so what earlier
/// passes learned is refined. Where it does and still holds as many records as when that
/// model was fitted, the model stands and is stored with this pass (returns `true`: no
/// EM): refitted on a CRM the last pass corrected, EM sees more agreement, and records near
/// a threshold would cross it on a pass where nothing changed.
pub(super) async fn start_from_last_fit(
    pass: &mut PassContext<'_>,
    store: &Store,
    pass_id: i64,
) -> Result<bool, SyncError> {
    let population = pass.register.sample(0).map(|(_, n)| n as u64);
    if population.is_some() && !pass.job.matching.estimate {
        return Ok(false);
    }
    let Some((_, previous)) = stored_model(store, pass.job_name, &pass.scorer.model).await? else {
        return Ok(false);
    };
    match population {
        None => {
            pass.scorer.model = previous;
            Ok(false)
        }
        Some(_) if previous.register_size != population => Ok(false),
        Some(_) => {
            pass.scorer.model = previous;
            save_model(store, pass.job_name, pass_id, &pass.scorer.model).await?;
            Ok(true)
        }
    }
}

/// Decides every looked-up record of a batch; the skipped ones come first, as decided.
pub(super) fn score_batch(
    pass: &PassContext<'_>,
    triaged: Triaged,
    vies: Vec<Option<Result<bool, RegisterError>>>,
    mut histories: BTreeMap<String, History>,
) -> Vec<(Record, Outcome)> {
    let Triaged {
        skipped: mut outcomes,
        to_look_up,
        lookups,
    } = triaged;
    let work: Vec<(Record, Asked, History, Option<validate::Invalid>)> = to_look_up
        .into_iter()
        .zip(lookups)
        .zip(vies)
        .map(|((record, asked), vies)| {
            let (asked, vies_invalid) = match vies {
                // VIES could not tell: the record waits for the next pass.
                Some(Err(e)) => (Asked::Answer(Err(e)), None),
                Some(Ok(false)) => (
                    asked,
                    Some(validate::Invalid {
                        field: Field::VatId,
                        reason: "VIES reports it as not registered".into(),
                    }),
                ),
                _ => (asked, None),
            };
            let history = histories.remove(&record.id).unwrap_or_default();
            (record, asked, history, vies_invalid)
        })
        .collect();
    let kind = pass.plan.entity;
    let decided = crate::matching::parallel_map(&work, |(record, asked, history, vies)| {
        let evaluate = |candidates, whole: &dyn Fn(&str) -> Option<Record>| {
            evaluate_prepared(
                &pass.plan,
                &pass.scorer,
                record,
                candidates,
                whole,
                history,
                vies.as_ref(),
            )
        };
        match asked {
            Asked::Answer(Err(e)) => evaluate(Err(e), &|_| None),
            Asked::Answer(Ok(candidates)) => {
                let prepared: Vec<Prepared> =
                    candidates.iter().map(|c| Prepared::new(kind, c)).collect();
                let whole = |id: &str| candidates.iter().find(|c| c.id == id).cloned();
                evaluate(Ok(&prepared), &whole)
            }
            Asked::Held(positions) => {
                let (held, prepared): (Vec<u32>, Vec<Prepared>) = positions
                    .iter()
                    .filter_map(|&p| Some((p, pass.prepared_at(p)?)))
                    .unzip();
                let whole = |id: &str| {
                    let at = prepared.iter().position(|p| &*p.id == id)?;
                    pass.held(held[at])
                };
                evaluate(Ok(&prepared), &whole)
            }
        }
    });
    outcomes.extend(work.into_iter().map(|(record, ..)| record).zip(decided));
    outcomes
}
