//! What a field policy allows for one differing field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Band, EntityKind, Field, Policy};
use super::normalise::fold_text;

/// A field's policy and, optionally, the match probability below which it is never
/// applied without review (`min_probability = 0.98` for a legal name, say).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a policy name, or a table { policy = \"…\", min_probability = 0.0–1.0 }"
)]
pub enum FieldRule {
    Short(Policy),
    Full {
        policy: Policy,
        min_probability: Option<f64>,
    },
}

impl FieldRule {
    pub fn policy(self) -> Policy {
        match self {
            FieldRule::Short(p) | FieldRule::Full { policy: p, .. } => p,
        }
    }

    pub fn min_probability(self) -> Option<f64> {
        match self {
            FieldRule::Short(_) => None,
            FieldRule::Full {
                min_probability, ..
            } => min_probability,
        }
    }
}

/// Policies for a job that lists none: identifiers and legal data are filled, free text
/// and anything that could be a person's own correction is proposed.
pub fn default_rules(kind: EntityKind) -> BTreeMap<Field, FieldRule> {
    use Policy::*;
    let pairs: &[(Field, Policy)] = match kind {
        EntityKind::Organisation => &[
            (Field::LegalName, Propose),
            (Field::LegalForm, FillEmpty),
            (Field::Street, Propose),
            (Field::HouseNumber, Propose),
            (Field::Postcode, Propose),
            (Field::City, OverwritePlaceholder),
            (Field::Country, FillEmpty),
            (Field::VatId, FillEmpty),
            (Field::Lei, FillEmpty),
            (Field::RegisterCourt, FillEmpty),
            (Field::RegisterNumber, FillEmpty),
            (Field::Website, FillEmpty),
            (Field::Phone, OverwritePlaceholder),
            (Field::IndustryCode, FillEmpty),
            (Field::Status, Propose),
        ],
        EntityKind::Contact => &[
            (Field::Salutation, FillEmpty),
            (Field::Title, FillEmpty),
            (Field::FirstName, Propose),
            (Field::LastName, Propose),
            (Field::Role, Propose),
            (Field::Email, FillEmpty),
            (Field::Phone, FillEmpty),
        ],
    };
    pairs
        .iter()
        .map(|(f, p)| (*f, FieldRule::Short(*p)))
        .collect()
}

/// What happens with a planned change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Approved by the system; applied in the same pass.
    Apply,
    /// Waits for a steward.
    Propose,
}

/// Values that mean "nobody knows" and may be replaced under `overwrite_placeholder`.
pub const DEFAULT_PLACEHOLDERS: &[&str] = &[
    "unknown",
    "unbekannt",
    "n/a",
    "n.a.",
    "-",
    "--",
    "k.A.",
    "k. A.",
    "tbd",
    "?",
    "xxx",
];

/// The action for a field whose CRM value `old` differs from the register, or `None`
/// when the policy leaves the field alone. Band `reject` never gets this far.
pub fn action(
    policy: Policy,
    old: Option<&str>,
    band: Band,
    placeholders: &[String],
) -> Option<Action> {
    let empty = old.is_none_or(|v| v.trim().is_empty());
    let by_band = if band == Band::Auto {
        Action::Apply
    } else {
        Action::Propose
    };
    match policy {
        Policy::Ignore => None,
        Policy::Propose => Some(Action::Propose),
        Policy::Overwrite => Some(by_band),
        Policy::FillEmpty => empty.then_some(by_band),
        Policy::OverwritePlaceholder => {
            (empty || old.is_some_and(|v| is_placeholder(v, placeholders))).then_some(by_band)
        }
    }
}

fn is_placeholder(value: &str, placeholders: &[String]) -> bool {
    Placeholders::new(placeholders).matches(value)
}

/// Values that mean "nobody knows", folded once for checking many values.
pub struct Placeholders {
    folded: Vec<String>,
    /// Characters of the longest folded placeholder: folding keeps every letter and digit,
    /// so a value with more of them is none, and most values skip the folding.
    longest: usize,
}

impl Placeholders {
    pub fn new(placeholders: &[String]) -> Placeholders {
        let folded: Vec<String> = placeholders.iter().map(|p| fold_text(p)).collect();
        Placeholders {
            longest: folded.iter().map(|p| p.chars().count()).max().unwrap_or(0),
            folded,
        }
    }

    /// Whether `value` is one of the placeholders, or only punctuation.
    pub fn matches(&self, value: &str) -> bool {
        let letters = value.chars().filter(|c| c.is_alphanumeric());
        if letters.take(self.longest + 1).count() > self.longest {
            return false;
        }
        let folded = fold_text(value);
        // "-" and "?" fold to nothing: a value of only punctuation is a placeholder too.
        folded.is_empty() || self.folded.contains(&folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised_however_they_are_spaced_or_cased() {
        let only_ka = vec!["k.A.".to_string()];
        let defaults: Vec<String> = DEFAULT_PLACEHOLDERS.iter().map(|s| s.to_string()).collect();
        // (placeholders, value, is one)
        let cases: &[(&[String], &str, bool)] = &[
            (&only_ka, "k.A.", true),
            (&only_ka, "K. A.", true),
            (&only_ka, " k . a . ", true),
            (&only_ka, "-", true),
            (&only_ka, "—", true),
            (&only_ka, "unbekannt", false),
            (&only_ka, "ka", false),
            (&only_ka, "kaa", false),
            (&defaults, "Unbekannt", true),
            (&defaults, "N/A", true),
            (&defaults, "Hamburg", false),
            (&defaults, "unbekannter Ort", false),
            (&[], "?", true),
            (&[], "x", false),
        ];
        for (placeholders, value, want) in cases {
            assert_eq!(
                Placeholders::new(placeholders).matches(value),
                *want,
                "{value:?} among {placeholders:?}"
            );
        }
    }

    #[test]
    fn policy_table() {
        let ph: Vec<String> = DEFAULT_PLACEHOLDERS.iter().map(|s| s.to_string()).collect();
        use Band::*;
        use Policy::*;
        let (apply, propose) = (Some(Action::Apply), Some(Action::Propose));
        let cases: [(Policy, Option<&str>, Band, Option<Action>); 14] = [
            (Ignore, None, Auto, None),
            (Ignore, Some("x"), Auto, None),
            (Propose, Some("x"), Auto, propose),
            (Propose, None, Auto, propose),
            (Overwrite, Some("x"), Auto, apply),
            (Overwrite, Some("x"), Review, propose),
            (FillEmpty, None, Auto, apply),
            (FillEmpty, Some("  "), Auto, apply),
            (FillEmpty, Some("x"), Auto, None),
            (FillEmpty, None, Review, propose),
            (OverwritePlaceholder, Some("k.A."), Auto, apply),
            (OverwritePlaceholder, Some("K. A."), Auto, apply),
            (OverwritePlaceholder, Some("-"), Review, propose),
            (OverwritePlaceholder, Some("Hamburg"), Auto, None),
        ];
        for (policy, old, band, want) in cases {
            assert_eq!(
                action(policy, old, band, &ph),
                want,
                "{policy} {old:?} {band}"
            );
        }
    }
}
