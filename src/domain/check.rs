//! Check on entry, pure: one record as it arrives (a web form, a mail filter) is put in its
//! standard forms, its impossible values are named, and it is matched — against the
//! register with the pass's own score stage ([`evaluate`]), against the CRM with the job's
//! scorer over candidates the caller found in its index. Nothing here reads or writes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::consent::{self, Audience, Verdict};
use super::contact::{is_valid_email, standard_form};
use super::decide::{decide, Decision, Thresholds};
use super::diff::PlannedChange;
use super::evaluate::{evaluate, History, Outcome, Plan};
use super::model::{snake_names, Band, ChangeKind, EntityKind, Field, MatchStatus, Policy, Record};
use super::normalise::{canonical_legal_form, comparable, country_code, e164};
use super::picklist;
use super::policy::{Action, FieldRule};
use super::postcode::{self, PostcodeCheck};
use super::score::{Comparison, Prepared, Scored, Scorer};
use super::validate::{self, VatCheck};

/// The most CRM records named as probable duplicates.
pub const MAX_DUPLICATES: usize = 5;

/// What is wrong with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// An LEI, VAT id, register number or industry code that fails its check.
    InvalidIdentifier,
    /// An e-mail address that cannot be delivered to (no `@`, no dotted domain, blanks).
    ImpossibleEmail,
    /// Too few digits to be a phone number.
    InvalidPhone,
    /// No German postcode is written so.
    UnknownPostcode,
    /// The postcode exists, but not for the city given.
    PostcodeNotOfCity,
    /// Free text where the CRM keeps a controlled list.
    NotInList,
}

snake_names!(ProblemKind {
    InvalidIdentifier => "invalid_identifier",
    ImpossibleEmail => "impossible_email",
    InvalidPhone => "invalid_phone",
    UnknownPostcode => "unknown_postcode",
    PostcodeNotOfCity => "postcode_not_of_city",
    NotInList => "not_in_list",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: Field,
    pub kind: ProblemKind,
    pub message: String,
}

/// `record` in refsync's standard forms: blanks dropped, identifiers compact, legal form
/// and country in their canonical spelling, phone in E.164, e-mail with a lower-case
/// domain. A value that has no standard form (it is invalid) stays as given, trimmed.
pub fn normalise(record: &Record) -> Record {
    let mut out = Record::new(record.id.clone());
    for field in record.values.keys() {
        let Some(value) = record.get(*field) else {
            continue;
        };
        let standard = match field {
            Field::Lei => validate::lei(value),
            Field::VatId => match validate::vat_id(value) {
                VatCheck::Valid(v) => Some(v),
                VatCheck::Invalid(_) => None,
            },
            Field::RegisterNumber => validate::register_number(value),
            Field::LegalForm => canonical_legal_form(value).map(str::to_string),
            Field::Country => country_code(value).map(str::to_string),
            Field::Phone | Field::Email => standard_form(*field, value),
            _ => None,
        };
        out.values
            .insert(*field, standard.unwrap_or_else(|| value.to_string()));
    }
    out
}

/// Everything wrong with the values of `record` that needs no register: the identifier
/// checks a pass uses, e-mail and phone as the report judges them, the postcode list and
/// the controlled lists of `kind`.
pub fn problems(kind: EntityKind, record: &Record) -> Vec<Problem> {
    let (_, invalid) = validate::screen(record);
    let mut out: Vec<Problem> = invalid
        .into_iter()
        .map(|i| Problem {
            field: i.field,
            kind: ProblemKind::InvalidIdentifier,
            message: i.reason,
        })
        .collect();
    if let Some(email) = record.get(Field::Email).filter(|v| !is_valid_email(v)) {
        out.push(Problem {
            field: Field::Email,
            kind: ProblemKind::ImpossibleEmail,
            message: format!(
                "`{email}` cannot be an e-mail address (one `@`, a name before it, a dotted domain after it, no blanks)"
            ),
        });
    }
    if let Some(phone) = record.get(Field::Phone).filter(|v| e164(v, "49").is_none()) {
        out.push(Problem {
            field: Field::Phone,
            kind: ProblemKind::InvalidPhone,
            message: format!("`{phone}` has too few digits to be a phone number"),
        });
    }
    if let Some(plz) = record.get(Field::Postcode) {
        let city = record.get(Field::City);
        match postcode::check(plz, city, record.get(Field::Country)) {
            PostcodeCheck::Unknown => out.push(Problem {
                field: Field::Postcode,
                kind: ProblemKind::UnknownPostcode,
                message: format!("no German postcode is `{plz}`"),
            }),
            PostcodeCheck::OtherCity => out.push(Problem {
                field: Field::Postcode,
                kind: ProblemKind::PostcodeNotOfCity,
                message: format!(
                    "postcode `{plz}` exists, but not for {}",
                    city.unwrap_or_default()
                ),
            }),
            PostcodeCheck::Fits | PostcodeCheck::NotGerman => {}
        }
    }
    for field in picklist::fields(kind) {
        if let Some(v) = record.get(*field).filter(|v| !picklist::in_list(*field, v)) {
            // An industry code that fails its check is named once, as an invalid identifier.
            if !out.iter().any(|p| p.field == *field) {
                out.push(Problem {
                    field: *field,
                    kind: ProblemKind::NotInList,
                    message: format!("`{v}` is not in the controlled list of {field}"),
                });
            }
        }
    }
    out
}

/// A candidate (register or CRM record) as the answer shows it: probability, band, the
/// grade string and the per-field explanation (`crm` is the checked record's side).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub probability: f64,
    pub band: Band,
    pub grade: String,
    pub explanation: Vec<Comparison>,
}

