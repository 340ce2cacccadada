//! The score stage of a pass, pure: one CRM record with its candidates becomes a decision
//! and the changes it plans, under the job's rules and what the store remembers of it.

use std::collections::{BTreeMap, BTreeSet};

use super::decide::{decide, Decision, Thresholds};
use super::diff::{diff, inactive_changes, is_inactive, DiffInput, PlannedChange};
use super::model::{ChangeKind, EntityKind, Field, Policy, Record};
use super::normalise::{comparable, fold_text};
use super::policy::{Action, FieldRule};
use super::score::{Prepared, Scorer};
use super::{contact, picklist, validate};

/// What became of one CRM record in this pass, before anything is stored.
// `Decided` is the common case; boxing it would allocate once more for nearly every record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Outcome {
    Skipped(String),
    Failed(String),
    Decided {
        decision: Decision,
        planned: Vec<PlannedChange>,
        /// The matched register record, for the per-field status.
        register: Option<Record>,
        inactive: bool,
        /// Fields whose register value a steward marked wrong for this record.
        flagged: BTreeSet<Field>,
        /// Free-text values mapped onto controlled lists, for review.
        picklists: Vec<PlannedChange>,
    },
}

/// What the store knows about a record that the diff must respect.
#[derive(Debug, Default)]
pub struct History {
    pub written: BTreeMap<Field, Option<String>>,
    pub suppressed: BTreeSet<(Field, String)>,
    /// For a contact: its organisation is `inactive` after the organisations' last pass.
    pub organisation_inactive: bool,
    /// For a contact: its organisation as the CRM holds it, to check the address against.
    pub organisation: Option<Record>,
}

/// What a job asks of the score stage: its thresholds, the rules in force and the forms
/// it keeps, taken from the config once per pass.
#[derive(Debug, Clone)]
pub struct Plan {
    pub entity: EntityKind,
    pub thresholds: Thresholds,
    pub rules: BTreeMap<Field, FieldRule>,
    /// The fields the CRM mapping has a column for.
    pub mapped: BTreeSet<Field>,
    /// Fields kept in their standard forms.
    pub normalise: Vec<Field>,
    pub placeholders: Vec<String>,
    /// What an inactive entity's status becomes.
    pub inactive_value: String,
    pub skip_where: BTreeMap<Field, Vec<String>>,
    /// For contacts: the register fields they may be enriched with (data minimisation).
    pub enrichable: BTreeSet<Field>,
}

impl Plan {
    /// The reason a record is left alone, if `skip_where` selects it.
    pub fn skip_reason(&self, record: &Record) -> Option<String> {
        self.skip_where.iter().find_map(|(field, values)| {
            let v = record.get(*field)?;
            values
                .iter()
                .any(|s| fold_text(s) == fold_text(v))
                .then(|| format!("{field} is {v:?} (skip_where)"))
        })
    }

    /// Data minimisation: of a contact's register records only the fields in the job's
    /// `enrich_fields` are kept, so nothing else is compared, stored or proposed.
    pub fn minimise(&self, candidates: &mut [Record]) {
        for candidate in candidates {
            candidate.values.retain(|field, _| self.keeps(*field));
        }
    }

    /// Whether [`Plan::minimise`] keeps a register record's `field`.
    pub fn keeps(&self, field: Field) -> bool {
        self.entity != EntityKind::Contact || self.enrichable.contains(&field)
    }
}

/// Scores, decides and diffs one record: pure, given the register's answer (its
/// candidates, or why the lookup failed) and what the store remembers of the record.
pub fn evaluate<E: std::fmt::Display>(
    plan: &Plan,
    scorer: &Scorer,
    record: &Record,
    lookup: &Result<Vec<Record>, E>,
    history: &History,
    vies_invalid: Option<&validate::Invalid>,
) -> Outcome {
    let prepared: Vec<Prepared> = match lookup {
        Ok(candidates) => candidates
            .iter()
            .map(|c| Prepared::new(plan.entity, c))
            .collect(),
        Err(_) => Vec::new(),
    };
    let candidates = lookup.as_ref().map(|_| &prepared[..]);
    let whole = |id: &str| {
        lookup
            .as_ref()
            .ok()
            .and_then(|c| c.iter().find(|c| c.id == id).cloned())
    };
    evaluate_prepared(
        plan,
        scorer,
        record,
        candidates,
        whole,
        history,
        vies_invalid,
    )
}

