use proptest::prelude::*;

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
        ("Łódź", "lodz"),
    ];
    for (input, want) in cases {
        assert_eq!(fold_text(input), want, "input {input:?}");
    }
}

#[test]
fn umlaut_spellings_agree_in_the_name_core() {
    for name in [
        "Müller GmbH",
        "Mueller GmbH",
        "MULLER GMBH",
        "Muller G.m.b.H.",
    ] {
        assert_eq!(name_core(name), "muller", "{name}");
    }
    assert_eq!(name_core("Müller & Söhne KG"), "muller sohne");
    assert_eq!(name_core("Jacques Neue Werke"), "jacques neue werke");
}

/// (input, name core, canonical legal form, ELF code for Germany)
#[test]
fn legal_form_table() {
    let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
        (
            "Müller Maschinenbau GmbH",
            "mueller maschinenbau",
            Some("GmbH"),
            Some("2HBR"),
        ),
        (
            "Müller Maschinenbau G.m.b.H.",
            "mueller maschinenbau",
            Some("GmbH"),
            Some("2HBR"),
        ),
        (
            "Müller Maschinenbau Gesellschaft mit beschränkter Haftung",
            "mueller maschinenbau",
            Some("GmbH"),
            Some("2HBR"),
        ),
        (
            "CBG Commerz Beteiligungsgesellschaft Holding mbH",
            "cbg commerz beteiligungsgesellschaft holding",
            Some("mbH"),
            Some("2HBR"),
        ),
        (
            "Hofmann Logistik GmbH & Co. KG",
            "hofmann logistik",
            Some("GmbH & Co. KG"),
            Some("8Z6G"),
        ),
        (
            "Hofmann Logistik GmbH u. Co. KG",
            "hofmann logistik",
            Some("GmbH & Co. KG"),
            Some("8Z6G"),
        ),
        (
            "Hofmann Logistik GmbH + Co KG",
            "hofmann logistik",
            Some("GmbH & Co. KG"),
            Some("8Z6G"),
        ),
        (
            "CommerzVentures Beteiligungs GmbH & Co.KG",
            "commerzventures beteiligungs",
            Some("GmbH & Co. KG"),
            Some("8Z6G"),
        ),
        (
            "Becker Verwaltungs GmbH & Co. KGaA",
            "becker verwaltungs",
            Some("GmbH & Co. KGaA"),
            None,
        ),
        (
            "Bäckerei Krause e.K.",
            "baeckerei krause",
            Some("e.K."),
            None,
        ),
        (
            "Bäckerei Krause e. Kfm.",
            "baeckerei krause",
            Some("e.K."),
            None,
        ),
        (
            "Sportverein Nord e.V.",
            "sportverein nord",
            Some("e.V."),
            None,
        ),
        (
            "Raiffeisenbank Süd eG",
            "raiffeisenbank sued",
            Some("eG"),
            None,
        ),
        (
            "Raiffeisenbank Süd e.G.",
            "raiffeisenbank sued",
            Some("eG"),
            None,
        ),
        (
            "Neumann UG (haftungsbeschränkt)",
            "neumann",
            Some("UG (haftungsbeschränkt)"),
            Some("2HBR"),
        ),
        (
            "Neumann UG (haftungsbeschraenkt)",
            "neumann",
            Some("UG (haftungsbeschränkt)"),
            Some("2HBR"),
        ),
        (
            "Neumann UG (haftungsbeschränkt) & Co. KG",
            "neumann",
            Some("UG (haftungsbeschränkt) & Co. KG"),
            Some("8Z6G"),
        ),
        ("Fraport AG", "fraport", Some("AG"), Some("6QQB")),
        (
            "COMMERZBANK Aktiengesellschaft",
            "commerzbank",
            Some("AG"),
            Some("6QQB"),
        ),
        ("PUMA SE", "puma", Some("SE"), Some("SGST")),
        (
            "Schulz Logistik KG",
            "schulz logistik",
            Some("KG"),
            Some("8Z6G"),
        ),
        ("Weber Bau OHG", "weber bau", Some("OHG"), None),
        (
            "Meier & Partner GbR",
            "meier und partner",
            Some("GbR"),
            None,
        ),
        (
            "Kanzlei Roth PartG mbB",
            "kanzlei roth",
            Some("PartG mbB"),
            None,
        ),
        ("Kanzlei Roth PartG", "kanzlei roth", Some("PartG"), None),
        ("Merck KGaA", "merck", Some("KGaA"), None),
        (
            "PUMA UNITED KINGDOM LTD",
            "puma united kingdom",
            Some("Ltd"),
            None,
        ),
        ("SHELL PLC", "shell", Some("plc"), None),
        ("COMMERZ MARKETS LLC", "commerz markets", Some("LLC"), None),
        ("Apple Inc.", "apple", Some("Inc."), None),
        (
            "BLUE AMBER FUND MANAGEMENT S.A.",
            "blue amber fund management",
            Some("S.A."),
            None,
        ),
        (
            "Zelos Luxembourg S.à r.l.",
            "zelos luxembourg",
            Some("S.à r.l."),
            None,
        ),
        (
            "Commerzbank Finance B.V.",
            "commerzbank finance",
            Some("B.V."),
            None,
        ),
        ("Airbus N.V.", "airbus", Some("N.V."), None),
        ("Ferrari S.p.A.", "ferrari", Some("S.p.A."), None),
        (
            "SHELL MOBILITY ITALIA S.R.L.",
            "shell mobility italia",
            Some("S.r.l."),
            None,
        ),
        (
            "LeaseLink sp. z o.o.",
            "leaselink",
            Some("sp. z o.o."),
            None,
        ),
        ("Skoda Auto s.r.o.", "skoda auto", Some("s.r.o."), None),
        ("PUMA NORDIC AB", "puma nordic", Some("AB"), None),
        ("Maersk A/S", "maersk", Some("A/S"), None),
        ("Ubisecure Oy", "ubisecure", Some("Oy"), None),
        ("Ag Solutions", "ag solutions", None, None),
        ("Schmidt", "schmidt", None, None),
        ("GmbH", "", Some("GmbH"), Some("2HBR")),
    ];
    for (input, core, form, elf) in cases {
        let (got_core, got_form) = split_legal_form(input);
        assert_eq!(
            (got_core.as_str(), got_form),
            (*core, *form),
            "input {input:?}"
        );
        assert_eq!(
            form.and_then(|f| elf_code(f, Some("DE"))),
            *elf,
            "ELF of {input:?}"
        );
    }
    assert!(cases.len() >= 30);
}

