//! Reference registers: where refsync looks records up. One file per connector.

pub mod courts;
pub mod file;
pub mod gleif;
pub mod golden_copy;
pub mod http;
pub mod index;
pub mod reconciliation;
pub mod vies;

use std::sync::Arc;

use crate::config::RegisterConfig;
use crate::crm::BoxFuture;
use crate::domain::model::{EntityKind, Record};
use crate::domain::score::TermFrequencies;
use crate::store::Store;
pub use http::RegisterStats;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegisterError {
    /// The register could not answer (down, timed out, refused): the record is
    /// `lookup_failed`, never `not_found`, and the next pass asks again.
    #[error("register `{register}` unavailable: {reason}")]
    Unavailable { register: String, reason: String },
    /// The register's data cannot be used as it is; the pass stops and says where.
    #[error("register `{register}`: {problem}")]
    BadData { register: String, problem: String },
}

/// The outcome of looking up one CRM record.
pub type Lookup = Result<Vec<Record>, RegisterError>;

pub trait Register: Send + Sync {
    fn name(&self) -> &str;

    /// Candidate register records for each of `records`, in the same order.
    fn candidates<'a>(
        &'a self,
        kind: EntityKind,
        records: &'a [Record],
    ) -> BoxFuture<'a, Vec<Lookup>>;

    /// Requests, cache hits, retries and rate-limit waits so far; local registers have none.
    fn stats(&self) -> RegisterStats {
        RegisterStats::default()
    }

    /// The index of a register that holds its records in one (a file, the Golden Copy): a
    /// pass takes candidates from it by position, and what follows is answered from it. A
    /// remote register has none.
    fn index(&self) -> Option<&index::RecordIndex> {
        None
    }

    /// Whether the register holds all its records, as a file does.
    fn holds_records(&self) -> bool {
        self.index().is_some()
    }

    /// How often values occur in the register, for term-frequency weighting; registers
    /// that cannot tell (remote services) leave it to the model's averages.
    fn term_frequencies(&self, kind: EntityKind) -> Option<Arc<TermFrequencies>> {
        Some(self.index()?.term_frequencies(kind))
    }

    /// Up to `n` records drawn at random and how many records there are, where the register
    /// holds them all: EM counts u on random pairs with them. A remote register cannot say,
    /// and EM learns u from the candidate pairs instead.
    fn sample(&self, n: usize) -> Option<(Vec<Record>, usize)> {
        let index = self.index()?;
        Some((index.sample(n), index.len()))
    }

    /// The record with `id`, where the register holds its records; a remote register
    /// answers `None`.
    fn record(&self, id: &str) -> Option<Record> {
        self.index()?.record(id)
    }

    /// Records named like `prefix` (see `RecordIndex::named_like`), where the register holds
    /// its records; `None` from a remote register, which is asked by name instead.
    fn named_like(&self, kind: EntityKind, prefix: &str, limit: usize) -> Option<Vec<Record>> {
        Some(self.index()?.named_like(kind, prefix, limit))
    }

    /// A digest of everything the register holds, where it holds its records: equal while
    /// its content is. A remote register, whose answers may change at any time, has none.
    fn content(&self) -> Option<u64> {
        Some(self.index()?.digest())
    }

    /// A deep check before the first pass: that a remote register answers and has the ids
    /// the config names. What it found, as lines; `Unavailable` when it cannot be reached
    /// (worth a warning), `BadData` when the config does not fit it (an error). A file
    /// register was checked whole when it was opened.
    fn check(&self) -> BoxFuture<'_, Result<Vec<String>, RegisterError>> {
        Box::pin(async { Ok(vec!["read whole; its mapped columns exist".to_string()]) })
    }
}

/// [`Register::check`] for the register `name`: opened without a response cache, so that
/// what it says is what the register says now.
pub async fn check(name: &str, config: &RegisterConfig) -> Result<Vec<String>, RegisterError> {
    if let RegisterConfig::Vies(_) = config {
        return Ok(vec![
            "asked per VAT id during a pass; not probed here".to_string()
        ]);
    }
    open(name, config, None).await?.check().await
}

/// Opens the register a job names; file registers are read here, once per pass. Remote
/// registers keep their response cache in `store`.
pub async fn open(
    name: &str,
    config: &RegisterConfig,
    store: Option<Store>,
) -> Result<Box<dyn Register>, RegisterError> {
    match config {
        RegisterConfig::Gleif(gleif) => {
            if let Some(store) = &store {
                purge_cache(store).await;
            }
            Ok(Box::new(gleif::GleifRegister::new(name, gleif, store)?))
        }
        RegisterConfig::Vies(_) => Err(RegisterError::BadData {
            register: name.to_string(),
            problem: "a VIES register checks VAT ids only; name it in a job's `vies`".into(),
        }),
        RegisterConfig::Reconciliation(r) => Ok(Box::new(
            reconciliation::ReconciliationRegister::new(name, r, store)?,
        )),
        RegisterConfig::GleifGoldenCopy(gc) => {
            let (name, gc) = (name.to_string(), gc.clone());
            let loaded = tokio::task::spawn_blocking(move || golden_copy::load(&name, &gc))
                .await
                .map_err(|e| RegisterError::BadData {
                    register: "gleif_golden_copy".into(),
                    problem: e.to_string(),
                })??;
            Ok(Box::new(loaded))
        }
        RegisterConfig::File(file) => {
            let (name, file) = (name.to_string(), file.clone());
            let loaded =
                tokio::task::spawn_blocking(move || file::FileRegister::load(&name, &file))
                    .await
                    .map_err(|e| RegisterError::BadData {
                        register: "file".into(),
                        problem: e.to_string(),
                    })??;
            Ok(Box::new(loaded))
        }
    }
}

/// Drops cache entries that expired a week ago or earlier: they are past revalidation use.
async fn purge_cache(store: &Store) {
    let keep = std::time::Duration::from_secs(7 * 24 * 3600);
    match store
        .db
        .run(move |conn| crate::store::cache::purge(conn, keep))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(entries = n, "purged expired register cache entries"),
        Err(e) => tracing::warn!(error = %e, "cannot purge the register cache"),
    }
}
