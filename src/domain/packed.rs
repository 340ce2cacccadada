//! Records packed for an in-memory register. As a `BTreeMap` of `String`s a record costs
//! a node, an allocation per value and their headers, several times its text; packed, all
//! records share one byte buffer and cost little more than their text, and the values that
//! repeat across a register (cities, legal forms, statuses) are kept once.

use std::collections::HashMap;

use super::model::{present, Field, Modified, Record};
use super::score::{slot, Prepared};

/// Fields whose values repeat across a register: a few thousand postcodes and cities and
/// a handful of forms and statuses for a million records. Records hold a symbol's number.
fn repeats(field: Field) -> bool {
    matches!(
        field,
        Field::LegalForm
            | Field::LegalFormCode
            | Field::Postcode
            | Field::City
            | Field::Country
            | Field::RegisterCourt
            | Field::IndustryCode
            | Field::Status
            | Field::Salutation
            | Field::Title
            | Field::Role
            | Field::HqPostcode
            | Field::HqCity
            | Field::HqCountry
    )
}

const FIELDS: usize = Field::ALL.len();

// Tags after the id: a field's position in `Field::ALL`, or one of these.
const MODIFIED: u8 = 0xF0;
const MODIFIED_AT: u8 = 0xF1;
const MODIFIED_BY: u8 = 0xF2;

/// Records in one buffer. A record is its id, then per value present a tag byte (the
/// field) and the value: its length and bytes, or for a field that [`repeats`], its number
/// among the symbols. Lengths and numbers take one byte below 128.
#[derive(Debug, Default)]
pub struct PackedRecords {
    bytes: Vec<u8>,
    /// Where each record starts in `bytes`.
    starts: Vec<usize>,
    symbols: Symbols,
}

/// Each repeating value once, back to back.
#[derive(Debug, Default)]
struct Symbols {
    text: String,
    /// Where each symbol ends in `text`; it starts where the one before it ends.
    ends: Vec<usize>,
}

impl Symbols {
    fn get(&self, n: usize) -> Option<&str> {
        let start = match n.checked_sub(1) {
            Some(before) => *self.ends.get(before)?,
            None => 0,
        };
        self.text.get(start..*self.ends.get(n)?)
    }

    fn push(&mut self, value: &str) -> usize {
        self.text.push_str(value);
        self.ends.push(self.text.len());
        self.ends.len() - 1
    }
}

/// Packs records one at a time, so that a loader never holds them unpacked.
#[derive(Debug, Default)]
pub struct Packer {
    packed: PackedRecords,
    /// Each symbol's number; needed only while packing.
    numbers: HashMap<Box<str>, usize>,
}

impl Packer {
    pub fn push(&mut self, record: &Record) {
        self.packed.starts.push(self.packed.bytes.len());
        put_text(&mut self.packed.bytes, &record.id);
        for (field, value) in &record.values {
            self.packed.bytes.push(*field as u8);
            if repeats(*field) {
                let n = self.symbol(value);
                put_number(&mut self.packed.bytes, n);
            } else {
                put_text(&mut self.packed.bytes, value);
            }
        }
        if let Some(modified) = &record.modified {
            let bytes = &mut self.packed.bytes;
            bytes.push(MODIFIED);
            for (tag, value) in [(MODIFIED_AT, &modified.at), (MODIFIED_BY, &modified.by)] {
                if let Some(value) = value {
                    bytes.push(tag);
                    put_text(bytes, value);
                }
            }
        }
    }

    fn symbol(&mut self, value: &str) -> usize {
        if let Some(n) = self.numbers.get(value) {
            return *n;
        }
        let n = self.packed.symbols.push(value);
        self.numbers.insert(value.into(), n);
        n
    }

    /// The packed records, without the room their buffers grew for.
    pub fn finish(self) -> PackedRecords {
        let mut packed = self.packed;
        packed.bytes.shrink_to_fit();
        packed.starts.shrink_to_fit();
        packed.symbols.text.shrink_to_fit();
        packed.symbols.ends.shrink_to_fit();
        packed
    }
}

impl PackedRecords {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// A digest of the records as packed: the same records read in the same order give the
    /// same digest, from one process of a build to the next. SipHash with its fixed keys,
    /// not the byte-wise FNV of `score::hash64`: every pass digests the whole register, and
    /// over 3 million records (810 MB) FNV took 1.08 s and SipHash 0.22 s. A build whose
    /// Rust changes SipHash only makes the next pass score every record again.
    pub fn digest(&self) -> u64 {
        use std::hash::Hasher;
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write_usize(self.starts.len());
        hasher.write(&self.bytes);
        hasher.write(self.symbols.text.as_bytes());
        hasher.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Record `i` as it was given.
    pub fn get(&self, i: usize) -> Option<Record> {
        self.view(i).map(|v| v.to_record())
    }

    /// Record `i` read in place, without allocating.
    pub fn view(&self, i: usize) -> Option<RecordView<'_>> {
        let start = *self.starts.get(i)?;
        let end = self.starts.get(i + 1).map_or(self.bytes.len(), |end| *end);
        let mut view = RecordView {
            id: "",
            values: [None; FIELDS],
            modified: None,
        };
        // Packing writes only what `read` reads: a record is read to its end.
        let _read_whole = self.read(self.bytes.get(start..end).unwrap_or_default(), &mut view);
        Some(view)
    }

