//! Free-text CRM values mapped onto controlled lists: industry (WZ 2008 classes), legal
//! form, country (ISO 3166-1 alpha-2) and salutation. Each mapping carries a confidence; it
//! is offered as a proposal, never applied unasked.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::diff::PlannedChange;
use super::model::{ChangeKind, EntityKind, Field, Policy, Record};
use super::normalise::{canonical_legal_form, fold_text};
use super::policy::Action;

/// The WZ 2008 code list (Statistisches Bundesamt (Destatis)), see data/SOURCES.md.
const WZ2008: &str = include_str!("../../data/industry/wz2008_de.csv");

/// A mapping of one CRM value onto its controlled form.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub field: Field,
    pub from: String,
    pub to: String,
    pub confidence: f64,
    /// How the mapping was found, for the steward.
    pub via: String,
}

/// Fuzzy matches below this never become proposals.
const MIN_CONFIDENCE: f64 = 0.85;

/// Trade words people type, mapped to the WZ 2008 class.
const INDUSTRY_SYNONYMS: &[(&str, &str)] = &[
    ("baecker", "10.71"),
    ("baeckerei", "10.71"),
    ("konditor", "10.71"),
    ("konditorei", "10.71"),
    ("backwaren", "10.71"),
    ("metzger", "10.13"),
    ("metzgerei", "10.13"),
    ("fleischerei", "10.13"),
    ("steuerberater", "69.20"),
    ("steuerberatung", "69.20"),
    ("wirtschaftspruefer", "69.20"),
    ("rechtsanwalt", "69.10"),
    ("kanzlei", "69.10"),
    ("software", "62.01"),
    ("softwareentwicklung", "62.01"),
    ("it dienstleister", "62.02"),
    ("spedition", "52.29"),
    ("logistik", "49.41"),
    ("maschinenbau", "28.99"),
    ("autohaus", "45.11"),
    ("kfz handel", "45.11"),
    ("immobilien", "68.20"),
    ("hausverwaltung", "68.32"),
    ("gebaeudereinigung", "81.21"),
    ("druckerei", "18.12"),
    ("metallbau", "25.11"),
    ("unternehmensberatung", "70.22"),
    ("zahntechnik", "32.50"),
    ("elektrotechnik", "27.90"),
    ("bauunternehmen", "41.20"),
    ("hochbau", "41.20"),
    ("feinkost", "47.29"),
    ("gastronomie", "56.10"),
    ("restaurant", "56.10"),
    ("hotel", "55.10"),
];

/// Names of countries as typed in German and English CRMs, with ISO codes.
const COUNTRIES: &[(&str, &str)] = &[
    ("deutschland", "DE"),
    ("germany", "DE"),
    ("brd", "DE"),
    ("bundesrepublik deutschland", "DE"),
    ("d", "DE"),
    ("deu", "DE"),
    ("oesterreich", "AT"),
    ("austria", "AT"),
    ("aut", "AT"),
    ("a", "AT"),
    ("schweiz", "CH"),
    ("switzerland", "CH"),
    ("che", "CH"),
    ("frankreich", "FR"),
    ("france", "FR"),
    ("fra", "FR"),
    ("niederlande", "NL"),
    ("netherlands", "NL"),
    ("holland", "NL"),
    ("nld", "NL"),
    ("belgien", "BE"),
    ("belgium", "BE"),
    ("bel", "BE"),
    ("luxemburg", "LU"),
    ("luxembourg", "LU"),
    ("lux", "LU"),
    ("italien", "IT"),
    ("italy", "IT"),
    ("ita", "IT"),
    ("spanien", "ES"),
    ("spain", "ES"),
    ("esp", "ES"),
    ("polen", "PL"),
    ("poland", "PL"),
    ("pol", "PL"),
    ("tschechien", "CZ"),
    ("czech republic", "CZ"),
    ("czechia", "CZ"),
    ("cze", "CZ"),
    ("daenemark", "DK"),
    ("denmark", "DK"),
    ("dnk", "DK"),
    ("schweden", "SE"),
    ("sweden", "SE"),
    ("swe", "SE"),
    ("vereinigtes koenigreich", "GB"),
    ("grossbritannien", "GB"),
    ("united kingdom", "GB"),
    ("england", "GB"),
    ("uk", "GB"),
    ("gbr", "GB"),
    ("vereinigte staaten", "US"),
    ("usa", "US"),
    ("united states", "US"),
];

