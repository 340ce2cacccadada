//! First-cut normalisers: total functions from raw CRM or register text to comparable forms.
//! They never panic and are idempotent; the matching issue extends them.

use super::model::Field;

/// Lower case, German letters folded (ä→ae, ö→oe, ü→ue, ß→ss, accents dropped),
/// punctuation to blanks, `&`/`+` to `und`, blanks collapsed.
pub fn fold_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' | 'æ' => out.push_str("ae"),
            'ö' | 'ø' | 'œ' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'á' | 'à' | 'â' | 'ã' | 'å' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' => out.push('i'),
            'ó' | 'ò' | 'ô' | 'õ' => out.push('o'),
            'ú' | 'ù' | 'û' => out.push('u'),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            '&' | '+' => out.push_str(" und "),
            c if c.is_alphanumeric() => out.push(c),
            _ => out.push(' '),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Legal forms as folded token sequences, longest first so `gmbh und co kg` wins over `kg`.
const LEGAL_FORMS: &[(&str, &str)] = &[
    ("gmbh und co kgaa", "GmbH & Co. KGaA"),
    ("gmbh und co kg", "GmbH & Co. KG"),
    (
        "ug haftungsbeschraenkt und co kg",
        "UG (haftungsbeschränkt) & Co. KG",
    ),
    ("ag und co kg", "AG & Co. KG"),
    ("se und co kg", "SE & Co. KG"),
    ("ug haftungsbeschraenkt", "UG (haftungsbeschränkt)"),
    ("partg mbb", "PartG mbB"),
    ("gmbh", "GmbH"),
    ("mbh", "mbH"),
    ("kgaa", "KGaA"),
    ("ag", "AG"),
    ("se", "SE"),
    ("kg", "KG"),
    ("ohg", "OHG"),
    ("ug", "UG (haftungsbeschränkt)"),
    ("e k", "e.K."),
    ("ek", "e.K."),
    ("e kfm", "e.K."),
    ("e v", "e.V."),
    ("ev", "e.V."),
    ("e g", "eG"),
    ("eg", "eG"),
    ("gbr", "GbR"),
    ("partg", "PartG"),
];

/// Splits a trailing legal form off an organisation name: `("mueller maschinenbau", Some("GmbH"))`.
/// The name part is folded; the legal form is in its canonical spelling.
pub fn split_legal_form(name: &str) -> (String, Option<&'static str>) {
    let folded = fold_text(name);
    for (pattern, canonical) in LEGAL_FORMS {
        if folded == *pattern {
            return (String::new(), Some(canonical));
        }
        if let Some(core) = folded.strip_suffix(pattern) {
            if let Some(core) = core.strip_suffix(' ') {
                return (core.trim().to_string(), Some(canonical));
            }
        }
    }
    (folded, None)
}

/// The canonical spelling of a legal form written any common way, if refsync knows it.
pub fn canonical_legal_form(raw: &str) -> Option<&'static str> {
    let folded = fold_text(raw);
    LEGAL_FORMS
        .iter()
        .find(|(pattern, _)| folded == *pattern)
        .map(|(_, canonical)| *canonical)
}

/// Upper case letters and digits only: the shape identifiers are compared in.
pub fn compact_id(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// ISO 17442 LEI: 20 characters, check digits by ISO 7064 MOD 97-10.
pub fn is_valid_lei(raw: &str) -> bool {
    let lei = compact_id(raw);
    lei.len() == 20 && mod97(&lei) == Some(1)
}

/// The remainder mod 97 of the number formed by replacing letters with 10..35.
pub fn mod97(s: &str) -> Option<u32> {
    let mut rem: u32 = 0;
    for c in s.chars() {
        let v = c.to_digit(36)?;
        if v >= 10 {
            rem = (rem * 100 + v) % 97;
        } else {
            rem = (rem * 10 + v) % 97;
        }
    }
    Some(rem)
}

/// A VAT id in compact form (`DE123456789`); Greece's `GR` prefix is written `EL`.
pub fn compact_vat(raw: &str) -> String {
    let c = compact_id(raw);
    match c.strip_prefix("GR") {
        Some(rest) => format!("EL{rest}"),
        None => c,
    }
}

/// German USt-IdNr: `DE` + 9 digits, first not 0, last a check digit by ISO 7064 MOD 11,10.
pub fn is_valid_de_vat(raw: &str) -> bool {
    let c = compact_vat(raw);
    let Some(digits) = c.strip_prefix("DE") else {
        return false;
    };
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return false;
    }
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    de_vat_check_digit(&d[..8]) == d[8]
}

