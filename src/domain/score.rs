//! Fellegi–Sunter scoring of a CRM record against one register candidate.
//!
//! Each compared field falls into a level (exact, close, far, missing). A level adds
//! `log2(m / u)` bits of evidence, where `m` is how often true matches show that level and
//! `u` how often non-matches do; a missing value adds nothing. An exact agreement on a rare
//! value (name, city, last name) counts more than one on a common value (term frequency).
//! The prior odds plus the bits give a probability. Every score comes with the per-field
//! breakdown that produced it.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::model::{EntityKind, Field, Record};
use super::normalise::{
    canonical_legal_form, compact_id, compact_vat, comparable_city, comparable_email,
    comparable_house_number, comparable_person_name, comparable_postcode, comparable_street,
    country_code, e164, fold_text, is_plausible_vat, is_valid_lei, koelner_phonetik, loose,
    name_core, normalise_court, parse_register, split_house_number, split_legal_form,
    split_person_name, website_host,
};
use super::policy::DEFAULT_PLACEHOLDERS;

/// How closely one field agrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Exact,
    Close,
    Far,
    Missing,
}

impl Level {
    /// The grade letter stewards read: A exact, B close, C far, - missing.
    pub fn grade(self) -> char {
        match self {
            Level::Exact => 'A',
            Level::Close => 'B',
            Level::Far => 'C',
            Level::Missing => '-',
        }
    }

    /// Index into the m and u arrays; `None` for missing, which carries no evidence.
    pub(crate) fn index(self) -> Option<usize> {
        match self {
            Level::Exact => Some(0),
            Level::Close => Some(1),
            Level::Far => Some(2),
            Level::Missing => None,
        }
    }
}

/// One field of the explanation: both compared values, how they compare, what they added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub field: Field,
    /// The values in the form they were compared in (normalised).
    pub crm: Option<String>,
    pub register: Option<String>,
    pub level: Level,
    /// String similarity in [0, 1] where the comparison used one.
    pub similarity: Option<f64>,
    /// Evidence in bits (log2 of the Bayes factor): positive for, negative against.
    pub contribution: f64,
}

/// How a candidate was found to be the same entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// An identifier (LEI, VAT id, register number, e-mail) agrees.
    Identifier,
    /// Name, address and contact details.
    Similarity,
}

/// A register candidate with its match probability, its total weight and the explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub register_id: String,
    /// Match probability in [0, 1]; bands and thresholds apply to it.
    pub score: f64,
    /// Total match weight in bits: prior log-odds plus every field's contribution.
    pub weight: f64,
    pub method: Method,
    pub comparisons: Vec<Comparison>,
}

