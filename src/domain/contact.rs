//! Checks of contact data that need no register: e-mail syntax and form, phone numbers in
//! E.164, and salutations or academic titles typed into name fields.

use super::diff::PlannedChange;
use super::model::{ChangeKind, Field, Policy, Record};
use super::normalise::{comparable, e164, parse_birth_date};
use super::policy::Action;

/// Whether an e-mail address is plausible: one `@`, a local part, a dotted domain, no blanks.
pub fn is_valid_email(raw: &str) -> bool {
    let v = raw.trim();
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.contains(char::is_whitespace)
        && !domain.contains("..")
}

/// An address in its comparable form: trimmed, the domain in lower case.
pub fn normal_email(raw: &str) -> String {
    let v = raw.trim();
    match v.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => v.to_string(),
    }
}

const SALUTATION_WORDS: &[(&str, &str)] = &[
    ("herr", "Herr"),
    ("herrn", "Herr"),
    ("hr.", "Herr"),
    ("frau", "Frau"),
    ("fr.", "Frau"),
];
const TITLE_WORDS: &[&str] = &[
    "Dr.",
    "Prof.",
    "Dipl.-Ing.",
    "Dipl.-Kfm.",
    "Dr.-Ing.",
    "Dr. med.",
    "Mag.",
];

fn propose(record: &Record, field: Field, new: String, policy: Policy, why: &str) -> PlannedChange {
    PlannedChange {
        kind: ChangeKind::Picklist,
        field,
        old: record.raw(field).map(str::to_string),
        new,
        policy,
        action: Action::Propose,
        hold: None,
        confidence: Some((1.0, why.to_string())),
        note: None,
    }
}

/// Salutations and titles typed into the name fields, split into their own fields.
pub fn name_splits(record: &Record, mapped: &dyn Fn(Field) -> bool) -> Vec<PlannedChange> {
    let mut out = Vec::new();
    for name_field in [Field::FirstName, Field::LastName] {
        let Some(name) = record.get(name_field) else {
            continue;
        };
        let mut rest: Vec<&str> = name.split_whitespace().collect();
        let mut salutation = None;
        let mut titles = Vec::new();
        while let Some(first) = rest.first() {
            if let Some((_, s)) = SALUTATION_WORDS
                .iter()
                .find(|(w, _)| w.eq_ignore_ascii_case(first))
            {
                salutation = Some(*s);
            } else if TITLE_WORDS.iter().any(|t| t.eq_ignore_ascii_case(first)) {
                titles.push(*first);
            } else {
                break;
            }
            rest.remove(0);
        }
        if rest.is_empty() || (salutation.is_none() && titles.is_empty()) {
            continue;
        }
        out.push(propose(
            record,
            name_field,
            rest.join(" "),
            Policy::Propose,
            "salutation or title typed into the name",
        ));
        if let (Some(s), true) = (salutation, mapped(Field::Salutation)) {
            if record.get(Field::Salutation).is_none() {
                out.push(propose(
                    record,
                    Field::Salutation,
                    s.to_string(),
                    Policy::Propose,
                    "salutation found in the name",
                ));
            }
        }
        if !titles.is_empty() && mapped(Field::Title) && record.get(Field::Title).is_none() {
            out.push(propose(
                record,
                Field::Title,
                titles.join(" "),
                Policy::Propose,
                "academic title found in the name",
            ));
        }
    }
    out
}

/// The standard form of a phone number or e-mail address, if it has one.
pub fn standard_form(field: Field, value: &str) -> Option<String> {
    match field {
        Field::Phone => e164(value, "49"),
        Field::Email if is_valid_email(value) => Some(normal_email(value)),
        _ => None,
    }
}

/// Phone and e-mail in their standard forms, for the fields a job asks to normalise.
/// They change the spelling, not the meaning, so they are applied like `overwrite`.
pub fn format_fixes(record: &Record, fields: &[Field]) -> Vec<PlannedChange> {
    let mut out = Vec::new();
    for field in fields {
        let Some(v) = record.get(*field) else {
            continue;
        };
        if let Some(new) = standard_form(*field, v).filter(|n| n != v) {
            let mut change = propose(record, *field, new, Policy::Overwrite, "standard format");
            change.action = Action::Apply;
            out.push(change);
        }
    }
    out
}

/// A contact whose own address disagrees with its organisation's (postcode or city, where
/// both keep one): flagged, since either may be stale.
pub fn address_mismatch(contact: &Record, organisation: &Record) -> Option<PlannedChange> {
    let differs = [Field::Postcode, Field::City].into_iter().find(|f| {
        match (contact.get(*f), organisation.get(*f)) {
            (Some(a), Some(b)) => comparable(*f, a) != comparable(*f, b),
            _ => false,
        }
    })?;
    let org_address = [Field::Postcode, Field::City]
        .iter()
        .filter_map(|f| organisation.get(*f))
        .collect::<Vec<_>>()
        .join(" ");
    Some(PlannedChange {
        kind: ChangeKind::Flag,
        field: differs,
        old: contact.raw(differs).map(str::to_string),
        new: format!("differs from the organisation's address ({org_address})"),
        policy: Policy::Propose,
        action: Action::Propose,
        hold: None,
        confidence: None,
        note: None,
    })
}

