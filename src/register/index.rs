//! An in-memory index of register records for blocking, shared by the registers that hold
//! their data locally (files, dumps). Keys and term frequencies come from the domain; the
//! index for an entity kind is built on first use, because a register learns the kind it
//! serves only from the job that asks.

use std::sync::{Arc, OnceLock};

use crate::domain::blocking::{BlockIndex, BlockingSettings, Rule};
use crate::domain::model::{EntityKind, Record};
use crate::domain::score::{Prepared, TermFrequencies};

/// The blocking index and term frequencies of the records for one entity kind.
struct KindIndex {
    rules: Vec<Rule>,
    blocks: BlockIndex,
    term_frequencies: Arc<TermFrequencies>,
}

pub struct RecordIndex {
    records: Vec<Record>,
    blocking: BlockingSettings,
    organisations: OnceLock<KindIndex>,
    contacts: OnceLock<KindIndex>,
}

impl RecordIndex {
    pub fn new(records: Vec<Record>, blocking: BlockingSettings) -> RecordIndex {
        RecordIndex {
            records,
            blocking,
            organisations: OnceLock::new(),
            contacts: OnceLock::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Up to `n` records drawn at random (with a fixed seed: the same sample each pass).
    pub fn sample(&self, n: usize) -> Vec<Record> {
        let mut rng = fastrand::Rng::with_seed(0x5EED);
        let len = self.records.len();
        if len == 0 {
            return Vec::new();
        }
        (0..n.min(len))
            .map(|_| self.records[rng.usize(..len)].clone())
            .collect()
    }

    fn for_kind(&self, kind: EntityKind) -> &KindIndex {
        let cell = match kind {
            EntityKind::Organisation => &self.organisations,
            EntityKind::Contact => &self.contacts,
        };
        cell.get_or_init(|| {
            let prepared: Vec<Prepared> = self
                .records
                .iter()
                .map(|r| Prepared::new(kind, r))
                .collect();
            let rules = self.blocking.rules(kind);
            KindIndex {
                blocks: BlockIndex::build(&rules, &prepared),
                term_frequencies: Arc::new(TermFrequencies::build(kind, &prepared)),
                rules,
            }
        })
    }

    /// Records sharing a blocking key (identifiers included) with `record`.
    pub fn candidates(&self, kind: EntityKind, record: &Record) -> Vec<&Record> {
        let index = self.for_kind(kind);
        let prepared = Prepared::new(kind, record);
        index
            .blocks
            .candidates(&index.rules, &prepared, self.blocking.max_block_size)
            .into_iter()
            .filter_map(|i| self.records.get(i as usize))
            .collect()
    }

    /// How often each name, city and last name occurs among the records.
    pub fn term_frequencies(&self, kind: EntityKind) -> Arc<TermFrequencies> {
        Arc::clone(&self.for_kind(kind).term_frequencies)
    }
}
