//! Field-by-field difference of a matched pair, filtered through the job's field rules,
//! what refsync wrote before (provenance) and what stewards marked wrong.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Band, ChangeKind, Field, Policy, Record};
use super::normalise::comparable;
use super::policy::{action, Action, FieldRule};

/// Why a change waits for a steward although its policy would apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// A person changed the value refsync wrote; refsync never overwrites that unasked.
    EditedSinceWritten { written: Option<String> },
    /// The match probability is below the field's own minimum.
    BelowFieldMinimum,
}

/// One field refsync wants to change, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub kind: ChangeKind,
    pub field: Field,
    /// The CRM value as read (raw, for the write guard).
    pub old: Option<String>,
    pub new: String,
    pub policy: Policy,
    pub action: Action,
    pub hold: Option<Hold>,
    /// How sure refsync is of the new value where it is not the match probability
    /// (a controlled-list mapping), with how it was found.
    pub confidence: Option<(f64, String)>,
    /// Why, when it is not the plain difference (e.g. an invalid identifier).
    pub note: Option<String>,
}

/// Everything the diff of one matched pair depends on.
pub struct DiffInput<'a> {
    pub crm: &'a Record,
    pub register: &'a Record,
    pub rules: &'a BTreeMap<Field, FieldRule>,
    pub band: Band,
    pub probability: f64,
    pub placeholders: &'a [String],
    /// The value refsync last wrote into each field of this record (`None`: wrote NULL).
    pub written: &'a BTreeMap<Field, Option<String>>,
    /// (field, comparable value) pairs a steward marked wrong for this record.
    pub suppressed: &'a BTreeSet<(Field, String)>,
}

/// Changes for every rule field where the register has a value that the CRM lacks or
/// spells differently in substance (`Hauptstr.` and `Hauptstraße` are the same).
pub fn diff(input: &DiffInput<'_>) -> Vec<PlannedChange> {
    input
        .rules
        .iter()
        .filter_map(|(&field, &rule)| {
            let new = input.register.get(field)?;
            let old = input.crm.raw(field);
            let same = |a: &str, b: &str| comparable(field, a) == comparable(field, b);
            if old.is_some_and(|o| same(o, new))
                || input.suppressed.contains(&(field, comparable(field, new)))
            {
                return None;
            }
            let mut action = action(rule.policy(), old, input.band, input.placeholders)?;
            let mut hold = None;
            if action == Action::Apply {
                if let Some(written) = input.written.get(&field) {
                    let edited = match (old, written.as_deref()) {
                        (Some(o), Some(w)) => !same(o, w),
                        (None, None) => false,
                        (Some(o), None) | (None, Some(o)) => !o.trim().is_empty(),
                    };
                    if edited {
                        hold = Some(Hold::EditedSinceWritten {
                            written: written.clone(),
                        });
                    }
                }
                if hold.is_none()
                    && rule
                        .min_probability()
                        .is_some_and(|min| input.probability < min)
                {
                    hold = Some(Hold::BelowFieldMinimum);
                }
                if hold.is_some() {
                    action = Action::Propose;
                }
            }
            Some(PlannedChange {
                kind: ChangeKind::Field,
                field,
                old: old.map(str::to_string),
                new: new.to_string(),
                policy: rule.policy(),
                action,
                hold,
                confidence: None,
                note: None,
            })
        })
        .collect()
}

/// Register status values that mean the entity no longer trades.
pub fn is_inactive(status: &str) -> bool {
    matches!(
        super::normalise::fold_text(status).as_str(),
        "inactive"
            | "dissolved"
            | "merged"
            | "retired"
            | "geloescht"
            | "erloschen"
            | "aufgeloest"
            | "inaktiv"
    )
}

