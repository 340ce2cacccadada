//! The lookup stage of a pass: a batch's records left alone are decided at once, the rest
//! asked of the register (and their VAT ids of VIES, where the job names it).

use super::context::PassContext;
use crate::domain::evaluate::Outcome;
use crate::domain::model::{Field, Record};
use crate::domain::validate;
use crate::register::vies::Vies;
use crate::register::Lookup;
use crate::store::Store;
use crate::sync::{erase, SyncError};

/// One batch split into what is decided without the register and what it was asked.
pub(super) struct Triaged {
    /// Suppressed (erased) or excluded records: never sent to the register.
    pub skipped: Vec<(Record, Outcome)>,
    pub to_look_up: Vec<Record>,
    pub lookups: Vec<Asked>,
}

/// What the register answered for one record.
#[derive(Clone)]
pub(super) enum Asked {
    /// Its candidates, or why it could not tell.
    Answer(Lookup),
    /// Where the register holds its records in an index: the candidates' positions there,
    /// made whole only where needed (materialising every candidate of every record, then
    /// dropping it, took as long as scoring them).
    Held(Vec<u32>),
}

impl Asked {
    /// The candidates made whole, as EM's sample takes them.
    pub fn whole(&self, pass: &PassContext<'_>) -> Lookup {
        match self {
            Asked::Answer(lookup) => lookup.clone(),
            Asked::Held(positions) => Ok(positions.iter().filter_map(|&p| pass.held(p)).collect()),
        }
    }
}

/// Decides the batch's skipped records and looks up the rest.
pub(super) async fn triage(
    pass: &PassContext<'_>,
    store: &Store,
    records: Vec<Record>,
) -> Result<Triaged, SyncError> {
    let (skipped, to_look_up) = sort(pass, store, records).await?;
    Ok(ask(pass, skipped, to_look_up).await)
}

/// The batch's records left alone (suppressed or excluded), decided, and the rest.
pub(super) async fn sort(
    pass: &PassContext<'_>,
    store: &Store,
    records: Vec<Record>,
) -> Result<(Vec<(Record, Outcome)>, Vec<Record>), SyncError> {
    let suppressed = pass
        .suppression
        .suppressed(store, Some(&pass.job.crm), &records)
        .await?;
    let mut skipped = Vec::new();
    let mut to_look_up = Vec::with_capacity(records.len());
    for record in records {
        if suppressed.contains(&record.id) {
            skipped.push((record, Outcome::Skipped(erase::SUPPRESSED.into())));
            continue;
        }
        match pass.plan.skip_reason(&record) {
            Some(reason) => skipped.push((record, Outcome::Skipped(reason))),
            None => to_look_up.push(record),
        }
    }
    Ok((skipped, to_look_up))
}

/// Asks the register for the candidates of `to_look_up`.
pub(super) async fn ask(
    pass: &PassContext<'_>,
    skipped: Vec<(Record, Outcome)>,
    to_look_up: Vec<Record>,
) -> Triaged {
    let kind = pass.job.entity;
    let lookups = match pass.register.index() {
        Some(index) => to_look_up
            .iter()
            .map(|r| Asked::Held(index.candidate_positions(kind, r)))
            .collect(),
        None => {
            let mut lookups = pass.register.candidates(kind, &to_look_up).await;
            for candidates in lookups.iter_mut().flatten() {
                pass.plan.minimise(candidates);
            }
            lookups.into_iter().map(Asked::Answer).collect()
        }
    };
    Triaged {
        skipped,
        to_look_up,
        lookups,
    }
}

/// Per record to look up: what VIES says of its VAT id, where the job asks VIES and the id
/// is well-formed (a malformed one is already flagged by the format check).
pub(super) async fn vies_checks(
    vies: Option<&Vies>,
    records: &[Record],
) -> Vec<Option<Result<bool, crate::register::RegisterError>>> {
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        out.push(match (vies, record.get(Field::VatId)) {
            (Some(vies), Some(vat)) if validate::check(Field::VatId, vat).is_ok() => {
                Some(vies.check(vat).await)
            }
            _ => None,
        });
    }
    out
}
