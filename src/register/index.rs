//! An in-memory index of register records for blocking, shared by the registers that hold
//! their data locally (files, dumps). Keys and term frequencies come from the domain; the
//! index for an entity kind is built on first use, because a register learns the kind it
//! serves only from the job that asks. The records are held packed ([`PackedRecords`]) and
//! made whole only when asked for.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::domain::blocking::{BlockIndex, BlockingSettings, Rule};
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::normalise::fold_text;
use crate::domain::packed::{PackedPrepared, PackedRecords};
use crate::domain::score::{Prepared, TermCounter, TermFrequencies};

/// The blocking index and term frequencies of the records for one entity kind.
struct KindIndex {
    rules: Vec<Rule>,
    blocks: BlockIndex,
    term_frequencies: Arc<TermFrequencies>,
}

/// A register's records prepared, by position, in one part per core that prepared them
/// (joined into one, they would for a while be held twice).
pub struct PreparedRecords {
    parts: Vec<PackedPrepared>,
    /// Records per part.
    per: usize,
}

impl PreparedRecords {
    /// The record at `position` prepared, with `id` as its id; `None` where there is none
    /// or it was too long to pack.
    pub fn get(&self, position: usize, id: &str) -> Option<Prepared> {
        self.parts
            .get(position / self.per)?
            .get(position % self.per, id)
    }
}

pub struct RecordIndex {
    records: PackedRecords,
    blocking: BlockingSettings,
    organisations: OnceLock<KindIndex>,
    contacts: OnceLock<KindIndex>,
    /// Position of each record by id, built on the first lookup by id.
    by_id: OnceLock<HashMap<Box<str>, u32>>,
    digest: OnceLock<u64>,
}

impl RecordIndex {
    pub fn new(records: PackedRecords, blocking: BlockingSettings) -> RecordIndex {
        RecordIndex {
            records,
            blocking,
            organisations: OnceLock::new(),
            contacts: OnceLock::new(),
            by_id: OnceLock::new(),
            digest: OnceLock::new(),
        }
    }

    /// A digest of the records held, made once: what passes compare to tell whether the
    /// register changed since a record was last checked.
    pub fn digest(&self) -> u64 {
        *self.digest.get_or_init(|| self.records.digest())
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
            .filter_map(|_| self.records.get(rng.usize(..len)))
            .collect()
    }

    fn for_kind(&self, kind: EntityKind) -> &KindIndex {
        let cell = match kind {
            EntityKind::Organisation => &self.organisations,
            EntityKind::Contact => &self.contacts,
        };
        cell.get_or_init(|| {
            let rules = self.blocking.rules(kind);
            // Each record is prepared once, for its keys and its terms, and dropped: a pass
            // that scores keeps a packed copy of its own, minimised as its job says
            // (`prepare_all`).
            let mut terms = TermCounter::new(kind);
            let blocks = BlockIndex::build(
                &rules,
                self.records.iter().map(|r| {
                    let prepared = Prepared::from_fields(kind, r.id, |f| r.get(f));
                    terms.add(&prepared);
                    prepared
                }),
            );
            KindIndex {
                blocks,
                term_frequencies: Arc::new(terms.finish()),
                rules,
            }
        })
    }

    /// Records sharing a blocking key (identifiers included) with `record`.
    pub fn candidates(&self, kind: EntityKind, record: &Record) -> Vec<Record> {
        self.candidate_positions(kind, record)
            .into_iter()
            .filter_map(|i| self.record_at(i))
            .collect()
    }

    /// Where [`RecordIndex::candidates`] are held: a pass takes out and prepares each
    /// register record once, not once per CRM record it is a candidate of.
    pub fn candidate_positions(&self, kind: EntityKind, record: &Record) -> Vec<u32> {
        let index = self.for_kind(kind);
        let prepared = Prepared::new(kind, record);
        index
            .blocks
            .candidates(&index.rules, &prepared, self.blocking.max_block_size)
    }

    /// The record held at `position`, made whole.
    pub fn record_at(&self, position: u32) -> Option<Record> {
        self.records.get(position as usize)
    }

    /// The id of the record held at `position`.
    pub fn id_at(&self, position: u32) -> Option<&str> {
        self.records.id(position as usize)
    }