impl Candidate {
    fn of(scored: &Scored, thresholds: &Thresholds) -> Candidate {
        Candidate {
            id: scored.register_id.clone(),
            probability: scored.score,
            band: thresholds.band(scored.score),
            grade: scored.grade(),
            explanation: scored.comparisons.clone(),
        }
    }
}

/// One change the register match would bring, or one suggestion from the record itself
/// (a controlled-list mapping, a standard form, a salutation typed into a name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub kind: ChangeKind,
    pub field: Field,
    pub old: Option<String>,
    pub new: String,
    pub policy: Policy,
    /// Whether the job's policy would apply it without review after a match this sure.
    pub automatic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&PlannedChange> for Proposal {
    fn from(p: &PlannedChange) -> Proposal {
        Proposal {
            kind: p.kind,
            field: p.field,
            old: p.old.clone(),
            new: p.new.clone(),
            policy: p.policy,
            automatic: p.action == Action::Apply,
            note: p
                .note
                .clone()
                .or_else(|| p.confidence.as_ref().map(|(_, why)| why.clone())),
        }
    }
}

/// The register's answer for the checked record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisterMatch {
    /// As a pass would set it: `in_sync`, `different`, `inactive`, `not_found`,
    /// `ambiguous` or `lookup_failed`.
    pub status: MatchStatus,
    /// The matched candidate, or the best one below `review_min` for explanation.
    pub best: Option<Candidate>,
    /// With `ambiguous`: the candidates too close to tell apart, best first.
    pub ambiguous: Vec<Candidate>,
    /// Why the lookup failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The register's values where it matched.
    pub values: Option<BTreeMap<Field, String>>,
    /// Enrichment: the changes the job's field policies make of the match.
    pub proposals: Vec<Proposal>,
}

/// The register match of `record` from its register candidates (`lookup`), with the pass's
/// score stage; also the register record when it matched in the auto band (the record
/// then takes its values, see [`corrected`]), and the record's own suggestions.
pub fn register_match<E: std::fmt::Display>(
    plan: &Plan,
    scorer: &Scorer,
    record: &Record,
    lookup: &Result<Vec<Record>, E>,
) -> (RegisterMatch, Option<Record>, Vec<Proposal>) {
    let thresholds = &plan.thresholds;
    let mut answer = RegisterMatch {
        status: MatchStatus::NotFound,
        best: None,
        ambiguous: Vec::new(),
        error: None,
        values: None,
        proposals: Vec::new(),
    };
    match evaluate(plan, scorer, record, lookup, &History::default(), None) {
        Outcome::Failed(e) | Outcome::Skipped(e) => {
            answer.status = MatchStatus::LookupFailed;
            answer.error = Some(e);
            (answer, None, Vec::new())
        }
        Outcome::Decided {
            decision,
            planned,
            register,
            inactive,
            picklists,
            ..
        } => {
            let suggestions = picklists.iter().map(Proposal::from).collect();
            let mut auto = None;
            match decision {
                Decision::Matched { best, band } => {
                    answer.status = if inactive {
                        MatchStatus::Inactive
                    } else if planned.is_empty() {
                        MatchStatus::InSync
                    } else {
                        MatchStatus::Different
                    };
                    answer.best = Some(Candidate::of(&best, thresholds));
                    answer.values = register.as_ref().map(|r| r.values.clone());
                    answer.proposals = planned.iter().map(Proposal::from).collect();
                    if band == Band::Auto {
                        auto = register;
                    }
                }
                Decision::Ambiguous { candidates } => {
                    answer.status = MatchStatus::Ambiguous;
                    answer.ambiguous = candidates
                        .iter()
                        .map(|c| Candidate::of(c, thresholds))
                        .collect();
                }
                Decision::NotFound { best } => {
                    answer.best = best.as_ref().map(|b| Candidate::of(b, thresholds));
                }
            }
            (answer, auto, suggestions)
        }
    }
}