impl Scored {
    /// A short grade string, e.g. `name=A street=B postcode=A city=A lei=-`.
    pub fn grade(&self) -> String {
        self.comparisons
            .iter()
            .map(|c| format!("{}={}", short_name(c.field), c.level.grade()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn short_name(field: Field) -> &'static str {
    match field {
        Field::LegalName => "name",
        Field::LegalForm => "form",
        Field::RegisterNumber => "register",
        Field::HouseNumber => "house",
        Field::FirstName => "first",
        Field::LastName => "last",
        other => other.as_str(),
    }
}

/// The string-similarity kernel (Jaro–Winkler, rapidfuzz: 3.5x faster than strsim with the
/// same results, see `cargo bench --bench matching -- --kernels`). Normalised values are
/// mostly ASCII, where comparing bytes saves decoding.
pub fn similarity(a: &str, b: &str) -> f64 {
    use rapidfuzz::distance::jaro_winkler;
    if a.is_ascii() && b.is_ascii() {
        jaro_winkler::similarity(a.bytes(), b.bytes())
    } else {
        jaro_winkler::similarity(a.chars(), b.chars())
    }
}

/// How one field is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparator {
    /// Exact or far (identifiers, phone, website, e-mail, salutation).
    Exact,
    /// Organisation name cores: close by similarity or by one name containing the other.
    OrgName,
    /// Close when the canonical forms belong to one family (GmbH and mbH, KG and GmbH & Co. KG).
    LegalForm,
    /// Close by string similarity at or above the threshold.
    Fuzzy(f64),
    /// `12` and `12a`, or `12` within `10-14`, are close.
    HouseNumber,
    /// Close when the first three characters agree (same delivery area).
    Postcode,
    /// Close by similarity or when one city is the other plus a district (`Frankfurt am Main`).
    City,
    /// Number and court agree: exact; number agrees but the courts differ: close.
    Register,
    /// Person names: close by similarity, sound (Kölner Phonetik), initial, or a part of a
    /// double name.
    Person,
}

/// One compared field: where it sits in [`Prepared`], how it is compared, and whether an
/// exact agreement is weighed by its term frequency.
#[derive(Debug, Clone, Copy)]
struct FieldSpec {
    field: Field,
    slot: usize,
    comparator: Comparator,
    term_frequency: bool,
    /// Default m and u per level (exact, close, far), used until EM or config says otherwise.
    m: [f64; 3],
    u: [f64; 3],
}

const fn spec(
    field: Field,
    slot: usize,
    comparator: Comparator,
    term_frequency: bool,
    m: [f64; 3],
    u: [f64; 3],
) -> FieldSpec {
    FieldSpec {
        field,
        slot,
        comparator,
        term_frequency,
        m,
        u,
    }
}

/// Slots of a prepared organisation.
mod org {
    pub const NAME: usize = 0;
    pub const FORM: usize = 1;
    pub const STREET: usize = 2;
    pub const HOUSE: usize = 3;
    pub const POSTCODE: usize = 4;
    pub const CITY: usize = 5;
    pub const LEI: usize = 6;
    pub const VAT: usize = 7;
    pub const REGISTER: usize = 8;
    pub const COURT: usize = 9;
    pub const PHONE: usize = 10;
    pub const WEBSITE: usize = 11;
    pub const EMAIL: usize = 12;
}

/// Slots of a prepared contact.
mod person {
    pub const FIRST: usize = 0;
    pub const LAST: usize = 1;
    pub const EMAIL: usize = 2;
    pub const PHONE: usize = 3;
    pub const SALUTATION: usize = 4;
    pub const TITLE: usize = 5;
    pub const FIRST_SOUND: usize = 6;
    pub const LAST_SOUND: usize = 7;
    pub const ORGANISATION: usize = 8;
}

const SLOTS: usize = 13;

const ORGANISATION_FIELDS: &[FieldSpec] = &[
    spec(
        Field::LegalName,
        org::NAME,
        Comparator::OrgName,
        true,
        [0.81, 0.185, 0.005],
        [0.02, 0.05, 0.93],
    ),
    spec(
        Field::LegalForm,
        org::FORM,
        Comparator::LegalForm,
        false,
        [0.88, 0.07, 0.05],
        [0.35, 0.15, 0.50],
    ),
    spec(
        Field::Street,
        org::STREET,
        Comparator::Fuzzy(0.9),
        false,
        [0.82, 0.08, 0.10],
        [0.08, 0.04, 0.88],
    ),
    spec(
        Field::HouseNumber,
        org::HOUSE,
        Comparator::HouseNumber,
        false,
        [0.82, 0.06, 0.12],
        [0.06, 0.04, 0.90],
    ),
    spec(
        Field::Postcode,
        org::POSTCODE,
        Comparator::Postcode,
        false,
        [0.88, 0.06, 0.06],
        [0.25, 0.25, 0.50],
    ),
    spec(
        Field::City,
        org::CITY,
        Comparator::City,
        true,
        [0.90, 0.05, 0.05],
        [0.40, 0.10, 0.50],
    ),
    spec(
        Field::Lei,
        org::LEI,
        Comparator::Exact,
        false,
        [0.99, 0.0, 0.01],
        [0.001, 0.0, 0.999],
    ),
    spec(
        Field::VatId,
        org::VAT,
        Comparator::Exact,
        false,
        [0.98, 0.0, 0.02],
        [0.001, 0.0, 0.999],
    ),
    spec(
        Field::RegisterNumber,
        org::REGISTER,
        Comparator::Register,
        false,
        [0.93, 0.04, 0.03],
        [0.002, 0.01, 0.988],
    ),
    spec(
        Field::Phone,
        org::PHONE,
        Comparator::Exact,
        false,
        [0.80, 0.0, 0.20],
        [0.01, 0.0, 0.99],
    ),
    spec(
        Field::Website,
        org::WEBSITE,
        Comparator::Exact,
        false,
        [0.85, 0.0, 0.15],
        [0.01, 0.0, 0.99],
    ),
    spec(
        Field::Email,
        org::EMAIL,
        Comparator::Exact,
        false,
        [0.80, 0.0, 0.20],
        [0.01, 0.0, 0.99],
    ),
];

const CONTACT_FIELDS: &[FieldSpec] = &[
    spec(
        Field::FirstName,
        person::FIRST,
        Comparator::Person,
        false,
        [0.85, 0.11, 0.04],
        [0.05, 0.08, 0.87],
    ),
    spec(
        Field::LastName,
        person::LAST,
        Comparator::Person,
        true,
        [0.88, 0.10, 0.02],
        [0.05, 0.05, 0.90],
    ),
    // The same local part at another domain is a namesake at another firm, not a close match.
    spec(
        Field::Email,
        person::EMAIL,
        Comparator::Exact,
        false,
        [0.85, 0.0, 0.15],
        [0.0002, 0.0, 0.9998],
    ),
    spec(
        Field::Phone,
        person::PHONE,
        Comparator::Exact,
        false,
        [0.75, 0.0, 0.25],
        [0.01, 0.0, 0.99],
    ),
    // Namesakes rarely work at the same firm; a person who moved on is still likely the same.
    spec(
        Field::OrganisationName,
        person::ORGANISATION,
        Comparator::OrgName,
        true,
        [0.80, 0.12, 0.08],
        [0.002, 0.008, 0.99],
    ),
    spec(
        Field::Salutation,
        person::SALUTATION,
        Comparator::Exact,
        false,
        [0.95, 0.0, 0.05],
        [0.50, 0.0, 0.50],
    ),
    spec(
        Field::Title,
        person::TITLE,
        Comparator::Exact,
        false,
        [0.85, 0.0, 0.15],
        [0.30, 0.0, 0.70],
    ),
];

fn field_specs(kind: EntityKind) -> &'static [FieldSpec] {
    match kind {
        EntityKind::Organisation => ORGANISATION_FIELDS,
        EntityKind::Contact => CONTACT_FIELDS,
    }
}

/// The fields compared for `kind`, in explanation order.
pub fn compared_fields(kind: EntityKind) -> impl Iterator<Item = Field> {
    field_specs(kind).iter().map(|s| s.field)
}

fn is_identifier(field: Field) -> bool {
    matches!(
        field,
        Field::Lei | Field::VatId | Field::RegisterNumber | Field::Email
    )
}

/// A record normalised once for matching: every compared value in its comparable form,
/// packed into one string so that a million of them stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub id: Box<str>,
    text: Box<str>,
    ends: [u32; SLOTS],
}

