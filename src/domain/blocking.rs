//! Blocking: which register records are compared with a CRM record at all. A pair is a
//! candidate when it shares a key under any of the configured rules (their union), so a
//! true match survives as long as one rule still sees it through the typos.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::model::EntityKind;
use super::normalise::koelner_phonetik;
use super::score::{hash64, Prepared};
use crate::domain::model::Field;

macro_rules! rules {
    ($($variant:ident => $name:literal: $doc:literal),* $(,)?) => {
        /// A blocking rule: how one blocking key is made from a prepared record.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rule { $(#[doc = $doc] $variant),* }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Rule::$variant => $name),* }
            }

            pub fn describe(self) -> &'static str {
                match self { $(Rule::$variant => $doc),* }
            }
        }

        impl FromStr for Rule {
            type Err = String;
            fn from_str(s: &str) -> Result<Rule, String> {
                match s {
                    $($name => Ok(Rule::$variant),)*
                    _ => Err(format!("unknown blocking rule `{s}`; known rules: {}", [$($name),*].join(", "))),
                }
            }
        }
    };
}

rules! {
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
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The default rules for `kind`: identifiers, then name and address rules that tolerate
/// the typical faults (typos, moves, renames).
pub fn default_rules(kind: EntityKind) -> Vec<Rule> {
    match kind {
        EntityKind::Organisation => vec![
            Rule::Lei,
            Rule::VatId,
            Rule::RegisterNumber,
            Rule::Name,
            Rule::PostcodeName,
            Rule::NameCity,
            Rule::NamePrefixCity,
            Rule::PhoneticPostcode,
            Rule::Address,
            Rule::Phone,
            Rule::Website,
            Rule::Email,
        ],
        EntityKind::Contact => vec![
            Rule::Email,
            Rule::Phone,
            Rule::LastNamePhonetic,
            Rule::FirstInitialLastName,
            Rule::OrganisationLastPrefix,
            Rule::OrganisationFirstInitial,
        ],
    }
}

/// Whether `rule` means anything for `kind` (a VAT id rule for contacts does not).
pub fn applies_to(rule: Rule, kind: EntityKind) -> bool {
    match rule {
        Rule::Email | Rule::Phone => true,
        Rule::LastNamePhonetic
        | Rule::FirstInitialLastName
        | Rule::OrganisationLastPrefix
        | Rule::OrganisationFirstInitial => kind == EntityKind::Contact,
        _ => kind == EntityKind::Organisation,
    }
}

/// The blocking key of `record` under `rule`, if the record has what the rule needs.
pub fn key(rule: Rule, kind: EntityKind, record: &Prepared) -> Option<u64> {
    let tag = [rule as u8];
    let one = |field: Field| {
        record
            .value(kind, field)
            .map(|v| hash64(&[&tag, v.as_bytes()]))
    };
    let first_token = || {
        record
            .name()
            .and_then(|n| n.split(' ').find(|t| t.len() >= 2))
    };
    match rule {
        Rule::Lei => one(Field::Lei),
        Rule::VatId => one(Field::VatId),
        Rule::RegisterNumber => one(Field::RegisterNumber),
        Rule::Email => one(Field::Email),
        Rule::Phone => one(Field::Phone),
        Rule::Website => one(Field::Website),
        Rule::Name => record.name().map(|n| hash64(&[&tag, n.as_bytes()])),
        Rule::PostcodeName => {
            let (p, n) = (record.postcode()?, record.name()?);
            let prefix: String = n.chars().filter(|c| *c != ' ').take(3).collect();
            Some(hash64(&[&tag, p.as_bytes(), prefix.as_bytes()]))
        }
        Rule::NameCity => {
            let (t, c) = (first_token()?, record.city()?);
            let city = c.split(' ').next().unwrap_or(c);
            Some(hash64(&[&tag, t.as_bytes(), city.as_bytes()]))
        }
        Rule::NamePrefixCity => {
            let prefix: String = record
                .name()?
                .chars()
                .filter(|c| *c != ' ')
                .take(4)
                .collect();
            let c = record.city()?;
            let city = c.split(' ').next().unwrap_or(c);
            Some(hash64(&[&tag, prefix.as_bytes(), city.as_bytes()]))
        }
        Rule::PhoneticPostcode => {
            let code = koelner_phonetik(first_token()?);
            let area = record.postcode()?.get(..2)?;
            Some(hash64(&[&tag, code.as_bytes(), area.as_bytes()]))
        }
        Rule::NameTokens => {
            let mut tokens = record.name()?.split(' ').filter(|t| t.len() >= 2);
            let (a, b) = (tokens.next()?, tokens.next()?);
            Some(hash64(&[&tag, a.as_bytes(), b.as_bytes()]))
        }
        Rule::Address => {
            let (s, h, p) = (record.street()?, record.house_number()?, record.postcode()?);
            Some(hash64(&[&tag, s.as_bytes(), h.as_bytes(), p.as_bytes()]))
        }
        Rule::LastNamePhonetic => record
            .last_name_sound()
            .filter(|s| !s.is_empty())
            .map(|s| hash64(&[&tag, s.as_bytes()])),
        Rule::FirstInitialLastName => {
            let (f, l) = (record.first_name()?, record.last_name()?);
            let initial = f.chars().next()?.to_string();
            Some(hash64(&[&tag, initial.as_bytes(), l.as_bytes()]))
        }
        Rule::OrganisationLastPrefix => {
            let last: String = record.last_name()?.chars().take(3).collect();
            let organisation = record.value(kind, Field::OrganisationName)?;
            let token = organisation.split(' ').find(|t| t.len() >= 2)?;
            Some(hash64(&[&tag, last.as_bytes(), token.as_bytes()]))
        }
        Rule::OrganisationFirstInitial => {
            let initial = record.first_name()?.chars().next()?.to_string();
            let organisation = record.value(kind, Field::OrganisationName)?;
            Some(hash64(&[&tag, initial.as_bytes(), organisation.as_bytes()]))
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
            .copied()
            .filter(|r| applies_to(*r, kind))
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
    /// Indexes `records` (numbered by position) under every rule.
    pub fn build<'a>(
        kind: EntityKind,
        rules: &[Rule],
        records: impl IntoIterator<Item = &'a Prepared>,
    ) -> BlockIndex {
        let mut entries = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            let Ok(at) = u32::try_from(i) else { break };
            for rule in rules {
                if let Some(k) = key(*rule, kind, r) {
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
    pub fn candidates(
        &self,
        kind: EntityKind,
        rules: &[Rule],
        record: &Prepared,
        max_block: usize,
    ) -> Vec<u32> {
        let mut out = Vec::new();
        for rule in rules {
            if let Some(k) = key(*rule, kind, record) {
                let block = self.block(k);
                if block.len() <= max_block {
                    out.extend(block.iter().map(|(_, i)| *i));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
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
    use crate::domain::model::Record;

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
        let index = BlockIndex::build(EntityKind::Organisation, &rules, &register);
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
            assert_eq!(
                index.candidates(EntityKind::Organisation, &rules, &crm, 100),
                want,
                "{label}"
            );
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
        let index = BlockIndex::build(EntityKind::Contact, &rules, &register);
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
            assert_eq!(
                index.candidates(EntityKind::Contact, &rules, &crm, 100),
                want,
                "{label}"
            );
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
        let rules = [Rule::NameCity];
        let index = BlockIndex::build(EntityKind::Organisation, &rules, &register);
        let crm = org("c", "Firma X GmbH", "", "80331", "München");
        assert_eq!(
            index
                .candidates(EntityKind::Organisation, &rules, &crm, 100)
                .len(),
            20
        );
        assert!(index
            .candidates(EntityKind::Organisation, &rules, &crm, 10)
            .is_empty());
    }

    #[test]
    fn an_empty_index_has_no_blocks() {
        let crm = org("c", "Firma GmbH", "", "80331", "München");
        let rules = default_rules(EntityKind::Organisation);
        assert!(BlockIndex::default()
            .candidates(EntityKind::Organisation, &rules, &crm, 10)
            .is_empty());
        let built = BlockIndex::build(EntityKind::Organisation, &rules, &[]);
        assert!(
            built.is_empty()
                && built
                    .candidates(EntityKind::Organisation, &rules, &crm, 10)
                    .is_empty()
        );
    }

    #[test]
    fn rule_names_round_trip_and_unknown_ones_are_listed() {
        for rule in Rule::ALL {
            assert_eq!(rule.as_str().parse::<Rule>(), Ok(*rule));
        }
        let err = "postcode".parse::<Rule>().unwrap_err();
        assert!(err.contains("postcode_name"), "{err}");
    }
}