/// For a register record that is inactive: a proposal to re-link the CRM record to the
/// successor (its LEI) where the register names one and the CRM keeps LEIs, else to mark
/// it inactive where the CRM keeps a status. Never applied without review, never a deletion.
pub fn inactive_changes(
    crm: &Record,
    register: &Record,
    mapped: &dyn Fn(Field) -> bool,
    inactive_value: &str,
) -> Vec<PlannedChange> {
    let mut out = Vec::new();
    let propose = |kind, field, new: &str| PlannedChange {
        kind,
        field,
        old: crm.raw(field).map(str::to_string),
        new: new.to_string(),
        policy: Policy::Propose,
        action: Action::Propose,
        hold: None,
        confidence: None,
        note: None,
    };
    match register.get(Field::SuccessorLei) {
        Some(successor)
            if mapped(Field::Lei) && crm.get(Field::Lei).is_none_or(|l| !same_id(l, successor)) =>
        {
            out.push(propose(ChangeKind::Relink, Field::Lei, successor));
        }
        _ if mapped(Field::Status)
            && crm.get(Field::Status).is_none_or(|s| {
                !is_inactive(s)
                    && comparable(Field::Status, s) != comparable(Field::Status, inactive_value)
            }) =>
        {
            out.push(propose(
                ChangeKind::Deactivate,
                Field::Status,
                inactive_value,
            ));
        }
        _ => {}
    }
    out
}