/// `f` or `m` for a folded salutation (`frau`, `herr`, `mrs`, …): what salutations compare by.
fn salutation_gender(folded: &str) -> Option<String> {
    match folded {
        "frau" | "fr" | "mrs" | "ms" | "miss" => Some("f".to_string()),
        "herr" | "herrn" | "hr" | "mr" => Some("m".to_string()),
        _ => None,
    }
}

/// The default placeholders, folded once.
static PLACEHOLDERS: LazyLock<Vec<String>> =
    LazyLock::new(|| DEFAULT_PLACEHOLDERS.iter().map(|p| fold_text(p)).collect());

fn is_placeholder(raw: &str) -> bool {
    // No placeholder is longer than this; most values are, and skip the folding.
    if raw.len() > 16 {
        return false;
    }
    let folded = fold_text(raw);
    folded.is_empty() || PLACEHOLDERS.contains(&folded)
}

impl Prepared {
    pub fn new(kind: EntityKind, record: &Record) -> Prepared {
        Prepared::from_fields(kind, &record.id, |f| record.get(f))
    }

    /// Prepares a record given as a lookup of trimmed, non-empty values by field, so that a
    /// file reader need not build a [`Record`] for every row.
    pub fn from_fields<'a>(
        kind: EntityKind,
        id: &str,
        value: impl Fn(Field) -> Option<&'a str>,
    ) -> Prepared {
        let get = |f: Field| value(f).filter(|v| !is_placeholder(v));
        let mut slots: [Option<String>; SLOTS] = Default::default();
        match kind {
            EntityKind::Organisation => {
                if let Some(name) = get(Field::LegalName) {
                    slots[org::NAME] = Some(name_core(name));
                    slots[org::FORM] = split_legal_form(name).1.map(str::to_string);
                }
                if let Some(form) = get(Field::LegalForm).and_then(canonical_legal_form) {
                    slots[org::FORM] = Some(form.to_string());
                }
                if let Some(street) = get(Field::Street) {
                    let (name, number) = split_house_number(street);
                    slots[org::STREET] = Some(comparable_street(&name));
                    slots[org::HOUSE] = number;
                }
                if let Some(number) = get(Field::HouseNumber) {
                    slots[org::HOUSE] = Some(comparable_house_number(number));
                }
                let country = get(Field::Country).and_then(country_code);
                slots[org::POSTCODE] =
                    get(Field::Postcode).map(|p| comparable_postcode(p, country));
                slots[org::CITY] = get(Field::City).map(comparable_city);
                slots[org::LEI] = get(Field::Lei).filter(|l| is_valid_lei(l)).map(compact_id);
                slots[org::VAT] = get(Field::VatId)
                    .filter(|v| is_plausible_vat(v))
                    .map(compact_vat);
                if let Some(entry) = get(Field::RegisterNumber).and_then(parse_register) {
                    slots[org::REGISTER] = Some(entry.number);
                    slots[org::COURT] = entry.court;
                }
                if let Some(court) = get(Field::RegisterCourt) {
                    slots[org::COURT] = Some(normalise_court(court));
                }
                slots[org::PHONE] = get(Field::Phone).and_then(|p| e164(p, "49"));
                slots[org::WEBSITE] = get(Field::Website).map(website_host);
                slots[org::EMAIL] = get(Field::Email)
                    .map(comparable_email)
                    .filter(|e| e.contains('@'));
            }
            EntityKind::Contact => {
                slots[person::FIRST] = get(Field::FirstName).map(comparable_person_name);
                slots[person::LAST] = get(Field::LastName).map(comparable_person_name);
                // A CRM that keeps the whole name in one field (`Dr. Anna Schmidt`,
                // `Schmidt, Anna`): split it into its parts.
                let whole = match (get(Field::FirstName), get(Field::LastName)) {
                    (None, Some(name)) | (Some(name), None) if name.contains([' ', ',']) => {
                        Some(split_person_name(name))
                    }
                    _ => None,
                };
                if let Some(parts) = &whole {
                    slots[person::FIRST] = Some(loose(&parts.first)).filter(|f| !f.is_empty());
                    slots[person::LAST] = Some(loose(&parts.last)).filter(|l| !l.is_empty());
                }
                slots[person::EMAIL] = get(Field::Email)
                    .map(comparable_email)
                    .filter(|e| e.contains('@'));
                slots[person::PHONE] = get(Field::Phone).and_then(|p| e164(p, "49"));
                slots[person::SALUTATION] = get(Field::Salutation)
                    .map(fold_text)
                    .or_else(|| whole.as_ref().and_then(|p| p.salutation.clone()))
                    .and_then(|s| salutation_gender(&s));
                slots[person::TITLE] = get(Field::Title)
                    .map(fold_text)
                    .or_else(|| whole.as_ref().and_then(|p| p.title.clone()));
                slots[person::ORGANISATION] = get(Field::OrganisationName).map(name_core);
                slots[person::FIRST_SOUND] = slots[person::FIRST].as_deref().map(koelner_phonetik);
                slots[person::LAST_SOUND] = slots[person::LAST].as_deref().map(koelner_phonetik);
            }
        }
        let mut text = String::new();
        let mut ends = [0u32; SLOTS];
        for (i, slot) in slots.iter().enumerate() {
            if let Some(v) = slot {
                text.push_str(v);
            }
            ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Prepared {
            id: id.into(),
            text: text.into_boxed_str(),
            ends,
        }
    }

    /// The comparable value in `slot`, or `None` when the record has none.
    pub fn get(&self, slot: usize) -> Option<&str> {
        let end = *self.ends.get(slot)? as usize;
        let start = if slot == 0 {
            0
        } else {
            self.ends[slot - 1] as usize
        };
        self.text.get(start..end).filter(|v| !v.is_empty())
    }

    pub fn name(&self) -> Option<&str> {
        self.get(org::NAME)
    }

    pub fn postcode(&self) -> Option<&str> {
        self.get(org::POSTCODE)
    }

    pub fn city(&self) -> Option<&str> {
        self.get(org::CITY)
    }

    pub fn street(&self) -> Option<&str> {
        self.get(org::STREET)
    }

    pub fn house_number(&self) -> Option<&str> {
        self.get(org::HOUSE)
    }

    pub fn first_name(&self) -> Option<&str> {
        self.get(person::FIRST)
    }

    pub fn last_name(&self) -> Option<&str> {
        self.get(person::LAST)
    }

    pub fn last_name_sound(&self) -> Option<&str> {
        self.get(person::LAST_SOUND)
    }

    /// The value of a compared field (see [`compared_fields`]) in its comparable form.
    pub fn value(&self, kind: EntityKind, field: Field) -> Option<&str> {
        field_specs(kind)
            .iter()
            .find(|s| s.field == field)
            .and_then(|s| self.get(s.slot))
    }
}

