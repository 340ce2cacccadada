//! First-cut comparison and scoring of a CRM record against one register candidate.
//! Identifiers decide when they agree; otherwise name and place similarity (strsim).
//! Every score comes with the per-field comparisons that produced it.

use serde::{Deserialize, Serialize};

use super::model::{EntityKind, Field, Record};
use super::normalise::{comparable, split_legal_form};

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

    fn from_similarity(similarity: f64) -> Level {
        if similarity >= 0.999 {
            Level::Exact
        } else if similarity >= 0.88 {
            Level::Close
        } else {
            Level::Far
        }
    }
}

/// One field of the explanation: both values, how they compare, what they added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub field: Field,
    pub crm: Option<String>,
    pub register: Option<String>,
    pub level: Level,
    /// Similarity in [0, 1] where both sides have a value.
    pub similarity: Option<f64>,
    pub contribution: f64,
}

/// How a candidate was found to be the same entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// An identifier (LEI, VAT id, register number, e-mail) agrees.
    Identifier,
    /// Name and place similarity.
    Similarity,
}

/// A register candidate with its score in [0, 1] and the explanation behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub register_id: String,
    pub score: f64,
    pub method: Method,
    pub comparisons: Vec<Comparison>,
}

impl Scored {
    /// A short grade string, e.g. `lei=A name=B postcode=A city=A`.
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
        Field::RegisterNumber => "register",
        other => other.as_str(),
    }
}

/// Score given to a candidate whose identifier agrees and whose name is plausible.
const IDENTIFIER_SCORE: f64 = 0.99;
/// An identifier agrees but the names do not: a steward should look.
const IDENTIFIER_NAME_CONFLICT_SCORE: f64 = 0.7;
/// Names below this similarity do not support an identifier match.
const NAME_SUPPORT_MIN: f64 = 0.6;
/// Factor applied when an identifier is present on both sides and disagrees.
const IDENTIFIER_DISAGREES_FACTOR: f64 = 0.75;

/// Scores `crm` against the register `candidate`.
pub fn score(kind: EntityKind, crm: &Record, candidate: &Record) -> Scored {
    match kind {
        EntityKind::Organisation => score_organisation(crm, candidate),
        EntityKind::Contact => score_contact(crm, candidate),
    }
}

/// Weight of each similarity field in the score; a field missing on either side counts
/// as [`NEUTRAL`], so a sparse record is neither rewarded nor punished for its gaps.
const ORGANISATION_WEIGHTS: &[(Field, f64)] = &[
    (Field::LegalName, 0.65),
    (Field::Postcode, 0.21),
    (Field::City, 0.14),
];
const CONTACT_WEIGHTS: &[(Field, f64)] = &[
    (Field::FirstName, 0.3),
    (Field::LastName, 0.5),
    (Field::Phone, 0.2),
];
const NEUTRAL: f64 = 0.5;

fn score_organisation(crm: &Record, reg: &Record) -> Scored {
    let mut comparisons = Vec::new();
    let ids = [Field::Lei, Field::VatId, Field::RegisterNumber]
        .map(|field| compare_identifier(field, crm, reg, &mut comparisons));
    let name = compare_names(crm, reg, &mut comparisons);
    compare_exact(Field::Postcode, crm, reg, &mut comparisons);
    compare_similar(Field::City, crm, reg, &mut comparisons);
    finish(
        reg,
        comparisons,
        &ids,
        name.unwrap_or(0.0),
        ORGANISATION_WEIGHTS,
    )
}

fn score_contact(crm: &Record, reg: &Record) -> Scored {
    let mut comparisons = Vec::new();
    let ids = [compare_identifier(Field::Email, crm, reg, &mut comparisons)];
    let first = compare_similar(Field::FirstName, crm, reg, &mut comparisons);
    let last = compare_similar(Field::LastName, crm, reg, &mut comparisons);
    compare_exact(Field::Phone, crm, reg, &mut comparisons);
    let name = 0.375 * first.unwrap_or(NEUTRAL) + 0.625 * last.unwrap_or(0.0);
    finish(reg, comparisons, &ids, name, CONTACT_WEIGHTS)
}

/// Combines identifier agreement with the weighted similarity and records each field's
/// contribution, so that the contributions add up to the score.
fn finish(
    reg: &Record,
    mut comparisons: Vec<Comparison>,
    ids: &[Option<bool>],
    name_similarity: f64,
    weights: &[(Field, f64)],
) -> Scored {
    let weight = |field: Field| {
        weights
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(0.0, |(_, w)| *w)
    };
    let any_agrees = ids.contains(&Some(true));
    let any_disagrees = ids.contains(&Some(false));
    let method = if any_agrees {
        Method::Identifier
    } else {
        Method::Similarity
    };
    let identifier_score = if name_similarity >= NAME_SUPPORT_MIN {
        IDENTIFIER_SCORE
    } else {
        IDENTIFIER_NAME_CONFLICT_SCORE
    };
    let factor = if any_disagrees {
        IDENTIFIER_DISAGREES_FACTOR
    } else {
        1.0
    };
    let mut identifier_credited = false;
    for c in &mut comparisons {
        c.contribution = match method {
            Method::Identifier
                if is_identifier(c.field) && c.level == Level::Exact && !identifier_credited =>
            {
                identifier_credited = true;
                identifier_score
            }
            Method::Identifier => 0.0,
            Method::Similarity => {
                factor * weight(c.field) * c.similarity.map_or(NEUTRAL, |s| evidence(c.field, s))
            }
        };
    }
    let score = comparisons.iter().map(|c| c.contribution).sum::<f64>();
    Scored {
        register_id: reg.id.clone(),
        score: score.clamp(0.0, 1.0),
        method,
        comparisons,
    }
}

