//! The words and small generators synthetic records are made of: German cities with their
//! courts and dialling codes, names, trades, legal forms, streets, roles, and valid
//! identifiers. Shared by the benchmark profiles and the demo.

use crate::domain::model::{Field, Record};
use crate::domain::normalise::{de_vat_check_digit, mod97};

/// SplitMix64: tiny, fast, and the same numbers on every platform.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub(crate) struct City {
    pub(crate) name: &'static str,
    pub(crate) postcodes: &'static [&'static str],
    pub(crate) court: &'static str,
    pub(crate) area_code: &'static str,
}

pub(crate) const CITIES: &[City] = &[
    City {
        name: "Berlin",
        postcodes: &["10115", "10117", "10178", "10435", "12043"],
        court: "Charlottenburg",
        area_code: "30",
    },
    City {
        name: "Hamburg",
        postcodes: &["20095", "20457", "22041", "22761"],
        court: "Hamburg",
        area_code: "40",
    },
    City {
        name: "München",
        postcodes: &["80331", "80335", "80469", "81667"],
        court: "München",
        area_code: "89",
    },
    City {
        name: "Köln",
        postcodes: &["50667", "50672", "50823"],
        court: "Köln",
        area_code: "221",
    },
    City {
        name: "Frankfurt am Main",
        postcodes: &["60311", "60313", "60486"],
        court: "Frankfurt am Main",
        area_code: "69",
    },
    City {
        name: "Stuttgart",
        postcodes: &["70173", "70176", "70372"],
        court: "Stuttgart",
        area_code: "711",
    },
    City {
        name: "Düsseldorf",
        postcodes: &["40210", "40213", "40477"],
        court: "Düsseldorf",
        area_code: "211",
    },
    City {
        name: "Leipzig",
        postcodes: &["04103", "04109", "04177"],
        court: "Leipzig",
        area_code: "341",
    },
    City {
        name: "Dortmund",
        postcodes: &["44135", "44137"],
        court: "Dortmund",
        area_code: "231",
    },
    City {
        name: "Bremen",
        postcodes: &["28195", "28203"],
        court: "Bremen",
        area_code: "421",
    },
    City {
        name: "Dresden",
        postcodes: &["01067", "01069"],
        court: "Dresden",
        area_code: "351",
    },
    City {
        name: "Hannover",
        postcodes: &["30159", "30161"],
        court: "Hannover",
        area_code: "511",
    },
    City {
        name: "Nürnberg",
        postcodes: &["90402", "90403"],
        court: "Nürnberg",
        area_code: "911",
    },
    City {
        name: "Freiburg im Breisgau",
        postcodes: &["79098", "79102"],
        court: "Freiburg",
        area_code: "761",
    },
    City {
        name: "Münster",
        postcodes: &["48143", "48145"],
        court: "Münster",
        area_code: "251",
    },
    City {
        name: "Kiel",
        postcodes: &["24103", "24105"],
        court: "Kiel",
        area_code: "431",
    },
];

pub(crate) const SURNAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Vogel",
    "Friedrich",
    "Günther",
    "Keller",
    "Berger",
    "Frank",
    "Roth",
    "Beck",
    "Lorenz",
    "Baumann",
    "Franke",
    "Albrecht",
    "Ludwig",
    "Winter",
    "Sommer",
    "Brandt",
];

pub(crate) const FIRST_NAMES_F: &[&str] = &[
    "Anna",
    "Maria",
    "Julia",
    "Laura",
    "Lena",
    "Sophie",
    "Katharina",
    "Sabine",
    "Petra",
    "Claudia",
    "Monika",
    "Jana",
    "Birgit",
    "Susanne",
    "Stefanie",
    "Nicole",
    "Andrea",
    "Ursula",
];
pub(crate) const FIRST_NAMES_M: &[&str] = &[
    "Thomas",
    "Michael",
    "Andreas",
    "Stefan",
    "Christian",
    "Markus",
    "Jan",
    "Tobias",
    "Matthias",
    "Jörg",
    "Uwe",
    "Frank",
    "Klaus",
    "Peter",
    "Wolfgang",
    "Sebastian",
    "Florian",
    "Björn",
];

