//! The back of the pass's pipeline: a batch's outcomes stored, applied and committed on a
//! task of its own while the next batch is read, looked up and scored. One batch is in
//! flight at most, and batches are written in the order they were read, so what is stored
//! and when the sweep's position moves is what it was when the stages ran one after another.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::task::AbortOnDropHandle;

use super::read::{self, Position};
use super::{apply, persist};
use crate::crm::CrmSource;
use crate::domain::model::Field;
use crate::domain::policy::FieldRule;
use crate::store::passes::PassCounts;
use crate::store::Store;
use crate::sync::SyncError;

/// What writing a batch needs, owned: the task outlives no borrow of the pass.
#[derive(Clone)]
pub(super) struct Writer {
    pub store: Store,
    pub ctx: persist::Context,
    pub rules: Arc<BTreeMap<Field, FieldRule>>,
    pub crm: Arc<dyn CrmSource>,
}

/// What a written batch adds to the pass's tally.
#[derive(Default)]
pub(super) struct Written {
    pub counts: PassCounts,
    /// Why lookups failed, with how many records each.
    pub failures: BTreeMap<String, i64>,
    pub persist: Duration,
    pub apply: Duration,
}

impl Writer {
    /// Stores the outcomes, applies what is approved, then records the sweep as committed
    /// up to `end`.
    async fn write(self, decided: persist::Decided, end: Position) -> Result<Written, SyncError> {
        let mut written = Written::default();
        let at = Instant::now();
        let mut stored = persist::store(&self.store, &self.ctx, &self.rules, decided).await?;
        written.counts += &stored.counts;
        written.failures = std::mem::take(&mut stored.failures);
        written.persist += at.elapsed();

        let at = Instant::now();
        apply::apply_batch(
            self.crm.as_ref(),
            &self.store,
            &self.ctx,
            stored,
            &mut written.counts,
        )
        .await?;
        written.apply += at.elapsed();

        let at = Instant::now();
        read::committed(&self.store, &self.ctx.job, &end, self.ctx.pass_id).await?;
        written.persist += at.elapsed();
        Ok(written)
    }
}

/// The batch being written, if any. Dropping it (the pass's future dropped) aborts the
/// write at its next step, as dropping the pass did before: what is stored stays, what
/// is stored but not applied is settled by the next pass.
#[derive(Default)]
pub(super) struct InFlight(Option<AbortOnDropHandle<Result<Written, SyncError>>>);

impl InFlight {
    /// Waits for the batch in flight to be written; `None` when there was none.
    pub async fn finish(&mut self) -> Result<Option<Written>, SyncError> {
        let Some(task) = self.0.take() else {
            return Ok(None);
        };
        match task.await {
            Ok(written) => written.map(Some),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only a runtime shutting down cancels it; the next pass settles what it left.
            Err(e) => Err(SyncError::Refused(format!(
                "the batch being written was cancelled ({e}); the next pass settles it"
            ))),
        }
    }

    /// Starts writing a batch; the one before must be finished.
    pub fn start(&mut self, writer: &Writer, decided: persist::Decided, end: Position) {
        debug_assert!(self.0.is_none(), "one batch in flight at most");
        let task = tokio::spawn(writer.clone().write(decided, end));
        self.0 = Some(AbortOnDropHandle::new(task));
    }
}
