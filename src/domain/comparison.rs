//! The comparison model as data: which fields of two records are compared, by which
//! comparator, with which threshold, and whether an exact agreement is weighed by how rare
//! the value is. A job's `[job.NAME.matching] comparisons` (or a `refsync match --mapping`
//! file) lists them; without the list, the defaults of the entity kind apply, and those use
//! every field the kind can carry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::model::{snake_names, EntityKind, Field};

/// How one field is compared; each gives the levels exact, close, far (or missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
    /// Equal or not (identifiers, website, salutation, title).
    Exact,
    /// Organisation name cores: close by similarity or by one name containing the other.
    OrganisationName,
    /// Close when the canonical forms belong to one family (GmbH and mbH, KG and GmbH & Co. KG).
    LegalForm,
    /// Close by string similarity at or above the threshold.
    Text,
    /// Close by similarity, or when one street name contains the other's words.
    Street,
    /// `12` and `12a`, or `12` within `10-14`, are close; in another street no evidence.
    HouseNumber,
    /// Close when the first three characters agree (same delivery area) or one digit differs.
    Postcode,
    /// Close by similarity or when one city is the other plus a district (`Frankfurt am Main`).
    City,
    /// Number and court agree: exact; number agrees but the courts differ: close.
    Register,
    /// Person names: close by similarity, sound (Kölner Phonetik), initial, a part of a
    /// double name, or first and last name swapped.
    PersonName,
    /// Dates: close when day and month are swapped, one digit differs, or only the year is
    /// known on one side and agrees.
    Date,
    /// E-mail addresses: close when the domain agrees and the local parts are similar at
    /// the threshold (0 makes any address at the same domain close).
    Email,
    /// Phone numbers (E.164): close when one digit differs or two are swapped.
    Phone,
}

snake_names!(Comparator {
    Exact => "exact",
    OrganisationName => "organisation_name",
    LegalForm => "legal_form",
    Text => "text",
    Street => "street",
    HouseNumber => "house_number",
    Postcode => "postcode",
    City => "city",
    Register => "register",
    PersonName => "person_name",
    Date => "date",
    Email => "email",
    Phone => "phone",
});

impl Serialize for Comparator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Comparator {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: String| serde::de::Error::custom(format!("comparator {e}")))
    }
}

impl Comparator {
    /// The similarity threshold for close where the comparator uses one.
    fn default_close(self) -> Option<f64> {
        match self {
            Comparator::OrganisationName
            | Comparator::Text
            | Comparator::Street
            | Comparator::PersonName
            | Comparator::Email => Some(0.9),
            Comparator::City => Some(0.92),
            _ => None,
        }
    }

    /// The fields this comparator can read (it needs companion values, or a parsed form,
    /// that only those fields have); `None` means any comparable field.
    fn fields(self) -> Option<&'static [Field]> {
        match self {
            Comparator::HouseNumber => Some(&[Field::HouseNumber]),
            Comparator::Register => Some(&[Field::RegisterNumber]),
            Comparator::LegalForm => Some(&[Field::LegalForm]),
            Comparator::PersonName => Some(&[Field::FirstName, Field::LastName]),
            Comparator::Date => Some(&[Field::BirthDate]),
            _ => None,
        }
    }
}

/// Comparisons whose agreements are not independent: agreeing on all of them says at most
/// that the pair is one of the few records that share them, however many bits each part
/// adds on its own. A street, house number, postcode and city agree at once for a whole
/// household; counted as independent they add 25 bits or more and outweigh a different
/// first name and birth date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Address,
}

snake_names!(Group { Address => "address" });

impl Serialize for Group {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: String| serde::de::Error::custom(format!("group {e}")))
    }
}

/// The most comparisons one model may hold (a comparison vector is a fixed array).
pub const MAX_COMPARISONS: usize = 16;

/// Fields whose register values are counted for term frequencies, per kind: a comparison
/// may weigh by rarity only these.
pub fn term_frequency_fields(kind: EntityKind) -> &'static [Field] {
    match kind {
        EntityKind::Organisation => &[Field::LegalName, Field::City],
        EntityKind::Contact => &[
            Field::FirstName,
            Field::LastName,
            Field::OrganisationName,
            Field::Street,
            Field::City,
        ],
    }
}

/// Fields a comparison can read (those refsync prepares for matching).
pub const COMPARABLE_FIELDS: &[Field] = &[
    Field::LegalName,
    Field::LegalForm,
    Field::Street,
    Field::HouseNumber,
    Field::Postcode,
    Field::City,
    Field::Lei,
    Field::VatId,
    Field::RegisterNumber,
    Field::Phone,
    Field::Website,
    Field::Email,
    Field::FirstName,
    Field::LastName,
    Field::Salutation,
    Field::Title,
    Field::OrganisationName,
    Field::BirthDate,
];

