//! The apply stage of a pass: a batch's approved changes written to the CRM (one CRM
//! transaction, settled in one store transaction; see `sync::apply`), then the matched
//! records' statuses settled: in sync where nothing is left open, else different.

use diesel::Connection;

use super::context::PassContext;
use super::persist::{self, Stored};
use crate::crm::CrmSource;
use crate::store::audit::SYSTEM;
use crate::store::passes::PassCounts;
use crate::store::Store;
use crate::sync::{apply, SyncError};

/// Changes whose apply was cut short (crash, kill) are settled before anything new.
pub(super) async fn reconcile(
    pass: &PassContext<'_>,
    store: &Store,
    counts: &mut PassCounts,
) -> Result<(), SyncError> {
    let reconciled =
        apply::reconcile(store, pass.crm.as_ref(), pass.job_name, pass.job.entity).await?;
    reconciled.add_to(counts);
    Ok(())
}

pub(super) async fn apply_batch(
    crm: &dyn CrmSource,
    store: &Store,
    ctx: &persist::Context,
    stored: Stored,
    counts: &mut PassCounts,
) -> Result<(), SyncError> {
    // The changes this batch inserted are applied as inserted; only those it found
    // approved before are read as they stand now.
    let mut selected = apply::approved(store, &ctx.job, &stored.found).await?;
    selected.extend(stored.applying);
    selected.sort_by_key(|c| c.id);
    let applied =
        apply::apply_rows(store, crm, ctx.entity, selected, SYSTEM, Some(ctx.pass_id)).await?;
    applied.add_to(counts);
    // The statuses were stored as they stand once every approved change is written; where
    // one was not, they are settled again from what is open now.
    let (in_sync, different) = if applied.conflicts + applied.failed == 0 {
        stored.settled
    } else {
        let (ctx, record_ids) = (ctx.clone(), stored.matched_records);
        store
            .db
            .run(move |conn| {
                conn.transaction(|conn| persist::refresh_statuses(conn, &ctx, &record_ids))
            })
            .await?
    };
    counts.in_sync += in_sync;
    counts.different += different;
    Ok(())
}