#[test]
fn elf_codes_depend_on_the_country() {
    assert_eq!(elf_code("GmbH", Some("Österreich")), Some("AXSB"));
    assert_eq!(elf_code("GmbH", None), Some("2HBR"));
    assert_eq!(elf_code("Ltd", Some("United Kingdom")), Some("H0PO"));
    assert_eq!(elf_code("B.V.", Some("NL")), Some("54M6"));
    assert_eq!(elf_code("sp. z o.o.", Some("Polen")), Some("O7XB"));
    assert_eq!(elf_code("AB", Some("SE")), Some("XJHM"));
    assert_eq!(elf_code("Ltd", Some("DE")), None);
}

#[test]
fn canonical_legal_form_table() {
    let cases = [
        ("GmbH & Co KG", Some("GmbH & Co. KG")),
        ("gmbh u. co. kg", Some("GmbH & Co. KG")),
        ("Aktiengesellschaft", Some("AG")),
        ("e. K.", Some("e.K.")),
        ("UG haftungsbeschränkt", Some("UG (haftungsbeschränkt)")),
        ("Sàrl", Some("S.à r.l.")),
        ("2HBR", Some("GmbH")),
        ("8Z6G", Some("KG")),
        ("6QQB", Some("AG")),
        ("54M6", Some("B.V.")),
        ("Stiftung", None),
    ];
    for (input, want) in cases {
        assert_eq!(canonical_legal_form(input), want, "input {input:?}");
    }
}