/// One comparison of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparisonSpec {
    pub field: Field,
    pub comparator: Comparator,
    /// Similarity in [0, 1] at or above which two values are close (string comparators);
    /// default per comparator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<f64>,
    /// Weigh an exact agreement by how often the register holds that value.
    #[serde(default)]
    pub term_frequency: bool,
    /// The comparisons of one group together add at most the evidence that singles out
    /// one record of the register (the prior's bits): see [`Group`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

impl ComparisonSpec {
    const fn new(field: Field, comparator: Comparator, term_frequency: bool) -> ComparisonSpec {
        ComparisonSpec {
            field,
            comparator,
            close: None,
            term_frequency,
            group: None,
        }
    }

    const fn in_group(self, group: Group) -> ComparisonSpec {
        ComparisonSpec {
            group: Some(group),
            ..self
        }
    }

    /// The close threshold in force.
    pub fn close(&self) -> f64 {
        self.close
            .or(self.comparator.default_close())
            .unwrap_or(1.0)
    }

    /// Whether an exact agreement identifies the entity (the method `identifier`).
    pub fn is_identifier(&self) -> bool {
        self.field.is_register_identifier() || self.field == Field::Email
    }

    /// The starting m and u per level (exact, close, far) until EM or a pin says otherwise:
    /// the built-in values of the field where the kind's defaults compare it, else values
    /// by what the comparator is (an identifier, a name, an address part).
    pub fn start(&self, kind: EntityKind) -> ([f64; 3], [f64; 3]) {
        if let Some((_, m, u)) = default_params(kind)
            .iter()
            .find(|(f, _, _)| *f == self.field)
        {
            return (*m, *u);
        }
        match self.comparator {
            Comparator::Exact | Comparator::Register | Comparator::Email | Comparator::Phone => {
                ([0.85, 0.05, 0.10], [0.005, 0.005, 0.99])
            }
            Comparator::Date => ([0.85, 0.10, 0.05], [0.001, 0.01, 0.989]),
            _ => ([0.80, 0.12, 0.08], [0.05, 0.05, 0.90]),
        }
    }
}

use Comparator as C;

const ORGANISATION: &[ComparisonSpec] = &[
    ComparisonSpec::new(Field::LegalName, C::OrganisationName, true),
    ComparisonSpec::new(Field::LegalForm, C::LegalForm, false),
    ComparisonSpec::new(Field::Street, C::Street, false),
    ComparisonSpec::new(Field::HouseNumber, C::HouseNumber, false),
    ComparisonSpec::new(Field::Postcode, C::Postcode, false),
    ComparisonSpec::new(Field::City, C::City, true),
    ComparisonSpec::new(Field::Lei, C::Exact, false),
    ComparisonSpec::new(Field::VatId, C::Exact, false),
    ComparisonSpec::new(Field::RegisterNumber, C::Register, false),
    ComparisonSpec::new(Field::Phone, C::Phone, false),
    ComparisonSpec::new(Field::Website, C::Exact, false),
    // Any address at the firm's domain says it is the firm.
    ComparisonSpec {
        close: Some(0.0),
        ..ComparisonSpec::new(Field::Email, C::Email, false)
    },
];

const CONTACT: &[ComparisonSpec] = &[
    ComparisonSpec::new(Field::FirstName, C::PersonName, true),
    ComparisonSpec::new(Field::LastName, C::PersonName, true),
    ComparisonSpec::new(Field::BirthDate, C::Date, false),
    ComparisonSpec::new(Field::Email, C::Email, false),
    ComparisonSpec::new(Field::Phone, C::Phone, false),
    ComparisonSpec::new(Field::OrganisationName, C::OrganisationName, true),
    ComparisonSpec::new(Field::Salutation, C::Exact, false),
    ComparisonSpec::new(Field::Title, C::Exact, false),
    // A household shares its address: the address finds the household, the names and
    // the birth date the person in it.
    ComparisonSpec::new(Field::Street, C::Street, true).in_group(Group::Address),
    ComparisonSpec::new(Field::HouseNumber, C::HouseNumber, false).in_group(Group::Address),
    ComparisonSpec::new(Field::Postcode, C::Postcode, false).in_group(Group::Address),
    ComparisonSpec::new(Field::City, C::City, true).in_group(Group::Address),
];

