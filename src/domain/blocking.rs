//! Blocking: which register records are compared with a CRM record at all. A pair is a
//! candidate when it shares a key under any of the configured rules (their union), so a
//! true match survives as long as one rule still sees it through the typos.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::comparison::COMPARABLE_FIELDS;
use super::model::{EntityKind, Field, UnknownField};
use super::normalise::koelner_phonetik;
use super::score::{hash64, slot, slot_of, Prepared};

macro_rules! presets {
    ($($variant:ident => $name:literal: $doc:literal),* $(,)?) => {
        /// A named blocking rule: how one blocking key is made from a prepared record.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Preset { $(#[doc = $doc] $variant),* }

        impl Preset {
            pub const ALL: &'static [Preset] = &[$(Preset::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Preset::$variant => $name),* }
            }

            pub fn describe(self) -> &'static str {
                match self { $(Preset::$variant => $doc),* }
            }
        }

        impl FromStr for Preset {
            type Err = String;
            fn from_str(s: &str) -> Result<Preset, String> {
                match s {
                    $($name => Ok(Preset::$variant),)*
                    _ => Err(format!("unknown blocking rule `{s}`; known rules: {}, or a table {{ on = [\"postcode\", \"initial(first_name)\"] }} with transforms {}", [$($name),*].join(", "), Transform::NAMES)),
                }
            }
        }
    };
}

presets! {
    Lei => "lei": "the LEI",
    VatId => "vat_id": "the VAT id",
    RegisterNumber => "register_number": "the register type and number",
    Email => "email": "the e-mail address",
    Phone => "phone": "the phone number (E.164)",
    Website => "website": "the website's host",
    Name => "name": "the whole name without its legal form",
    PostcodeName => "postcode_name": "postcode and the first three letters of the name",
    NameCity => "name_city": "the first name token and the city",
    NamePrefixCity => "name_prefix_city": "the name's first four letters and the city (typos further on)",
    PhoneticPostcode => "phonetic_postcode": "Kölner Phonetik of the first name token and the postcode's first two digits",
    NameTokens => "name_tokens": "the first two name tokens",
    Address => "address": "street, house number and postcode",
    LastNamePhonetic => "last_name_phonetic": "Kölner Phonetik of the last name and the first name's initial",
    FirstInitialLastName => "first_initial_last_name": "the first name's initial and the last name",
    OrganisationLastPrefix => "organisation_last_prefix": "the first token of the contact's organisation and the last name's first three letters (typos further on)",
    OrganisationFirstInitial => "organisation_first_initial": "the contact's whole organisation name and the first name's initial (a new last name, a typo early in it)",
    InitialsCity => "initials_city": "the city and the initials of first and last name in either order (a typo in the postcode, the names swapped)",
}

/// How a field's comparable value becomes part of a blocking key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// The comparable form as it is.
    Exact,
    /// Without blanks and punctuation (`Hans Peter` = `hanspeter`).
    Folded,
    /// Kölner Phonetik: names that sound alike agree.
    Phonetic,
    /// The first N letters (blanks skipped).
    Prefix(u8),
    /// The first letter.
    Initial,
    /// The year of a date.
    Year,
    /// The first word of two letters or more.
    Token,
}

impl Transform {
    const NAMES: &'static str = "exact, folded, phonetic, prefix(FIELD, N), initial, year, token";

    /// The transform as two bytes, for tagging keys.
    fn code(self) -> (u8, u8) {
        match self {
            Transform::Exact => (0, 0),
            Transform::Folded => (1, 0),
            Transform::Phonetic => (2, 0),
            Transform::Prefix(n) => (3, n),
            Transform::Initial => (4, 0),
            Transform::Year => (5, 0),
            Transform::Token => (6, 0),
        }
    }

