//! Identifier validators (pure): LEI, VAT ids, Handelsregister numbers. An identifier that
//! fails here is never used for matching.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::model::{Field, Record};
use super::normalise::{
    compact_id, compact_vat, is_valid_de_vat, is_valid_lei, normalise_register_number,
};

/// The LEI in canonical form (upper case, no separators) if its ISO 7064 MOD 97-10 check
/// digits are right (ISO 17442).
pub fn lei(raw: &str) -> Option<String> {
    is_valid_lei(raw).then(|| compact_id(raw))
}

/// EU VAT number prefixes and the shape of the national part (format only; the check
/// digit is verified where refsync knows the algorithm: Germany).
/// (prefix, allowed lengths of the national part as (min, max), letters allowed)
type VatFormat = (&'static str, &'static [(usize, usize)], bool);

const VAT_FORMATS: &[VatFormat] = &[
    ("AT", &[(9, 9)], true), // U + 8 digits
    ("BE", &[(10, 10)], false),
    ("BG", &[(9, 10)], false),
    ("CY", &[(9, 9)], true),
    ("CZ", &[(8, 10)], false),
    ("DE", &[(9, 9)], false),
    ("DK", &[(8, 8)], false),
    ("EE", &[(9, 9)], false),
    ("EL", &[(9, 9)], false),
    ("ES", &[(9, 9)], true),
    ("FI", &[(8, 8)], false),
    ("FR", &[(11, 11)], true),
    ("HR", &[(11, 11)], false),
    ("HU", &[(8, 8)], false),
    ("IE", &[(8, 9)], true),
    ("IT", &[(11, 11)], false),
    ("LT", &[(9, 9), (12, 12)], false),
    ("LU", &[(8, 8)], false),
    ("LV", &[(11, 11)], false),
    ("MT", &[(8, 8)], false),
    ("NL", &[(12, 12)], true), // 9 digits + B + 2 digits
    ("PL", &[(10, 10)], false),
    ("PT", &[(9, 9)], false),
    ("RO", &[(2, 10)], false),
    ("SE", &[(12, 12)], false),
    ("SI", &[(8, 8)], false),
    ("SK", &[(10, 10)], false),
    ("XI", &[(5, 5), (9, 9), (12, 12)], true),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VatCheck {
    /// Canonical form: prefix + national part, no separators.
    Valid(String),
    Invalid(String),
}

/// Checks a VAT id's format (all EU prefixes, `EL` for Greece, `XI` for Northern
/// Ireland) and, for Germany, the ISO 7064 MOD 11,10 check digit.
pub fn vat_id(raw: &str) -> VatCheck {
    let compact = compact_vat(raw);
    if compact.len() < 4 {
        return VatCheck::Invalid(format!("`{raw}` is too short for a VAT id"));
    }
    let (prefix, national) = compact.split_at(2);
    let Some((_, lengths, alnum)) = VAT_FORMATS.iter().find(|(p, ..)| *p == prefix) else {
        return VatCheck::Invalid(format!(
            "`{raw}` does not start with an EU country prefix (DE, AT, FR, EL, XI, …)"
        ));
    };
    let len_ok = lengths
        .iter()
        .any(|(min, max)| (*min..=*max).contains(&national.len()));
    let chars_ok = if *alnum {
        national.chars().all(|c| c.is_ascii_alphanumeric())
    } else {
        national.chars().all(|c| c.is_ascii_digit())
    };
    if !len_ok || !chars_ok {
        return VatCheck::Invalid(format!(
            "`{raw}`: a {prefix} VAT id has {} {}",
            lengths
                .iter()
                .map(|(a, b)| if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                })
                .collect::<Vec<_>>()
                .join(" or "),
            if *alnum { "characters" } else { "digits" }
        ));
    }
    if prefix == "DE" && !is_valid_de_vat(&compact) {
        return VatCheck::Invalid(format!(
            "`{raw}`: the check digit of a German USt-IdNr does not match (ISO 7064 MOD 11,10)"
        ));
    }
    VatCheck::Valid(format!("{prefix}{national}"))
}

