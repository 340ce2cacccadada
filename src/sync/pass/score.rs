//! The score stage of a pass: the model fitted once, then each batch's records scored,
//! decided and diffed (pure, in `domain::evaluate`), spread over the cores.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::context::PassContext;
use super::lookup::Triaged;
use crate::domain::evaluate::{evaluate_prepared, History, Outcome};
use crate::domain::model::{EntityKind, Field, Record};
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
    let fitted = fit(
        &mut pass.scorer,
        model,
        records,
        lookups,
        pass.register.as_ref(),
        pass_id,
    );
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
    let kind = pass.plan.entity;
    let decided = crate::matching::parallel_map(&work, |(record, lookup, history, vies)| {
        let prepared: Vec<Arc<Prepared>> = match lookup {
            Ok(candidates) => candidates
                .iter()
                .map(|c| pass.prepared.get(kind, c))
                .collect(),
            Err(_) => Vec::new(),
        };
        evaluate_prepared(
            &pass.plan,
            &pass.scorer,
            record,
            lookup,
            &prepared,
            history,
            vies.as_ref(),
        )
    });
    outcomes.extend(work.into_iter().map(|(record, ..)| record).zip(decided));
    outcomes
}

/// Register records prepared for comparison, by id, for a whole pass. A register record is
/// a candidate of every CRM record it shares a block with, and preparing it (normalising
/// its name, street, phone …) took more of the score stage than comparing it. Kept only
/// where the register holds its records (a file, the Golden Copy), which do not change
/// during a pass; bounded by emptying it when full.
pub(crate) struct PreparedCache {
    enabled: bool,
    map: Mutex<HashMap<Box<str>, Arc<Prepared>>>,
}

/// At about 250 bytes a prepared record, at most some 50 MB.
const PREPARED_CAPACITY: usize = 200_000;

impl PreparedCache {
    pub fn new(enabled: bool) -> PreparedCache {
        PreparedCache {
            enabled,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// `record` prepared, from the cache where it was prepared before.
    pub fn get(&self, kind: EntityKind, record: &Record) -> Arc<Prepared> {
        if !self.enabled {
            return Arc::new(Prepared::new(kind, record));
        }
        // A thread that panicked while holding the lock left the map whole: use it.
        let lock = || self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = lock().get(record.id.as_str()) {
            return Arc::clone(found);
        }
        let prepared = Arc::new(Prepared::new(kind, record));
        let mut map = lock();
        if map.len() >= PREPARED_CAPACITY {
            map.clear();
        }
        map.insert(record.id.as_str().into(), Arc::clone(&prepared));
        prepared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_preparation_equals_a_fresh_one_and_is_shared() {
        let record = Record::new("LEI1").with(Field::LegalName, "Fraport AG");
        let cache = PreparedCache::new(true);
        let first = cache.get(EntityKind::Organisation, &record);
        let again = cache.get(EntityKind::Organisation, &record);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*first, Prepared::new(EntityKind::Organisation, &record));
        let off = PreparedCache::new(false);
        let (a, b) = (
            off.get(EntityKind::Organisation, &record),
            off.get(EntityKind::Organisation, &record),
        );
        assert!(
            !Arc::ptr_eq(&a, &b),
            "a register that may change is prepared anew"
        );
    }
}
