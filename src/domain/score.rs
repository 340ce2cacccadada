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

use super::comparison::{
    default_comparisons, term_frequency_fields, Comparator, ComparisonSpec, Group, MAX_COMPARISONS,
};
use super::model::{EntityKind, Field, Record};
use super::normalise::{
    canonical_legal_form, compact_id, compact_vat, comparable_city, comparable_email,
    comparable_house_number, comparable_person_name, comparable_postcode, comparable_street,
    country_code, e164, fold_text, is_plausible_vat, is_valid_lei, koelner_phonetik, loose,
    name_core, normalise_court, parse_birth_date, parse_register, split_house_number,
    split_legal_form, split_person_name, website_host,
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

pub fn short_name(field: Field) -> &'static str {
    match field {
        Field::LegalName => "name",
        Field::LegalForm => "form",
        Field::RegisterNumber => "register",
        Field::HouseNumber => "house",
        Field::FirstName => "first",
        Field::LastName => "last",
        Field::BirthDate => "born",
        Field::OrganisationName => "organisation",
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

/// Where each comparable value sits in a [`Prepared`] record.
pub mod slot {
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
    pub const FIRST: usize = 13;
    pub const LAST: usize = 14;
    pub const SALUTATION: usize = 15;
    pub const TITLE: usize = 16;
    pub const FIRST_SOUND: usize = 17;
    pub const LAST_SOUND: usize = 18;
    pub const ORGANISATION: usize = 19;
    pub const BIRTH_DATE: usize = 20;
    pub const COUNT: usize = 21;
}

/// The slot holding the comparable form of `field`, for the fields a comparison can read.
pub fn slot_of(field: Field) -> Option<usize> {
    Some(match field {
        Field::LegalName => slot::NAME,
        Field::LegalForm => slot::FORM,
        Field::Street => slot::STREET,
        Field::HouseNumber => slot::HOUSE,
        Field::Postcode => slot::POSTCODE,
        Field::City => slot::CITY,
        Field::Lei => slot::LEI,
        Field::VatId => slot::VAT,
        Field::RegisterNumber => slot::REGISTER,
        Field::RegisterCourt => slot::COURT,
        Field::Phone => slot::PHONE,
        Field::Website => slot::WEBSITE,
        Field::Email => slot::EMAIL,
        Field::FirstName => slot::FIRST,
        Field::LastName => slot::LAST,
        Field::Salutation => slot::SALUTATION,
        Field::Title => slot::TITLE,
        Field::OrganisationName => slot::ORGANISATION,
        Field::BirthDate => slot::BIRTH_DATE,
        _ => return None,
    })
}

/// A record normalised once for matching: every comparable value in its comparable form,
/// packed into one string so that a million of them stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub id: Box<str>,
    text: Box<str>,
    ends: [u32; slot::COUNT],
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
    /// file reader need not build a [`Record`] for every row. Every comparable field the
    /// record has is prepared, whatever its kind: the comparison model picks what it uses.
    pub fn from_fields<'a>(
        kind: EntityKind,
        id: &str,
        value: impl Fn(Field) -> Option<&'a str>,
    ) -> Prepared {
        let get = |f: Field| value(f).filter(|v| !is_placeholder(v));
        let mut slots: [Option<String>; slot::COUNT] = Default::default();
        if let Some(name) = get(Field::LegalName) {
            slots[slot::NAME] = Some(name_core(name));
            slots[slot::FORM] = split_legal_form(name).1.map(str::to_string);
        }
        if let Some(form) = get(Field::LegalForm).and_then(canonical_legal_form) {
            slots[slot::FORM] = Some(form.to_string());
        }
        if let Some(street) = get(Field::Street) {
            let (name, number) = split_house_number(street);
            slots[slot::STREET] = Some(comparable_street(&name)).filter(|s| !s.is_empty());
            slots[slot::HOUSE] = number;
        }
        if let Some(number) = get(Field::HouseNumber) {
            slots[slot::HOUSE] = Some(comparable_house_number(number)).filter(|h| !h.is_empty());
        }
        let country = get(Field::Country).and_then(country_code);
        slots[slot::POSTCODE] = get(Field::Postcode).map(|p| comparable_postcode(p, country));
        slots[slot::CITY] = get(Field::City).map(comparable_city);
        slots[slot::LEI] = get(Field::Lei).filter(|l| is_valid_lei(l)).map(compact_id);
        slots[slot::VAT] = get(Field::VatId)
            .filter(|v| is_plausible_vat(v))
            .map(compact_vat);
        if let Some(entry) = get(Field::RegisterNumber).and_then(parse_register) {
            slots[slot::REGISTER] = Some(entry.number);
            slots[slot::COURT] = entry.court;
        }
        if let Some(court) = get(Field::RegisterCourt) {
            slots[slot::COURT] = Some(normalise_court(court));
        }
        slots[slot::PHONE] = get(Field::Phone).and_then(|p| e164(p, "49"));
        slots[slot::WEBSITE] = get(Field::Website).map(website_host);
        slots[slot::EMAIL] = get(Field::Email)
            .map(comparable_email)
            .filter(|e| e.contains('@'));
        slots[slot::ORGANISATION] = get(Field::OrganisationName).map(name_core);
        // An unparseable date is no date: compared as missing, never guessed.
        slots[slot::BIRTH_DATE] = get(Field::BirthDate).and_then(parse_birth_date);
        if kind == EntityKind::Contact {
            slots[slot::FIRST] = get(Field::FirstName).map(comparable_person_name);
            slots[slot::LAST] = get(Field::LastName).map(comparable_person_name);
            // A CRM that keeps the whole name in one field (`Dr. Anna Schmidt`,
            // `Schmidt, Anna`): split it into its parts.
            let whole = match (get(Field::FirstName), get(Field::LastName)) {
                (None, Some(name)) | (Some(name), None) if name.contains([' ', ',']) => {
                    Some(split_person_name(name))
                }
                _ => None,
            };
            if let Some(parts) = &whole {
                slots[slot::FIRST] = Some(loose(&parts.first)).filter(|f| !f.is_empty());
                slots[slot::LAST] = Some(loose(&parts.last)).filter(|l| !l.is_empty());
            }
            slots[slot::SALUTATION] = get(Field::Salutation)
                .map(fold_text)
                .or_else(|| whole.as_ref().and_then(|p| p.salutation.clone()))
                .and_then(|s| salutation_gender(&s));
            slots[slot::TITLE] = get(Field::Title)
                .map(fold_text)
                .or_else(|| whole.as_ref().and_then(|p| p.title.clone()));
            slots[slot::FIRST_SOUND] = slots[slot::FIRST].as_deref().map(koelner_phonetik);
            slots[slot::LAST_SOUND] = slots[slot::LAST].as_deref().map(koelner_phonetik);
        }
        let mut text = String::new();
        let mut ends = [0u32; slot::COUNT];
        for (i, value) in slots.iter().enumerate() {
            if let Some(v) = value {
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

    /// Its comparable text and where each slot ends in it: what a
    /// [`super::packed::PackedPrepared`] keeps.
    pub fn parts(&self) -> (&str, &[u32; slot::COUNT]) {
        (&self.text, &self.ends)
    }

    /// A record prepared before, from its [`Prepared::parts`].
    pub fn from_parts(id: &str, text: &str, ends: [u32; slot::COUNT]) -> Prepared {
        Prepared {
            id: id.into(),
            text: text.into(),
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
        self.get(slot::NAME)
    }

    /// The comparable form of `field`, where refsync prepares that field for matching.
    pub fn value(&self, field: Field) -> Option<&str> {
        slot_of(field).and_then(|s| self.get(s))
    }
}

/// The levels of one pair, one per comparison of the model (the rest stay missing).
pub type Gamma = [Level; MAX_COMPARISONS];

fn level(close: bool) -> Level {
    if close {
        Level::Close
    } else {
        Level::Far
    }
}

/// Whether two equal-length strings differ in one character, or in two adjacent ones that
/// are swapped (a typing slip).
fn one_slip(x: &str, y: &str) -> bool {
    let (a, b) = (x.as_bytes(), y.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    match diff.as_slice() {
        [_] => true,
        [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
        _ => false,
    }
}

fn compare_field(spec: &ComparisonSpec, a: &Prepared, b: &Prepared) -> (Level, Option<f64>) {
    let Some(at) = slot_of(spec.field) else {
        return (Level::Missing, None);
    };
    let (Some(x), Some(y)) = (a.get(at), b.get(at)) else {
        return (Level::Missing, None);
    };
    // A house number means something only in the same street: in another street it is
    // no evidence either way (else a move would be counted twice).
    if spec.comparator == Comparator::HouseNumber {
        if let (Some(s), Some(t)) = (a.get(slot::STREET), b.get(slot::STREET)) {
            if s != t && similarity(s, t) < 0.9 {
                return (Level::Missing, None);
            }
        }
    }
    if x == y {
        let level = match spec.comparator {
            // The same number at different courts is a different company, usually.
            Comparator::Register => match (a.get(slot::COURT), b.get(slot::COURT)) {
                (Some(c), Some(d)) if c != d => Level::Close,
                _ => Level::Exact,
            },
            _ => Level::Exact,
        };
        return (level, None);
    }
    let far = (Level::Far, None);
    let close = spec.close();
    match spec.comparator {
        Comparator::Exact | Comparator::Register => far,
        Comparator::OrganisationName => {
            let s = similarity(x, y);
            let near = s >= close || contains_tokens(x, y) || contains_tokens(y, x);
            (level(near), Some(s))
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
            (level(!family(x).is_empty() && family(x) == family(y)), None)
        }
        Comparator::Text => {
            let s = similarity(x, y);
            (level(s >= close), Some(s))
        }
        Comparator::Street => {
            let s = similarity(x, y);
            let near = s >= close || contains_tokens(x, y) || contains_tokens(y, x);
            (level(near), Some(s))
        }
        Comparator::HouseNumber => {
            let lead = |h: &str| -> Option<u32> {
                h.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
            };
            let range = |h: &str| -> Option<(u32, u32)> {
                let (from, to) = h.split_once('-')?;
                Some((from.parse().ok()?, lead(to)?))
            };
            let near = match (lead(x), lead(y)) {
                (Some(p), Some(q)) if p == q => true,
                (Some(p), Some(q)) => {
                    range(x).is_some_and(|(f, t)| (f..=t).contains(&q))
                        || range(y).is_some_and(|(f, t)| (f..=t).contains(&p))
                }
                _ => false,
            };
            (level(near), None)
        }
        Comparator::Postcode => {
            let area = x.len() >= 3 && y.len() >= 3 && x.get(..3) == y.get(..3);
            (level(area || one_slip(x, y)), None)
        }
        Comparator::City => {
            let s = similarity(x, y);
            let first = |c: &str| c.split(' ').next().unwrap_or_default().to_string();
            (level(s >= close || first(x) == first(y)), Some(s))
        }
        Comparator::PersonName => {
            let (sound, other, other_sound) = if at == slot::FIRST {
                (slot::FIRST_SOUND, slot::LAST, slot::LAST_SOUND)
            } else {
                (slot::LAST_SOUND, slot::FIRST, slot::FIRST_SOUND)
            };
            let s = similarity(x, y);
            // Kölner Phonetik hears many names of other languages alike (`kyriacou` and
            // `george`, `green` and `caruana`): a shared sound counts only where the
            // spellings are not wholly apart as well (`Meier` / `Mayer` 0.76).
            let alike = |p: usize, q: usize, s: f64| {
                s >= SOUND_FLOOR && matches!((a.get(p), b.get(q)), (Some(p), Some(q)) if p == q)
            };
            // `A.` for `Anna`; one part of a double name (`Müller` in `Müller Lüdenscheidt`).
            let initial = (x.len() == 1 && y.starts_with(x)) || (y.len() == 1 && x.starts_with(y));
            let part = contains_tokens(x, y) || contains_tokens(y, x);
            // First and last name swapped (a form filled in the wrong order).
            let swapped = b.get(other).is_some_and(|o| {
                let t = similarity(x, o);
                o == x || t >= close || alike(sound, other_sound, t)
            });
            let near = s >= close || alike(sound, sound, s) || initial || part || swapped;
            (level(near), Some(s))
        }
        Comparator::Date => {
            // `YYYY-MM-DD`, or `YYYY` when only the year is known.
            let swapped = x.len() == 10
                && y.len() == 10
                && x[..4] == y[..4]
                && x[5..7] == y[8..10]
                && x[8..10] == y[5..7];
            let year_only = (x.len() == 4 || y.len() == 4) && x.get(..4) == y.get(..4);
            (level(swapped || year_only || one_slip(x, y)), None)
        }
        Comparator::Email => {
            let split = |e: &'_ str| -> Option<(String, String)> {
                let (local, domain) = e.rsplit_once('@')?;
                Some((local.to_string(), domain.to_string()))
            };
            match (split(x), split(y)) {
                (Some((l, d)), Some((m, e))) if d == e => {
                    let s = similarity(&l, &m);
                    (level(s >= close), Some(s))
                }
                _ => far,
            }
        }
        Comparator::Phone => (level(one_slip(x, y)), None),
    }
}

/// How alike two spellings must be (Jaro–Winkler) for a shared Kölner Phonetik code to
/// make two person names close.
const SOUND_FLOOR: f64 = 0.7;

/// Whether every blank-separated token of `inner` occurs in `outer`.
fn contains_tokens(outer: &str, inner: &str) -> bool {
    !inner.is_empty() && inner.split(' ').all(|t| outer.split(' ').any(|o| o == t))
}

/// The comparison levels of a pair under `model`, for EM and for scoring.
pub fn gamma(model: &Model, a: &Prepared, b: &Prepared) -> Gamma {
    let mut g = [Level::Missing; MAX_COMPARISONS];
    for (slot, spec) in g.iter_mut().zip(&model.comparisons) {
        *slot = compare_field(spec, a, b).0;
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

/// The Fellegi–Sunter model of one entity kind: the comparisons and their parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub kind: EntityKind,
    /// Share of candidate pairs that are true matches (the prior).
    pub lambda: f64,
    /// How many records the register holds, where EM knew (files): a group of dependent
    /// comparisons adds at most the bits that single out one of them.
    #[serde(default)]
    pub register_size: Option<u64>,
    /// Whether an address is its holder's own in the data EM learnt from (see
    /// [`super::sharing::SharedAddresses`]): each of its comparisons then counts. Where
    /// records at one address are often different people (families, colleagues, firms in
    /// one building) or nobody counted, the address adds at most what singles out one
    /// record ([`Model::group_cap`]).
    #[serde(default)]
    pub addresses_are_own: bool,
    /// What is compared, and how; `fields` holds the parameters in the same order.
    pub comparisons: Vec<ComparisonSpec>,
    /// Per compared field, in the order of `comparisons`.
    pub fields: Vec<(Field, FieldParams)>,
    /// Fields whose m and u are pinned (by config): EM leaves them alone.
    pub pinned: Vec<Field>,
}

impl Model {
    /// The built-in starting point: the kind's default comparisons with plausible m and u
    /// for German CRM data.
    pub fn default_for(kind: EntityKind) -> Model {
        Model::with_comparisons(kind, default_comparisons(kind).to_vec())
    }

    /// A model over `comparisons` (checked with [`super::comparison::validate`]), each starting
    /// from its built-in m and u.
    pub fn with_comparisons(kind: EntityKind, comparisons: Vec<ComparisonSpec>) -> Model {
        let fields = comparisons
            .iter()
            .map(|c| {
                let (m, u) = c.start(kind);
                (c.field, FieldParams { m, u })
            })
            .collect();
        Model {
            kind,
            lambda: 0.05,
            register_size: None,
            addresses_are_own: false,
            comparisons,
            fields,
            pinned: Vec::new(),
        }
    }

    /// Sets and pins one field's parameters; unknown fields are refused with the known ones.
    pub fn pin(&mut self, field: Field, params: FieldParams) -> Result<(), String> {
        let Some(slot) = self.fields.iter_mut().find(|(f, _)| *f == field) else {
            let known: Vec<&str> = self.comparisons.iter().map(|c| c.field.as_str()).collect();
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

    /// Whether `other` (a stored model) scores the same comparisons, so that it can stand
    /// in for this one: a changed config makes a stored model useless.
    pub fn same_shape(&self, other: &Model) -> bool {
        self.kind == other.kind
            && self.comparisons == other.comparisons
            && self.fields.len() == other.fields.len()
            && self.pinned == other.pinned
    }

    pub fn params(&self, field: Field) -> Option<&FieldParams> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, p)| p)
    }

    /// The weight of a pair from its comparison vector alone, as EM weighs it: each
    /// comparison's m and u, a group of dependent comparisons counted once, as the scorer
    /// counts it (without that, a shared address and family name add up to more than
    /// singles out a record, and EM takes what shares them for the matches).
    pub fn weight_of_levels(&self, levels: &Gamma) -> f64 {
        let mut bits = [0.0; MAX_COMPARISONS];
        for (bits, ((_, params), level)) in bits.iter_mut().zip(self.fields.iter().zip(levels)) {
            *bits = params.weight(*level);
        }
        for group in Group::ALL {
            self.count_once(*group, &mut bits);
        }
        self.prior_weight() + bits.iter().sum::<f64>()
    }

    /// Counts the comparisons of `group` as one piece of evidence: their agreements add at
    /// most [`Model::group_cap`] together (each scaled down alike; in full where
    /// [`Model::addresses_are_own`]), and of their disagreements only the strongest counts
    /// (a move changes street, postcode and city at once).
    fn count_once(&self, group: Group, bits: &mut [f64]) {
        let members = || {
            (0..self.comparisons.len()).filter(move |&i| self.comparisons[i].group == Some(group))
        };
        let agreeing: f64 = members().map(|i| bits[i].max(0.0)).sum();
        let strongest_against = members()
            .filter(|&i| bits[i] < 0.0)
            .min_by(|&a, &b| bits[a].total_cmp(&bits[b]));
        let cap = self.cap(group);
        let scale = if agreeing > cap { cap / agreeing } else { 1.0 };
        for i in members() {
            if bits[i] > 0.0 {
                bits[i] *= scale;
            } else if Some(i) != strongest_against {
                bits[i] = 0.0;
            }
        }
    }

    /// The most bits the agreements of `group` add together.
    fn cap(&self, group: Group) -> f64 {
        match group {
            Group::Address if self.addresses_are_own => f64::INFINITY,
            Group::Address => self.group_cap(),
        }
    }

    /// The most bits a group of dependent comparisons adds: what singles out one record
    /// of the register (log2 of its size, else the prior's bits).
    fn group_cap(&self) -> f64 {
        match self.register_size {
            Some(n) => (n.max(1) as f64).log2(),
            None => (-self.prior_weight()).max(0.0),
        }
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

/// [`TermFrequencies::build`] one record at a time, for a caller that prepares each record
/// only for the count and drops it.
pub struct TermCounter {
    fields: Vec<(Field, usize)>,
    tf: TermFrequencies,
}

impl TermCounter {
    pub fn new(kind: EntityKind) -> TermCounter {
        TermCounter {
            fields: term_frequency_fields(kind)
                .iter()
                .filter_map(|f| Some((*f, slot_of(*f)?)))
                .collect(),
            tf: TermFrequencies::default(),
        }
    }

    pub fn add(&mut self, r: &Prepared) {
        let tf = &mut self.tf;
        for (field, at) in &self.fields {
            if let Some(v) = r.get(*at) {
                *tf.counts
                    .entry((*field, hash64(&[v.as_bytes()])))
                    .or_insert(0) += 1;
                tf.totals.entry(*field).or_insert((0, 0.0)).0 += 1;
            }
        }
    }

    pub fn finish(self) -> TermFrequencies {
        let mut tf = self.tf;
        // Σ (count / n)² as Σ count² / n²: summed in integers, so the order in which the
        // map yields its counts (another in every process) cannot change the last bits.
        let mut squares: HashMap<Field, u128> = HashMap::new();
        for ((field, _), count) in &tf.counts {
            *squares.entry(*field).or_insert(0) += u128::from(*count).pow(2);
        }
        for (field, square) in squares {
            if let Some(t) = tf.totals.get_mut(&field) {
                let n = t.0.max(1) as f64;
                t.1 = square as f64 / n / n;
            }
        }
        tf
    }
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
    /// Counts the values of `records` (the register) in the fields that comparisons of
    /// `kind` may weigh by rarity ([`term_frequency_fields`]).
    pub fn build<'a>(
        kind: EntityKind,
        records: impl IntoIterator<Item = &'a Prepared>,
    ) -> TermFrequencies {
        let mut counter = TermCounter::new(kind);
        for r in records {
            counter.add(r);
        }
        counter.finish()
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

/// How many kinds of [`Group`] there are.
const GROUPS: usize = Group::ALL.len();

/// What one CRM record's pairs can weigh at most (see [`Scorer::ceiling`]).
#[derive(Debug, Clone)]
pub struct Ceiling {
    /// Per comparison, its bits at each level (exact, close, far) for this record: they
    /// depend on the record's own value only, so they are worked out once, not per pair.
    bits: [[f64; 3]; MAX_COMPARISONS],
    /// Per comparison, the most bits it can add (zero where it can only take away).
    best: [f64; MAX_COMPARISONS],
    /// The comparisons where the record has a value, in the order they are compared.
    order: [u8; MAX_COMPARISONS],
    /// How many `order` holds.
    compared: usize,
    /// How many of them (the first ones) are identifiers.
    identifiers: usize,
    /// Per comparison, its group's place in [`Group::ALL`].
    group: [Option<usize>; MAX_COMPARISONS],
    /// The most the comparisons outside groups can add, together.
    open: f64,
    /// Per group, the most its members can add before its cap, and its cap.
    group_open: [f64; GROUPS],
    caps: [f64; GROUPS],
    /// The prior's bits.
    prior: f64,
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
        self.model.prior_weight() + self.evidence(crm, candidate).bits.iter().sum::<f64>()
    }

    /// What `crm`'s pairs can weigh at most, comparison by comparison, for
    /// [`Scorer::weight_at_least`].
    pub fn ceiling(&self, crm: &Prepared) -> Ceiling {
        let specs = &self.model.comparisons;
        let mut ceiling = Ceiling {
            bits: [[0.0; 3]; MAX_COMPARISONS],
            best: [0.0; MAX_COMPARISONS],
            order: [0; MAX_COMPARISONS],
            compared: 0,
            identifiers: 0,
            group: [None; MAX_COMPARISONS],
            open: 0.0,
            group_open: [0.0; GROUPS],
            caps: std::array::from_fn(|g| self.model.cap(Group::ALL[g])),
            prior: self.model.prior_weight(),
        };
        let mut order: Vec<usize> = Vec::with_capacity(specs.len());
        for (i, (spec, (_, params))) in specs.iter().zip(&self.model.fields).enumerate() {
            ceiling.group[i] = spec
                .group
                .and_then(|g| Group::ALL.iter().position(|h| *h == g));
            // Without a value of its own the record's comparison is always missing: no
            // bits, and nothing to compare.
            if crm.value(spec.field).is_some() {
                let bits = [Level::Exact, Level::Close, Level::Far]
                    .map(|level| self.contribution(spec, params, level, crm));
                ceiling.bits[i] = bits;
                ceiling.best[i] = bits.into_iter().fold(0.0, f64::max);
                match ceiling.group[i] {
                    Some(g) => ceiling.group_open[g] += ceiling.best[i],
                    None => ceiling.open += ceiling.best[i],
                }
                order.push(i);
            }
        }
        // Identifiers first (whether two agree decides what counts against the pair), then
        // what a disagreement takes off the most the pair could weigh: most pairs of a
        // block differ and fall there.
        let drop = |i: usize| ceiling.best[i] - ceiling.bits[i][2];
        order.sort_by(|&a, &b| {
            (!specs[a].is_identifier(), -drop(a))
                .partial_cmp(&(!specs[b].is_identifier(), -drop(b)))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        ceiling.compared = order.len();
        ceiling.identifiers = order.iter().filter(|&&i| specs[i].is_identifier()).count();
        for (slot, i) in ceiling.order.iter_mut().zip(order) {
            *slot = i as u8;
        }
        ceiling
    }

    /// [`Scorer::weight`] where it is at least `min`, else `None`: the comparisons stop as
    /// soon as what they left open cannot lift the pair to `min` (most pairs that share a
    /// block are two different people). The weight returned is the very one `weight`
    /// gives, to the last bit.
    pub fn weight_at_least(
        &self,
        ceiling: &Ceiling,
        crm: &Prepared,
        candidate: &Prepared,
        min: f64,
    ) -> Option<f64> {
        let specs = &self.model.comparisons;
        let mut levels = [Level::Missing; MAX_COMPARISONS];
        let mut bits = [0.0; MAX_COMPARISONS];
        let prior = ceiling.prior;
        // The bound is summed in another order than the weight: a hair of rounding apart.
        let floor = min - 1e-9;
        // Bits of the compared comparisons outside groups as they will count, and the
        // best the others can add.
        let mut counted = 0.0;
        let mut open = ceiling.open;
        // Per group: agreements so far, the best its uncompared members add, and its
        // strongest disagreement so far (only that one counts).
        let mut agreeing = [0.0; GROUPS];
        let mut group_open = ceiling.group_open;
        let mut against = [0.0f64; GROUPS];
        let mut agree = false;
        for (k, &i) in ceiling.order[..ceiling.compared].iter().enumerate() {
            let i = i as usize;
            let spec = &specs[i];
            if k == ceiling.identifiers {
                // Every identifier compared: whether two agree is settled.
                agree = identifiers_agree(specs, &levels);
            }
            levels[i] = compare_field(spec, crm, candidate).0;
            bits[i] = levels[i].index().map_or(0.0, |l| ceiling.bits[i][l]);
            let b = bits[i];
            match ceiling.group[i] {
                Some(g) => {
                    group_open[g] -= ceiling.best[i];
                    if b > 0.0 {
                        agreeing[g] += b;
                    } else if !agree && k >= ceiling.identifiers {
                        // The group's strongest disagreement counts where no two
                        // identifiers agree; one of a grouped identifier, compared before
                        // that is settled, is left out (the bound only loosens).
                        against[g] = against[g].min(b);
                    }
                }
                None => {
                    open -= ceiling.best[i];
                    if b > 0.0 || !agree || spec.is_identifier() {
                        counted += b;
                    }
                }
            }
            let groups: f64 = (0..GROUPS)
                .map(|g| (agreeing[g] + group_open[g].max(0.0)).min(ceiling.caps[g]) + against[g])
                .sum();
            if prior + counted + open.max(0.0) + groups < floor {
                return None;
            }
        }
        let weight = prior + self.counted(&levels, bits).iter().sum::<f64>();
        (weight >= min).then_some(weight)
    }

    /// The same weight from the pair's comparison vector (as EM saw it): the bits depend on
    /// the levels and on the CRM record's own values only, so a pair compared once for EM
    /// need not be compared again to be ranked.
    pub fn weight_of(&self, levels: &Gamma, crm: &Prepared) -> f64 {
        self.model.prior_weight() + self.bits(levels, crm).iter().sum::<f64>()
    }

    /// Levels, similarities and bits of a pair, one per comparison (see [`Scorer::bits`]).
    fn evidence(&self, crm: &Prepared, candidate: &Prepared) -> Evidence {
        let mut levels = [Level::Missing; MAX_COMPARISONS];
        let mut similarity = [None; MAX_COMPARISONS];
        for (i, spec) in self.model.comparisons.iter().enumerate() {
            (levels[i], similarity[i]) = compare_field(spec, crm, candidate);
        }
        Evidence {
            bits: self.bits(&levels, crm),
            levels,
            similarity,
        }
    }

    /// Bits per comparison, after the two rules for evidence that is not independent: a
    /// group of dependent comparisons counts once (see [`Group`]), and two agreeing
    /// identifiers with none that clashes keep the rest from counting against the pair (a
    /// move, a new name, a new phone are changes to propose, not evidence that it is
    /// another entity).
    fn bits(&self, levels: &Gamma, crm: &Prepared) -> [f64; MAX_COMPARISONS] {
        let mut bits = [0.0; MAX_COMPARISONS];
        let specs = &self.model.comparisons;
        for (i, (spec, (_, params))) in specs.iter().zip(&self.model.fields).enumerate() {
            bits[i] = self.contribution(spec, params, levels[i], crm);
        }
        self.counted(levels, bits)
    }

    /// The bits of each comparison as they count (`bits` as [`Scorer::contribution`] gave
    /// them, one per level of `levels`).
    fn counted(&self, levels: &Gamma, mut bits: [f64; MAX_COMPARISONS]) -> [f64; MAX_COMPARISONS] {
        let specs = &self.model.comparisons;
        for group in Group::ALL {
            self.model.count_once(*group, &mut bits);
        }
        if identifiers_agree(specs, levels) {
            for (bits, spec) in bits.iter_mut().zip(specs) {
                if !spec.is_identifier() && *bits < 0.0 {
                    *bits = 0.0;
                }
            }
        }
        bits
    }

    /// The candidates ranked by weight, the best [`EXPLAINED`] scored in full (enough for
    /// the decision, ambiguity and `explain`). `levels`, where given, are the candidates'
    /// comparison vectors in the same order.
    pub fn rank<'c>(
        &self,
        crm: &Prepared,
        candidates: impl Iterator<Item = &'c Prepared>,
        levels: Option<&[Gamma]>,
    ) -> (Vec<Scored>, usize) {
        let (mut weighed, count) = match levels {
            Some(levels) => {
                let weighed: Vec<(f64, &Prepared)> = candidates
                    .zip(levels)
                    .map(|(c, g)| (self.weight_of(g, crm), c))
                    .collect();
                let count = weighed.len();
                (weighed, count)
            }
            None => self.weigh_best(crm, candidates),
        };
        weighed.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let scored = weighed
            .iter()
            .take(EXPLAINED)
            .map(|(_, c)| self.score(crm, c))
            .collect();
        (scored, count)
    }

    /// The candidates that can be among the best [`EXPLAINED`], with their weights, and how
    /// many there were. A candidate is compared only until it is certain that it cannot
    /// reach the [`EXPLAINED`]-th best weight so far (see [`Scorer::weight_at_least`]): every
    /// one that can is kept with the weight [`Scorer::weight`] gives, ties included.
    fn weigh_best<'c>(
        &self,
        crm: &Prepared,
        candidates: impl Iterator<Item = &'c Prepared>,
    ) -> (Vec<(f64, &'c Prepared)>, usize) {
        let ceiling = self.ceiling(crm);
        // The best weights so far, highest first.
        let mut best = [f64::NEG_INFINITY; EXPLAINED];
        let mut kept = Vec::new();
        let mut count = 0;
        for candidate in candidates {
            count += 1;
            let least = best[EXPLAINED - 1];
            let Some(weight) = self.weight_at_least(&ceiling, crm, candidate, least) else {
                continue;
            };
            kept.push((weight, candidate));
            if weight > least {
                best[EXPLAINED - 1] = weight;
                best.sort_by(|a, b| b.total_cmp(a));
            }
        }
        (kept, count)
    }

    fn contribution(
        &self,
        spec: &ComparisonSpec,
        params: &FieldParams,
        level: Level,
        crm: &Prepared,
    ) -> f64 {
        // An exact agreement weighs by how often the register holds that very value (see
        // `exact_u`): a name held once in a million says more than one held once in ten
        // thousand, beyond the floor that bounds the other levels.
        let exact_u = match (&self.term_frequencies, level, crm.value(spec.field)) {
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
        let e = self.evidence(crm, candidate);
        let specs = &self.model.comparisons;
        let method = if specs
            .iter()
            .zip(&e.levels)
            .any(|(spec, level)| *level == Level::Exact && spec.is_identifier())
        {
            Method::Identifier
        } else {
            Method::Similarity
        };
        let comparisons: Vec<Comparison> = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| Comparison {
                field: spec.field,
                crm: crm.value(spec.field).map(str::to_string),
                register: candidate.value(spec.field).map(str::to_string),
                level: e.levels[i],
                similarity: e.similarity[i],
                contribution: e.bits[i],
            })
            .collect();
        let weight = self.model.prior_weight() + e.bits.iter().sum::<f64>();
        Scored {
            register_id: candidate.id.to_string(),
            score: Scorer::probability(weight),
            weight,
            method,
            comparisons,
        }
    }
}

/// A pair's evidence per comparison (see [`Scorer::evidence`]); unused entries are 0.
struct Evidence {
    levels: Gamma,
    similarity: [Option<f64>; MAX_COMPARISONS],
    bits: [f64; MAX_COMPARISONS],
}

/// How many of a record's best candidates are scored in full.
pub const EXPLAINED: usize = 3;

/// Whether two identifiers (LEI, VAT id, register number, e-mail) agree exactly and none
/// disagrees.
fn identifiers_agree(specs: &[ComparisonSpec], levels: &Gamma) -> bool {
    let mut agreeing = 0;
    for (spec, level) in specs.iter().zip(levels) {
        if spec.is_identifier() {
            match level {
                Level::Exact => agreeing += 1,
                Level::Missing => {}
                _ => return false,
            }
        }
    }
    agreeing >= 2
}

#[cfg(test)]
mod tests;