const SALUTATIONS: &[(&str, &str)] = &[
    ("herr", "Herr"),
    ("herrn", "Herr"),
    ("hr", "Herr"),
    ("mr", "Herr"),
    ("mister", "Herr"),
    ("frau", "Frau"),
    ("fr", "Frau"),
    ("mrs", "Frau"),
    ("ms", "Frau"),
    ("miss", "Frau"),
];

/// Long German legal-form names the abbreviation table does not cover.
const LEGAL_FORM_NAMES: &[(&str, &str)] = &[
    ("gesellschaft mit beschraenkter haftung", "GmbH"),
    ("aktiengesellschaft", "AG"),
    ("kommanditgesellschaft", "KG"),
    ("offene handelsgesellschaft", "OHG"),
    ("eingetragener kaufmann", "e.K."),
    ("eingetragene kauffrau", "e.K."),
    ("eingetragener verein", "e.V."),
    ("eingetragene genossenschaft", "eG"),
    ("gesellschaft buergerlichen rechts", "GbR"),
    (
        "unternehmergesellschaft haftungsbeschraenkt",
        "UG (haftungsbeschränkt)",
    ),
    ("europaeische gesellschaft", "SE"),
];

struct WzClass {
    code: &'static str,
    tokens: Vec<String>,
}

struct Wz {
    classes: Vec<WzClass>,
    /// Code of every level → title.
    titles: HashMap<&'static str, &'static str>,
    /// Code → the code one level up (a section has none).
    parents: HashMap<&'static str, &'static str>,
}

/// WZ classes (level 4) with their title tokens; codes of every level for validation.
fn wz() -> &'static Wz {
    static TABLE: OnceLock<Wz> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut classes = Vec::new();
        let mut codes = HashMap::new();
        let mut parents = HashMap::new();
        for line in WZ2008.lines().skip(1) {
            let mut parts = line.splitn(3, ',');
            let (Some(code), Some(level), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (title, parent) = rest.rsplit_once(',').unwrap_or((rest, ""));
            let title = title.trim_matches('"');
            codes.insert(code, title);
            if !parent.is_empty() {
                parents.insert(code, parent);
            }
            if level == "4" {
                let tokens = fold_text(title)
                    .split(' ')
                    .filter(|t| {
                        t.len() >= 4
                            && !["von", "und", "sowie", "ohne", "sonstigen", "sonstige"].contains(t)
                    })
                    .map(str::to_string)
                    .collect();
                classes.push(WzClass { code, tokens });
            }
        }
        Wz {
            classes,
            titles: codes,
            parents,
        }
    })
}

/// The WZ 2008 title of a code, if it is one.
pub fn wz_title(code: &str) -> Option<&'static str> {
    wz().titles.get(code.trim()).copied()
}

/// The WZ 2008 section (`A`–`U`) a code of any level belongs to, if it is one.
pub fn wz_section(code: &str) -> Option<&'static str> {
    let table = wz();
    let mut at = *table.titles.get_key_value(code.trim())?.0;
    while let Some(parent) = table.parents.get(at) {
        at = parent;
    }
    Some(at)
}

/// The fields of `kind` that belong to a controlled list.
pub fn fields(kind: EntityKind) -> &'static [Field] {
    match kind {
        EntityKind::Organisation => &[Field::IndustryCode, Field::LegalForm, Field::Country],
        EntityKind::Contact => &[Field::Salutation],
    }
}

/// Whether `value` is already in the controlled list of `field` (one of [`fields`]): a
/// WZ 2008 code, a canonical legal form, an ISO 3166-1 alpha-2 code, `Herr` or `Frau`.
pub fn in_list(field: Field, value: &str) -> bool {
    let v = value.trim();
    match field {
        Field::IndustryCode => wz_title(v).is_some(),
        Field::LegalForm => canonical_legal_form(v) == Some(v),
        Field::Country => COUNTRIES.iter().any(|(_, code)| *code == v),
        Field::Salutation => SALUTATIONS.iter().any(|(_, s)| *s == v),
        _ => false,
    }
}