/// A Handelsregister number in the form GLEIF and the register portal print (`HRB 7042`,
/// `HRB 158855 B`), or `None` when `raw` is not one: a type (HRA, HRB, GnR, PR, VR), a
/// number without leading zeros, and at most a short letter suffix.
pub fn register_number(raw: &str) -> Option<String> {
    let canonical = normalise_register_number(raw)?;
    let mut parts = canonical.split(' ').skip(1);
    let number = parts.next()?;
    let suffix_ok = parts
        .next()
        .is_none_or(|s| s.len() <= 3 && s.chars().all(|c| c.is_ascii_alphabetic()));
    (!number.is_empty() && number.len() <= 7 && suffix_ok).then_some(canonical)
}

/// The industry classifications refsync knows (data/SOURCES.md).
const INDUSTRY_LISTS: &[(&str, &str)] = &[
    ("WZ 2008", include_str!("../../data/industry/wz2008_de.csv")),
    ("WZ 2025", include_str!("../../data/industry/wz2025_de.csv")),
    (
        "NACE Rev. 2",
        include_str!("../../data/industry/nace_rev2_en.csv"),
    ),
    (
        "NACE Rev. 2.1",
        include_str!("../../data/industry/nace_rev2_1_en.csv"),
    ),
];

/// code → (classification, title), read once.
fn industry_index() -> &'static HashMap<String, Vec<(&'static str, String)>> {
    static INDEX: OnceLock<HashMap<String, Vec<(&'static str, String)>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<String, Vec<(&'static str, String)>> = HashMap::new();
        for (scheme, text) in INDUSTRY_LISTS {
            for row in csv::Reader::from_reader(text.as_bytes())
                .records()
                .filter_map(Result::ok)
            {
                if let Some(code) = row.get(0) {
                    let title = row.get(2).unwrap_or_default().to_string();
                    index
                        .entry(code.to_string())
                        .or_default()
                        .push((scheme, title));
                }
            }
        }
        index
    })
}

/// The classifications in which `raw` (e.g. `62.01`, `62.01.9`, `J`) is a code, with its
/// title there; empty when it is in none.
pub fn industry_code(raw: &str) -> Vec<(&'static str, String)> {
    let code = raw.trim().to_ascii_uppercase();
    industry_index().get(&code).cloned().unwrap_or_default()
}

/// An identifier in a CRM record that failed its check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: Field,
    pub reason: String,
}

/// Whether `value` is a valid identifier for `field`; other fields are always valid.
pub fn check(field: Field, value: &str) -> Result<(), String> {
    match field {
        Field::Lei if lei(value).is_none() => Err(format!(
            "`{value}` is not a valid LEI (20 characters, ISO 17442 check digits)"
        )),
        Field::VatId => match vat_id(value) {
            VatCheck::Valid(_) => Ok(()),
            VatCheck::Invalid(reason) => Err(reason),
        },
        Field::RegisterNumber if register_number(value).is_none() => Err(format!(
            "`{value}` is not a Handelsregister number (HRA, HRB, GnR, PR or VR and a number)"
        )),
        Field::IndustryCode if industry_code(value).is_empty() => Err(format!(
            "`{value}` is no code of WZ 2008, WZ 2025 or NACE Rev. 2 / 2.1"
        )),
        _ => Ok(()),
    }
}