/// Values that cannot be right, flagged for a person: nothing is written.
pub fn flags(record: &Record) -> Vec<PlannedChange> {
    let email = record
        .get(Field::Email)
        .filter(|v| !is_valid_email(v))
        .map(|v| (Field::Email, v, "not a valid e-mail address"));
    let birth_date = unreadable_birth_date(record).map(|v| {
        (
            Field::BirthDate,
            v,
            "not a date: write it as TT.MM.JJJJ or JJJJ-MM-TT",
        )
    });
    email
        .into_iter()
        .chain(birth_date)
        .map(|(field, old, why)| PlannedChange {
            kind: ChangeKind::Flag,
            field,
            old: Some(old.to_string()),
            new: why.into(),
            policy: Policy::Propose,
            action: Action::Propose,
            hold: None,
            confidence: None,
            note: None,
        })
        .collect()
}

/// A birth date that is there but reads as no calendar date (`31.02.1980`, `k.A.`): it is
/// compared as missing, flagged, and counted in the pass summary.
pub fn unreadable_birth_date(record: &Record) -> Option<&str> {
    record
        .get(Field::BirthDate)
        .filter(|v| parse_birth_date(v).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_table() {
        let cases = [
            ("0221 123456", Some("+49221123456")),
            ("+49 (0)221-123456", Some("+49221123456")),
            ("0049 221 123456", Some("+49221123456")),
            ("+43 1 5123456", Some("+4315123456")),
            ("(0221) 12 34 56", Some("+49221123456")),
            ("+49 30 200000-12", Some("+493020000012")),
            ("k.A.", None),
            ("123", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(e164(raw, "49").as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn email_table() {
        for ok in ["anna.schmidt@alpha.de", " Anna@Alpha.DE ", "a+b@x.co.uk"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "anna.schmidt",
            "anna@",
            "@alpha.de",
            "anna@alpha",
            "an na@alpha.de",
            "a@b@c.de",
            "a@alpha..de",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert_eq!(
            normal_email(" Anna.Schmidt@Alpha.DE "),
            "Anna.Schmidt@alpha.de"
        );
    }

    #[test]
    fn names_with_salutations_and_titles_are_split() {
        let all = |_: Field| true;
        let r = Record::new("1")
            .with(Field::FirstName, "Herr Dr. Thomas")
            .with(Field::LastName, "Müller");
        let got: Vec<(Field, String)> = name_splits(&r, &all)
            .into_iter()
            .map(|c| (c.field, c.new))
            .collect();
        assert_eq!(
            got,
            vec![
                (Field::FirstName, "Thomas".into()),
                (Field::Salutation, "Herr".into()),
                (Field::Title, "Dr.".into())
            ]
        );
        let plain = Record::new("2")
            .with(Field::FirstName, "Anna")
            .with(Field::LastName, "Dr.");
        assert!(
            name_splits(&plain, &all).is_empty(),
            "a name that is only a title is left alone"
        );
    }

    #[test]
    fn a_contact_address_other_than_its_organisations_is_flagged() {
        let org = Record::new("7")
            .with(Field::Postcode, "50667")
            .with(Field::City, "Köln");
        let same = Record::new("1")
            .with(Field::Postcode, "50667")
            .with(Field::City, "Koeln");
        assert!(address_mismatch(&same, &org).is_none());
        let partial = Record::new("2").with(Field::City, "Köln");
        assert!(address_mismatch(&partial, &org).is_none());
        let moved = Record::new("3")
            .with(Field::Postcode, "80331")
            .with(Field::City, "München");
        let flag = address_mismatch(&moved, &org).unwrap();
        assert_eq!((flag.kind, flag.field), (ChangeKind::Flag, Field::Postcode));
        assert!(flag.new.contains("50667 Köln"), "{}", flag.new);
    }

    #[test]
    fn format_fixes_apply_and_flags_never_write() {
        let r = Record::new("1")
            .with(Field::Phone, "0221 123456")
            .with(Field::Email, "x@Alpha.DE");
        let fixes = format_fixes(&r, &[Field::Phone, Field::Email]);
        assert_eq!(
            fixes
                .iter()
                .map(|c| (c.new.as_str(), c.action))
                .collect::<Vec<_>>(),
            [
                ("+49221123456", Action::Apply),
                ("x@alpha.de", Action::Apply)
            ]
        );
        let bad = Record::new("2").with(Field::Email, "x at alpha.de");
        assert_eq!(flags(&bad)[0].kind, ChangeKind::Flag);
        assert!(!ChangeKind::Flag.writes_crm());
    }

    #[test]
    fn a_birth_date_that_is_no_date_is_flagged_and_a_readable_one_is_not() {
        let cases = [
            ("31.02.1980", true),
            ("k.A.", true),
            ("1980-13-01", true),
            ("09.04.1956", false),
            ("1956-04-09", false),
            ("1956", false),
        ];
        for (raw, flagged) in cases {
            let r = Record::new("1").with(Field::BirthDate, raw);
            assert_eq!(unreadable_birth_date(&r).is_some(), flagged, "{raw}");
            let found = flags(&r);
            assert_eq!(found.len(), usize::from(flagged), "{raw}");
            if flagged {
                assert_eq!(
                    (found[0].field, found[0].kind),
                    (Field::BirthDate, ChangeKind::Flag)
                );
                assert_eq!(found[0].old.as_deref(), Some(raw));
            }
        }
    }
}