    /// The id of record `i`, without reading its values: a pass asks it of every
    /// candidate it scores.
    pub fn id(&self, i: usize) -> Option<&str> {
        let mut bytes = self.bytes.get(*self.starts.get(i)?..)?;
        take_text(&mut bytes)
    }

    /// Every record in order, read in place.
    pub fn iter(&self) -> impl Iterator<Item = RecordView<'_>> {
        (0..self.len()).filter_map(|i| self.view(i))
    }

    fn read<'a>(&'a self, mut bytes: &'a [u8], view: &mut RecordView<'a>) -> Option<()> {
        view.id = take_text(&mut bytes)?;
        while let Some((&tag, rest)) = bytes.split_first() {
            bytes = rest;
            match tag {
                MODIFIED => view.modified = Some((None, None)),
                MODIFIED_AT => {
                    view.modified.get_or_insert_default().0 = Some(take_text(&mut bytes)?)
                }
                MODIFIED_BY => {
                    view.modified.get_or_insert_default().1 = Some(take_text(&mut bytes)?)
                }
                _ => {
                    let field = *Field::ALL.get(usize::from(tag))?;
                    let value = if repeats(field) {
                        self.symbols.get(take_number(&mut bytes)?)?
                    } else {
                        take_text(&mut bytes)?
                    };
                    *view.values.get_mut(usize::from(tag))? = Some(value);
                }
            }
        }
        Some(())
    }
}

/// A packed record's id and values, borrowed from the packing.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub id: &'a str,
    /// By the field's position in `Field::ALL`.
    values: [Option<&'a str>; FIELDS],
    /// `Modified`'s `at` and `by`, where the record had one.
    modified: Option<(Option<&'a str>, Option<&'a str>)>,
}

impl<'a> RecordView<'a> {
    /// As [`Record::get`].
    pub fn get(&self, field: Field) -> Option<&'a str> {
        present(self.values.get(field as usize).copied().flatten())
    }

    pub fn to_record(&self) -> Record {
        Record {
            id: self.id.to_string(),
            values: Field::ALL
                .iter()
                .zip(&self.values)
                .filter_map(|(field, value)| Some((*field, value.as_ref()?.to_string())))
                .collect(),
            modified: self.modified.map(|(at, by)| Modified {
                at: at.map(str::to_string),
                by: by.map(str::to_string),
            }),
        }
    }
}

/// Records prepared for comparison, by position, back to back in one buffer: per record its
/// comparable text and where each slot ends in it (two bytes each), where a [`Prepared`] of
/// its own costs three allocations and preparing a register record again for every CRM
/// record it is a candidate of took a sixth of a first pass.
#[derive(Debug, Default)]
pub struct PackedPrepared {
    text: String,
    /// Where each record's text starts in `text`.
    starts: Vec<usize>,
    /// Each record's slot ends from its start; `None` for a text too long for them, which
    /// is prepared afresh where it is needed.
    ends: Vec<Option<[u16; slot::COUNT]>>,
}

impl PackedPrepared {
    /// Room for `records` records (their text grows as it comes).
    pub fn with_capacity(records: usize) -> PackedPrepared {
        PackedPrepared {
            text: String::new(),
            starts: Vec::with_capacity(records),
            ends: Vec::with_capacity(records),
        }
    }

    pub fn push(&mut self, prepared: &Prepared) {
        let (text, ends) = prepared.parts();
        self.starts.push(self.text.len());
        match u16::try_from(text.len()) {
            Ok(_) => {
                self.text.push_str(text);
                self.ends.push(Some(ends.map(|e| e as u16)));
            }
            Err(_) => self.ends.push(None),
        }
    }

