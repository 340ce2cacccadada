//! The words of DESIGN.md as types: entity kinds, canonical fields, records, statuses.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The two entity kinds refsync keeps in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Organisation,
    Contact,
}

/// Declares the canonical field vocabulary once: enum, name table and parser.
macro_rules! canonical_fields {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// refsync's own field vocabulary; connectors map CRM columns and register
        /// attributes to and from these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Field { $($variant),* }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Field::$variant => $name),* }
            }
        }

        impl FromStr for Field {
            type Err = UnknownField;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok(Field::$variant),)* _ => Err(UnknownField(s.to_string())) }
            }
        }
    };
}

canonical_fields! {
    LegalName => "legal_name",
    LegalForm => "legal_form",
    Street => "street",
    HouseNumber => "house_number",
    Postcode => "postcode",
    City => "city",
    Country => "country",
    VatId => "vat_id",
    Lei => "lei",
    RegisterCourt => "register_court",
    RegisterNumber => "register_number",
    Website => "website",
    Phone => "phone",
    Email => "email",
    IndustryCode => "industry_code",
    // Persons employed, as the CRM keeps it: a count or a band (`50-249`); the report's size
    // segments read it.
    Employees => "employees",
    Status => "status",
    FirstName => "first_name",
    LastName => "last_name",
    Salutation => "salutation",
    Title => "title",
    Role => "role",
    OrganisationId => "organisation_id",
    // A contact's organisation by name (a lookup in a CRM, a column in a contact register).
    OrganisationName => "organisation_name",
    // A person's date of birth (B2C CRMs), ISO `YYYY-MM-DD`; German `TT.MM.JJJJ` is read too.
    BirthDate => "birth_date",
    // Register attributes a CRM may keep too (GLEIF and register dumps).
    OtherNames => "other_names",
    PreviousNames => "previous_names",
    LegalFormCode => "legal_form_code",
    HqStreet => "hq_street",
    HqPostcode => "hq_postcode",
    HqCity => "hq_city",
    HqCountry => "hq_country",
    SuccessorLei => "successor_lei",
    SuccessorName => "successor_name",
    RegisterUpdated => "register_updated",
    // A remote service's own match score, for display only; never used to decide.
    RegisterScore => "register_score",
}

impl Field {
    /// An identifier a register assigns (LEI, VAT id, register number): equal means the
    /// same entity.
    pub fn is_register_identifier(self) -> bool {
        matches!(self, Field::Lei | Field::VatId | Field::RegisterNumber)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown canonical field `{0}`; known fields: {known}", known = Field::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", "))]
pub struct UnknownField(pub String);

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One entity as canonical fields. A field that is absent is NULL at the source;
/// an empty string is kept as it was read, because the write guard compares raw values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub values: BTreeMap<Field, String>,
    /// Who last modified the record and when, where the source says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<Modified>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modified {
    pub at: Option<String>,
    pub by: Option<String>,
}

impl Record {
    pub fn new(id: impl Into<String>) -> Self {
        Record {
            id: id.into(),
            values: BTreeMap::new(),
            modified: None,
        }
    }

    pub fn with(mut self, field: Field, value: impl Into<String>) -> Self {
        self.values.insert(field, value.into());
        self
    }

    /// The value as stored, including empty strings; `None` for NULL.
    pub fn raw(&self, field: Field) -> Option<&str> {
        self.values.get(&field).map(String::as_str)
    }

    /// The value with surrounding blanks removed, or `None` when it is NULL or blank.
    pub fn get(&self, field: Field) -> Option<&str> {
        present(self.raw(field))
    }
}

/// A raw value with surrounding blanks removed, or `None` when it is NULL or blank: what
/// [`Record::get`] gives, for whatever else holds raw values.
pub fn present(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|v| !v.is_empty())
}

/// A CRM record's state after a pass. `not_found` and `lookup_failed` are never the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    InSync,
    Different,
    NotFound,
    Ambiguous,
    LookupFailed,
    Inactive,
    Skipped,
}

/// Where a change is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Proposed,
    Approved,
    Applied,
    Rejected,
    Conflict,
    Superseded,
    Failed,
    Reverted,
}

/// What refsync may do with a field that differs from the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Never touch the field.
    Ignore,
    /// Write only when the CRM value is empty.
    FillEmpty,
    /// Always leave the decision to a steward.
    Propose,
    /// Write when the match is good enough to apply automatically.
    Overwrite,
    /// Write only over empty values or configured placeholders ("k.A.", "-", …).
    OverwritePlaceholder,
}

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Set one field to the register's value.
    Field,
    /// Mark the CRM record inactive: the register says the entity is gone.
    Deactivate,
    /// Point the CRM record at the successor entity (its LEI).
    Relink,
    /// Two or more CRM records match one register record: for review, never merged.
    MergeCandidate,
    /// Restore the value an applied change replaced.
    Revert,
    /// A free-text value mapped onto a controlled list (industry, legal form, country, …).
    Picklist,
    /// An imported row that is not in the CRM yet: a new record for a steward to create.
    NewRecord,
    /// An imported row that the CRM already holds.
    Duplicate,
    /// Something a person must look at; nothing is written (an impossible e-mail address,
    /// a contact whose organisation is dissolved).
    Flag,
}