/// (street line, comparable street, house number)
#[test]
fn street_table() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("Hauptstraße 12", "hauptstrasse", Some("12")),
        ("Hauptstr. 12", "hauptstrasse", Some("12")),
        ("Hauptstr.12", "hauptstrasse", Some("12")),
        ("Hauptstrasse 12a", "hauptstrasse", Some("12a")),
        ("Hauptstraße 12 a", "hauptstrasse", Some("12a")),
        ("Hauptstraße 12 A", "hauptstrasse", Some("12a")),
        ("HAUPTSTR. 12-14", "hauptstrasse", Some("12-14")),
        ("Hauptstr. 12 - 14", "hauptstrasse", Some("12-14")),
        ("Hauptstr. 12/14", "hauptstrasse", Some("12-14")),
        ("Berliner Str. 5", "berlinerstrasse", Some("5")),
        ("Berliner Straße 5", "berlinerstrasse", Some("5")),
        ("Berliner Strasse 5", "berlinerstrasse", Some("5")),
        ("Berlinerstr. 5", "berlinerstrasse", Some("5")),
        ("Straße des 17. Juni 135", "strassedes17juni", Some("135")),
        ("Am Markt 3", "ammarkt", Some("3")),
        ("Goethepl. 1", "goetheplatz", Some("1")),
        ("Goetheplatz 1", "goetheplatz", Some("1")),
        ("Mühlenweg 7b", "muehlenweg", Some("7b")),
        ("Muehlenweg 7 B", "muehlenweg", Some("7b")),
        ("Parkallee 100", "parkallee", Some("100")),
        ("Kantstraße", "kantstrasse", None),
        ("Am Stadtpark", "amstadtpark", None),
        ("  ", "", None),
        ("Schillerstraße 1 c", "schillerstrasse", Some("1c")),
        ("Kirchweg 2–4", "kirchweg", Some("2-4")),
        ("Industriestr 9", "industriestrasse", Some("9")),
        ("Werkstraße, 3", "werkstrasse", Some("3")),
        ("Rosenstraße 14 / 16", "rosenstrasse", Some("14-16")),
        ("Friedrichstr. 44A", "friedrichstrasse", Some("44a")),
        ("Marktplatz 1", "marktplatz", Some("1")),
    ];
    for (line, street, number) in cases {
        let (name, got_number) = split_house_number(line);
        assert_eq!(
            (comparable_street(&name).as_str(), got_number.as_deref()),
            (*street, *number),
            "line {line:?}"
        );
    }
    assert!(cases.len() >= 30);
}

#[test]
fn postcode_and_city_table() {
    let cases = [
        ("80331", None, "80331"),
        ("D-80331", None, "80331"),
        ("DE 80331", Some("DE"), "80331"),
        ("1067", Some("Deutschland"), "01067"),
        ("1010", Some("AT"), "1010"),
        ("A-1010", Some("Österreich"), "1010"),
        ("1012 ab", Some("NL"), "1012AB"),
    ];
    for (raw, country, want) in cases {
        assert_eq!(comparable_postcode(raw, country), want, "{raw:?}");
    }
    assert_eq!(comparable_city("Frankfurt a. M."), "frankfurt am main");
    assert_eq!(comparable_city("St. Ingbert"), "sankt ingbert");
    assert_eq!(comparable_city("KÖLN"), comparable_city("Koeln"));
}

#[test]
fn person_name_table() {
    let cases = [
        (
            "Frau Dr. Anna Schmidt",
            Some("frau"),
            Some("dr"),
            "anna",
            "schmidt",
        ),
        (
            "Herr Prof. Dr. Hans-Peter Müller-Lüdenscheidt",
            Some("herr"),
            Some("prof dr"),
            "hans peter",
            "mueller luedenscheidt",
        ),
        ("Müller, Anna", None, None, "anna", "mueller"),
        ("Otto von Bismarck", None, None, "otto", "von bismarck"),
        (
            "Dipl.-Ing. Karl Weber",
            None,
            Some("dipl ing"),
            "karl",
            "weber",
        ),
        ("Cher", None, None, "", "cher"),
        ("", None, None, "", ""),
    ];
    for (raw, salutation, title, first, last) in cases {
        let got = split_person_name(raw);
        assert_eq!(
            (
                got.salutation.as_deref(),
                got.title.as_deref(),
                got.first.as_str(),
                got.last.as_str()
            ),
            (salutation, title, first, last),
            "{raw:?}"
        );
    }
    assert_eq!(
        comparable_person_name("Hans-Peter"),
        comparable_person_name("hans peter")
    );
    assert_eq!(
        comparable_person_name("Jürgen"),
        comparable_person_name("JURGEN")
    );
}