/// The levels of one pair, one per compared field (see [`compared_fields`]).
pub type Gamma = [Level; 12];

fn compare_field(spec: &FieldSpec, a: &Prepared, b: &Prepared) -> (Level, Option<f64>) {
    let (Some(x), Some(y)) = (a.get(spec.slot), b.get(spec.slot)) else {
        return (Level::Missing, None);
    };
    // A house number means something only in the same street: in another street it is
    // no evidence either way (else a move would be counted twice).
    if spec.comparator == Comparator::HouseNumber {
        let streets = (a.get(org::STREET), b.get(org::STREET));
        if let (Some(s), Some(t)) = streets {
            if s != t && similarity(s, t) < 0.9 {
                return (Level::Missing, None);
            }
        }
    }
    if x == y {
        let level = match spec.comparator {
            // The same number at different courts is a different company, usually.
            Comparator::Register => match (a.get(org::COURT), b.get(org::COURT)) {
                (Some(c), Some(d)) if c != d => Level::Close,
                _ => Level::Exact,
            },
            _ => Level::Exact,
        };
        return (level, None);
    }
    let far = (Level::Far, None);
    match spec.comparator {
        Comparator::Exact | Comparator::Register => far,
        Comparator::OrgName => {
            let s = similarity(x, y);
            let close = s >= 0.9 || contains_tokens(x, y) || contains_tokens(y, x);
            (if close { Level::Close } else { Level::Far }, Some(s))
        }
        Comparator::LegalForm => {
            let family = |f: &str| match f {
                "GmbH" | "mbH" | "UG (haftungsbeschränkt)" => "gmbh",
                "KG"
                | "GmbH & Co. KG"
                | "AG & Co. KG"
                | "SE & Co. KG"
                | "UG (haftungsbeschränkt) & Co. KG" => "kg",
                "AG" | "SE" | "KGaA" | "GmbH & Co. KGaA" => "ag",
                "PartG" | "PartG mbB" => "partg",
                _ => "",
            };
            if !family(x).is_empty() && family(x) == family(y) {
                (Level::Close, None)
            } else {
                far
            }
        }
        Comparator::Fuzzy(min) => {
            let s = similarity(x, y);
            (if s >= min { Level::Close } else { Level::Far }, Some(s))
        }
        Comparator::HouseNumber => {
            let lead = |h: &str| -> Option<u32> {
                h.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
            };
            let range = |h: &str| -> Option<(u32, u32)> {
                let (from, to) = h.split_once('-')?;
                Some((from.parse().ok()?, lead(to)?))
            };
            let close = match (lead(x), lead(y)) {
                (Some(p), Some(q)) if p == q => true,
                (Some(p), Some(q)) => {
                    range(x).is_some_and(|(f, t)| (f..=t).contains(&q))
                        || range(y).is_some_and(|(f, t)| (f..=t).contains(&p))
                }
                _ => false,
            };
            (if close { Level::Close } else { Level::Far }, None)
        }
        Comparator::Postcode => {
            let close = x.len() >= 3 && y.len() >= 3 && x.get(..3) == y.get(..3);
            (if close { Level::Close } else { Level::Far }, None)
        }
        Comparator::City => {
            let s = similarity(x, y);
            let first = |c: &str| c.split(' ').next().unwrap_or_default().to_string();
            let close = s >= 0.92 || first(x) == first(y);
            (if close { Level::Close } else { Level::Far }, Some(s))
        }
        Comparator::Person => {
            let s = similarity(x, y);
            let slot = if spec.slot == person::FIRST {
                person::FIRST_SOUND
            } else {
                person::LAST_SOUND
            };
            let same_sound = matches!((a.get(slot), b.get(slot)), (Some(p), Some(q)) if p == q);
            // `A.` for `Anna`; one part of a double name (`Müller` in `Müller Lüdenscheidt`).
            let initial = (x.len() == 1 && y.starts_with(x)) || (y.len() == 1 && x.starts_with(y));
            let part = contains_tokens(x, y) || contains_tokens(y, x);
            let close = s >= 0.9 || same_sound || initial || part;
            (if close { Level::Close } else { Level::Far }, Some(s))
        }
    }
}