    /// Record `i` prepared, with `id` as its id; `None` past the end or where it was too
    /// long to pack.
    pub fn get(&self, i: usize, id: &str) -> Option<Prepared> {
        let ends = (*self.ends.get(i)?)?;
        let start = self.starts[i];
        let text = self
            .text
            .get(start..start + usize::from(ends[slot::COUNT - 1]))?;
        Some(Prepared::from_parts(id, text, ends.map(u32::from)))
    }

    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.starts.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

fn put_number(bytes: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        bytes.push(n as u8 | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
}

fn put_text(bytes: &mut Vec<u8>, text: &str) {
    put_number(bytes, text.len());
    bytes.extend_from_slice(text.as_bytes());
}

/// The number at the front of `bytes`, which then start after it.
fn take_number(bytes: &mut &[u8]) -> Option<usize> {
    let mut n = 0usize;
    let mut shift = 0u32;
    loop {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        n |= usize::from(b & 0x7F).checked_shl(shift)?;
        if b < 0x80 {
            return Some(n);
        }
        shift += 7;
    }
}

fn take_text<'a>(bytes: &mut &'a [u8]) -> Option<&'a str> {
    let len = take_number(bytes)?;
    let (text, rest) = bytes.split_at_checked(len)?;
    *bytes = rest;
    std::str::from_utf8(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::EntityKind;
    use proptest::prelude::*;

    fn packed(records: &[Record]) -> PackedRecords {
        let mut packer = Packer::default();
        for r in records {
            packer.push(r);
        }
        packer.finish()
    }

    #[test]
    fn a_packed_record_reads_back_as_it_was_given() {
        let records = [
            Record::new("R1")
                .with(Field::LegalName, "Müller & Söhne GmbH")
                .with(Field::City, "Frankfurt am Main")
                .with(Field::Country, "DE"),
            // The same city again: one symbol, two records.
            Record::new("R2")
                .with(Field::City, "Frankfurt am Main")
                .with(Field::Street, "  "),
            // Empty strings are kept, as the write guard compares raw values.
            Record::new("")
                .with(Field::Status, "")
                .with(Field::Email, ""),
            Record::new("R4").with(Field::Website, "x".repeat(100_000)),
            Record {
                modified: Some(Modified {
                    at: Some("2025-04-09T08:12:40Z".into()),
                    by: None,
                }),
                ..Record::new("R5").with(Field::RegisterScore, "0.93")
            },
            Record {
                modified: Some(Modified::default()),
                ..Record::new("R6")
            },
            Record::new("R7"),
        ];
        let packed = packed(&records);
        assert_eq!(packed.len(), records.len());
        for (i, record) in records.iter().enumerate() {
            assert_eq!(packed.get(i).as_ref(), Some(record), "record {i}");
        }
        assert_eq!(packed.get(records.len()), None);
        assert_eq!(packed.symbols.ends.len(), 3, "Frankfurt am Main, DE and ``");
    }

    #[test]
    fn a_view_gets_values_as_the_record_does() {
        let record = Record::new("R1")
            .with(Field::City, " Berlin ")
            .with(Field::Street, "  ")
            .with(Field::LegalName, "Alpha GmbH");
        let packed = packed(std::slice::from_ref(&record));
        let view = packed.view(0).unwrap();
        assert_eq!(view.id, "R1");
        for field in Field::ALL {
            assert_eq!(view.get(*field), record.get(*field), "{field}");
        }
    }

    #[test]
    fn nothing_packed_is_empty() {
        let packed = Packer::default().finish();
        assert!(packed.is_empty());
        assert_eq!(packed.get(0), None);
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            // A few values many records share, as cities and countries are.
            prop::sample::select(vec!["DE", "Berlin", " ", "Ödön"]).prop_map(String::from),
            any::<String>(),
            "\\PC{0,3000}",
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        let modified = prop::option::of(
            (prop::option::of(text()), prop::option::of(text()))
                .prop_map(|(at, by)| Modified { at, by }),
        );
        (
            text(),
            prop::collection::btree_map(prop::sample::select(Field::ALL), text(), 0..=FIELDS),
            modified,
        )
            .prop_map(|(id, values, modified)| Record {
                id,
                values,
                modified,
            })
    }

    proptest! {
        #[test]
        fn any_records_read_back_as_they_were_given(
            records in prop::collection::vec(record(), 0..20)
        ) {
            let packed = packed(&records);
            prop_assert_eq!(packed.len(), records.len());
            for (i, record) in records.iter().enumerate() {
                prop_assert_eq!(packed.get(i), Some(record.clone()));
                prop_assert_eq!(packed.id(i), Some(record.id.as_str()));
            }
            prop_assert_eq!(packed.id(records.len()), None);
        }

        #[test]
        fn any_prepared_records_read_back_as_they_were_prepared(
            records in prop::collection::vec(record(), 0..20),
        ) {
            let kind = |i: usize| [EntityKind::Organisation, EntityKind::Contact][i % 2];
            let mut packed = PackedPrepared::with_capacity(records.len());
            for (i, record) in records.iter().enumerate() {
                packed.push(&Prepared::new(kind(i), record));
            }
            for (i, record) in records.iter().enumerate() {
                prop_assert_eq!(packed.get(i, &record.id), Some(Prepared::new(kind(i), record)));
            }
            prop_assert_eq!(packed.get(records.len(), "x"), None);
        }
    }

    #[test]
    fn a_prepared_record_too_long_to_pack_is_left_to_be_prepared_afresh() {
        let long = Record::new("R1").with(Field::LegalName, "Alpha ".repeat(20_000));
        let short = Record::new("R2").with(Field::LegalName, "Beta GmbH");
        let kind = EntityKind::Organisation;
        let mut packed = PackedPrepared::default();
        packed.push(&Prepared::new(kind, &long));
        packed.push(&Prepared::new(kind, &short));
        assert_eq!(packed.get(0, "R1"), None);
        assert_eq!(packed.get(1, "R2"), Some(Prepared::new(kind, &short)));
    }
}