/// The default comparisons of `kind`: every field the kind can carry.
pub fn default_comparisons(kind: EntityKind) -> &'static [ComparisonSpec] {
    match kind {
        EntityKind::Organisation => ORGANISATION,
        EntityKind::Contact => CONTACT,
    }
}

type Params = (Field, [f64; 3], [f64; 3]);

/// Built-in m and u (exact, close, far) for German CRM data, before EM refits them.
fn default_params(kind: EntityKind) -> &'static [Params] {
    const ORG: &[Params] = &[
        (Field::LegalName, [0.81, 0.185, 0.005], [0.02, 0.05, 0.93]),
        (Field::LegalForm, [0.88, 0.07, 0.05], [0.35, 0.15, 0.50]),
        (Field::Street, [0.82, 0.08, 0.10], [0.08, 0.04, 0.88]),
        (Field::HouseNumber, [0.82, 0.06, 0.12], [0.06, 0.04, 0.90]),
        (Field::Postcode, [0.88, 0.06, 0.06], [0.25, 0.25, 0.50]),
        (Field::City, [0.90, 0.05, 0.05], [0.40, 0.10, 0.50]),
        (Field::Lei, [0.99, 0.0, 0.01], [0.001, 0.0, 0.999]),
        (Field::VatId, [0.98, 0.0, 0.02], [0.001, 0.0, 0.999]),
        (
            Field::RegisterNumber,
            [0.93, 0.04, 0.03],
            [0.002, 0.01, 0.988],
        ),
        (Field::Phone, [0.80, 0.02, 0.18], [0.01, 0.001, 0.989]),
        (Field::Website, [0.85, 0.0, 0.15], [0.01, 0.0, 0.99]),
        (Field::Email, [0.70, 0.15, 0.15], [0.01, 0.01, 0.98]),
    ];
    const PERSON: &[Params] = &[
        (Field::FirstName, [0.85, 0.11, 0.04], [0.05, 0.08, 0.87]),
        (Field::LastName, [0.88, 0.10, 0.02], [0.05, 0.05, 0.90]),
        (Field::BirthDate, [0.85, 0.10, 0.05], [0.001, 0.01, 0.989]),
        // The same local part at another domain is a namesake at another firm: far.
        (Field::Email, [0.85, 0.03, 0.12], [0.0002, 0.0002, 0.9996]),
        (Field::Phone, [0.75, 0.02, 0.23], [0.01, 0.001, 0.989]),
        // Namesakes rarely work at the same firm; a person who moved on is still likely the same.
        (
            Field::OrganisationName,
            [0.80, 0.12, 0.08],
            [0.002, 0.008, 0.99],
        ),
        (Field::Salutation, [0.95, 0.0, 0.05], [0.50, 0.0, 0.50]),
        (Field::Title, [0.85, 0.0, 0.15], [0.30, 0.0, 0.70]),
        (Field::Street, [0.80, 0.08, 0.12], [0.02, 0.02, 0.96]),
        (Field::HouseNumber, [0.80, 0.06, 0.14], [0.06, 0.04, 0.90]),
        (Field::Postcode, [0.85, 0.07, 0.08], [0.02, 0.05, 0.93]),
        (Field::City, [0.85, 0.07, 0.08], [0.05, 0.05, 0.90]),
    ];
    match kind {
        EntityKind::Organisation => ORG,
        EntityKind::Contact => PERSON,
    }
}

/// A comparison list that cannot be used, with the key below `matching` and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// Checks a configured comparison list for `kind`; the error names the entry.
pub fn validate(kind: EntityKind, specs: &[ComparisonSpec]) -> Result<(), SpecError> {
    if specs.len() > MAX_COMPARISONS {
        return Err(SpecError {
            key: "comparisons".into(),
            problem: format!(
                "{} comparisons; at most {MAX_COMPARISONS} are supported",
                specs.len()
            ),
        });
    }
    for (i, spec) in specs.iter().enumerate() {
        check(kind, spec, &specs[..i]).map_err(|(key, problem)| SpecError {
            key: format!("comparisons[{i}].{key}"),
            problem,
        })?;
    }
    Ok(())
}