/// Whether every blank-separated token of `inner` occurs in `outer`.
fn contains_tokens(outer: &str, inner: &str) -> bool {
    !inner.is_empty() && inner.split(' ').all(|t| outer.split(' ').any(|o| o == t))
}

/// The comparison levels of a pair, for EM and for scoring.
pub fn gamma(kind: EntityKind, a: &Prepared, b: &Prepared) -> Gamma {
    let mut g = [Level::Missing; 12];
    for (i, spec) in field_specs(kind).iter().enumerate() {
        g[i] = compare_field(spec, a, b).0;
    }
    g
}

/// m and u of one compared field, per level (exact, close, far).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldParams {
    pub m: [f64; 3],
    pub u: [f64; 3],
}

/// Probabilities never reach 0 or 1: a level seen once more must not mean infinite evidence.
pub const PROBABILITY_FLOOR: f64 = 1e-5;

impl FieldParams {
    /// Evidence in bits of `level`; missing carries none.
    pub fn weight(&self, level: Level) -> f64 {
        match level.index() {
            Some(i) => (self.m[i].max(PROBABILITY_FLOOR) / self.u[i].max(PROBABILITY_FLOOR)).log2(),
            None => 0.0,
        }
    }
}

/// The Fellegi–Sunter parameters for one entity kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub kind: EntityKind,
    /// Share of candidate pairs that are true matches (the prior).
    pub lambda: f64,
    /// Per compared field, in [`compared_fields`] order.
    pub fields: Vec<(Field, FieldParams)>,
    /// Fields whose m and u are pinned (by config): EM leaves them alone.
    pub pinned: Vec<Field>,
}

