//! The lookup stage of a pass: a batch's records left alone are decided at once, the rest
//! asked of the register.

use super::evaluate::{minimise, JobPlan, Outcome};
use super::{erase, SyncError};
use crate::config::JobConfig;
use crate::domain::model::Record;
use crate::register::Lookup;
use crate::store::Store;

/// One batch split into what is decided without the register and what it was asked.
pub(super) struct Triaged {
    /// Suppressed (erased) or excluded records: never sent to the register.
    pub skipped: Vec<(Record, Outcome)>,
    pub to_look_up: Vec<Record>,
    pub lookups: Vec<Lookup>,
}

/// Decides the batch's skipped records and looks up the rest.
pub(super) async fn triage(
    store: &Store,
    suppression: &erase::SuppressionCheck,
    job: &JobConfig,
    plan: &JobPlan<'_>,
    register: &dyn crate::register::Register,
    records: Vec<Record>,
) -> Result<Triaged, SyncError> {
    let suppressed = suppression
        .suppressed(store, Some(&job.crm), &records)
        .await?;
    let mut skipped = Vec::new();
    let mut to_look_up = Vec::with_capacity(records.len());
    for record in records {
        if suppressed.contains(&record.id) {
            skipped.push((record, Outcome::Skipped(erase::SUPPRESSED.into())));
            continue;
        }
        match plan.skip_reason(&record) {
            Some(reason) => skipped.push((record, Outcome::Skipped(reason))),
            None => to_look_up.push(record),
        }
    }
    let lookups = minimise(job, register.candidates(job.entity, &to_look_up).await);
    Ok(Triaged {
        skipped,
        to_look_up,
        lookups,
    })
}
