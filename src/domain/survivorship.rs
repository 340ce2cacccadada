//! Survivorship: which record of a cluster of duplicates survives, and which value each
//! field of the merged (golden) record keeps, with the record every value came from.
//!
//! Rules are tried in order, each keeping only the records (or values) it prefers; a rule
//! that would keep none is skipped, and a tie after the last rule goes to the survivor's
//! value, then to the smallest record id, so the same cluster always gives the same result.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::model::{Field, Record};
use super::normalise::fold_text;
use super::policy::DEFAULT_PLACEHOLDERS;

/// How the surviving record is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurvivorRule {
    /// The record created first (records without a creation time come last).
    Oldest,
    /// The record with the most fields filled (placeholders do not count).
    MostComplete,
    /// A record the register confirmed.
    RegisterVerified,
    /// The record from the source ranked highest in `priority`.
    Priority,
}

/// How one field's value is chosen among the cluster's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueRule {
    /// The surviving record's value.
    Survivor,
    /// The value of the record modified last.
    MostRecent,
    /// The value of a record the register confirmed.
    RegisterVerified,
    /// The longest value (most characters).
    Longest,
    /// Any value that is not a placeholder such as "unbekannt" or "-".
    NonPlaceholder,
}

super::model::snake_names!(ValueRule {
    Survivor => "survivor",
    MostRecent => "most_recent",
    RegisterVerified => "register_verified",
    Longest => "longest",
    NonPlaceholder => "non_placeholder",
});

/// A job's survivorship rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survivorship {
    /// Survivor rules, tried in order.
    #[serde(default = "default_survivor")]
    pub survivor: Vec<SurvivorRule>,
    /// Value rules for the fields not listed in `fields`, tried in order.
    #[serde(default = "default_values")]
    pub values: Vec<ValueRule>,
    /// Value rules per field: `legal_name = ["register_verified", "survivor"]`.
    #[serde(default)]
    pub fields: BTreeMap<Field, Vec<ValueRule>>,
    /// Record sources from the most trusted down, for the `priority` rule.
    #[serde(default)]
    pub priority: Vec<String>,
}

fn default_survivor() -> Vec<SurvivorRule> {
    vec![
        SurvivorRule::RegisterVerified,
        SurvivorRule::MostComplete,
        SurvivorRule::Oldest,
    ]
}

fn default_values() -> Vec<ValueRule> {
    vec![ValueRule::NonPlaceholder, ValueRule::Survivor]
}

impl Default for Survivorship {
    fn default() -> Self {
        Survivorship {
            survivor: default_survivor(),
            values: default_values(),
            fields: BTreeMap::new(),
            priority: Vec::new(),
        }
    }
}

impl Survivorship {
    /// Checks what serde cannot; the error names the key and the fix.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.survivor.contains(&SurvivorRule::Priority) && self.priority.is_empty() {
            return Err((
                "priority".into(),
                "the survivor rule `priority` needs the sources in order, e.g. priority = [\"erp\", \"webshop\"]".into(),
            ));
        }
        for (key, rules) in std::iter::once(("values".to_string(), &self.values))
            .chain(self.fields.iter().map(|(f, r)| (format!("fields.{f}"), r)))
        {
            if rules.is_empty() {
                return Err((key, "needs at least one rule, e.g. [\"survivor\"]".into()));
            }
        }
        Ok(())
    }

    fn rules_for(&self, field: Field) -> &[ValueRule] {
        self.fields.get(&field).unwrap_or(&self.values)
    }
}

/// One record of a cluster with what survivorship weighs besides its values.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub record: &'a Record,
    /// When the record was created, in a form that sorts by time (ISO 8601).
    pub created: Option<&'a str>,
    /// When it was last modified, the same way.
    pub modified: Option<&'a str>,
    /// The register confirmed it.
    pub verified: bool,
    /// Where it came from, for the `priority` rule.
    pub source: Option<&'a str>,
}

/// A value of the golden record and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    pub value: String,
    /// The id of the record the value was taken from.
    pub from: String,
    /// The rule that decided, or `None` when every record that has the field agreed or a
    /// tie was broken by the survivor and then the smallest record id.
    pub rule: Option<ValueRule>,
}

/// The merged record of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Golden {
    /// The id of the surviving record.
    pub survivor: String,
    pub values: BTreeMap<Field, Kept>,
}

fn is_placeholder(value: &str) -> bool {
    let folded = fold_text(value);
    folded.is_empty() || DEFAULT_PLACEHOLDERS.iter().any(|p| fold_text(p) == folded)
}

/// Keeps the items `rank` ranks best (lowest); all of them when none is ranked.
fn keep_best<T, K: Ord>(items: &mut Vec<T>, rank: impl Fn(&T) -> Option<K>) -> bool {
    let Some(best) = items.iter().filter_map(&rank).min() else {
        return false;
    };
    let before = items.len();
    items.retain(|i| rank(i).as_ref() == Some(&best));
    items.len() < before
}