/// One comparison's problem, as (its key, what is wrong); `earlier` are those before it.
fn check(
    kind: EntityKind,
    spec: &ComparisonSpec,
    earlier: &[ComparisonSpec],
) -> Result<(), (&'static str, String)> {
    let names = |fields: &[Field]| {
        fields
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let field = spec.field;
    if !COMPARABLE_FIELDS.contains(&field) {
        let known = names(COMPARABLE_FIELDS);
        return Err((
            "field",
            format!("`{field}` cannot be compared; comparable fields: {known}"),
        ));
    }
    if earlier.iter().any(|s| s.field == field) {
        return Err((
            "field",
            format!("`{field}` is compared twice; keep one comparison per field"),
        ));
    }
    if let Some(fields) = spec.comparator.fields().filter(|f| !f.contains(&field)) {
        let only = names(fields);
        return Err((
            "comparator",
            format!("`{}` compares only {only}, not `{field}`", spec.comparator),
        ));
    }
    if let Some(close) = spec.close.filter(|c| !(0.0..=1.0).contains(c)) {
        return Err((
            "close",
            format!("{close} must be a similarity between 0 and 1"),
        ));
    }
    let counted = term_frequency_fields(kind);
    if spec.term_frequency && !counted.contains(&field) {
        let counted = names(counted);
        return Err((
            "term_frequency",
            format!("term frequencies are counted for {kind}s only on {counted}; set it to false for `{field}`"),
        ));
    }
    Ok(())
}

/// Mapped fields that refsync could compare but neither a comparison nor a blocking key
/// uses: the admin mapped them for matching and would silently lose them.
pub fn unused_fields(
    mapped: impl IntoIterator<Item = Field>,
    specs: &[ComparisonSpec],
    blocked: &[Field],
) -> Vec<Field> {
    let mut out: Vec<Field> = mapped
        .into_iter()
        .filter(|f| COMPARABLE_FIELDS.contains(f) || *f == Field::RegisterCourt)
        .filter(|f| {
            // The court is read together with the register number.
            let f = if *f == Field::RegisterCourt {
                Field::RegisterNumber
            } else {
                *f
            };
            !specs.iter().any(|s| s.field == f) && !blocked.contains(&f)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_contacts_compare_every_field_a_contact_can_carry() {
        for kind in [EntityKind::Organisation, EntityKind::Contact] {
            validate(kind, default_comparisons(kind)).unwrap();
        }
        let contact: Vec<Field> = default_comparisons(EntityKind::Contact)
            .iter()
            .map(|s| s.field)
            .collect();
        for field in [
            Field::FirstName,
            Field::LastName,
            Field::BirthDate,
            Field::Email,
            Field::Phone,
            Field::OrganisationName,
            Field::Street,
            Field::HouseNumber,
            Field::Postcode,
            Field::City,
        ] {
            assert!(contact.contains(&field), "{field}");
        }
    }

    #[test]
    fn bad_comparison_lists_name_the_entry_and_what_is_accepted() {
        let spec = |field, comparator| ComparisonSpec::new(field, comparator, false);
        let cases: &[(&[ComparisonSpec], &str, &str)] = &[
            (
                &[spec(Field::IndustryCode, C::Exact)],
                "comparisons[0].field",
                "comparable fields: legal_name",
            ),
            (
                &[spec(Field::City, C::City), spec(Field::Street, C::Date)],
                "comparisons[1].comparator",
                "compares only birth_date",
            ),
            (
                &[spec(Field::City, C::City), spec(Field::City, C::Text)],
                "comparisons[1].field",
                "compared twice",
            ),
            (
                &[ComparisonSpec {
                    close: Some(1.5),
                    ..spec(Field::City, C::City)
                }],
                "comparisons[0].close",
                "between 0 and 1",
            ),
            (
                &[ComparisonSpec {
                    term_frequency: true,
                    ..spec(Field::Phone, C::Phone)
                }],
                "comparisons[0].term_frequency",
                "only on legal_name, city",
            ),
        ];
        for (specs, key, problem) in cases {
            let e = validate(EntityKind::Organisation, specs).unwrap_err();
            assert_eq!(e.key, *key);
            assert!(e.problem.contains(problem), "{e}");
        }
    }

    #[test]
    fn an_unknown_comparator_lists_the_known_ones() {
        let e = toml::from_str::<ComparisonSpec>("field = \"city\"\ncomparator = \"soundex\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`soundex` is not one of: exact,"), "{e}");
    }

    #[test]
    fn a_mapped_field_nothing_compares_or_blocks_on_is_reported() {
        let specs = [ComparisonSpec::new(Field::LastName, C::PersonName, false)];
        let unused = unused_fields(
            [
                Field::LastName,
                Field::Street,
                Field::Postcode,
                Field::Role,
                Field::IndustryCode,
            ],
            &specs,
            &[Field::Postcode],
        );
        assert_eq!(unused, [Field::Street]);
    }
}
