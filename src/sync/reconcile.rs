//! The reconciliation service's matching (`/reconcile/{job}/{side}`): queries against a
//! warm job's CRM index or its register, scored by the job's model, and records by id for
//! `extend` and `preview`. Erased people are never among the answers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::check::WarmJob;
use super::erase::SuppressionCheck;
use super::SyncError;
use crate::config::Config;
use crate::domain::model::Record;
use crate::domain::reconcile::{self as pure, Candidate};
use crate::domain::score::Prepared;
use crate::store::Store;

/// Which records a service answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The job's CRM records, from the warm index.
    Crm,
    /// The job's register.
    Register,
}

impl WarmJob {
    /// Drops the records of erased people.
    async fn without_erased(
        &self,
        config: &Config,
        store: &Store,
        side: Side,
        records: Vec<Record>,
    ) -> Result<Vec<Record>, SyncError> {
        let check = SuppressionCheck::open(config, store, self.job.entity).await?;
        let crm = (side == Side::Crm).then_some(self.job.crm.as_str());
        let erased = check.suppressed(store, crm, &records).await?;
        Ok(records
            .into_iter()
            .filter(|r| !erased.contains(&r.id))
            .collect())
    }

    /// The candidates of each query (key, record, limit), by key.
    pub async fn reconcile(
        &self,
        config: &Config,
        store: &Store,
        side: Side,
        queries: Vec<(String, Record, usize)>,
    ) -> Result<BTreeMap<String, Vec<Candidate>>, SyncError> {
        let kind = self.job.entity;
        let records: Vec<Record> = queries.iter().map(|(_, r, _)| r.clone()).collect();
        let found: Vec<Vec<Record>> = match side {
            Side::Crm => records
                .iter()
                .map(|r| self.crm_index.candidates(kind, r))
                .collect(),
            // A register that cannot answer leaves the query without candidates.
            Side::Register => self
                .register
                .candidates(kind, &records)
                .await
                .into_iter()
                .map(|lookup| {
                    let mut candidates = lookup.unwrap_or_default();
                    self.plan.minimise(&mut candidates);
                    candidates
                })
                .collect(),
        };
        let mut out = BTreeMap::new();
        for ((key, record, limit), candidates) in queries.into_iter().zip(found) {
            let candidates = self.without_erased(config, store, side, candidates).await?;
            let prepared: Vec<Prepared> =
                candidates.iter().map(|c| Prepared::new(kind, c)).collect();
            let (scored, _) =
                self.scorer
                    .rank(&Prepared::new(kind, &record), prepared.iter(), None);
            let by_id = candidates.into_iter().map(|c| (c.id.clone(), c)).collect();
            out.insert(
                key,
                pure::results(kind, scored, &by_id, &self.plan.thresholds, limit),
            );
        }
        Ok(out)
    }

    /// Records whose name begins like `prefix` (word by word), for suggestions; a remote
    /// register is asked with `prefix` as a query instead.
    pub async fn suggest(
        &self,
        config: &Config,
        store: &Store,
        side: Side,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Record>, SyncError> {
        let kind = self.job.entity;
        // Room for erased people left out.
        let found = match side {
            Side::Crm => Some(self.crm_index.named_like(kind, prefix, limit * 2)),
            Side::Register => self.register.named_like(kind, prefix, limit * 2),
        };
        let found = match found {
            Some(mut records) => {
                if side == Side::Register {
                    self.plan.minimise(&mut records);
                }
                records
            }
            None => {
                let query = Record::new("suggest").with(pure::name_field(kind), prefix);
                let mut lookups = self.register.candidates(kind, &[query]).await;
                let mut records = lookups.pop().and_then(Result::ok).unwrap_or_default();
                self.plan.minimise(&mut records);
                records
            }
        };
        let mut kept = self.without_erased(config, store, side, found).await?;
        kept.truncate(limit);
        Ok(kept)
    }

    /// The records with `ids` that the side holds (a remote register holds none).
    pub async fn records(
        &self,
        config: &Config,
        store: &Store,
        side: Side,
        ids: &[String],
    ) -> Result<BTreeMap<String, Record>, SyncError> {
        let found: Vec<Record> = ids
            .iter()
            .filter_map(|id| match side {
                Side::Crm => self.crm_index.record(id),
                Side::Register => self.register.record(id).map(|mut r| {
                    self.plan.minimise(std::slice::from_mut(&mut r));
                    r
                }),
            })
            .collect();
        Ok(self
            .without_erased(config, store, side, found)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect())
    }
}
