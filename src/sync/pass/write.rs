//! The back of the pass's pipeline: a batch's outcomes stored, applied and committed on a
//! task of its own while the next batch is read, looked up and scored. Two batches are in
//! flight at most: one is stored while the one before it is applied (on PostgreSQL the
//! server works on one while refsync prepares the other). Each is applied and committed
//! only after the one before it, so the CRM is written and the sweep's position moves in
//! the order the batches were read, as when the stages ran one after another.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
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
    /// Stores the outcomes, then, once the batch before is committed (`after`), applies
    /// what is approved and records the sweep as committed up to `end`; says so on `done`.
    async fn write(
        self,
        decided: persist::Decided,
        end: Position,
        after: Option<oneshot::Receiver<()>>,
        done: oneshot::Sender<()>,
    ) -> Result<Written, SyncError> {
        let mut written = Written::default();
        let at = Instant::now();
        let mut stored = persist::store(&self.store, &self.ctx, &self.rules, decided).await?;
        written.counts += &stored.counts;
        written.failures = std::mem::take(&mut stored.failures);
        written.persist += at.elapsed();
        if let Some(after) = after {
            // The pass reports the batch before's error; this one stays stored, its
            // approved changes marked applying, as a crash here would leave them.
            after.await.map_err(|_| {
                SyncError::Refused(
                    "the batch before this one was not written; the next pass settles it"
                        .to_string(),
                )
            })?;
        }

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
        // The batch after may be gone already (its pass stopped): nothing waits then.
        let _ = done.send(());
        Ok(written)
    }
}

/// How many batches are written at once.
const DEPTH: usize = 2;

/// The batches being written, oldest first. Dropping them (the pass's future dropped)
/// aborts each write at its next step: what is stored stays, what is stored but not
/// applied is settled by the next pass.
#[derive(Default)]
pub(super) struct InFlight {
    tasks: VecDeque<AbortOnDropHandle<Result<Written, SyncError>>>,
    /// Told when the newest batch is committed: the next one applies after it.
    newest: Option<oneshot::Receiver<()>>,
}

impl InFlight {
    /// Whether another batch may start without waiting for the oldest.
    pub fn has_room(&self) -> bool {
        self.tasks.len() < DEPTH
    }

    /// Waits for the oldest batch in flight to be written; `None` when there was none.
    pub async fn finish(&mut self) -> Result<Option<Written>, SyncError> {
        let Some(task) = self.tasks.pop_front() else {
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

    /// Starts writing a batch, applied after those in flight; there must be room.
    pub fn start(&mut self, writer: &Writer, decided: persist::Decided, end: Position) {
        debug_assert!(self.has_room(), "{DEPTH} batches in flight at most");
        let (done, next) = oneshot::channel();
        let after = self.newest.replace(next);
        let task = tokio::spawn(writer.clone().write(decided, end, after, done));
        self.tasks.push_back(AbortOnDropHandle::new(task));
    }
}