/// ISO 7064 MOD 11,10 check digit over the first eight digits of a German USt-IdNr.
pub fn de_vat_check_digit(digits: &[u32]) -> u32 {
    let mut product = 10;
    for &digit in digits {
        let mut sum = (digit + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    (11 - product) % 10
}

/// A Handelsregister number: `HRB 12345 B` from `hrb12345b`, `HR B 12345`, `HRB-Nr. 12345`.
pub fn normalise_register_number(raw: &str) -> Option<String> {
    let upper = raw.to_uppercase();
    let compact: String = upper
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect();
    let (kind, rest) = ["HRA", "HRB", "GNR", "PR", "VR"]
        .iter()
        .find_map(|k| compact.strip_prefix(k).map(|rest| (*k, rest)))?;
    let rest = rest.strip_prefix("NR").unwrap_or(rest);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let suffix: String = rest[digits.len()..]
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let kind = if kind == "GNR" { "GnR" } else { kind };
    let number = digits.trim_start_matches('0');
    Some(if suffix.is_empty() {
        format!("{kind} {number}")
    } else {
        format!("{kind} {number} {suffix}")
    })
}

/// A register court as a folded place name: `Amtsgericht München` and `AG Muenchen` → `muenchen`.
pub fn normalise_court(raw: &str) -> String {
    let folded = fold_text(raw);
    let core = folded
        .strip_prefix("amtsgericht ")
        .or_else(|| folded.strip_prefix("ag "))
        .unwrap_or(&folded);
    core.to_string()
}

/// Digits of a phone number in international form without `+`: `089 1234-5` → `49891234 5`.
/// Numbers without a country prefix are taken as German, the demo's and most users' case.
pub fn comparable_phone(raw: &str) -> String {
    let trimmed = raw.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if trimmed.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("49{rest}")
    } else {
        digits
    }
}

/// A website as host and path: scheme, `www.` and trailing slash dropped, lower case.
pub fn comparable_website(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    let no_scheme = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let no_www = no_scheme.strip_prefix("www.").unwrap_or(no_scheme);
    no_www.trim_end_matches('/').to_string()
}

/// Street names with the usual abbreviations written out: `Hauptstr.` → `hauptstrasse`.
pub fn comparable_street(raw: &str) -> String {
    let folded = fold_text(&raw.replace("str.", "straße ").replace("Str.", "Straße "));
    folded
        .split(' ')
        .map(|token| match token {
            "str" => "strasse",
            "pl" => "platz",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace("strasse ", "strasse")
        .replace(" strasse", "strasse")
}

/// Splits a trailing house number off a street written in one field:
/// `Hauptstraße 12a` → (`Hauptstraße`, `12a`), `Am Markt 12-14` → (`Am Markt`, `12-14`).
pub fn split_house_number(street: &str) -> (String, Option<String>) {
    let trimmed = street.trim();
    let tokens: Vec<&str> = trimmed.split_whitespace().collect();
    let numeric = |t: &str| {
        t.starts_with(|c: char| c.is_ascii_digit())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '/')
    };
    // Walk back over the number and a one-letter suffix ("5 b"); the first token is always
    // the street, so "Straße des 17. Juni" keeps its date.
    let mut at = tokens.len();
    while at > 1 {
        let t = tokens[at - 1];
        let suffix = t.len() == 1
            && t.chars().all(|c| c.is_ascii_alphabetic())
            && at >= 3
            && numeric(tokens[at - 2]);
        if numeric(t) || suffix {
            at -= 1;
        } else {
            break;
        }
    }
    if at < tokens.len() && numeric(tokens[at]) {
        (tokens[..at].join(" "), Some(tokens[at..].join(" ")))
    } else {
        (trimmed.to_string(), None)
    }
}

/// The form in which two values of `field` are compared: equal forms mean no change.
pub fn comparable(field: Field, raw: &str) -> String {
    match field {
        Field::VatId => compact_vat(raw),
        Field::Lei | Field::Postcode | Field::IndustryCode => compact_id(raw),
        Field::RegisterNumber => normalise_register_number(raw).unwrap_or_else(|| compact_id(raw)),
        Field::RegisterCourt => normalise_court(raw),
        Field::Phone => comparable_phone(raw),
        Field::Website => comparable_website(raw),
        Field::Email => raw.trim().to_lowercase(),
        Field::Street => comparable_street(raw),
        Field::LegalForm => canonical_legal_form(raw)
            .map(str::to_string)
            .unwrap_or_else(|| fold_text(raw)),
        _ => fold_text(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_text_table() {
        let cases = [
            ("Müller & Söhne", "mueller und soehne"),
            ("MÜLLER", "mueller"),
            ("Straße  der Einheit", "strasse der einheit"),
            ("  A.B.C. - GmbH ", "a b c gmbh"),
            ("", ""),
            ("Café Crème", "cafe creme"),
        ];
        for (input, want) in cases {
            assert_eq!(fold_text(input), want, "input {input:?}");
        }
    }

    #[test]
    fn legal_form_split_table() {
        let cases = [
            (
                "Müller Maschinenbau GmbH",
                "mueller maschinenbau",
                Some("GmbH"),
            ),
            (
                "Hofmann Logistik GmbH & Co. KG",
                "hofmann logistik",
                Some("GmbH & Co. KG"),
            ),
            ("Bäckerei Krause e.K.", "baeckerei krause", Some("e.K.")),
            ("Sportverein Nord e.V.", "sportverein nord", Some("e.V.")),
            (
                "Neumann UG (haftungsbeschränkt)",
                "neumann",
                Some("UG (haftungsbeschränkt)"),
            ),
            ("Fraport AG", "fraport", Some("AG")),
            ("Ag Solutions", "ag solutions", None),
            ("Schmidt", "schmidt", None),
        ];
        for (input, core, form) in cases {
            assert_eq!(
                split_legal_form(input),
                (core.to_string(), form),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn lei_check_digits() {
        assert!(is_valid_lei("529900GRZ2BQY5ZM9N49"));
        assert!(is_valid_lei("5299001ERX0K10IZUL40"));
        assert!(!is_valid_lei("529900GRZ2BQY5ZM9N48"));
        assert!(!is_valid_lei("529900GRZ2BQY5ZM9N4"));
        assert!(!is_valid_lei("ÄÖÜ"));
    }

    #[test]
    fn german_vat_check_digit() {
        assert!(is_valid_de_vat("DE136695976"));
        assert!(is_valid_de_vat("DE 136,695 976"));
        assert!(!is_valid_de_vat("DE136695978"));
        assert!(!is_valid_de_vat("DE036695976"));
        assert!(!is_valid_de_vat("136695976"));
    }

    #[test]
    fn register_number_table() {
        let cases = [
            ("HRB 12345", Some("HRB 12345")),
            ("hrb12345b", Some("HRB 12345 B")),
            ("HR B 012345", Some("HRB 12345")),
            ("HRB-Nr. 7042", Some("HRB 7042")),
            ("GnR 55", Some("GnR 55")),
            ("VR 1234", Some("VR 1234")),
            ("12345", None),
            ("HRB", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalise_register_number(input).as_deref(),
                want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn house_number_split_table() {
        let cases = [
            ("Hauptstraße 12", "Hauptstraße", Some("12")),
            ("Hauptstraße 12a", "Hauptstraße", Some("12a")),
            ("Am Markt 12-14", "Am Markt", Some("12-14")),
            ("Lindenweg 5 b", "Lindenweg", Some("5 b")),
            ("Straße des 17. Juni", "Straße des 17. Juni", None),
            (
                "Straße des 17. Juni 135",
                "Straße des 17. Juni",
                Some("135"),
            ),
            ("Parkallee", "Parkallee", None),
            ("", "", None),
        ];
        for (input, street, number) in cases {
            assert_eq!(
                split_house_number(input),
                (street.to_string(), number.map(str::to_string)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn comparable_forms_table() {
        let cases = [
            (Field::Phone, "+49 89 1234-5", "089 12345"),
            (Field::Phone, "0049 (89) 12345", "089/12345"),
            (Field::Website, "https://www.example.de/", "example.de"),
            (Field::Street, "Hauptstr.", "Hauptstraße"),
            (Field::Street, "Berliner Str.", "Berliner Strasse"),
            (Field::VatId, "de 136 695 976", "DE136695976"),
            (Field::RegisterCourt, "Amtsgericht München", "AG Muenchen"),
            (Field::LegalForm, "GmbH & Co KG", "GmbH & Co. KG"),
            (
                Field::Email,
                " Anna.Schmidt@Example.de",
                "anna.schmidt@example.de",
            ),
        ];
        for (field, a, b) in cases {
            assert_eq!(
                comparable(field, a),
                comparable(field, b),
                "{field}: {a:?} vs {b:?}"
            );
        }
        assert_ne!(
            comparable(Field::Street, "Hauptstr."),
            comparable(Field::Street, "Hafenstr.")
        );
    }

    #[test]
    fn normalisers_are_idempotent_on_samples() {
        let samples = [
            "Müller & Co. KG",
            "  ",
            "ß",
            "HRB 1 B",
            "+49 (0) 89",
            "https://a.de/x/",
            "Str.",
        ];
        for s in samples {
            for field in Field::ALL {
                let once = comparable(*field, s);
                assert_eq!(comparable(*field, &once), once, "{field} on {s:?}");
            }
        }
    }
}