    fn apply(self, value: &str) -> Option<String> {
        let letters = || value.chars().filter(|c| c.is_alphanumeric());
        let out = match self {
            Transform::Exact => value.to_string(),
            Transform::Folded => letters().collect(),
            Transform::Phonetic => koelner_phonetik(value),
            Transform::Prefix(n) => letters().take(usize::from(n)).collect(),
            Transform::Initial => letters().take(1).collect(),
            Transform::Year => value.get(..4)?.to_string(),
            Transform::Token => value.split(' ').find(|t| t.len() >= 2)?.to_string(),
        };
        (!out.is_empty()).then_some(out)
    }
}

/// One part of a blocking key: a field and its transform, written `field`,
/// `transform(field)` or `prefix(field, N)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyPart {
    pub field: Field,
    pub transform: Transform,
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field;
        match self.transform {
            Transform::Exact => write!(f, "{field}"),
            Transform::Folded => write!(f, "folded({field})"),
            Transform::Phonetic => write!(f, "phonetic({field})"),
            Transform::Prefix(n) => write!(f, "prefix({field}, {n})"),
            Transform::Initial => write!(f, "initial({field})"),
            Transform::Year => write!(f, "year({field})"),
            Transform::Token => write!(f, "token({field})"),
        }
    }
}

impl FromStr for KeyPart {
    type Err = String;
    fn from_str(s: &str) -> Result<KeyPart, String> {
        let s = s.trim();
        let field = |name: &str| -> Result<Field, String> {
            let field: Field = name
                .trim()
                .parse()
                .map_err(|e: UnknownField| e.to_string())?;
            if slot_of(field).is_none() {
                return Err(format!(
                    "`{field}` is not prepared for matching; use one of: {}",
                    COMPARABLE_FIELDS
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Ok(field)
        };
        let Some((name, rest)) = s.split_once('(') else {
            return Ok(KeyPart {
                field: field(s)?,
                transform: Transform::Exact,
            });
        };
        let inner = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("`{s}`: a transform is written `{name}(FIELD)`"))?;
        let transform = match name.trim() {
            "exact" => Transform::Exact,
            "folded" => Transform::Folded,
            "phonetic" => Transform::Phonetic,
            "initial" => Transform::Initial,
            "year" => Transform::Year,
            "token" => Transform::Token,
            "prefix" => {
                let (f, n) = inner.split_once(',').ok_or_else(|| {
                    format!("`{s}`: write `prefix(FIELD, N)` with N from 1 to 20")
                })?;
                let n: u8 = n
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or_else(|| {
                        format!("`{s}`: N in `prefix(FIELD, N)` must be from 1 to 20")
                    })?;
                return Ok(KeyPart {
                    field: field(f)?,
                    transform: Transform::Prefix(n),
                });
            }
            other => {
                return Err(format!(
                    "`{other}` is not a transform; transforms: {}",
                    Transform::NAMES
                ))
            }
        };
        Ok(KeyPart {
            field: field(inner)?,
            transform,
        })
    }
}

/// A blocking rule: a named preset, or a key built from fields with transforms (all parts
/// must be present for a record to get a key), in the spirit of Splink's `block_on`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rule {
    Preset(Preset),
    On(Vec<KeyPart>),
}

impl Rule {
    /// A rule of its own: a key of `parts`.
    pub(crate) fn on(parts: &[(Field, Transform)]) -> Rule {
        Rule::On(
            parts
                .iter()
                .map(|&(field, transform)| KeyPart { field, transform })
                .collect(),
        )
    }

