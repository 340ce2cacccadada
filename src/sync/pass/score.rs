//! The score stage of a pass: the model fitted once, then each batch's records scored,
//! decided and diffed (pure, in `domain::evaluate`), spread over the cores.

use std::collections::BTreeMap;

use super::context::PassContext;
use super::lookup::Triaged;
use crate::domain::evaluate::{evaluate, History, Outcome};
use crate::domain::model::{Field, Record};
use crate::domain::validate;
use crate::register::{Lookup, RegisterError};
use crate::store::Store;
use crate::sync::{fit, save_model, stored_model, SyncError};

/// Makes the scorer the pass scores with and stores it with the pass, so `explain`
/// repeats it. EM learns m and the prior from `sample`'s candidate pairs and, where the
/// register holds its records, u from random pairs; every batch is then scored with the
/// same model, so one pass is one consistent scale.
pub(super) async fn fit_model(
    pass: &mut PassContext<'_>,
    store: &Store,
    pass_id: i64,
    (records, lookups): (&[Record], &[Lookup]),
) -> Result<(), SyncError> {
    let model = (&pass.plan, &pass.job.matching);
    fit(
        &mut pass.scorer,
        model,
        records,
        lookups,
        pass.register.as_ref(),
        pass_id,
    );
    save_model(store, pass.job_name, pass_id, &pass.scorer.model).await
}

/// Where the register does not hold its records, EM starts from the last pass's fit: a
/// remote register gives no random pairs, so what earlier passes learned is refined.
pub(super) async fn start_from_last_fit(
    pass: &mut PassContext<'_>,
    store: &Store,
) -> Result<(), SyncError> {
    if pass.register.holds_records() {
        return Ok(());
    }
    if let Some((_, previous)) = stored_model(store, pass.job_name, &pass.scorer.model).await? {
        pass.scorer.model = previous;
    }
    Ok(())
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
    let work: Vec<(Record, Lookup, History, Option<validate::Invalid>)> = to_look_up
        .into_iter()
        .zip(lookups)
        .zip(vies)
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
    let decided = crate::matching::parallel_map(&work, |(record, lookup, history, vies)| {
        evaluate(
            &pass.plan,
            &pass.scorer,
            record,
            lookup,
            history,
            vies.as_ref(),
        )
    });
    outcomes.extend(work.into_iter().map(|(record, ..)| record).zip(decided));
    outcomes
}
