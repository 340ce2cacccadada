//! What a record's outcome in a pass depends on, as one number. Scoring is a function of
//! the record's values, what the store remembers of it (values refsync wrote, values a
//! steward suppressed, its open and rejected changes, its organisation) and the pass's
//! basis (refsync's version, the job's settings, the model, the register's content). Where
//! all of them are as at the record's last check, scoring it again decides what was decided
//! then, and a pass leaves it as it stands.

use std::collections::BTreeMap;

use super::evaluate::History;
use super::model::{ChangeKind, ChangeStatus, Field, Record};
use super::score::hash64;

/// What every outcome of a pass depends on besides its record. A pass has none where the
/// register may answer differently from one pass to the next (a remote service, VIES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Basis(u64);

impl Basis {
    /// The basis of `parts`: each a setting, the model or the register's content, in text.
    pub fn of(parts: &[&str]) -> Basis {
        let mut buf = Vec::new();
        for part in parts {
            put(&mut buf, part.as_bytes());
        }
        Basis(hash64(&[&buf]))
    }
}

/// One record's inputs besides its values and its changes, as the front of the pass reads
/// them: kept until the batch is written, when the digest the next pass will find is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The basis with what a pass never changes: suppressed values and the organisation.
    fixed: u64,
    /// Values refsync wrote, which a pass that applies changes adds to.
    written: BTreeMap<Field, Option<String>>,
}

/// A change the store remembers of a record (open, rejected or reverted): its id, status
/// and kind.
pub type ChangeState = (i64, ChangeStatus, ChangeKind);

impl Inputs {
    pub fn new(basis: Basis, history: &History) -> Inputs {
        let mut buf = basis.0.to_le_bytes().to_vec();
        for (field, value) in &history.suppressed {
            put(&mut buf, field.as_str().as_bytes());
            put(&mut buf, value.as_bytes());
        }
        buf.push(u8::from(history.organisation_inactive));
        if let Some(org) = &history.organisation {
            put_record(&mut buf, org);
        }
        Inputs {
            fixed: hash64(&[&buf]),
            written: history.written.clone(),
        }
    }

    /// The digest of `record` as it is, with the changes the store remembers of it.
    pub fn digest(&self, record: &Record, changes: &[ChangeState]) -> i64 {
        self.digest_of(record, &self.written, changes)
    }

    /// The digest the next pass finds where this pass writes `applied` (field, new value)
    /// to the CRM and the store then remembers `changes`: that pass's inputs are this one's
    /// with the written values in the record and among the values refsync wrote.
    pub fn digest_after(
        &self,
        record: &Record,
        applied: &[(Field, Option<&str>)],
        changes: &[ChangeState],
    ) -> i64 {
        if applied.is_empty() {
            return self.digest(record, changes);
        }
        let (mut record, mut written) = (record.clone(), self.written.clone());
        for (field, value) in applied {
            match value {
                Some(v) => record.values.insert(*field, v.to_string()),
                None => record.values.remove(field),
            };
            written.insert(*field, value.map(str::to_string));
        }
        self.digest_of(&record, &written, changes)
    }

    fn digest_of(
        &self,
        record: &Record,
        written: &BTreeMap<Field, Option<String>>,
        changes: &[ChangeState],
    ) -> i64 {
        let mut buf = self.fixed.to_le_bytes().to_vec();
        put_record(&mut buf, record);
        for (field, value) in written {
            put(&mut buf, field.as_str().as_bytes());
            match value {
                Some(v) => put(&mut buf, v.as_bytes()),
                None => buf.push(0xFF),
            }
        }
        let mut changes = changes.to_vec();
        changes.sort_unstable_by_key(|(id, ..)| *id);
        for (id, status, kind) in changes {
            buf.extend_from_slice(&id.to_le_bytes());
            put(&mut buf, status.as_str().as_bytes());
            put(&mut buf, kind.as_str().as_bytes());
        }
        // Stored as a signed 64-bit column; the bits are what count.
        hash64(&[&buf]) as i64
    }
}