/// The record as the register corrects it (the register's value for every field the job
/// has a rule for): what a clean lead looks like, and what the CRM is searched with.
pub fn corrected(
    record: &Record,
    rules: &BTreeMap<Field, FieldRule>,
    register: Option<&Record>,
) -> Record {
    let mut corrected = record.clone();
    if let Some(r) = register {
        for field in rules.keys() {
            if let Some(v) = r.get(*field) {
                corrected.values.insert(*field, v.to_string());
            }
        }
    }
    corrected
}

/// The fields (not ignored by the job) where `record` would change the CRM record
/// `existing`: (field, old, new).
pub fn updates(
    rules: &BTreeMap<Field, FieldRule>,
    record: &Record,
    existing: &Record,
) -> Vec<(Field, Option<String>, String)> {
    rules
        .iter()
        .filter(|(_, rule)| rule.policy() != Policy::Ignore)
        .filter_map(|(field, _)| {
            let new = record.get(*field)?;
            let old = existing.raw(*field);
            let same = old.is_some_and(|o| comparable(*field, o) == comparable(*field, new));
            (!same).then(|| (*field, old.map(str::to_string), new.to_string()))
        })
        .collect()
}

/// The CRM record `record` is (decided as a pass decides a register match, so ambiguity
/// counts), with its band and probability.
pub fn crm_match(
    scorer: &Scorer,
    thresholds: &Thresholds,
    record: &Record,
    candidates: Vec<Record>,
) -> Option<(Record, Band, f64)> {
    let kind = scorer.kind();
    let prepared = Prepared::new(kind, record);
    let scored = candidates
        .iter()
        .map(|c| scorer.score(&prepared, &Prepared::new(kind, c)))
        .collect();
    match decide(scored, thresholds) {
        Decision::Matched { best, band } => candidates
            .into_iter()
            .find(|c| c.id == best.register_id)
            .map(|c| (c, band, best.score)),
        _ => None,
    }
}

/// The CRM records `record` probably duplicates: the candidates at or above `review_min`,
/// most likely first, at most [`MAX_DUPLICATES`].
pub fn duplicates(
    scorer: &Scorer,
    thresholds: &Thresholds,
    record: &Record,
    candidates: &[Record],
) -> Vec<Candidate> {
    let kind = scorer.kind();
    let prepared = Prepared::new(kind, record);
    let others: Vec<Prepared> = candidates.iter().map(|c| Prepared::new(kind, c)).collect();
    let (mut scored, _) = scorer.rank(&prepared, others.iter(), None);
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    scored
        .iter()
        .filter(|s| s.score >= thresholds.review_min)
        .take(MAX_DUPLICATES)
        .map(|s| Candidate::of(s, thresholds))
        .collect()
}

/// Who may be advertised to on which channel (UWG §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channels {
    pub audience: Audience,
    pub audience_reason: String,
    pub verdicts: Vec<Verdict>,
}