/// Jaro-Winkler gives unrelated names 0.5–0.7; only the part above that is evidence.
const NAME_SIMILARITY_FLOOR: f64 = 0.7;

/// How much a similarity counts: names are rescaled above [`NAME_SIMILARITY_FLOOR`], so two
/// different firms in one street do not add up to a match on their address alone.
fn evidence(field: Field, similarity: f64) -> f64 {
    match field {
        Field::LegalName | Field::FirstName | Field::LastName | Field::City => {
            ((similarity - NAME_SIMILARITY_FLOOR) / (1.0 - NAME_SIMILARITY_FLOOR)).clamp(0.0, 1.0)
        }
        _ => similarity,
    }
}

fn is_identifier(field: Field) -> bool {
    matches!(
        field,
        Field::Lei | Field::VatId | Field::RegisterNumber | Field::Email
    )
}

fn values(field: Field, crm: &Record, reg: &Record) -> (Option<String>, Option<String>) {
    (
        crm.get(field).map(str::to_string),
        reg.get(field).map(str::to_string),
    )
}

/// Some(true) when both sides carry the identifier and agree, Some(false) when they differ.
fn compare_identifier(
    field: Field,
    crm: &Record,
    reg: &Record,
    out: &mut Vec<Comparison>,
) -> Option<bool> {
    let (a, b) = values(field, crm, reg);
    let (level, verdict) = match (&a, &b) {
        (Some(x), Some(y)) if comparable(field, x) == comparable(field, y) => {
            (Level::Exact, Some(true))
        }
        (Some(_), Some(_)) => (Level::Far, Some(false)),
        _ => (Level::Missing, None),
    };
    // Register numbers repeat across courts: they only count when the courts agree too.
    let verdict = if field == Field::RegisterNumber && verdict == Some(true) {
        let (ca, cb) = values(Field::RegisterCourt, crm, reg);
        match (ca, cb) {
            (Some(x), Some(y))
                if comparable(Field::RegisterCourt, &x) != comparable(Field::RegisterCourt, &y) =>
            {
                None
            }
            _ => verdict,
        }
    } else {
        verdict
    };
    if level != Level::Missing {
        let similarity = Some(if level == Level::Exact { 1.0 } else { 0.0 });
        out.push(Comparison {
            field,
            crm: a,
            register: b,
            level,
            similarity,
            contribution: 0.0,
        });
    }
    verdict
}

/// Organisation names compared without their legal forms; a differing legal form costs a little.
fn compare_names(crm: &Record, reg: &Record, out: &mut Vec<Comparison>) -> Option<f64> {
    let (a, b) = values(Field::LegalName, crm, reg);
    let similarity = match (&a, &b) {
        (Some(x), Some(y)) => {
            let (core_x, form_x) = split_legal_form(x);
            let (core_y, form_y) = split_legal_form(y);
            let base = strsim::jaro_winkler(&core_x, &core_y);
            Some(match (form_x, form_y) {
                (Some(fx), Some(fy)) if fx != fy => base * 0.95,
                _ => base,
            })
        }
        _ => None,
    };
    push(Field::LegalName, a, b, similarity, out);
    similarity
}

fn compare_exact(
    field: Field,
    crm: &Record,
    reg: &Record,
    out: &mut Vec<Comparison>,
) -> Option<f64> {
    let (a, b) = values(field, crm, reg);
    let similarity = match (&a, &b) {
        (Some(x), Some(y)) => Some(if comparable(field, x) == comparable(field, y) {
            1.0
        } else {
            0.0
        }),
        _ => None,
    };
    push(field, a, b, similarity, out);
    similarity
}

fn compare_similar(
    field: Field,
    crm: &Record,
    reg: &Record,
    out: &mut Vec<Comparison>,
) -> Option<f64> {
    let (a, b) = values(field, crm, reg);
    let similarity = match (&a, &b) {
        (Some(x), Some(y)) => Some(strsim::jaro_winkler(
            &comparable(field, x),
            &comparable(field, y),
        )),
        _ => None,
    };
    push(field, a, b, similarity, out);
    similarity
}