impl Model {
    /// The built-in starting point: plausible m and u for German CRM data.
    pub fn default_for(kind: EntityKind) -> Model {
        Model {
            kind,
            lambda: 0.05,
            fields: field_specs(kind)
                .iter()
                .map(|s| (s.field, FieldParams { m: s.m, u: s.u }))
                .collect(),
            pinned: Vec::new(),
        }
    }

    /// Sets and pins one field's parameters; unknown fields are refused with the known ones.
    pub fn pin(&mut self, field: Field, params: FieldParams) -> Result<(), String> {
        let Some(slot) = self.fields.iter_mut().find(|(f, _)| *f == field) else {
            let known: Vec<&str> = compared_fields(self.kind).map(Field::as_str).collect();
            return Err(format!(
                "`{field}` is not compared for {}s; compared fields: {}",
                self.kind,
                known.join(", ")
            ));
        };
        slot.1 = params;
        if !self.pinned.contains(&field) {
            self.pinned.push(field);
        }
        Ok(())
    }

    pub fn params(&self, field: Field) -> Option<&FieldParams> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, p)| p)
    }

    /// Prior log-odds in bits.
    pub fn prior_weight(&self) -> f64 {
        let l = self
            .lambda
            .clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR);
        (l / (1.0 - l)).log2()
    }
}

/// How often each comparable value occurs in the register, for the fields weighed by
/// term frequency. Values are kept as 64-bit hashes: a million names stay small.
#[derive(Debug, Clone, Default)]
pub struct TermFrequencies {
    counts: HashMap<(Field, u64), u32>,
    /// Per field: number of values seen and the chance that two random values agree.
    totals: HashMap<Field, (u64, f64)>,
}