/// The verdict per channel for a contact the CRM does not hold yet: judged as given, with
/// no consent recorded (a CRM record it duplicates is judged with its stored consents).
pub fn channels(record: &Record, now: NaiveDateTime) -> Channels {
    let (audience, audience_reason) = consent::audience_of(Some(record));
    Channels {
        audience,
        audience_reason,
        verdicts: consent::verdicts(audience, &[], now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consent::{Channel, Ground};
    use crate::domain::model::Policy;
    use crate::domain::score::Model;
    use chrono::NaiveDate;

    fn org(id: &str, values: &[(Field, &str)]) -> Record {
        values
            .iter()
            .fold(Record::new(id), |r, (f, v)| r.with(*f, *v))
    }

    fn thresholds() -> Thresholds {
        Thresholds {
            auto_apply_min: 0.92,
            review_min: 0.75,
            ambiguity_margin: 0.03,
        }
    }

    fn plan() -> Plan {
        let rules: BTreeMap<Field, FieldRule> = [
            (Field::LegalName, FieldRule::Short(Policy::Propose)),
            (Field::Street, FieldRule::Short(Policy::Propose)),
            (Field::Postcode, FieldRule::Short(Policy::Propose)),
            (Field::City, FieldRule::Short(Policy::Propose)),
            (Field::VatId, FieldRule::Short(Policy::FillEmpty)),
            (Field::Website, FieldRule::Short(Policy::Ignore)),
        ]
        .into_iter()
        .collect();
        Plan {
            entity: EntityKind::Organisation,
            thresholds: thresholds(),
            mapped: rules.keys().copied().collect(),
            rules,
            normalise: Vec::new(),
            placeholders: Vec::new(),
            inactive_value: "inactive".into(),
            skip_where: BTreeMap::new(),
            enrichable: Default::default(),
        }
    }

    fn scorer() -> Scorer {
        Scorer::new(Model::default_for(EntityKind::Organisation))
    }

    fn alpha(id: &str) -> Record {
        org(
            id,
            &[
                (Field::LegalName, "Alpha Maschinenbau GmbH"),
                (Field::Street, "Hauptstraße"),
                (Field::HouseNumber, "12"),
                (Field::Postcode, "80331"),
                (Field::City, "München"),
                (Field::VatId, "DE136695976"),
            ],
        )
    }

    #[test]
    fn values_are_put_in_their_standard_forms_and_invalid_ones_kept_as_given() {
        let cases = [
            (Field::VatId, " de 136 695 976 ", "DE136695976"),
            (Field::RegisterNumber, "hrb7042", "HRB 7042"),
            (
                Field::LegalForm,
                "Gesellschaft mit beschränkter Haftung",
                "GmbH",
            ),
            (Field::Country, "Deutschland", "DE"),
            (Field::Phone, "089 / 123 456", "+4989123456"),
            (Field::Email, "Anna@Example.DE", "Anna@example.de"),
            (Field::City, "  München ", "München"),
            (Field::VatId, "DE123", "DE123"),
            (Field::Email, "anna at example", "anna at example"),
        ];
        for (field, raw, want) in cases {
            let got = normalise(&Record::new("x").with(field, raw));
            assert_eq!(got.raw(field), Some(want), "{field} {raw:?}");
        }
        let blank = normalise(&Record::new("x").with(Field::City, "  "));
        assert_eq!(blank.raw(Field::City), None);
    }

    #[test]
    fn problems_name_the_field_the_kind_and_the_value() {
        // (values, the problems they have)
        type Case<'a> = (&'a [(Field, &'a str)], &'a [(Field, ProblemKind)]);
        let cases: [Case; 7] = [
            (
                &[(Field::VatId, "DE123456789")],
                &[(Field::VatId, ProblemKind::InvalidIdentifier)],
            ),
            (&[(Field::Lei, "5299ZGT9YKCI99S2NC82")], &[]),
            (
                &[(Field::Email, "anna.example.de")],
                &[(Field::Email, ProblemKind::ImpossibleEmail)],
            ),
            (
                &[(Field::Phone, "12")],
                &[(Field::Phone, ProblemKind::InvalidPhone)],
            ),
            (
                &[(Field::Postcode, "00000")],
                &[(Field::Postcode, ProblemKind::UnknownPostcode)],
            ),
            (
                &[(Field::Postcode, "80331"), (Field::City, "Hamburg")],
                &[(Field::Postcode, ProblemKind::PostcodeNotOfCity)],
            ),
            (
                &[
                    (Field::Postcode, "80331"),
                    (Field::City, "München"),
                    (Field::Email, "a@b.de"),
                ],
                &[],
            ),
        ];
        for (values, want) in cases {
            let got: Vec<(Field, ProblemKind)> =
                problems(EntityKind::Organisation, &org("x", values))
                    .into_iter()
                    .map(|p| (p.field, p.kind))
                    .collect();
            assert_eq!(got, want, "{values:?}");
        }
        let named = problems(EntityKind::Organisation, &org("x", &[(Field::Phone, "12")]));
        assert!(named[0].message.contains("`12`"), "{named:?}");
    }

    #[test]
    fn a_register_match_brings_the_changes_the_field_policies_make_of_it() {
        let lead = org(
            "lead",
            &[
                (Field::LegalName, "Alpha Maschinenbau GmbH"),
                (Field::Street, "Hauptstr."),
                (Field::HouseNumber, "12"),
                (Field::Postcode, "80331"),
                (Field::City, "München"),
            ],
        );
        let register: Result<Vec<Record>, String> = Ok(vec![alpha("R1")]);
        let (answer, auto, _) = register_match(&plan(), &scorer(), &lead, &register);
        assert_eq!(answer.status, MatchStatus::Different);
        let best = answer.best.expect("a match");
        assert_eq!(best.id, "R1");
        assert!(best.probability >= 0.75, "{best:?}");
        // `Hauptstr.` is `Hauptstraße`: no change; the missing VAT id is filled.
        let fields: Vec<Field> = answer.proposals.iter().map(|p| p.field).collect();
        assert_eq!(fields, [Field::VatId]);
        assert_eq!(answer.proposals[0].new, "DE136695976");
        assert_eq!(auto.is_some(), best.band == Band::Auto);
    }

    #[test]
    fn a_failed_lookup_is_never_not_found() {
        let failed: Result<Vec<Record>, String> = Err("register `r` unavailable: timeout".into());
        let (answer, auto, _) = register_match(&plan(), &scorer(), &alpha("lead"), &failed);
        assert_eq!(answer.status, MatchStatus::LookupFailed);
        assert!(answer.error.unwrap().contains("timeout"));
        assert!(auto.is_none());
        let empty: Result<Vec<Record>, String> = Ok(Vec::new());
        let (answer, _, _) = register_match(&plan(), &scorer(), &alpha("lead"), &empty);
        assert_eq!(answer.status, MatchStatus::NotFound);
    }

    #[test]
    fn the_crm_records_a_lead_duplicates_come_most_likely_first_with_their_explanation() {
        let lead = alpha("lead");
        let other = org(
            "9",
            &[
                (Field::LegalName, "Beta Logistik AG"),
                (Field::Postcode, "20095"),
                (Field::City, "Hamburg"),
            ],
        );
        let near = org(
            "7",
            &[
                (Field::LegalName, "Alpha Maschinenbau GmbH"),
                (Field::Street, "Hauptstr."),
                (Field::HouseNumber, "12"),
                (Field::Postcode, "80331"),
                (Field::City, "München"),
            ],
        );
        let found = duplicates(&scorer(), &thresholds(), &lead, &[other, near, alpha("3")]);
        let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["3", "7"]);
        assert!(found[0].probability >= found[1].probability);
        assert!(found[0].grade.contains("name=A"), "{}", found[0].grade);
        assert!(!found[0].explanation.is_empty());
        assert!(duplicates(&scorer(), &thresholds(), &lead, &[]).is_empty());
    }

    #[test]
    fn updates_leave_out_ignored_fields_and_values_that_only_differ_in_spelling() {
        let existing = alpha("3").with(Field::Website, "alpha.de");
        let lead = alpha("lead")
            .with(Field::Street, "Hauptstr.")
            .with(Field::City, "Augsburg")
            .with(Field::Website, "alpha-maschinen.de");
        let got = updates(&plan().rules, &lead, &existing);
        assert_eq!(
            got,
            [(
                Field::City,
                Some("München".to_string()),
                "Augsburg".to_string()
            )]
        );
    }

    #[test]
    fn the_register_corrects_only_the_fields_the_job_has_rules_for() {
        let lead = org(
            "lead",
            &[
                (Field::LegalName, "alpha maschinenbau"),
                (Field::Phone, "1"),
            ],
        );
        let register = alpha("R1").with(Field::Phone, "+49891234567");
        let got = corrected(&lead, &plan().rules, Some(&register));
        assert_eq!(got.get(Field::LegalName), Some("Alpha Maschinenbau GmbH"));
        assert_eq!(got.get(Field::Phone), Some("1"));
        assert_eq!(corrected(&lead, &plan().rules, None), lead);
    }

    #[test]
    fn a_new_contact_has_no_consent_and_is_judged_by_its_link_to_an_organisation() {
        let now = NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let verdict = |c: &Channels, ch: Channel| {
            let v = c.verdicts.iter().find(|v| v.channel == ch).unwrap();
            (v.allowed, v.ground)
        };
        let consumer = channels(
            &Record::new("lead").with(Field::Email, "anna@example.de"),
            now,
        );
        assert_eq!(consumer.audience, Audience::Consumer);
        assert_eq!(
            verdict(&consumer, Channel::Email),
            (false, Ground::ConsumerWithoutOptIn)
        );
        assert_eq!(
            verdict(&consumer, Channel::Letter),
            (true, Ground::NoConsentNeeded)
        );
        let business = channels(&Record::new("lead").with(Field::OrganisationId, "1"), now);
        assert_eq!(business.audience, Audience::Business);
        assert_eq!(
            verdict(&business, Channel::Email),
            (false, Ground::NoConsent)
        );
        assert_eq!(business.verdicts.len(), Channel::ALL.len());
    }
}