/// (trade word for the name, WZ 2008 code)
pub(crate) const TRADES: &[(&str, &str)] = &[
    ("Maschinenbau", "28.99"),
    ("Logistik", "49.41"),
    ("Steuerberatung", "69.20"),
    ("Bäckerei", "10.71"),
    ("Elektrotechnik", "27.90"),
    ("Bau", "41.20"),
    ("Software", "62.01"),
    ("Druckerei", "18.12"),
    ("Autohaus", "45.11"),
    ("Immobilien", "68.20"),
    ("Metallbau", "25.11"),
    ("Gebäudereinigung", "81.21"),
    ("Spedition", "52.29"),
    ("Unternehmensberatung", "70.22"),
    ("Zahntechnik", "32.50"),
    ("Feinkost", "47.29"),
];

pub(crate) const PREFIXES: &[&str] = &[
    "Nord", "Süd", "Rhein", "Alpen", "Hanse", "Elbe", "Spree", "Main", "Isar", "Weser",
];

/// (legal form, register type, weight)
pub(crate) const FORMS: &[(&str, Option<&str>, usize)] = &[
    ("GmbH", Some("HRB"), 45),
    ("GmbH & Co. KG", Some("HRA"), 15),
    ("AG", Some("HRB"), 5),
    ("KG", Some("HRA"), 5),
    ("e.K.", Some("HRA"), 10),
    ("UG (haftungsbeschränkt)", Some("HRB"), 7),
    ("OHG", Some("HRA"), 3),
    ("GbR", None, 5),
    ("eG", Some("GnR"), 2),
    ("e.V.", Some("VR"), 3),
];

pub(crate) const STREETS: &[&str] = &[
    "Hauptstraße",
    "Bahnhofstraße",
    "Industriestraße",
    "Gartenstraße",
    "Schillerstraße",
    "Goethestraße",
    "Lindenstraße",
    "Am Markt",
    "Hafenstraße",
    "Marktplatz",
    "Kirchweg",
    "Friedrichstraße",
    "Berliner Straße",
    "Mühlenweg",
    "Rosenstraße",
    "Kantstraße",
    "Werkstraße",
    "Parkallee",
    "Ringstraße",
    "Am Stadtpark",
];

pub(crate) const ROLES: &[&str] = &[
    "Geschäftsführung",
    "Einkauf",
    "Vertrieb",
    "Buchhaltung",
    "IT-Leitung",
    "Marketing",
    "Personal",
    "Technik",
];

pub(crate) fn slug(s: &str) -> String {
    crate::domain::normalise::fold_text(s).replace(' ', "-")
}

pub(crate) fn vat_id(rng: &mut Rng) -> String {
    let mut digits = vec![1 + rng.below(9) as u32];
    digits.extend((0..7).map(|_| rng.below(10) as u32));
    let check = de_vat_check_digit(&digits);
    let body: String = digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect();
    format!("DE{body}{check}")
}

pub(crate) fn lei(rng: &mut Rng) -> String {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let body: String = "5299"
        .chars()
        .chain((0..14).map(|_| char::from(*rng.pick(ALNUM))))
        .collect();
    let check = 98 - mod97(&format!("{body}00")).unwrap_or(0);
    format!("{body}{check:02}")
}

pub(crate) fn pick_form(rng: &mut Rng) -> &'static (&'static str, Option<&'static str>, usize) {
    let total: usize = FORMS.iter().map(|f| f.2).sum();
    let mut roll = rng.below(total);
    for form in FORMS {
        if roll < form.2 {
            return form;
        }
        roll -= form.2;
    }
    &FORMS[0]
}

/// The identifiers a company of this legal form has: a register entry at its city's court
/// (not for a GbR), usually a VAT id, sometimes an LEI.
pub(crate) fn with_identifiers(
    rng: &mut Rng,
    mut r: Record,
    form: &str,
    register_type: Option<&str>,
    city: &City,
) -> Record {
    if let Some(kind) = register_type {
        r = r
            .with(Field::RegisterCourt, format!("Amtsgericht {}", city.court))
            .with(
                Field::RegisterNumber,
                format!("{kind} {}", 1000 + rng.below(240_000)),
            );
    }
    if !matches!(form, "GbR" | "e.V.") && rng.chance(85) {
        r = r.with(Field::VatId, vat_id(rng));
    }
    if matches!(form, "AG" | "GmbH" | "GmbH & Co. KG" | "eG") && rng.chance(30) {
        r = r.with(Field::Lei, lei(rng));
    }
    r
}