    /// Every record prepared for comparison as `kind` from the fields `keep` lets through,
    /// on every core: what a pass scores its candidates with.
    pub fn prepare_all(
        &self,
        kind: EntityKind,
        keep: &(dyn Fn(Field) -> bool + Sync),
    ) -> PreparedRecords {
        let count = self.records.len();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = count.div_ceil(threads).max(1);
        let ranges: Vec<std::ops::Range<usize>> = (0..count)
            .step_by(per)
            .map(|start| start..(start + per).min(count))
            .collect();
        let parts = crate::matching::parallel_map(&ranges, |range| {
            let mut part = PackedPrepared::with_capacity(range.len());
            for view in range.clone().map(|i| self.records.view(i)) {
                // Every position gets an entry, so that positions stay aligned.
                part.push(&match view {
                    Some(view) => {
                        Prepared::from_fields(kind, view.id, |f| view.get(f).filter(|_| keep(f)))
                    }
                    None => Prepared::from_fields(kind, "", |_| None),
                });
            }
            part.shrink_to_fit();
            part
        });
        PreparedRecords { parts, per }
    }

    /// Ids of the records whose name has a word beginning with each word of `prefix`
    /// (compared folded), shortest names first, at most `limit`: a scan, for suggestions.
    pub fn named_like(&self, kind: EntityKind, prefix: &str, limit: usize) -> Vec<Record> {
        let wanted: Vec<String> = fold_text(prefix)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<(usize, &str)> = self
            .records
            .iter()
            .filter_map(|r| {
                let name = match kind {
                    EntityKind::Organisation => fold_text(r.get(Field::LegalName)?),
                    EntityKind::Contact => fold_text(&format!(
                        "{} {}",
                        r.get(Field::FirstName).unwrap_or_default(),
                        r.get(Field::LastName)?
                    )),
                };
                let words: Vec<&str> = name.split_whitespace().collect();
                wanted
                    .iter()
                    .all(|w| words.iter().any(|n| n.starts_with(w.as_str())))
                    .then_some((name.len(), r.id))
            })
            .collect();
        found.sort_unstable();
        found
            .into_iter()
            .take(limit)
            .filter_map(|(_, id)| self.record(id))
            .collect()
    }

    /// The record with `id`, if there is one.
    pub fn record(&self, id: &str) -> Option<Record> {
        let ids = self.by_id.get_or_init(|| {
            self.records
                .iter()
                .enumerate()
                .map(|(i, r)| (Box::from(r.id), i as u32))
                .collect()
        });
        self.records.get(*ids.get(id)? as usize)
    }

    /// How often each name, city and last name occurs among the records.
    pub fn term_frequencies(&self, kind: EntityKind) -> Arc<TermFrequencies> {
        Arc::clone(&self.for_kind(kind).term_frequencies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::packed::Packer;

    #[test]
    fn records_prepared_all_at_once_equal_each_minimised_and_prepared_alone() {
        let records = [
            crate::domain::model::customer(
                "P1",
                ("Anna", "Schmidt"),
                ("Brigalowstraße 3", "05045", "Young"),
            )
            .with(Field::Email, "anna@example.org")
            .with(Field::BirthDate, "1970-01-02"),
            Record::new("O1")
                .with(Field::LegalName, "Müller & Söhne GmbH")
                .with(Field::City, "Frankfurt am Main"),
            Record::new("E1"),
        ];
        let mut packer = Packer::default();
        for record in &records {
            packer.push(record);
        }
        let index = RecordIndex::new(packer.finish(), BlockingSettings::default());
        // A contact job that may use only the name and the address.
        let keep = |f: Field| !matches!(f, Field::Email | Field::BirthDate);
        for kind in [EntityKind::Contact, EntityKind::Organisation] {
            let all = index.prepare_all(kind, &keep);
            for (i, record) in records.iter().enumerate() {
                let mut minimised = record.clone();
                minimised.values.retain(|f, _| keep(*f));
                let id = index.id_at(i as u32).unwrap();
                assert_eq!(id, record.id);
                assert_eq!(
                    all.get(i, id),
                    Some(Prepared::new(kind, &minimised)),
                    "{kind} {id}"
                );
            }
            let past = records.len();
            assert_eq!((index.id_at(past as u32), all.get(past, "x")), (None, None));
        }
    }
}
