//! Identifier validators (pure): LEI, VAT ids, Handelsregister numbers. An identifier that
//! fails here is never used for matching.

/// The LEI in canonical form (upper case, no blanks) if it is 20 characters of `[0-9A-Z]`
/// with valid ISO 7064 MOD 97-10 check digits (ISO 17442).
pub fn lei(raw: &str) -> Option<String> {
    let lei: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let ok = lei.len() == 20
        && lei.chars().all(|c| c.is_ascii_alphanumeric())
        && lei[18..].chars().all(|c| c.is_ascii_digit())
        && mod97(&lei) == 1;
    ok.then_some(lei)
}

/// ISO 7064 MOD 97-10 over digits and letters (A = 10 … Z = 35).
fn mod97(s: &str) -> u32 {
    s.chars().fold(0u32, |acc, c| {
        let v = c.to_digit(36).unwrap_or(0);
        if v >= 10 {
            (acc * 100 + v) % 97
        } else {
            (acc * 10 + v) % 97
        }
    })
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
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | ',' | '-' | '/'))
        .collect::<String>()
        .to_ascii_uppercase();
    if compact.len() < 4 {
        return VatCheck::Invalid(format!("`{raw}` is too short for a VAT id"));
    }
    let (prefix, national) = compact.split_at(2);
    let prefix = if prefix == "GR" { "EL" } else { prefix };
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
    if prefix == "DE" && !de_ust_idnr_ok(national) {
        return VatCheck::Invalid(format!(
            "`{raw}`: the check digit of a German USt-IdNr does not match (ISO 7064 MOD 11,10)"
        ));
    }
    VatCheck::Valid(format!("{prefix}{national}"))
}

/// Nine digits, the first not 0, the last a MOD 11,10 check digit.
fn de_ust_idnr_ok(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 9 || d[0] == 0 {
        return false;
    }
    let mut product = 10;
    for &digit in &d[..8] {
        let mut sum = (digit + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let check = (11 - product) % 10;
    check == d[8]
}

/// A parsed Handelsregister number: `HRB 158855 B` → (HRB, 158855, Some("B")).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterNumber {
    pub kind: &'static str,
    pub number: String,
    pub suffix: Option<String>,
}

impl RegisterNumber {
    /// The form GLEIF and the register portal print: `HRB 7042`, `HRB 158855 B`.
    pub fn canonical(&self) -> String {
        match &self.suffix {
            Some(s) => format!("{} {} {s}", self.kind, self.number),
            None => format!("{} {}", self.kind, self.number),
        }
    }
}

const REGISTER_KINDS: &[&str] = &["HRA", "HRB", "GNR", "PR", "VR", "GSR"];

/// Parses `HRB 7042`, `HRB7042`, `hrb 158855 B`, `GnR 12`; anything else is `None`.
pub fn register_number(raw: &str) -> Option<RegisterNumber> {
    let text = raw.trim();
    let upper = text.to_ascii_uppercase();
    let kind = REGISTER_KINDS
        .iter()
        .filter(|k| upper.starts_with(*k))
        .max_by_key(|k| k.len())?;
    let rest = upper[kind.len()..].trim_start_matches([' ', '.', '-']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 7 || digits.starts_with('0') {
        return None;
    }
    let suffix = rest[digits.len()..].trim();
    let suffix = match suffix {
        "" => None,
        s if s.len() <= 3 && s.chars().all(|c| c.is_ascii_alphabetic()) => Some(s.to_string()),
        _ => return None,
    };
    let kind = match *kind {
        "GNR" => "GnR",
        "GSR" => "GsR",
        k => k,
    };
    Some(RegisterNumber {
        kind,
        number: digits,
        suffix,
    })
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
    fn register_numbers() {
        let cases = [
            ("HRB 7042", Some("HRB 7042")),
            ("HRB7042", Some("HRB 7042")),
            ("hrb 158855 B", Some("HRB 158855 B")),
            ("GnR 12", Some("GnR 12")),
            ("VR. 501", Some("VR 501")),
            ("HRB", None),
            ("HRB 0123", None),
            ("123456", None),
            ("HRB 12 Berlin-Charlottenburg", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                register_number(raw).map(|r| r.canonical()).as_deref(),
                want,
                "{raw}"
            );
        }
    }
}