#[test]
fn koelner_phonetik_table() {
    let cases = [
        ("Müller-Lüdenscheidt", "65752682"),
        ("Wikipedia", "3412"),
        ("Breschnew", "17863"),
        ("Meyer", "67"),
        ("Maier", "67"),
        ("Mayr", "67"),
        ("Schmidt", "862"),
        ("Schmitt", "862"),
        ("Christoph", "47823"),
        ("Xaver", "4837"),
        ("", ""),
    ];
    for (name, code) in cases {
        assert_eq!(koelner_phonetik(name), code, "{name}");
    }
    assert_eq!(koelner_phonetik("Müller"), koelner_phonetik("Mueller"));
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
fn vat_ids() {
    assert!(is_valid_de_vat("DE136695976"));
    assert!(is_valid_de_vat("DE 136,695 976"));
    assert!(!is_valid_de_vat("DE136695978"));
    assert!(!is_valid_de_vat("DE036695976"));
    assert!(!is_valid_de_vat("136695976"));
    let plausible = [
        "ATU12345678",
        "NL123456789B01",
        "FR 12 345678901",
        "GR123456789",
        "DE136695976",
        "IE1234567WA",
    ];
    for v in plausible {
        assert!(is_plausible_vat(v), "{v}");
    }
    for v in ["ATU1234567", "NL123456789", "XX123", "DE136695978", "", "É"] {
        assert!(!is_plausible_vat(v), "{v}");
    }
    assert_eq!(compact_vat("GR 123456789"), "EL123456789");
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
fn register_entries_from_free_text() {
    let cases = [
        ("HRB 12345 B", "HRB 12345 B", None),
        (
            "Amtsgericht München HRB 12345",
            "HRB 12345",
            Some("muenchen"),
        ),
        ("AG München, HRB 12345", "HRB 12345", Some("muenchen")),
        (
            "HRB 7042, Amtsgericht Frankfurt am Main",
            "HRB 7042",
            Some("frankfurt am main"),
        ),
        (
            "Registergericht: Amtsgericht Köln HRA 998",
            "HRA 998",
            Some("koeln"),
        ),
        ("HR B 32000 (Frankfurt)", "HRB 32000", Some("frankfurt")),
    ];
    for (raw, number, court) in cases {
        let got = parse_register(raw).unwrap_or_else(|| panic!("{raw:?} not parsed"));
        assert_eq!(
            (got.number.as_str(), got.court.as_deref()),
            (number, court),
            "{raw:?}"
        );
    }
    assert_eq!(parse_register("Amtsgericht München"), None);
}

#[test]
fn phone_email_website() {
    let cases = [
        ("+49 89 1234-5", Some("+498912345")),
        ("089 12345", Some("+498912345")),
        ("0049 (89) 12345", Some("+498912345")),
        ("+49 (0)89 12345", Some("+498912345")),
        ("089/12345", Some("+498912345")),
        ("12345", None),
        ("k.A.", None),
    ];
    for (raw, want) in cases {
        assert_eq!(e164(raw, "49").as_deref(), want, "{raw:?}");
    }
    assert_eq!(
        comparable_email(" <Anna.Schmidt@Example.DE>"),
        "anna.schmidt@example.de"
    );
    assert_eq!(comparable_email("mailto:a@b.de"), "a@b.de");
    assert_eq!(
        website_host("https://www.Example.de/kontakt?x=1"),
        "example.de"
    );
    assert_eq!(comparable_website("HTTP://www.example.de/"), "example.de");
}

#[test]
fn comparable_forms_table() {
    let cases = [
        (Field::Phone, "+49 89 1234-5", "089 12345"),
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
        (Field::HouseNumber, "12 A", "12a"),
        (Field::Country, "Deutschland", "DE"),
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

/// Text that looks like what CRMs hold: letters with umlauts, digits, punctuation, blanks.
fn crm_text() -> impl Strategy<Value = String> {
    prop::string::string_regex("[a-zA-Z0-9äöüÄÖÜßéàç&+.,/()' -]{0,40}").expect("valid regex")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Arbitrary bytes as a CRM or a register may send them (lossily decoded, as every
    /// reader does): every normaliser and validator answers, none panics.
    #[test]
    fn every_normaliser_and_validator_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let input = String::from_utf8_lossy(&bytes);
        for field in Field::ALL {
            let _ = comparable(*field, &input);
            let _ = crate::domain::validate::check(*field, &input);
        }
        let _ = (
            fold_text(&input),
            split_legal_form(&input),
            canonical_legal_form(&input),
            name_query_forms(&input),
            country_code(&input),
            normalise_register_number(&input),
            normalise_court(&input),
            comparable_phone(&input),
            comparable_email(&input),
            comparable_website(&input),
            comparable_city(&input),
            parse_birth_date(&input),
            crate::domain::validate::lei(&input),
            crate::domain::validate::vat_id(&input),
            crate::domain::validate::register_number(&input),
            crate::domain::validate::industry_code(&input),
        );
    }

    #[test]
    fn comparable_forms_are_total_and_idempotent(s in crm_text(), any in ".{0,30}") {
        for input in [&s, &any] {
            for field in Field::ALL {
                let once = comparable(*field, input);
                prop_assert_eq!(comparable(*field, &once), once.clone(), "{} on {:?}", field, input);
            }
        }
    }

    #[test]
    fn matching_normalisers_are_total_and_idempotent(s in crm_text(), any in ".{0,30}") {
        for input in [&s, &any] {
            let core = name_core(input);
            prop_assert_eq!(name_core(&core), core.clone(), "name_core on {:?}", input);
            let person = comparable_person_name(input);
            prop_assert_eq!(comparable_person_name(&person), person.clone());
            let phonetic = koelner_phonetik(input);
            prop_assert!(phonetic.chars().all(|c| c.is_ascii_digit()));
            let host = website_host(input);
            prop_assert_eq!(website_host(&host), host.clone());
            let (street, number) = split_house_number(input);
            if let Some(n) = number {
                prop_assert_eq!(comparable_house_number(&n), n.clone());
            }
            let street = comparable_street(&street);
            prop_assert_eq!(comparable_street(&street), street.clone());
            let postcode = comparable_postcode(input, None);
            prop_assert_eq!(comparable_postcode(&postcode, None), postcode.clone());
            let _ = (parse_register(input), split_person_name(input), is_plausible_vat(input), e164(input, "49"));
        }
    }
}

#[test]
fn house_number_split_table() {
    let cases = [
        ("Hauptstraße 12", "Hauptstraße", Some("12")),
        ("Hauptstraße 12a", "Hauptstraße", Some("12a")),
        ("Am Markt 12-14", "Am Markt", Some("12-14")),
        ("Lindenweg 5 b", "Lindenweg", Some("5b")),
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
fn birth_date_table() {
    let cases = [
        ("1956-04-09", Some("1956-04-09")),
        ("19560409", Some("1956-04-09")),
        ("09.04.1956", Some("1956-04-09")),
        ("9.4.1956", Some("1956-04-09")),
        ("09/04/1956", Some("1956-04-09")),
        ("1956-04-09T00:00:00", Some("1956-04-09")),
        ("1956", Some("1956")),
        ("29.02.2000", Some("2000-02-29")),
        ("29.02.1900", None),
        ("31.04.1980", None),
        ("13.13.1980", None),
        ("19561309", None),
        ("unbekannt", None),
        ("", None),
        ("12.1980", None),
        ("0956-04-09", None),
    ];
    for (raw, want) in cases {
        assert_eq!(parse_birth_date(raw).as_deref(), want, "{raw:?}");
    }
}

proptest::proptest! {
    #[test]
    fn birth_dates_of_any_text_never_panic_and_are_iso_or_a_year(raw in "\\PC{0,24}") {
        if let Some(d) = parse_birth_date(&raw) {
            proptest::prop_assert!(d.len() == 10 || d.len() == 4, "{d}");
        }
    }
}

#[test]
fn name_query_forms_table() {
    let cases: &[(&str, &[&str])] = &[
        (
            "Sanitaer Groettner e.V.",
            &[
                "Sanitaer Groettner e.V.",
                "Sanitär Gröttner e.V.",
                "Sanitaer Groettner",
                "Sanitär Gröttner",
                "Sanitaer",
            ],
        ),
        (
            "Müller Maschinenbau Gesellschaft mit beschränkter Haftung",
            &[
                "Müller Maschinenbau Gesellschaft mit beschränkter Haftung",
                "Mueller Maschinenbau Gesellschaft mit beschraenkter Haftung",
                "Müller Maschinenbau",
                "Mueller Maschinenbau",
                "Müller",
            ],
        ),
        (
            "Weber Holz & Bau KG",
            &[
                "Weber Holz & Bau KG",
                "Weber Holz & Bau",
                "Weber Holz",
                "Weber",
            ],
        ),
        ("Neue Bauer AG", &["Neue Bauer AG", "Neue Bauer", "Neue"]),
        (
            "Weiss Unternehmensberatung GmbH",
            &[
                "Weiss Unternehmensberatung GmbH",
                "Weiß Unternehmensberatung GmbH",
                "Weiss Unternehmensberatung",
                "Weiß Unternehmensberatung",
                "Weiss",
            ],
        ),
        ("  Acme  ", &["Acme"]),
        ("", &[]),
    ];
    for (name, want) in cases {
        assert_eq!(name_query_forms(name), *want, "{name:?}");
    }
}
