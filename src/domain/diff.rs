//! Field-by-field difference of a matched pair, filtered through the job's field policies.

use std::collections::BTreeMap;

use super::model::{Band, Field, Policy, Record};
use super::normalise::comparable;
use super::policy::{action, Action};

/// One field refsync wants to change, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    pub field: Field,
    /// The CRM value as read (raw, for the write guard).
    pub old: Option<String>,
    pub new: String,
    pub policy: Policy,
    pub action: Action,
    /// Why, when it is not the plain difference (e.g. an invalid identifier).
    pub note: Option<String>,
}

/// Changes for every policy field where the register has a value that the CRM lacks or
/// spells differently in substance (`Hauptstr.` and `Hauptstraße` are the same).
pub fn diff(
    crm: &Record,
    register: &Record,
    policies: &BTreeMap<Field, Policy>,
    band: Band,
    placeholders: &[String],
) -> Vec<PlannedChange> {
    policies
        .iter()
        .filter_map(|(&field, &policy)| {
            let new = register.get(field)?;
            let old = crm.raw(field);
            if old.is_some_and(|o| comparable(field, o) == comparable(field, new)) {
                return None;
            }
            let action = action(policy, old, band, placeholders)?;
            Some(PlannedChange {
                field,
                old: old.map(str::to_string),
                new: new.to_string(),
                policy,
                action,
                note: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let policies = BTreeMap::from([
            (Field::LegalName, Policy::Propose),
            (Field::Street, Policy::Overwrite),
            (Field::City, Policy::Overwrite),
            (Field::VatId, Policy::FillEmpty),
            (Field::Phone, Policy::Overwrite),
            (Field::Website, Policy::Ignore),
        ]);
        let got: Vec<(Field, Action)> = diff(&crm, &reg, &policies, Band::Auto, &[])
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
    fn old_value_is_kept_raw_for_the_guard() {
        let crm = Record::new("1").with(Field::City, "");
        let reg = Record::new("R").with(Field::City, "Köln");
        let changes = diff(
            &crm,
            &reg,
            &BTreeMap::from([(Field::City, Policy::FillEmpty)]),
            Band::Auto,
            &[],
        );
        assert_eq!(changes[0].old.as_deref(), Some(""));
        assert_eq!(changes[0].new, "Köln");
    }
}