fn push(
    field: Field,
    crm: Option<String>,
    register: Option<String>,
    similarity: Option<f64>,
    out: &mut Vec<Comparison>,
) {
    let level = similarity.map_or(Level::Missing, Level::from_similarity);
    out.push(Comparison {
        field,
        crm,
        register,
        level,
        similarity,
        contribution: 0.0,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str, name: &str, postcode: &str, city: &str) -> Record {
        Record::new(id)
            .with(Field::LegalName, name)
            .with(Field::Postcode, postcode)
            .with(Field::City, city)
    }

    #[test]
    fn scores_by_case_table() {
        // (crm, register, min score, max score, method)
        let base = org("c", "Müller Maschinenbau GmbH", "80331", "München");
        let cases = [
            (
                "same name and place",
                org("r", "Mueller Maschinenbau GmbH", "80331", "Muenchen"),
                0.99,
                1.0,
                Method::Similarity,
            ),
            (
                "typo in name",
                org("r", "Müler Maschinenbau GmbH", "80331", "München"),
                0.9,
                0.999,
                Method::Similarity,
            ),
            (
                "other city",
                org("r", "Müller Maschinenbau GmbH", "20095", "Hamburg"),
                0.6,
                0.75,
                Method::Similarity,
            ),
            (
                "other company",
                org("r", "Schulz Logistik AG", "20095", "Hamburg"),
                0.0,
                0.5,
                Method::Similarity,
            ),
            (
                "neighbour firm",
                org("r", "Müller Logistik GmbH", "80331", "München"),
                0.0,
                0.75,
                Method::Similarity,
            ),
        ];
        for (label, reg, min, max, method) in cases {
            let s = score(EntityKind::Organisation, &base, &reg);
            assert!(
                s.score >= min && s.score <= max,
                "{label}: {} not in [{min}, {max}] ({})",
                s.score,
                s.grade()
            );
            assert_eq!(s.method, method, "{label}");
        }
    }

    #[test]
    fn agreeing_identifier_decides_unless_names_clash() {
        let crm =
            org("c", "Fraport AG", "60547", "Frankfurt").with(Field::Lei, "5299001ERX0K10IZUL40");
        let reg = org(
            "r",
            "Fraport AG Frankfurt Airport Services Worldwide",
            "60547",
            "Frankfurt am Main",
        )
        .with(Field::Lei, "5299001ERX0K10IZUL40");
        let s = score(EntityKind::Organisation, &crm, &reg);
        assert_eq!(
            (s.method, s.score),
            (Method::Identifier, IDENTIFIER_SCORE),
            "{}",
            s.grade()
        );

        let clash = org("r", "Zeppelin Baumaschinen GmbH", "60547", "Frankfurt")
            .with(Field::Lei, "5299001ERX0K10IZUL40");
        let s = score(EntityKind::Organisation, &crm, &clash);
        assert_eq!(s.score, IDENTIFIER_NAME_CONFLICT_SCORE);
    }

    #[test]
    fn register_number_needs_the_same_court() {
        let crm = org("c", "Alpha GmbH", "10115", "Berlin")
            .with(Field::RegisterNumber, "HRB 1234")
            .with(Field::RegisterCourt, "Amtsgericht Charlottenburg");
        let other_court = org("r", "Alpha GmbH", "10115", "Berlin")
            .with(Field::RegisterNumber, "HRB 1234")
            .with(Field::RegisterCourt, "München");
        assert_eq!(
            score(EntityKind::Organisation, &crm, &other_court).method,
            Method::Similarity
        );
    }

    #[test]
    fn grade_string_names_each_compared_field() {
        let crm = org("c", "Alpha GmbH", "10115", "Berlin");
        let reg = org("r", "Alpha GmbH", "10117", "Berlin");
        assert_eq!(
            score(EntityKind::Organisation, &crm, &reg).grade(),
            "name=A postcode=C city=A"
        );
    }

    #[test]
    fn contacts_match_on_email_or_name_and_phone() {
        let crm = Record::new("c")
            .with(Field::FirstName, "Anna")
            .with(Field::LastName, "Schmidt")
            .with(Field::Email, "anna.schmidt@alpha.de")
            .with(Field::Phone, "030 1234");
        let by_email = crm.clone().with(Field::Email, "Anna.Schmidt@alpha.de");
        assert_eq!(
            score(EntityKind::Contact, &crm, &by_email).method,
            Method::Identifier
        );
        let mut by_name = crm.clone();
        by_name.values.remove(&Field::Email);
        assert!(score(EntityKind::Contact, &crm, &by_name).score > 0.95);
    }

    #[test]
    fn contributions_add_up_to_the_similarity_score() {
        let crm = org("c", "Alpha Logistik GmbH", "10115", "Berlin");
        let reg = org("r", "Alpha Logistics GmbH", "10115", "Berlin-Mitte");
        let s = score(EntityKind::Organisation, &crm, &reg);
        let sum: f64 = s.comparisons.iter().map(|c| c.contribution).sum();
        assert!(
            (sum - s.score).abs() < 1e-9,
            "sum {sum} vs score {}",
            s.score
        );
    }
}