/// `record` without its invalid identifiers (so they are never used for matching), and
/// what was wrong with each.
pub fn screen(record: &Record) -> (Record, Vec<Invalid>) {
    let mut usable = record.clone();
    let mut invalid = Vec::new();
    for field in [
        Field::Lei,
        Field::VatId,
        Field::RegisterNumber,
        Field::IndustryCode,
    ] {
        if let Some(value) = record.get(field) {
            if let Err(reason) = check(field, value) {
                usable.values.remove(&field);
                invalid.push(Invalid { field, reason });
            }
        }
    }
    (usable, invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors shipped with the fixtures (tests/fixtures/validators/).
    fn vectors(name: &str) -> Vec<Vec<String>> {
        let path = format!(
            "{}/tests/fixtures/validators/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut reader = csv::Reader::from_path(&path).expect(&path);
        reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    }

    #[test]
    fn lei_test_vectors() {
        let rows = vectors("lei_test_vectors.csv");
        assert!(rows.len() >= 5);
        for row in rows {
            let expected = row[1] == "True";
            assert_eq!(lei(&row[0]).is_some(), expected, "{row:?}");
        }
    }

    #[test]
    fn de_ust_idnr_test_vectors() {
        let rows = vectors("de_ust_idnr_test_vectors.csv");
        assert!(rows.len() >= 10);
        for row in rows {
            let expected = row[2] == "True";
            let got = vat_id(&row[0]);
            assert_eq!(
                matches!(got, VatCheck::Valid(_)),
                expected,
                "{row:?}: {got:?}"
            );
        }
    }

    #[test]
    fn eu_vat_formats() {
        assert_eq!(vat_id("ATU12345678"), VatCheck::Valid("ATU12345678".into()));
        assert_eq!(
            vat_id("GR 123456789"),
            VatCheck::Valid("EL123456789".into())
        );
        assert_eq!(
            vat_id("NL123456789B01"),
            VatCheck::Valid("NL123456789B01".into())
        );
        assert!(matches!(vat_id("FR1234"), VatCheck::Invalid(_)));
        assert!(matches!(vat_id("US123456789"), VatCheck::Invalid(e) if e.contains("prefix")));
        assert!(matches!(vat_id("DE12345678A"), VatCheck::Invalid(_)));
    }

    #[test]
    fn screening_removes_only_invalid_identifiers() {
        let r = Record::new("1")
            .with(Field::Lei, "5299001ERX0K10IZUL41")
            .with(Field::VatId, "DE136695976")
            .with(Field::RegisterNumber, "Nr. 12")
            .with(Field::LegalName, "Alpha GmbH");
        let (usable, invalid) = screen(&r);
        assert_eq!(usable.get(Field::Lei), None);
        assert_eq!(usable.get(Field::RegisterNumber), None);
        assert_eq!(usable.get(Field::VatId), Some("DE136695976"));
        assert_eq!(usable.get(Field::LegalName), Some("Alpha GmbH"));
        let fields: Vec<Field> = invalid.iter().map(|i| i.field).collect();
        assert_eq!(fields, [Field::Lei, Field::RegisterNumber]);
        assert!(invalid[0].reason.contains("LEI"));
    }

    #[test]
    fn industry_codes_in_every_list() {
        let schemes = |c| -> Vec<&str> { industry_code(c).into_iter().map(|(s, _)| s).collect() };
        // 52.29 and 62.01 were renumbered in NACE Rev. 2.1 and WZ 2025.
        assert_eq!(schemes("52.29"), ["WZ 2008", "NACE Rev. 2"]);
        assert_eq!(schemes("62.01"), ["WZ 2008", "NACE Rev. 2"]);
        assert_eq!(
            schemes("A"),
            ["WZ 2008", "WZ 2025", "NACE Rev. 2", "NACE Rev. 2.1"]
        );
        assert_eq!(schemes("62.01.9"), ["WZ 2008"]);
        let wz = industry_code("62.01");
        assert!(wz[0].1.contains("Programmierungstätigkeiten"), "{wz:?}");
        assert!(industry_code("99.99").is_empty());
        assert!(check(Field::IndustryCode, "12.345").is_err());
    }

    #[test]
    fn register_numbers() {
        let cases = [
            ("HRB 7042", Some("HRB 7042")),
            ("HRB7042", Some("HRB 7042")),
            ("hrb 158855 B", Some("HRB 158855 B")),
            ("GnR 12", Some("GnR 12")),
            ("VR. 501", Some("VR 501")),
            ("HRB", None),
            ("HRB 0123", Some("HRB 123")),
            ("123456", None),
            ("HRB 12 Berlin-Charlottenburg", None),
        ];
        for (raw, want) in cases {
            assert_eq!(register_number(raw).as_deref(), want, "{raw}");
        }
    }
}