/// Free industry text to a WZ 2008 class: a synonym first, else the class whose title
/// shares the input's words best (token-wise Jaro–Winkler).
pub fn industry(text: &str) -> Option<(String, f64, String)> {
    let folded = fold_text(text);
    if let Some((_, code)) = INDUSTRY_SYNONYMS.iter().find(|(s, _)| *s == folded) {
        return Some((code.to_string(), 0.95, format!("synonym `{folded}`")));
    }
    let words: Vec<&str> = folded.split(' ').filter(|w| w.len() >= 4).collect();
    if words.is_empty() {
        return None;
    }
    let classes = &wz().classes;
    let mut best: Option<(&WzClass, f64)> = None;
    for class in classes {
        if class.tokens.is_empty() {
            continue;
        }
        // Mostly: are the typed words in the title? A little: is the title mostly those
        // words? (so "Dauerbackwaren" prefers its own class to the broader one).
        let recall = words
            .iter()
            .map(|w| {
                class
                    .tokens
                    .iter()
                    .map(|t| word_similarity(w, t))
                    .fold(0.0, f64::max)
            })
            .sum::<f64>()
            / words.len() as f64;
        let precision = class
            .tokens
            .iter()
            .filter(|t| words.iter().any(|w| word_similarity(w, t) >= 0.9))
            .count() as f64
            / class.tokens.len() as f64;
        let score = 0.85 * recall + 0.15 * precision;
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((class, score));
        }
    }
    let (class, score) = best?;
    let confidence = score * 0.97;
    (confidence >= MIN_CONFIDENCE).then(|| {
        (
            class.code.to_string(),
            confidence,
            format!("WZ 2008 title `{}`", wz_title(class.code).unwrap_or("")),
        )
    })
}

/// Compound-aware: `backwaren` matches inside `backwarenherstellung` fully.
fn word_similarity(word: &str, title_word: &str) -> f64 {
    if title_word.starts_with(word) || word.starts_with(title_word) && title_word.len() >= 6 {
        1.0
    } else {
        super::score::similarity(word, title_word)
    }
}

/// Every controlled-list mapping for `record` whose value is not already in its list.
pub fn mappings(kind: EntityKind, record: &Record) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut push = |field: Field, to: String, confidence: f64, via: String| {
        let from = record.raw(field).unwrap_or_default().to_string();
        if from.trim() != to {
            out.push(Mapping {
                field,
                from,
                to,
                confidence,
                via,
            });
        }
    };
    match kind {
        EntityKind::Organisation => {
            if let Some(v) = record.get(Field::IndustryCode) {
                if wz_title(v).is_none() {
                    if let Some((code, confidence, via)) = industry(v) {
                        push(Field::IndustryCode, code, confidence, via);
                    }
                }
            }
            if let Some(v) = record.get(Field::LegalForm) {
                let folded = fold_text(v);
                let canonical = canonical_legal_form(v).or_else(|| {
                    LEGAL_FORM_NAMES
                        .iter()
                        .find(|(n, _)| *n == folded)
                        .map(|(_, c)| *c)
                });
                if let Some(c) = canonical {
                    push(
                        Field::LegalForm,
                        c.to_string(),
                        1.0,
                        "legal form list".into(),
                    );
                }
            }
            if let Some(v) = record.get(Field::Country) {
                if let Some((_, code)) = COUNTRIES.iter().find(|(n, _)| *n == fold_text(v)) {
                    push(
                        Field::Country,
                        code.to_string(),
                        1.0,
                        "ISO 3166-1 country names".into(),
                    );
                }
            }
        }
        EntityKind::Contact => {
            if let Some(v) = record.get(Field::Salutation) {
                if let Some((_, s)) = SALUTATIONS.iter().find(|(n, _)| *n == fold_text(v)) {
                    push(
                        Field::Salutation,
                        s.to_string(),
                        1.0,
                        "salutation list".into(),
                    );
                }
            }
        }
    }
    out
}