/// `bytes` with its length before it, so that no two sequences of parts run together.
fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// A record's id and values; when and by whom it was modified does not decide anything.
fn put_record(buf: &mut Vec<u8>, record: &Record) {
    put(buf, record.id.as_bytes());
    for (field, value) in &record.values {
        put(buf, field.as_str().as_bytes());
        put(buf, value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::Modified;

    fn record() -> Record {
        Record::new("7")
            .with(Field::LegalName, "Muster GmbH")
            .with(Field::City, "Köln")
    }

    fn inputs(history: &History) -> Inputs {
        Inputs::new(Basis::of(&["0.1", "job", "model", "register"]), history)
    }

    #[test]
    fn the_digest_changes_with_anything_that_decides_the_outcome() {
        let history = History::default();
        let base =
            inputs(&history).digest(&record(), &[(1, ChangeStatus::Proposed, ChangeKind::Field)]);
        let mut suppressed = History::default();
        suppressed
            .suppressed
            .insert((Field::City, "koln".to_string()));
        let mut written = History::default();
        written
            .written
            .insert(Field::City, Some("Köln".to_string()));
        let organisation_gone = History {
            organisation_inactive: true,
            ..History::default()
        };
        let other_basis = Inputs::new(Basis::of(&["0.1", "job", "model", "register v2"]), &history);
        let cases: [(&str, i64); 8] = [
            (
                "a value",
                inputs(&history).digest(
                    &record().with(Field::City, "Koeln"),
                    &[(1, ChangeStatus::Proposed, ChangeKind::Field)],
                ),
            ),
            (
                "a value added",
                inputs(&history).digest(
                    &record().with(Field::Postcode, "50667"),
                    &[(1, ChangeStatus::Proposed, ChangeKind::Field)],
                ),
            ),
            (
                "a change decided",
                inputs(&history)
                    .digest(&record(), &[(1, ChangeStatus::Rejected, ChangeKind::Field)]),
            ),
            (
                "a change more",
                inputs(&history).digest(
                    &record(),
                    &[
                        (1, ChangeStatus::Proposed, ChangeKind::Field),
                        (2, ChangeStatus::Proposed, ChangeKind::Field),
                    ],
                ),
            ),
            (
                "a suppressed value",
                inputs(&suppressed)
                    .digest(&record(), &[(1, ChangeStatus::Proposed, ChangeKind::Field)]),
            ),
            (
                "a value refsync wrote",
                inputs(&written)
                    .digest(&record(), &[(1, ChangeStatus::Proposed, ChangeKind::Field)]),
            ),
            (
                "the organisation gone",
                inputs(&organisation_gone)
                    .digest(&record(), &[(1, ChangeStatus::Proposed, ChangeKind::Field)]),
            ),
            (
                "the register",
                other_basis.digest(&record(), &[(1, ChangeStatus::Proposed, ChangeKind::Field)]),
            ),
        ];
        for (what, digest) in cases {
            assert_ne!(digest, base, "{what} must change the digest");
        }
    }

    #[test]
    fn who_modified_a_record_when_and_the_order_of_its_changes_do_not_count() {
        let history = History::default();
        let changes = [
            (1, ChangeStatus::Proposed, ChangeKind::Field),
            (2, ChangeStatus::Rejected, ChangeKind::Field),
        ];
        let base = inputs(&history).digest(&record(), &changes);
        let mut touched = record();
        touched.modified = Some(Modified {
            at: Some("2026-12-07 08:00:00".into()),
            by: Some("ines".into()),
        });
        assert_eq!(inputs(&history).digest(&touched, &changes), base);
        let reversed = [
            (2, ChangeStatus::Rejected, ChangeKind::Field),
            (1, ChangeStatus::Proposed, ChangeKind::Field),
        ];
        assert_eq!(inputs(&history).digest(&record(), &reversed), base);
    }

    #[test]
    fn the_digest_after_a_write_is_the_one_the_next_pass_reads() {
        // This pass reads the record without a postcode and writes the register's, which the
        // store then remembers as written; the applied change is no longer open.
        let before = History::default();
        let after_write = inputs(&before).digest_after(
            &record(),
            &[(Field::Postcode, Some("50667")), (Field::City, None)],
            &[],
        );
        let mut next = History::default();
        next.written
            .insert(Field::Postcode, Some("50667".to_string()));
        next.written.insert(Field::City, None);
        let mut written = Record::new("7")
            .with(Field::LegalName, "Muster GmbH")
            .with(Field::Postcode, "50667");
        assert_eq!(inputs(&next).digest(&written, &[]), after_write);
        // A write that did not happen (a conflict, a refusal) leaves a record the next
        // pass scores again.
        written = written.with(Field::Postcode, "50668");
        assert_ne!(inputs(&next).digest(&written, &[]), after_write);
        assert_eq!(
            inputs(&before).digest_after(&record(), &[], &[]),
            inputs(&before).digest(&record(), &[])
        );
    }
}