/// [`evaluate`] with the candidates already prepared for comparison (or why the lookup
/// failed), and `whole` giving the candidate with an id as the register holds it: a pass
/// prepares a register record once for all the CRM records it is a candidate of, and
/// makes whole only the one a record matches.
pub fn evaluate_prepared<E: std::fmt::Display, P: std::borrow::Borrow<Prepared>>(
    plan: &Plan,
    scorer: &Scorer,
    record: &Record,
    candidates: Result<&[P], &E>,
    whole: impl Fn(&str) -> Option<Record>,
    history: &History,
    vies_invalid: Option<&validate::Invalid>,
) -> Outcome {
    let kind = plan.entity;
    let prepared = match candidates {
        Ok(prepared) => prepared,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    // Invalid identifiers never take part in matching; each becomes a change of its own.
    let (mut usable, mut invalid) = validate::screen(record);
    if let Some(v) = vies_invalid {
        usable.values.remove(&v.field);
        invalid.push(v.clone());
    }
    let usable = Prepared::new(kind, &usable);
    let (scored, _) = scorer.rank(&usable, prepared.iter().map(|p| p.borrow()), None);
    let decision = decide(scored, &plan.thresholds);
    let mapped = |f: Field| plan.mapped.contains(&f);
    let mut picklists: Vec<PlannedChange> = picklist::mappings(kind, record)
        .into_iter()
        .filter_map(|m| {
            let rule = plan.rules.get(&m.field)?;
            (rule.policy() != Policy::Ignore).then(|| m.proposal(rule.policy()))
        })
        .chain(contact::format_fixes(record, &plan.normalise))
        .chain(contact::flags(record))
        .collect();
    if kind == EntityKind::Contact {
        picklists.extend(contact::name_splits(record, &mapped));
        if let Some(flag) = history
            .organisation
            .as_ref()
            .and_then(|org| contact::address_mismatch(record, org))
        {
            picklists.push(flag);
        }
        if history.organisation_inactive {
            picklists.push(PlannedChange {
                kind: ChangeKind::Flag,
                field: Field::OrganisationId,
                old: record.raw(Field::OrganisationId).map(str::to_string),
                new: "the organisation is inactive in the register".into(),
                policy: Policy::Propose,
                action: Action::Propose,
                hold: None,
                confidence: None,
                note: None,
            });
        }
    }
    picklists.retain(|p| {
        !history
            .suppressed
            .contains(&(p.field, comparable(p.field, &p.new)))
    });
    // An invalid identifier is reported for the fields the job does not ignore.
    let reported = |i: &&validate::Invalid| {
        plan.rules
            .get(&i.field)
            .is_some_and(|r| r.policy() != Policy::Ignore)
    };
    let matched = match &decision {
        Decision::Matched { best, band } => whole(&best.register_id).map(|reg| (best, *band, reg)),
        _ => None,
    };
    let Some((best, band, matched)) = matched else {
        // Without a register record to take a correction from, an invalid identifier is
        // still reported: as a flag for a person.
        picklists.extend(
            invalid
                .iter()
                .filter(|i| reported(i))
                .map(|i| PlannedChange {
                    kind: ChangeKind::Flag,
                    field: i.field,
                    old: record.raw(i.field).map(str::to_string),
                    new: format!("invalid: {}", i.reason),
                    policy: Policy::Propose,
                    action: Action::Propose,
                    hold: None,
                    confidence: None,
                    note: None,
                }),
        );
        return Outcome::Decided {
            decision,
            planned: Vec::new(),
            register: None,
            inactive: false,
            flagged: BTreeSet::new(),
            picklists,
        };
    };
    let reg = &matched;
    let inactive = reg.get(Field::Status).is_some_and(is_inactive);
    let mut planned = diff(&DiffInput {
        crm: record,
        register: reg,
        rules: &plan.rules,
        band,
        probability: best.score,
        placeholders: &plan.placeholders,
        written: &history.written,
        suppressed: &history.suppressed,
    });
    planned.retain(|p| !invalid.iter().any(|i| i.field == p.field));
    planned.extend(
        invalid
            .iter()
            .filter(|i| reported(i))
            .map(|i| correction(record, reg, i)),
    );
    // Values written from the register go in already in the job's standard forms, so a
    // normalised field is not rewritten once more by the next pass.
    for p in planned
        .iter_mut()
        .filter(|p| plan.normalise.contains(&p.field))
    {
        if let Some(fixed) = contact::standard_form(p.field, &p.new) {
            p.new = fixed;
        }
    }
    if inactive {
        // The status (and LEI) of a dissolved entity are never changed by a field policy:
        // they become a deactivate or relink proposal for a steward.
        planned.retain(|p| !matches!(p.field, Field::Status | Field::Lei));
        planned.extend(
            inactive_changes(record, reg, &mapped, &plan.inactive_value)
                .into_iter()
                .filter(|p| {
                    !history
                        .suppressed
                        .contains(&(p.field, comparable(p.field, &p.new)))
                }),
        );
    }
    let flagged = history
        .suppressed
        .iter()
        .filter(|(field, key)| {
            reg.get(*field)
                .is_some_and(|v| comparable(*field, v) == *key)
        })
        .map(|(field, _)| *field)
        .collect();
    // Where the register already corrects a field, its value wins over a list mapping.
    let picklists = picklists
        .into_iter()
        .filter(|p| !planned.iter().any(|d| d.field == p.field))
        .collect();
    let register = Some(matched);
    Outcome::Decided {
        decision,
        planned,
        register,
        inactive,
        flagged,
        picklists,
    }
}

/// For an invalid CRM identifier: the register's valid value as a proposed correction,
/// else a proposal to clear it (a flag a steward resolves). Never applied automatically.
fn correction(crm: &Record, register: &Record, invalid: &validate::Invalid) -> PlannedChange {
    let same = |v: &str| {
        crm.get(invalid.field)
            .is_some_and(|c| comparable(invalid.field, c) == comparable(invalid.field, v))
    };
    let valid = register
        .get(invalid.field)
        .filter(|v| validate::check(invalid.field, v).is_ok() && !same(v));
    let (new, note) = match valid {
        Some(v) => (
            v.to_string(),
            format!(
                "is invalid ({}); the register's value is proposed",
                invalid.reason
            ),
        ),
        None => (
            String::new(),
            format!(
                "is invalid ({}) and the register has no valid value; clear or correct it",
                invalid.reason
            ),
        ),
    };
    PlannedChange {
        kind: ChangeKind::Field,
        field: invalid.field,
        old: crm.raw(invalid.field).map(str::to_string),
        new,
        policy: Policy::Propose,
        action: Action::Propose,
        hold: None,
        confidence: None,
        note: Some(note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobConfig;
    use crate::sync::scorer_for;

    fn fraport(id: &str) -> Record {
        Record::new(id)
            .with(Field::LegalName, "Fraport AG")
            .with(Field::Postcode, "60547")
            .with(Field::City, "Frankfurt am Main")
    }

    /// An organisation job with `fields` (TOML inline table) as its rules.
    fn organisation_job(fields: &str) -> JobConfig {
        toml::from_str(&format!(
            "entity = \"organisation\"\ncrm = \"crm\"\nregister = \"reg\"\nschedule = \"0 0 * * * *\"\nfields = {fields}"
        ))
        .unwrap()
    }

    /// The job's plan for a CRM that maps exactly the fields it has rules for.
    fn plan(job: &JobConfig) -> Plan {
        let mapping = crate::config::TableMapping {
            columns: job
                .fields
                .iter()
                .flatten()
                .map(|(f, _)| (*f, f.as_str().to_string()))
                .collect(),
            ..toml::from_str("table = \"t\"\nid_column = \"id\"\ncolumns = {}").unwrap()
        };
        job.plan(&mapping)
    }

    /// The job's scorer with its built-in model (an empty register has no term frequencies).
    fn scorer(job: &JobConfig) -> Scorer {
        let empty = crate::register::file::FileRegister::from_index(
            "reg",
            std::sync::Arc::new(crate::register::index::RecordIndex::new(
                Default::default(),
                Default::default(),
            )),
        );
        scorer_for("test", job, &empty).unwrap()
    }

    #[test]
    fn invalid_identifiers_of_unmatched_records_are_flagged() {
        let job = organisation_job(r#"{ lei = "overwrite" }"#);
        let crm = fraport("c1").with(Field::Lei, "5299001ERX0K10IZUL41");
        let Outcome::Decided {
            decision,
            picklists,
            ..
        } = evaluate(
            &plan(&job),
            &scorer(&job),
            &crm,
            &Ok::<_, String>(vec![]),
            &History::default(),
            None,
        )
        else {
            panic!("not decided");
        };
        assert!(matches!(decision, Decision::NotFound { .. }));
        let flag = picklists
            .iter()
            .find(|p| p.field == Field::Lei)
            .expect("a flag for the invalid LEI");
        assert_eq!(flag.kind, ChangeKind::Flag);
        assert!(flag.new.starts_with("invalid"), "{}", flag.new);
    }

    #[test]
    fn invalid_identifiers_are_not_matched_on_and_become_proposals() {
        let job = organisation_job(r#"{ lei = "overwrite", vat_id = "fill_empty" }"#);
        let crm = fraport("c1")
            .with(Field::Lei, "5299001ERX0K10IZUL41")
            .with(Field::VatId, "DE136695977");
        // A register record sharing the invalid LEI exactly: it must not win on it.
        let decoy = Record::new("decoy")
            .with(Field::LegalName, "Other Holding SE")
            .with(Field::Lei, "5299001ERX0K10IZUL41");
        let right = fraport("r1").with(Field::Lei, "5299001ERX0K10IZUL40");
        let Outcome::Decided {
            decision, planned, ..
        } = evaluate(
            &plan(&job),
            &scorer(&job),
            &crm,
            &Ok::<_, String>(vec![decoy, right]),
            &History::default(),
            None,
        )
        else {
            panic!("not decided");
        };
        let Decision::Matched { best, .. } = decision else {
            panic!("not matched: {decision:?}");
        };
        assert_eq!(best.register_id, "r1");
        let lei = planned
            .iter()
            .find(|p| p.field == Field::Lei)
            .expect("LEI change");
        assert_eq!(lei.new, "5299001ERX0K10IZUL40");
        assert_eq!(lei.action, Action::Propose, "never applied automatically");
        assert!(lei.note.as_deref().unwrap().contains("invalid"));
        // No valid VAT id in the register: a proposal to clear the invalid one.
        let vat = planned
            .iter()
            .find(|p| p.field == Field::VatId)
            .expect("VAT flag");
        assert_eq!(vat.new, "");
        assert!(
            vat.note.as_deref().unwrap().contains("check digit"),
            "{:?}",
            vat.note
        );
    }
}