fn same_id(a: &str, b: &str) -> bool {
    comparable(Field::Lei, a) == comparable(Field::Lei, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(Field, Policy)]) -> BTreeMap<Field, FieldRule> {
        pairs
            .iter()
            .map(|(f, p)| (*f, FieldRule::Short(*p)))
            .collect()
    }

    fn input<'a>(
        crm: &'a Record,
        reg: &'a Record,
        rules: &'a BTreeMap<Field, FieldRule>,
        written: &'a BTreeMap<Field, Option<String>>,
        suppressed: &'a BTreeSet<(Field, String)>,
    ) -> DiffInput<'a> {
        DiffInput {
            crm,
            register: reg,
            rules,
            band: Band::Auto,
            probability: 0.99,
            placeholders: &[],
            written,
            suppressed,
        }
    }

    #[test]
    fn diff_respects_policies_and_equivalent_spellings() {
        let crm = Record::new("1")
            .with(Field::LegalName, "Alpha GmbH")
            .with(Field::Street, "Hauptstr.")
            .with(Field::City, "Berlin")
            .with(Field::Phone, "030 1234");
        let reg = Record::new("R1")
            .with(Field::LegalName, "Alpha Logistik GmbH")
            .with(Field::Street, "Hauptstraße")
            .with(Field::City, "Potsdam")
            .with(Field::VatId, "DE136695976")
            .with(Field::Phone, "+49 30 1234")
            .with(Field::Website, "alpha.de");
        let rules = rules(&[
            (Field::LegalName, Policy::Propose),
            (Field::Street, Policy::Overwrite),
            (Field::City, Policy::Overwrite),
            (Field::VatId, Policy::FillEmpty),
            (Field::Phone, Policy::Overwrite),
            (Field::Website, Policy::Ignore),
        ]);
        let (w, s) = (BTreeMap::new(), BTreeSet::new());
        let got: Vec<(Field, Action)> = diff(&input(&crm, &reg, &rules, &w, &s))
            .into_iter()
            .map(|c| (c.field, c.action))
            .collect();
        assert_eq!(
            got,
            vec![
                (Field::LegalName, Action::Propose),
                (Field::City, Action::Apply),
                (Field::VatId, Action::Apply)
            ]
        );
    }

    #[test]
    fn human_edits_since_refsync_wrote_are_held_for_review() {
        let reg = Record::new("R")
            .with(Field::City, "Köln")
            .with(Field::Website, "alpha.de");
        let rules = rules(&[
            (Field::City, Policy::Overwrite),
            (Field::Website, Policy::FillEmpty),
        ]);
        let s = BTreeSet::new();
        // (CRM value now, what refsync wrote, expected action, held?)
        type Case<'a> = (Option<&'a str>, Option<Option<&'a str>>, Action, bool);
        let cases: [Case; 5] = [
            (Some("Bonn"), None, Action::Apply, false),
            (Some("Bonn"), Some(Some("Bonn")), Action::Apply, false),
            (
                Some("Bonn"),
                Some(Some("Koeln-Deutz")),
                Action::Propose,
                true,
            ),
            (Some("Bonn"), Some(None), Action::Propose, true),
            (None, Some(Some("Bonn")), Action::Propose, true),
        ];
        for (now, written, want, held) in cases {
            let mut crm = Record::new("1");
            if let Some(v) = now {
                crm = crm.with(Field::City, v);
            }
            let w: BTreeMap<Field, Option<String>> = written
                .map(|v| (Field::City, v.map(str::to_string)))
                .into_iter()
                .collect();
            let changes = diff(&input(&crm, &reg, &rules, &w, &s));
            let city = changes
                .iter()
                .find(|c| c.field == Field::City)
                .expect("city change");
            assert_eq!(
                (city.action, city.hold.is_some()),
                (want, held),
                "now {now:?}, written {written:?}"
            );
        }
    }

    #[test]
    fn field_minimum_probability_holds_auto_changes() {
        let crm = Record::new("1");
        let reg = Record::new("R").with(Field::LegalForm, "GmbH");
        let rules = BTreeMap::from([(
            Field::LegalForm,
            FieldRule::Full {
                policy: Policy::FillEmpty,
                min_probability: Some(0.995),
            },
        )]);
        let (w, s) = (BTreeMap::new(), BTreeSet::new());
        let changes = diff(&input(&crm, &reg, &rules, &w, &s));
        assert_eq!(changes[0].action, Action::Propose);
        assert_eq!(changes[0].hold, Some(Hold::BelowFieldMinimum));
    }

    #[test]
    fn values_marked_wrong_are_never_planned() {
        let crm = Record::new("1").with(Field::Street, "Am Markt");
        let reg = Record::new("R").with(Field::Street, "Hauptstraße");
        let rules = rules(&[(Field::Street, Policy::Overwrite)]);
        let w = BTreeMap::new();
        let s = BTreeSet::from([(Field::Street, comparable(Field::Street, "Hauptstr."))]);
        assert!(diff(&input(&crm, &reg, &rules, &w, &s)).is_empty());
    }

    #[test]
    fn inactive_register_records_propose_relink_or_deactivation() {
        let crm = Record::new("1")
            .with(Field::Status, "aktiv")
            .with(Field::Lei, "5299001ERX0K10IZUL40");
        let all = |_: Field| true;
        let no_lei = |f: Field| f != Field::Lei;
        let dissolved = Record::new("R").with(Field::Status, "INACTIVE");
        let merged = dissolved
            .clone()
            .with(Field::SuccessorLei, "529900GRZ2BQY5ZM9N49");
        let got = |reg: &Record, mapped: &dyn Fn(Field) -> bool| {
            inactive_changes(&crm, reg, mapped, "inactive")
                .into_iter()
                .map(|c| (c.kind, c.field, c.new, c.action))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            got(&dissolved, &all),
            vec![(
                ChangeKind::Deactivate,
                Field::Status,
                "inactive".to_string(),
                Action::Propose
            )]
        );
        assert_eq!(
            got(&merged, &all),
            vec![(
                ChangeKind::Relink,
                Field::Lei,
                "529900GRZ2BQY5ZM9N49".to_string(),
                Action::Propose
            )]
        );
        assert_eq!(got(&merged, &no_lei)[0].0, ChangeKind::Deactivate);
        let already = Record::new("1").with(Field::Status, "Inactive");
        assert!(inactive_changes(&already, &dissolved, &all, "inactive").is_empty());
    }

    #[test]
    fn old_value_is_kept_raw_for_the_guard() {
        let crm = Record::new("1").with(Field::City, "");
        let reg = Record::new("R").with(Field::City, "Köln");
        let rules = rules(&[(Field::City, Policy::FillEmpty)]);
        let (w, s) = (BTreeMap::new(), BTreeSet::new());
        let changes = diff(&input(&crm, &reg, &rules, &w, &s));
        assert_eq!(changes[0].old.as_deref(), Some(""));
        assert_eq!(changes[0].new, "Köln");
    }
}
