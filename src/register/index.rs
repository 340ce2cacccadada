//! An in-memory index of register records for identifier lookups and blocking, shared by
//! the registers that hold their data locally (files, dumps).

use std::collections::{BTreeSet, HashMap};

use crate::domain::model::{Field, Record};
use crate::domain::normalise::{comparable, split_legal_form};

/// At most this many candidates per record reach the scorer; blocks larger than this are
/// too unspecific to help and are cut in a stable order.
const MAX_CANDIDATES: usize = 200;

const IDENTIFIERS: &[Field] = &[
    Field::Lei,
    Field::VatId,
    Field::RegisterNumber,
    Field::Email,
];

#[derive(Default)]
pub struct RecordIndex {
    records: Vec<Record>,
    by_identifier: HashMap<(Field, String), Vec<usize>>,
    by_block: HashMap<String, Vec<usize>>,
}

impl RecordIndex {
    pub fn insert(&mut self, record: Record) {
        let at = self.records.len();
        for field in IDENTIFIERS {
            if let Some(v) = record.get(*field) {
                self.by_identifier
                    .entry((*field, comparable(*field, v)))
                    .or_default()
                    .push(at);
            }
        }
        for key in block_keys(&record) {
            self.by_block.entry(key).or_default().push(at);
        }
        self.records.push(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records sharing an identifier or a blocking key with `record`.
    pub fn candidates(&self, record: &Record) -> Vec<&Record> {
        let mut hits = BTreeSet::new();
        for field in IDENTIFIERS {
            if let Some(v) = record.get(*field) {
                if let Some(found) = self.by_identifier.get(&(*field, comparable(*field, v))) {
                    hits.extend(found.iter().copied());
                }
            }
        }
        for key in block_keys(record) {
            if let Some(found) = self.by_block.get(&key) {
                hits.extend(found.iter().copied());
            }
        }
        hits.into_iter()
            .take(MAX_CANDIDATES)
            .map(|i| &self.records[i])
            .collect()
    }
}

/// Blocking keys: postcode, the first name token, and the last name (contacts). A pair
/// that shares no key and no identifier is never compared.
fn block_keys(record: &Record) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(p) = record.get(Field::Postcode) {
        keys.push(format!("p:{}", comparable(Field::Postcode, p)));
    }
    if let Some(name) = record.get(Field::LegalName) {
        let (core, _) = split_legal_form(name);
        if let Some(token) = core.split(' ').find(|t| t.len() >= 3) {
            keys.push(format!("n:{token}"));
        }
    }
    if let Some(last) = record.get(Field::LastName) {
        keys.push(format!("l:{}", comparable(Field::LastName, last)));
    }
    keys
}