impl Mapping {
    /// The mapping as a proposal under `policy`: controlled-list mappings are never applied
    /// unasked.
    pub fn proposal(self, policy: Policy) -> PlannedChange {
        PlannedChange {
            kind: ChangeKind::Picklist,
            field: self.field,
            old: Some(self.from),
            new: self.to,
            policy,
            action: Action::Propose,
            hold: None,
            confidence: Some((self.confidence, self.via)),
            note: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_their_list_are_told_from_free_text() {
        // (field, value, in the list)
        let cases = [
            (Field::IndustryCode, "62.01", true),
            (Field::IndustryCode, "J", true),
            (Field::IndustryCode, "Software", false),
            (Field::LegalForm, "GmbH", true),
            (Field::LegalForm, "gmbh", false),
            (Field::LegalForm, "Aktiengesellschaft", false),
            (Field::Country, "DE", true),
            (Field::Country, "Deutschland", false),
            (Field::Salutation, "Frau", true),
            (Field::Salutation, "Fr.", false),
            (Field::City, "Köln", false),
        ];
        for (field, value, want) in cases {
            assert_eq!(in_list(field, value), want, "{field} {value}");
        }
    }

    #[test]
    fn every_wz_code_leads_up_to_its_section() {
        let cases = [
            ("62.01.9", Some("J")),
            ("62.01", Some("J")),
            ("62", Some("J")),
            ("J", Some("J")),
            ("10.71", Some("C")),
            ("99.99", None),
        ];
        for (code, section) in cases {
            assert_eq!(wz_section(code), section, "{code}");
        }
    }

    #[test]
    fn industry_text_table() {
        // (typed, WZ class)
        let cases = [
            ("Bäcker", "10.71"),
            ("Konditorei", "10.71"),
            ("Backwaren", "10.71"),
            ("Steuerberatung", "69.20"),
            ("Herstellung von Dauerbackwaren", "10.72"),
            ("Teigwaren", "10.73"),
            ("Programmierungstätigkeiten", "62.01"),
        ];
        for (text, code) in cases {
            let got = industry(text).map(|(c, _, _)| c);
            assert_eq!(got.as_deref(), Some(code), "{text}");
        }
        assert!(industry("xyz").is_none());
        assert!(industry("").is_none());
    }

    #[test]
    fn valid_codes_are_left_alone_and_known_titles_found() {
        assert_eq!(
            wz_title("10.71"),
            Some("Herstellung von Backwaren (ohne Dauerbackwaren)")
        );
        let r = Record::new("1").with(Field::IndustryCode, "10.71");
        assert!(mappings(EntityKind::Organisation, &r).is_empty());
    }

    #[test]
    fn controlled_lists_table() {
        let cases = [
            (
                EntityKind::Organisation,
                Field::Country,
                "Deutschland",
                Some("DE"),
            ),
            (
                EntityKind::Organisation,
                Field::Country,
                "Österreich",
                Some("AT"),
            ),
            (EntityKind::Organisation, Field::Country, "DE", None),
            (
                EntityKind::Organisation,
                Field::LegalForm,
                "Gesellschaft mit beschränkter Haftung",
                Some("GmbH"),
            ),
            (
                EntityKind::Organisation,
                Field::LegalForm,
                "GmbH & Co KG",
                Some("GmbH & Co. KG"),
            ),
            (EntityKind::Organisation, Field::LegalForm, "GmbH", None),
            (EntityKind::Contact, Field::Salutation, "Hr.", Some("Herr")),
            (EntityKind::Contact, Field::Salutation, "Mrs", Some("Frau")),
            (EntityKind::Contact, Field::Salutation, "Frau", None),
        ];
        for (kind, field, value, want) in cases {
            let got = mappings(kind, &Record::new("1").with(field, value));
            assert_eq!(
                got.first().map(|m| m.to.as_str()),
                want,
                "{field} {value:?}"
            );
        }
    }
}