impl ChangeKind {
    /// Whether applying the change writes to the CRM.
    pub fn writes_crm(self) -> bool {
        !matches!(
            self,
            ChangeKind::MergeCandidate
                | ChangeKind::NewRecord
                | ChangeKind::Duplicate
                | ChangeKind::Flag
        )
    }
}

/// How a pass ended (or that it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassOutcome {
    Running,
    Succeeded,
    /// Ran to the end, but more lookups failed than the job's `max_failed_share` allows.
    Degraded,
    /// Stopped by an error, or every lookup failed: nothing was checked.
    Failed,
    /// Stopped by a signal after a committed batch; the next pass picks up the rest.
    Interrupted,
}

impl PassOutcome {
    /// Whether the pass needs somebody's attention (exit 1, red in `status`, `/readyz`).
    pub fn went_wrong(self) -> bool {
        matches!(self, PassOutcome::Degraded | PassOutcome::Failed)
    }
}

/// Confidence band of a match, from the job's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Auto,
    Review,
    Reject,
}

/// Implements `ALL`, `as_str`, `Display` and `FromStr` from the serde names, so the store,
/// the CLI, the UI and the JSON output list and spell every status the same way.
macro_rules! snake_names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(<$ty>::$variant),)*
                    _ => Err(format!("`{s}` is not one of: {}", [$($name),*].join(", "))),
                }
            }
        }
        // Store columns hold the names: diesel reads them through these (`deserialize_as`,
        // `serialize_as`), so a row carries the enum, never a string to compare.
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.as_str().to_string()
            }
        }
    };
}
pub(crate) use snake_names;

snake_names!(MatchStatus {
    InSync => "in_sync",
    Different => "different",
    NotFound => "not_found",
    Ambiguous => "ambiguous",
    LookupFailed => "lookup_failed",
    Inactive => "inactive",
    Skipped => "skipped",
});

snake_names!(ChangeStatus {
    Proposed => "proposed",
    Approved => "approved",
    Applied => "applied",
    Rejected => "rejected",
    Conflict => "conflict",
    Superseded => "superseded",
    Failed => "failed",
    Reverted => "reverted",
});

/// Where a proposed merge of duplicates stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeStatus {
    /// Waits for a steward.
    Proposed,
    /// A steward approved it; its write-back has not run yet.
    Approved,
    /// Written to the CRM.
    Applied,
    /// A steward said the records are not one entity, or not to be merged like this.
    Rejected,
    /// Its write-back failed; every record is as it was.
    Failed,
    /// Undone after it was applied.
    Reverted,
    /// The cluster changed before a decision: a newer proposal replaces it.
    Superseded,
}

snake_names!(MergeStatus {
    Proposed => "proposed",
    Approved => "approved",
    Applied => "applied",
    Rejected => "rejected",
    Failed => "failed",
    Reverted => "reverted",
    Superseded => "superseded",
});

snake_names!(Policy {
    Ignore => "ignore",
    FillEmpty => "fill_empty",
    Propose => "propose",
    Overwrite => "overwrite",
    OverwritePlaceholder => "overwrite_placeholder",
});

snake_names!(ChangeKind {
    Field => "field",
    Deactivate => "deactivate",
    Relink => "relink",
    MergeCandidate => "merge_candidate",
    Revert => "revert",
    Picklist => "picklist",
    NewRecord => "new_record",
    Duplicate => "duplicate",
    Flag => "flag",
});

snake_names!(PassOutcome {
    Running => "running",
    Succeeded => "succeeded",
    Degraded => "degraded",
    Failed => "failed",
    Interrupted => "interrupted",
});

snake_names!(Band {
    Auto => "auto",
    Review => "review",
    Reject => "reject",
});

snake_names!(EntityKind {
    Organisation => "organisation",
    Contact => "contact",
});

/// A person at home, for tests of blocking and deduplication.
#[cfg(test)]
pub(crate) fn customer(
    id: &str,
    (first, last): (&str, &str),
    (street, postcode, city): (&str, &str, &str),
) -> Record {
    Record::new(id)
        .with(Field::FirstName, first)
        .with(Field::LastName, last)
        .with(Field::Street, street)
        .with(Field::Postcode, postcode)
        .with(Field::City, city)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_name_parses_back_to_itself() {
        for field in Field::ALL {
            assert_eq!(field.as_str().parse::<Field>(), Ok(*field));
        }
    }

    #[test]
    fn unknown_field_names_the_known_ones() {
        let err = "legalname".parse::<Field>().unwrap_err().to_string();
        assert!(
            err.contains("legalname") && err.contains("legal_name"),
            "{err}"
        );
    }

    #[test]
    fn get_treats_blank_as_missing_but_raw_keeps_it() {
        let r = Record::new("1").with(Field::City, "  ");
        assert_eq!(r.get(Field::City), None);
        assert_eq!(r.raw(Field::City), Some("  "));
        assert_eq!(r.raw(Field::Street), None);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            "in_sync",
            "different",
            "not_found",
            "ambiguous",
            "lookup_failed",
            "inactive",
            "skipped",
        ] {
            assert_eq!(s.parse::<MatchStatus>().unwrap().as_str(), s);
        }
        for s in [
            "proposed",
            "approved",
            "applied",
            "rejected",
            "conflict",
            "superseded",
            "failed",
            "reverted",
        ] {
            assert_eq!(s.parse::<ChangeStatus>().unwrap().as_str(), s);
        }
    }
}