/// FNV-1a: a stable, fast 64-bit hash for blocking keys and term frequencies.
pub fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl TermFrequencies {
    /// Counts the values of `records` (the register).
    pub fn build<'a>(
        kind: EntityKind,
        records: impl IntoIterator<Item = &'a Prepared>,
    ) -> TermFrequencies {
        let mut tf = TermFrequencies::default();
        let specs: Vec<&FieldSpec> = field_specs(kind)
            .iter()
            .filter(|s| s.term_frequency)
            .collect();
        for r in records {
            for s in &specs {
                if let Some(v) = r.get(s.slot) {
                    *tf.counts
                        .entry((s.field, hash64(&[v.as_bytes()])))
                        .or_insert(0) += 1;
                    tf.totals.entry(s.field).or_insert((0, 0.0)).0 += 1;
                }
            }
        }
        let mut sums: HashMap<Field, f64> = HashMap::new();
        for ((field, _), count) in &tf.counts {
            let n = tf.totals.get(field).map_or(1, |t| t.0.max(1)) as f64;
            *sums.entry(*field).or_insert(0.0) += (f64::from(*count) / n).powi(2);
        }
        for (field, sum) in sums {
            if let Some(t) = tf.totals.get_mut(&field) {
                t.1 = sum;
            }
        }
        tf
    }

    /// u of an exact agreement on `value`, given `u` for the field's average value: scaled
    /// by how much likelier than average two random records agree on this one (less for a
    /// rare value, more for a common one), and never below the probability floor, or one in
    /// the register's count of values where that is lower (in a register of millions a value
    /// held once is rarer than the floor). `None` when the field was not counted.
    pub fn exact_u(&self, field: Field, value: &str, u: f64) -> Option<f64> {
        let &(n, mean) = self.totals.get(&field)?;
        if n == 0 || mean <= 0.0 {
            return None;
        }
        let count = self
            .counts
            .get(&(field, hash64(&[value.as_bytes()])))
            .copied()
            .unwrap_or(1);
        let n = n as f64;
        Some((u * f64::from(count.max(1)) / n / mean).max(PROBABILITY_FLOOR.min(1.0 / n)))
    }
}

/// Scores pairs with a model and, optionally, the register's term frequencies.
#[derive(Debug, Clone)]
pub struct Scorer {
    pub model: Model,
    pub term_frequencies: Option<std::sync::Arc<TermFrequencies>>,
}

impl Scorer {
    pub fn new(model: Model) -> Scorer {
        Scorer {
            model,
            term_frequencies: None,
        }
    }

    pub fn kind(&self) -> EntityKind {
        self.model.kind
    }

    /// Probability from a total weight in bits.
    pub fn probability(weight: f64) -> f64 {
        1.0 / (1.0 + (-weight).exp2())
    }

    /// The total weight of a pair without building the explanation (the fast path).
    pub fn weight(&self, crm: &Prepared, candidate: &Prepared) -> f64 {
        let mut w = self.model.prior_weight();
        for (spec, (_, params)) in field_specs(self.kind()).iter().zip(&self.model.fields) {
            let (level, _) = compare_field(spec, crm, candidate);
            w += self.contribution(spec, params, level, crm);
        }
        w
    }

    fn contribution(
        &self,
        spec: &FieldSpec,
        params: &FieldParams,
        level: Level,
        crm: &Prepared,
    ) -> f64 {
        // An exact agreement weighs by how often the register holds that very value (see
        // `exact_u`): a name held once in a million says more than one held once in ten
        // thousand, beyond the floor that bounds the other levels.
        let exact_u = match (&self.term_frequencies, level, crm.get(spec.slot)) {
            (Some(tf), Level::Exact, Some(v)) if spec.term_frequency => {
                tf.exact_u(spec.field, v, params.u[0])
            }
            _ => None,
        };
        match exact_u {
            Some(u) => (params.m[0].max(PROBABILITY_FLOOR) / u).log2(),
            None => params.weight(level),
        }
    }

    /// Scores `candidate` for `crm` with the full explanation.
    pub fn score(&self, crm: &Prepared, candidate: &Prepared) -> Scored {
        let mut weight = self.model.prior_weight();
        let mut comparisons = Vec::with_capacity(self.model.fields.len());
        let mut method = Method::Similarity;
        for (spec, (_, params)) in field_specs(self.kind()).iter().zip(&self.model.fields) {
            let (level, sim) = compare_field(spec, crm, candidate);
            let contribution = self.contribution(spec, params, level, crm);
            weight += contribution;
            if level == Level::Exact && is_identifier(spec.field) {
                method = Method::Identifier;
            }
            comparisons.push(Comparison {
                field: spec.field,
                crm: crm.get(spec.slot).map(str::to_string),
                register: candidate.get(spec.slot).map(str::to_string),
                level,
                similarity: sim,
                contribution,
            });
        }
        Scored {
            register_id: candidate.id.to_string(),
            score: Scorer::probability(weight),
            weight,
            method,
            comparisons,
        }
    }
}

#[cfg(test)]
mod tests;