    /// The fields the rule's keys are made of.
    pub fn fields(&self) -> Vec<Field> {
        match self {
            Rule::On(parts) => parts.iter().map(|p| p.field).collect(),
            Rule::Preset(p) => match p {
                Preset::Lei => vec![Field::Lei],
                Preset::VatId => vec![Field::VatId],
                Preset::RegisterNumber => vec![Field::RegisterNumber],
                Preset::Email => vec![Field::Email],
                Preset::Phone => vec![Field::Phone],
                Preset::Website => vec![Field::Website],
                Preset::Name | Preset::NameTokens => vec![Field::LegalName],
                Preset::PostcodeName | Preset::PhoneticPostcode => {
                    vec![Field::LegalName, Field::Postcode]
                }
                Preset::NameCity | Preset::NamePrefixCity => vec![Field::LegalName, Field::City],
                Preset::Address => vec![Field::Street, Field::HouseNumber, Field::Postcode],
                Preset::LastNamePhonetic | Preset::FirstInitialLastName => {
                    vec![Field::FirstName, Field::LastName]
                }
                Preset::OrganisationLastPrefix => vec![Field::OrganisationName, Field::LastName],
                Preset::OrganisationFirstInitial => {
                    vec![Field::OrganisationName, Field::FirstName]
                }
                Preset::InitialsCity => vec![Field::FirstName, Field::LastName, Field::City],
            },
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Preset(p) => f.write_str(p.as_str()),
            Rule::On(parts) => {
                let parts: Vec<String> = parts.iter().map(KeyPart::to_string).collect();
                write!(f, "on({})", parts.join(", "))
            }
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Rule::Preset(p) => s.serialize_str(p.as_str()),
            Rule::On(parts) => {
                let mut map = s.serialize_map(Some(1))?;
                let parts: Vec<String> = parts.iter().map(KeyPart::to_string).collect();
                map.serialize_entry("on", &parts)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            On { on: Vec<String> },
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(format!(
                "a blocking rule is a name ({}) or a table {{ on = [\"postcode\", \"initial(first_name)\"] }} (transforms {})",
                Preset::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                Transform::NAMES
            ))
        })?;
        match raw {
            Raw::Name(name) => name
                .parse()
                .map(Rule::Preset)
                .map_err(serde::de::Error::custom),
            Raw::On { on } if on.is_empty() => Err(serde::de::Error::custom(
                "`on` needs at least one field, e.g. on = [\"postcode\", \"initial(first_name)\"]",
            )),
            Raw::On { on } => on
                .iter()
                .map(|p| p.parse())
                .collect::<Result<Vec<KeyPart>, String>>()
                .map(Rule::On)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// The default rules for `kind`: identifiers, then name and address rules that tolerate
/// the typical faults (typos, moves, renames, a new last name, a private customer with no
/// e-mail or employer).
pub fn default_rules(kind: EntityKind) -> Vec<Rule> {
    use Transform::{Exact, Initial, Phonetic};
    match kind {
        EntityKind::Organisation => [
            Preset::Lei,
            Preset::VatId,
            Preset::RegisterNumber,
            Preset::Name,
            Preset::PostcodeName,
            Preset::NameCity,
            Preset::NamePrefixCity,
            Preset::PhoneticPostcode,
            Preset::Address,
            Preset::Phone,
            Preset::Website,
            Preset::Email,
        ]
        .into_iter()
        .map(Rule::Preset)
        .collect(),
        EntityKind::Contact => vec![
            Rule::Preset(Preset::Email),
            Rule::Preset(Preset::Phone),
            Rule::Preset(Preset::LastNamePhonetic),
            Rule::Preset(Preset::FirstInitialLastName),
            Rule::Preset(Preset::OrganisationLastPrefix),
            Rule::Preset(Preset::OrganisationFirstInitial),
            // Two parts of the address agreeing find a person whose names were swapped,
            // mistyped or changed by marriage.
            Rule::on(&[(Field::Postcode, Exact), (Field::FirstName, Initial)]),
            Rule::on(&[(Field::Street, Phonetic), (Field::HouseNumber, Exact)]),
            Rule::on(&[(Field::Street, Phonetic), (Field::Postcode, Exact)]),
            // The street and the first initial: a last name mistyped or changed together
            // with a typo in the postcode or house number.
            Rule::on(&[(Field::Street, Phonetic), (Field::FirstName, Initial)]),
            Rule::on(&[(Field::Postcode, Exact), (Field::HouseNumber, Exact)]),
            Rule::on(&[(Field::HouseNumber, Exact), (Field::City, Exact)]),
            Rule::on(&[(Field::LastName, Phonetic), (Field::City, Exact)]),
            Rule::on(&[(Field::BirthDate, Exact)]),
            Rule::Preset(Preset::InitialsCity),
        ],
    }
}

/// Whether `rule` means anything for `kind` (a VAT id rule for contacts does not).
pub fn applies_to(rule: &Rule, kind: EntityKind) -> bool {
    match rule {
        Rule::On(_) | Rule::Preset(Preset::Email | Preset::Phone) => true,
        Rule::Preset(
            Preset::LastNamePhonetic
            | Preset::FirstInitialLastName
            | Preset::OrganisationLastPrefix
            | Preset::OrganisationFirstInitial
            | Preset::InitialsCity,
        ) => kind == EntityKind::Contact,
        Rule::Preset(_) => kind == EntityKind::Organisation,
    }
}

/// The keys of one record under each of `rules`, kept to find which rules it shares with
/// its candidates (EM learns a comparison's m from pairs not blocked on it).
#[derive(Debug, Clone)]
pub struct RuleKeys(Vec<Option<u64>>);

impl RuleKeys {
    pub fn of(rules: &[Rule], record: &Prepared) -> RuleKeys {
        RuleKeys(rules.iter().map(|rule| key(rule, record)).collect())
    }

    /// Bit `r` set where `other` has the same key under `rules[r]` (the first 64 rules).
    pub fn shared(&self, rules: &[Rule], other: &Prepared) -> u64 {
        rules
            .iter()
            .zip(&self.0)
            .take(64)
            .enumerate()
            .filter(|(_, (rule, mine))| mine.is_some() && **mine == key(rule, other))
            .fold(0, |mask, (r, _)| mask | 1 << r)
    }
}

/// The blocking key of `record` under `rule`, if the record has what the rule needs.
pub fn key(rule: &Rule, record: &Prepared) -> Option<u64> {
    let preset = match rule {
        Rule::Preset(p) => *p,
        Rule::On(parts) => {
            // Each part is tagged by its field and transform: two rules never share a key
            // by accident, and no text is built per record.
            let mut key = hash64(&[b"on"]);
            for part in parts {
                let value = part.transform.apply(record.value(part.field)?)?;
                let tag = [
                    part.field as u8,
                    part.transform.code().0,
                    part.transform.code().1,
                ];
                key = hash64(&[&key.to_le_bytes(), &tag, value.as_bytes()]);
            }
            return Some(key);
        }
    };
    let tag = [preset as u8];
    let one = |field: Field| record.value(field).map(|v| hash64(&[&tag, v.as_bytes()]));
    let first_token = || {
        record
            .name()
            .and_then(|n| n.split(' ').find(|t| t.len() >= 2))
    };
    match preset {
        Preset::Lei => one(Field::Lei),
        Preset::VatId => one(Field::VatId),
        Preset::RegisterNumber => one(Field::RegisterNumber),
        Preset::Email => one(Field::Email),
        Preset::Phone => one(Field::Phone),
        Preset::Website => one(Field::Website),
        Preset::Name => record.name().map(|n| hash64(&[&tag, n.as_bytes()])),
        Preset::PostcodeName => {
            let (p, n) = (record.value(Field::Postcode)?, record.name()?);
            let prefix: String = n.chars().filter(|c| *c != ' ').take(3).collect();
            Some(hash64(&[&tag, p.as_bytes(), prefix.as_bytes()]))
        }
        Preset::NameCity => {
            let (t, c) = (first_token()?, record.value(Field::City)?);
            let city = c.split(' ').next().unwrap_or(c);
            Some(hash64(&[&tag, t.as_bytes(), city.as_bytes()]))
        }
        Preset::NamePrefixCity => {
            let prefix: String = record
                .name()?
                .chars()
                .filter(|c| *c != ' ')
                .take(4)
                .collect();
            let c = record.value(Field::City)?;
            let city = c.split(' ').next().unwrap_or(c);
            Some(hash64(&[&tag, prefix.as_bytes(), city.as_bytes()]))
        }
        Preset::PhoneticPostcode => {
            let code = koelner_phonetik(first_token()?);
            let area = record.value(Field::Postcode)?.get(..2)?;
            Some(hash64(&[&tag, code.as_bytes(), area.as_bytes()]))
        }
        Preset::NameTokens => {
            let mut tokens = record.name()?.split(' ').filter(|t| t.len() >= 2);
            let (a, b) = (tokens.next()?, tokens.next()?);
            Some(hash64(&[&tag, a.as_bytes(), b.as_bytes()]))
        }
        Preset::Address => {
            let s = record.value(Field::Street)?;
            let (h, p) = (
                record.value(Field::HouseNumber)?,
                record.value(Field::Postcode)?,
            );
            Some(hash64(&[&tag, s.as_bytes(), h.as_bytes(), p.as_bytes()]))
        }
        Preset::LastNamePhonetic => {
            let sound = record.get(slot::LAST_SOUND).filter(|s| !s.is_empty())?;
            Some(hash64(&[&tag, sound.as_bytes()]))
        }
        Preset::FirstInitialLastName => {
            let (f, l) = (
                record.value(Field::FirstName)?,
                record.value(Field::LastName)?,
            );
            let initial = f.chars().next()?.to_string();
            Some(hash64(&[&tag, initial.as_bytes(), l.as_bytes()]))
        }
        Preset::OrganisationLastPrefix => {
            let last: String = record.value(Field::LastName)?.chars().take(3).collect();
            let organisation = record.value(Field::OrganisationName)?;
            let token = organisation.split(' ').find(|t| t.len() >= 2)?;
            Some(hash64(&[&tag, last.as_bytes(), token.as_bytes()]))
        }
        Preset::OrganisationFirstInitial => {
            let initial = record.value(Field::FirstName)?.chars().next()?.to_string();
            let organisation = record.value(Field::OrganisationName)?;
            Some(hash64(&[&tag, initial.as_bytes(), organisation.as_bytes()]))
        }
        Preset::InitialsCity => {
            let initial = |f: Field| Transform::Initial.apply(record.value(f)?);
            let mut initials = [initial(Field::FirstName)?, initial(Field::LastName)?];
            initials.sort_unstable();
            let [a, b] = initials;
            let city = record.value(Field::City)?;
            Some(hash64(&[&tag, a.as_bytes(), b.as_bytes(), city.as_bytes()]))
        }
    }
}

/// Which blocking rules a register index uses and how large a useful block may be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockingSettings {
    /// Blocking rules, united; empty means the defaults for the entity kind.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Blocks with more register records than this are skipped as unspecific.
    #[serde(default = "default_max_block_size")]
    pub max_block_size: usize,
}

/// Measured on 100k CRM against 1M register organisations (hard profile): 200 halves the
/// candidate pairs of 500 at the same F1 (0.9934 vs 0.9935).
fn default_max_block_size() -> usize {
    200
}

impl Default for BlockingSettings {
    fn default() -> Self {
        BlockingSettings {
            rules: Vec::new(),
            max_block_size: default_max_block_size(),
        }
    }
}

impl BlockingSettings {
    /// The rules in force for `kind`: the configured ones that apply, else the defaults.
    pub fn rules(&self, kind: EntityKind) -> Vec<Rule> {
        let chosen: Vec<Rule> = self
            .rules
            .iter()
            .filter(|r| applies_to(r, kind))
            .cloned()
            .collect();
        if chosen.is_empty() {
            default_rules(kind)
        } else {
            chosen
        }
    }

    /// Checks the limits; the error names the key and the fix.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.max_block_size == 0 {
            return Err(("max_block_size".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Register records by blocking key: one sorted array of (key, record number), which is
/// far smaller than a map of vectors at a million records, plus a directory by the keys'
/// top bits so that a lookup touches two or three cache lines instead of twenty.
#[derive(Debug, Clone, Default)]
pub struct BlockIndex {
    entries: Vec<(u64, u32)>,
    /// `directory[b]` is the first entry whose key's top `bits` bits are `b` or more.
    directory: Vec<u32>,
    bits: u32,
}

impl BlockIndex {
    /// Indexes `records` (numbered by position) under every rule. They may be made as they
    /// are taken: none is held past its keys.
    pub fn build(
        rules: &[Rule],
        records: impl IntoIterator<Item = impl Borrow<Prepared>>,
    ) -> BlockIndex {
        let mut entries = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            let Ok(at) = u32::try_from(i) else { break };
            for rule in rules {
                if let Some(k) = key(rule, r.borrow()) {
                    entries.push((k, at));
                }
            }
        }
        entries.sort_unstable();
        entries.dedup();
        // About eight entries per directory slot.
        let bits = (entries.len() / 8).max(1).ilog2().clamp(1, 28);
        let mut directory = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0usize;
        for bucket in 0..=(1u64 << bits) {
            while at < entries.len() && (entries[at].0 >> (64 - bits)) < bucket {
                at += 1;
            }
            directory.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        BlockIndex {
            entries,
            directory,
            bits,
        }
    }

    /// Record numbers under `key`.
    pub fn block(&self, key: u64) -> &[(u64, u32)] {
        if self.directory.is_empty() {
            return &[];
        }
        let bucket = (key >> (64 - self.bits)) as usize;
        let (Some(&from), Some(&to)) = (self.directory.get(bucket), self.directory.get(bucket + 1))
        else {
            return &[];
        };
        let slice = &self.entries[from as usize..to as usize];
        let start = slice.partition_point(|(k, _)| *k < key);
        let end = start + slice[start..].partition_point(|(k, _)| *k == key);
        &slice[start..end]
    }

    /// The union of the blocks `record` falls into, skipping blocks larger than
    /// `max_block` (a key shared by that many says nothing). Sorted, without repeats.
    pub fn candidates(&self, rules: &[Rule], record: &Prepared, max_block: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for rule in rules {
            out.extend(
                self.rule_block(rule, record, max_block)
                    .iter()
                    .map(|(_, i)| *i),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The block `record` falls into under `rule`: empty without a key or when the block
    /// is larger than `max_block`.
    pub fn rule_block(&self, rule: &Rule, record: &Prepared, max_block: usize) -> &[(u64, u32)] {
        match key(rule, record).map(|k| self.block(k)) {
            Some(block) if block.len() <= max_block => block,
            _ => &[],
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{customer, Record};

    fn org(id: &str, name: &str, street: &str, postcode: &str, city: &str) -> Prepared {
        Prepared::new(
            EntityKind::Organisation,
            &Record::new(id)
                .with(Field::LegalName, name)
                .with(Field::Street, street)
                .with(Field::Postcode, postcode)
                .with(Field::City, city),
        )
    }

    #[test]
    fn union_of_rules_finds_typos_moves_and_renames() {
        let register = [
            org(
                "r1",
                "Müller Maschinenbau GmbH",
                "Hauptstraße 12",
                "80331",
                "München",
            ),
            org(
                "r2",
                "Schulz Logistik AG",
                "Hafenstraße 3",
                "20095",
                "Hamburg",
            ),
        ];
        let rules = default_rules(EntityKind::Organisation);
        let index = BlockIndex::build(&rules, &register);
        let cases = [
            (
                "typo in name",
                org(
                    "c",
                    "Müler Maschinenbau GmbH",
                    "Hauptstr. 12",
                    "80331",
                    "München",
                ),
                vec![0],
            ),
            (
                "moved",
                org(
                    "c",
                    "Mueller Maschinenbau GmbH",
                    "Kantstr. 1",
                    "81667",
                    "München",
                ),
                vec![0],
            ),
            (
                "renamed",
                org("c", "MMB Technik GmbH", "Hauptstr. 12", "80331", "München"),
                vec![0],
            ),
            (
                "unrelated",
                org("c", "Weber Bau KG", "Ringstr. 1", "50667", "Köln"),
                vec![],
            ),
        ];
        for (label, crm, want) in cases {
            assert_eq!(index.candidates(&rules, &crm, 100), want, "{label}");
        }
    }

    fn person(id: &str, first: &str, last: &str, email: &str, organisation: &str) -> Prepared {
        Prepared::new(
            EntityKind::Contact,
            &Record::new(id)
                .with(Field::FirstName, first)
                .with(Field::LastName, last)
                .with(Field::Email, email)
                .with(Field::OrganisationName, organisation),
        )
    }

    #[test]
    fn contact_rules_survive_new_last_names_and_missing_mail() {
        let register = [
            person(
                "r1",
                "Anna",
                "Schmidt",
                "a.schmidt@weber-bau.de",
                "Weber Bau GmbH",
            ),
            person("r2", "Anna", "Schmidt", "anna@kraus-it.de", "Kraus IT AG"),
        ];
        let rules = default_rules(EntityKind::Contact);
        let index = BlockIndex::build(&rules, &register);
        let cases = [
            (
                "same mail",
                person("c", "", "", "A.Schmidt@weber-bau.de", ""),
                vec![0],
            ),
            (
                "namesakes by name",
                person("c", "Anna", "Schmitt", "", ""),
                vec![0, 1],
            ),
            (
                "typo late in the name, same firm",
                person("c", "Anna", "Schmidz", "", "WEBER BAU"),
                vec![0],
            ),
            (
                "married since, same firm",
                person("c", "Anna", "Lehmann", "", "Weber Bau GmbH"),
                vec![0],
            ),
            (
                "an initial and a new name, same firm",
                person("c", "A.", "Lehmann-Schmidt", "", "weber bau"),
                vec![0],
            ),
            (
                "married since, firm unknown",
                person("c", "Anna", "Lehmann", "", ""),
                vec![],
            ),
            (
                "typo, firm unknown",
                person("c", "Anna", "Schmidz", "", ""),
                vec![],
            ),
        ];
        for (label, crm, want) in cases {
            assert_eq!(index.candidates(&rules, &crm, 100), want, "{label}");
        }
    }

    #[test]
    fn a_customer_at_home_is_found_through_swapped_or_changed_names_and_a_mistyped_postcode() {
        let at_home = |id: &str, names: (&str, &str), street: &str, postcode: &str| {
            Prepared::new(
                EntityKind::Contact,
                &customer(id, names, (street, postcode, "Young")),
            )
        };
        let register = [at_home(
            "r1",
            ("Madeleine", "Paterson"),
            "Brigalowstraße 3",
            "05045",
        )];
        let rules = default_rules(EntityKind::Contact);
        let index = BlockIndex::build(&rules, &register);
        let cases = [
            (
                "names swapped, postcode mistyped, no street",
                at_home("c", ("Paterson", "Madeleine"), "", "05054"),
                vec![0],
            ),
            (
                "other initials in the same town",
                at_home("c", ("Karl", "Ober"), "", "05054"),
                vec![],
            ),
            (
                "married since, postcode and house number mistyped, same street",
                at_home("c", ("Madeleine", "Ferguson"), "Brigalowstr. 5", "05054"),
                vec![0],
            ),
            (
                "another first initial in the same street, postcode mistyped",
                at_home("c", ("Karl", "Ferguson"), "Brigalowstr. 5", "05054"),
                vec![],
            ),
        ];
        for (label, crm, want) in cases {
            assert_eq!(index.candidates(&rules, &crm, 100), want, "{label}");
        }
    }

    #[test]
    fn oversized_blocks_are_skipped() {
        let register: Vec<Prepared> = (0..20)
            .map(|i| {
                org(
                    &format!("r{i}"),
                    &format!("Firma {i} GmbH"),
                    "",
                    "80331",
                    "München",
                )
            })
            .collect();
        let rules = [Rule::Preset(Preset::NameCity)];
        let index = BlockIndex::build(&rules, &register);
        let crm = org("c", "Firma X GmbH", "", "80331", "München");
        assert_eq!(index.candidates(&rules, &crm, 100).len(), 20);
        assert!(index.candidates(&rules, &crm, 10).is_empty());
    }

    #[test]
    fn an_empty_index_has_no_blocks() {
        let crm = org("c", "Firma GmbH", "", "80331", "München");
        let rules = default_rules(EntityKind::Organisation);
        assert!(BlockIndex::default()
            .candidates(&rules, &crm, 10)
            .is_empty());
        let built = BlockIndex::build(&rules, &[]);
        assert!(built.is_empty() && built.candidates(&rules, &crm, 10).is_empty());
    }

    #[test]
    fn rule_names_round_trip_and_unknown_ones_are_listed() {
        for preset in Preset::ALL {
            assert_eq!(preset.as_str().parse::<Preset>(), Ok(*preset));
        }
        let err = "postcode".parse::<Preset>().unwrap_err();
        assert!(
            err.contains("postcode_name") && err.contains("on = ["),
            "{err}"
        );
    }

    #[test]
    fn rules_as_data_parse_print_and_refuse_what_is_unknown() {
        #[derive(Deserialize)]
        struct Rules {
            rules: Vec<Rule>,
        }
        let parsed: Rules = toml::from_str(
            r#"rules = ["lei", { on = ["postcode", "initial(first_name)"] }, { on = ["prefix(street, 4)", "year(birth_date)"] }]"#,
        )
        .unwrap();
        let printed: Vec<String> = parsed.rules.iter().map(Rule::to_string).collect();
        assert_eq!(
            printed,
            [
                "lei",
                "on(postcode, initial(first_name))",
                "on(prefix(street, 4), year(birth_date))"
            ]
        );
        let cases = [
            (
                r#"rules = [{ on = ["plz"] }]"#,
                "unknown canonical field `plz`",
            ),
            (
                r#"rules = [{ on = ["soundex(last_name)"] }]"#,
                "`soundex` is not a transform; transforms: exact, folded, phonetic",
            ),
            (
                r#"rules = [{ on = ["prefix(street, 0)"] }]"#,
                "from 1 to 20",
            ),
            (
                r#"rules = [{ on = ["industry_code"] }]"#,
                "not prepared for matching",
            ),
            (r#"rules = [{ on = [] }]"#, "at least one field"),
            (
                r#"rules = ["postcode"]"#,
                "unknown blocking rule `postcode`",
            ),
        ];
        for (text, problem) in cases {
            let e = toml::from_str::<Rules>(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(problem), "{text}: {e}");
        }
    }

    #[test]
    fn contacts_block_on_the_address_and_birth_date_without_names_agreeing() {
        let person =
            |id: &str, first: &str, last: &str, street: &str, postcode: &str, born: &str| {
                Prepared::new(
                    EntityKind::Contact,
                    &customer(id, (first, last), (street, postcode, "Köln"))
                        .with(Field::BirthDate, born),
                )
            };
        let register = [person(
            "r1",
            "Anna",
            "Schmidt",
            "Hauptstraße 12",
            "50667",
            "1980-04-09",
        )];
        let rules = default_rules(EntityKind::Contact);
        let index = BlockIndex::build(&rules, &register);
        let cases = [
            (
                "married: new last name, same street and house",
                person("c", "Anke", "Weber", "Hauptstr. 12", "50999", ""),
            ),
            (
                "last name typo at the same postcode",
                person("c", "Anna", "Xchmidt", "Ringstraße 1", "50667", ""),
            ),
            (
                "moved, same birth date",
                person(
                    "c",
                    "Hanna",
                    "Schmitt",
                    "Ringstraße 1",
                    "10115",
                    "09.04.1980",
                ),
            ),
        ];
        for (case, crm) in cases {
            assert_eq!(index.candidates(&rules, &crm, 100), vec![0], "{case}");
        }
    }
}