/// The survivor and the golden record of a cluster (`None` for an empty one).
pub fn merge(rules: &Survivorship, cluster: &[Candidate<'_>]) -> Option<Golden> {
    let mut left: Vec<&Candidate<'_>> = cluster.iter().collect();
    for rule in &rules.survivor {
        match rule {
            SurvivorRule::Oldest => keep_best(&mut left, |c| c.created),
            SurvivorRule::MostComplete => keep_best(&mut left, |c| {
                let filled = c.record.values.values();
                Some(std::cmp::Reverse(
                    filled.filter(|v| !is_placeholder(v)).count(),
                ))
            }),
            SurvivorRule::RegisterVerified => keep_best(&mut left, |c| c.verified.then_some(())),
            SurvivorRule::Priority => keep_best(&mut left, |c| {
                let source = c.source?;
                rules.priority.iter().position(|p| p == source)
            }),
        };
    }
    let survivor = left
        .into_iter()
        .min_by(|a, b| a.record.id.cmp(&b.record.id))?;
    let fields: std::collections::BTreeSet<Field> = cluster
        .iter()
        .flat_map(|c| c.record.values.keys().copied())
        .collect();
    let mut values = BTreeMap::new();
    for field in fields {
        let mut offered: Vec<(&Candidate<'_>, &str)> = cluster
            .iter()
            .filter_map(|c| Some((c, c.record.get(field)?)))
            .collect();
        let mut decided = None;
        for rule in rules.rules_for(field) {
            let narrowed = match rule {
                ValueRule::Survivor => keep_best(&mut offered, |(c, _)| {
                    (c.record.id == survivor.record.id).then_some(())
                }),
                ValueRule::MostRecent => {
                    keep_best(&mut offered, |(c, _)| c.modified.map(std::cmp::Reverse))
                }
                ValueRule::RegisterVerified => {
                    keep_best(&mut offered, |(c, _)| c.verified.then_some(()))
                }
                ValueRule::Longest => keep_best(&mut offered, |(_, v)| {
                    Some(std::cmp::Reverse(v.chars().count()))
                }),
                ValueRule::NonPlaceholder => {
                    keep_best(&mut offered, |(_, v)| (!is_placeholder(v)).then_some(()))
                }
            };
            if narrowed {
                decided = Some(*rule);
            }
        }
        let distinct = {
            let mut v: Vec<&str> = offered.iter().map(|(_, v)| *v).collect();
            v.sort_unstable();
            v.dedup();
            v.len()
        };
        let chosen = offered
            .iter()
            .min_by_key(|(c, _)| (c.record.id != survivor.record.id, &c.record.id));
        if let Some((c, v)) = chosen {
            let rule = if distinct > 1 { None } else { decided };
            values.insert(
                field,
                Kept {
                    value: v.to_string(),
                    from: c.record.id.clone(),
                    rule,
                },
            );
        }
    }
    Some(Golden {
        survivor: survivor.record.id.clone(),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        record: Record,
        created: Option<&'static str>,
        modified: Option<&'static str>,
        verified: bool,
        source: Option<&'static str>,
    }

    fn row(id: &str, values: &[(Field, &str)]) -> Row {
        let record = values
            .iter()
            .fold(Record::new(id), |r, (f, v)| r.with(*f, *v));
        Row {
            record,
            created: None,
            modified: None,
            verified: false,
            source: None,
        }
    }

    fn candidates(rows: &[Row]) -> Vec<Candidate<'_>> {
        rows.iter()
            .map(|r| Candidate {
                record: &r.record,
                created: r.created,
                modified: r.modified,
                verified: r.verified,
                source: r.source,
            })
            .collect()
    }

    /// Three records of one firm: "a" old and sparse, "b" verified, "c" recent and full.
    fn cluster() -> Vec<Row> {
        use Field::*;
        vec![
            Row {
                created: Some("2015-03-01"),
                modified: Some("2019-01-01"),
                source: Some("webshop"),
                ..row("a", &[(LegalName, "Müller GmbH"), (City, "unbekannt")])
            },
            Row {
                created: Some("2018-06-01"),
                modified: Some("2020-01-01"),
                verified: true,
                source: Some("import"),
                ..row(
                    "b",
                    &[(LegalName, "Müller Maschinenbau GmbH"), (City, "München")],
                )
            },
            Row {
                created: Some("2021-01-01"),
                modified: Some("2024-05-01"),
                source: Some("erp"),
                ..row(
                    "c",
                    &[
                        (LegalName, "Mueller Maschinenbau GmbH"),
                        (City, "Muenchen"),
                        (Phone, "089 1234567"),
                    ],
                )
            },
        ]
    }

    #[test]
    fn the_survivor_follows_the_rules_in_order() {
        use SurvivorRule::*;
        let cases: Vec<(Vec<SurvivorRule>, &str)> = vec![
            (vec![Oldest], "a"),
            (vec![MostComplete], "c"),
            (vec![RegisterVerified], "b"),
            (vec![Priority], "c"),
            (vec![RegisterVerified, Oldest], "b"),
            (vec![], "a"),
        ];
        let rows = cluster();
        for (survivor, want) in cases {
            let rules = Survivorship {
                survivor: survivor.clone(),
                priority: vec!["erp".into(), "import".into()],
                ..Survivorship::default()
            };
            let golden = merge(&rules, &candidates(&rows)).unwrap();
            assert_eq!(golden.survivor, want, "{survivor:?}");
        }
    }

    #[test]
    fn each_value_says_where_it_came_from() {
        use ValueRule::*;
        let rows = cluster();
        // Survivor "b" (verified) under the default survivor rules.
        // Field, its rules, and the value kept, where from, by which rule.
        type Case = (
            Field,
            Vec<ValueRule>,
            &'static str,
            &'static str,
            Option<ValueRule>,
        );
        let cases: Vec<Case> = vec![
            (
                Field::LegalName,
                vec![Survivor],
                "Müller Maschinenbau GmbH",
                "b",
                Some(Survivor),
            ),
            (
                Field::LegalName,
                vec![MostRecent],
                "Mueller Maschinenbau GmbH",
                "c",
                Some(MostRecent),
            ),
            (
                Field::LegalName,
                vec![Longest],
                "Mueller Maschinenbau GmbH",
                "c",
                Some(Longest),
            ),
            (
                Field::LegalName,
                vec![RegisterVerified],
                "Müller Maschinenbau GmbH",
                "b",
                Some(RegisterVerified),
            ),
            // Two non-placeholders are left: the survivor's wins the tie.
            (Field::City, vec![NonPlaceholder], "München", "b", None),
            (
                Field::City,
                vec![NonPlaceholder, MostRecent],
                "Muenchen",
                "c",
                Some(MostRecent),
            ),
            // Only "c" has a phone: whatever the rule, its value is kept.
            (Field::Phone, vec![Survivor], "089 1234567", "c", None),
        ];
        for (field, rules, value, from, rule) in cases {
            let config = Survivorship {
                fields: BTreeMap::from([(field, rules.clone())]),
                ..Survivorship::default()
            };
            let golden = merge(&config, &candidates(&rows)).unwrap();
            assert_eq!(golden.survivor, "b");
            let kept = &golden.values[&field];
            assert_eq!(
                (kept.value.as_str(), kept.from.as_str(), kept.rule),
                (value, from, rule),
                "{field} {rules:?}"
            );
        }
        assert!(merge(&Survivorship::default(), &[]).is_none());
    }

    #[test]
    fn a_placeholder_is_kept_only_when_nothing_else_is_there() {
        let rows = vec![row("a", &[(Field::City, "k.A.")]), row("b", &[])];
        let golden = merge(&Survivorship::default(), &candidates(&rows)).unwrap();
        assert_eq!(golden.values[&Field::City].value, "k.A.");
    }

    fn parse(text: &str) -> Result<Survivorship, String> {
        let value: toml::Value = text.parse().map_err(|e| format!("{e}"))?;
        let rules: Survivorship = serde_path_to_error::deserialize(value)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        rules.validate().map_err(|(k, p)| format!("{k}: {p}"))?;
        Ok(rules)
    }

    #[test]
    fn unknown_rules_and_fields_are_config_errors_that_name_the_key() {
        let cases: [(&str, &str); 6] = [
            (
                "survivor = [\"newest\"]",
                "survivor[0]: unknown variant `newest`",
            ),
            (
                "[fields]\nlegal_name = [\"shortest\"]",
                "fields.legal_name[0]: unknown variant `shortest`",
            ),
            ("[fields]\nname = [\"survivor\"]", "legal_name"),
            ("survivors = [\"oldest\"]", "unknown field `survivors`"),
            (
                "survivor = [\"priority\"]",
                "priority: the survivor rule `priority` needs",
            ),
            (
                "[fields]\ncity = []",
                "fields.city: needs at least one rule",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err();
            assert!(got.contains(want), "{text}: {got}");
        }
        let ok = parse("survivor = [\"priority\", \"oldest\"]\npriority = [\"erp\"]\n[fields]\nphone = [\"most_recent\"]").unwrap();
        assert_eq!(ok.fields[&Field::Phone], [ValueRule::MostRecent]);
        assert_eq!(parse("").unwrap(), Survivorship::default());
    }
}
