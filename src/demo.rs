//! Deterministic German demo data: a reference register (shipped under `config/demo/`) and
//! a demo CRM built from the same entities, with realistic faults: missing identifiers,
//! moved offices, spelling variants, placeholders, renamed and dissolved companies,
//! duplicates, records the register does not know, and look-alike companies.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::domain::model::{Field, Record};
use crate::domain::normalise::{de_vat_check_digit, mod97};

/// The seed of the shipped demo data; changing it changes `config/demo/*.csv`.
pub const SEED: u64 = 20_261_126;

/// Columns of the shipped reference files, in order.
pub const ORGANISATION_COLUMNS: &[(Field, &str)] = &[
    (Field::LegalName, "name"),
    (Field::LegalForm, "legal_form"),
    (Field::Street, "street"),
    (Field::HouseNumber, "house_number"),
    (Field::Postcode, "postcode"),
    (Field::City, "city"),
    (Field::Country, "country"),
    (Field::VatId, "vat_id"),
    (Field::Lei, "lei"),
    (Field::RegisterCourt, "register_court"),
    (Field::RegisterNumber, "register_number"),
    (Field::Website, "website"),
    (Field::Phone, "phone"),
    (Field::Email, "email"),
    (Field::IndustryCode, "industry_code"),
    (Field::Status, "status"),
];

pub const CONTACT_COLUMNS: &[(Field, &str)] = &[
    (Field::OrganisationName, "organisation"),
    (Field::Salutation, "salutation"),
    (Field::Title, "title"),
    (Field::FirstName, "first_name"),
    (Field::LastName, "last_name"),
    (Field::Role, "role"),
    (Field::Email, "email"),
    (Field::Phone, "phone"),
];

/// The demo CRM's own column names (deliberately not the canonical ones).
const CRM_ORGANISATION_COLUMNS: &[(Field, &str)] = &[
    (Field::LegalName, "name"),
    (Field::LegalForm, "legal_form"),
    (Field::Street, "street"),
    (Field::HouseNumber, "house_no"),
    (Field::Postcode, "zip"),
    (Field::City, "city"),
    (Field::Country, "country"),
    (Field::VatId, "vat_id"),
    (Field::Lei, "lei"),
    (Field::RegisterCourt, "register_court"),
    (Field::RegisterNumber, "register_no"),
    (Field::Website, "website"),
    (Field::Phone, "phone"),
    (Field::Email, "email"),
    (Field::IndustryCode, "industry"),
    (Field::Status, "status"),
];

const CRM_CONTACT_COLUMNS: &[(Field, &str)] = &[
    (Field::OrganisationId, "organisation_id"),
    (Field::Salutation, "salutation"),
    (Field::Title, "title"),
    (Field::FirstName, "first_name"),
    (Field::LastName, "last_name"),
    (Field::Role, "role"),
    (Field::Email, "email"),
    (Field::Phone, "phone"),
];

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

/// The demo data: the register's truth and the CRM's imperfect copy.
pub struct DemoData {
    pub register_organisations: Vec<Record>,
    pub register_contacts: Vec<Record>,
    /// CRM organisations; their ids are the CRM's integer ids as text.
    pub crm_organisations: Vec<Record>,
    /// CRM contacts with `organisation_id` pointing at a CRM organisation.
    pub crm_contacts: Vec<Record>,
}

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

fn phone(rng: &mut Rng, city: &City) -> String {
    format!("+49 {} {}", city.area_code, 200_000 + rng.below(799_999))
}

/// Writes a German phone number the way people type it: `089 1234567`.
fn national_phone(international: &str) -> String {
    international.replacen("+49 ", "0", 1)
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

fn organisation(rng: &mut Rng, n: usize, used_names: &mut Vec<String>) -> Record {
    let (form, register_type, _) = *pick_form(rng);
    let (trade, wz) = *rng.pick(TRADES);
    let city = rng.pick(CITIES);
    let core = loop {
        let candidate = match rng.below(4) {
            0 => format!("{} {trade}", rng.pick(SURNAMES)),
            1 => format!("{} & {} {trade}", rng.pick(SURNAMES), rng.pick(SURNAMES)),
            2 => format!("{trade} {}", rng.pick(SURNAMES)),
            _ => format!(
                "{}{} {trade}",
                rng.pick(PREFIXES),
                if rng.chance(50) { "-" } else { "" }
            ),
        };
        if !used_names.contains(&candidate) {
            used_names.push(candidate.clone());
            break candidate;
        }
    };
    let name = format!("{core} {form}");
    let domain = format!("{}.de", slug(&core));
    let r = Record::new(format!("R{:05}", n + 1))
        .with(Field::LegalName, &name)
        .with(Field::LegalForm, form)
        .with(Field::Street, *rng.pick(STREETS))
        .with(
            Field::HouseNumber,
            (1 + rng.below(180)).to_string() + if rng.chance(10) { "a" } else { "" },
        )
        .with(Field::Postcode, *rng.pick(city.postcodes))
        .with(Field::City, city.name)
        .with(Field::Country, "DE")
        .with(Field::Website, format!("www.{domain}"))
        .with(Field::Phone, phone(rng, city))
        .with(Field::Email, format!("info@{domain}"))
        .with(Field::IndustryCode, wz)
        .with(
            Field::Status,
            if rng.chance(3) { "inactive" } else { "active" },
        );
    with_identifiers(rng, r, form, register_type, city)
}

fn contact(rng: &mut Rng, n: usize, org: &Record) -> Record {
    let female = rng.chance(50);
    let first = *rng.pick(if female { FIRST_NAMES_F } else { FIRST_NAMES_M });
    let last = *rng.pick(SURNAMES);
    let domain = org
        .get(Field::Website)
        .unwrap_or("www.example.de")
        .trim_start_matches("www.")
        .to_string();
    let mut r = Record::new(format!("P{:05}", n + 1))
        .with(
            Field::OrganisationName,
            org.get(Field::LegalName).unwrap_or(""),
        )
        .with(Field::Salutation, if female { "Frau" } else { "Herr" })
        .with(Field::FirstName, first)
        .with(Field::LastName, last)
        .with(Field::Role, *rng.pick(ROLES))
        .with(
            Field::Email,
            format!("{}.{}@{domain}", slug(first), slug(last)),
        )
        .with(
            Field::Phone,
            format!(
                "{}-{}",
                org.get(Field::Phone).unwrap_or("+49 30 100000"),
                10 + rng.below(89)
            ),
        );
    if rng.chance(12) {
        r = r.with(
            Field::Title,
            if rng.chance(20) { "Prof. Dr." } else { "Dr." },
        );
    }
    r
}

/// The CRM's copy of a register organisation, with the faults real CRMs have.
fn crm_copy(rng: &mut Rng, reg: &Record, crm_id: usize) -> Record {
    let mut r = reg.clone();
    r.id = crm_id.to_string();
    r.values.insert(Field::Status, "active".into());
    let v = &mut r.values;
    if rng.chance(12) {
        let respelled = crate::synth::respell(rng, &v[&Field::LegalName]);
        v.insert(Field::LegalName, respelled);
    }
    if rng.chance(30) {
        v.remove(&Field::VatId);
    }
    if rng.chance(60) {
        v.remove(&Field::Lei);
    }
    if rng.chance(20) {
        v.remove(&Field::Website);
    }
    if rng.chance(35) {
        v.remove(&Field::IndustryCode);
    }
    if rng.chance(15) {
        v.remove(&Field::RegisterNumber);
        v.remove(&Field::RegisterCourt);
    }
    if rng.chance(10) {
        v.remove(&Field::LegalForm);
    }
    if rng.chance(40) {
        let national = national_phone(&v[&Field::Phone]);
        v.insert(Field::Phone, national);
    } else if rng.chance(6) {
        v.insert(
            Field::Phone,
            (*rng.pick(&["k.A.", "-", "unbekannt"])).to_string(),
        );
    }
    if rng.chance(8) {
        // An old office: the company has moved within its city.
        v.insert(Field::Street, (*rng.pick(STREETS)).to_string());
        v.insert(Field::HouseNumber, (1 + rng.below(99)).to_string());
    }
    if rng.chance(25) {
        let street = v[&Field::Street].replace("straße", "str.");
        v.insert(Field::Street, street);
    }
    if rng.chance(4) {
        let mut digits: Vec<char> = v[&Field::Postcode].chars().collect();
        digits.swap(3, 4);
        v.insert(Field::Postcode, digits.into_iter().collect());
    }
    if rng.chance(3) {
        v.insert(Field::City, "k.A.".into());
    }
    r
}

/// The CRM's copy of a register contact.
fn crm_contact_copy(rng: &mut Rng, reg: &Record, crm_id: usize, organisation_id: &str) -> Record {
    let mut r = reg.clone();
    r.id = crm_id.to_string();
    r.values
        .insert(Field::OrganisationId, organisation_id.to_string());
    let v = &mut r.values;
    if rng.chance(40) {
        v.remove(&Field::Title);
    }
    if rng.chance(12) {
        v.insert(Field::Role, (*rng.pick(ROLES)).to_string());
    }
    if rng.chance(15) {
        v.remove(&Field::Email);
    }
    if rng.chance(20) {
        v.remove(&Field::Phone);
    }
    if rng.chance(10) {
        v.remove(&Field::Salutation);
    }
    r
}

pub fn generate(seed: u64) -> DemoData {
    let mut rng = Rng(seed);
    let mut used_names = Vec::new();
    let mut register_organisations: Vec<Record> = (0..300)
        .map(|n| organisation(&mut rng, n, &mut used_names))
        .collect();

    // Look-alikes: a second company of nearly the same name at the same postcode.
    for source in [10usize, 50, 90] {
        let mut twin = register_organisations[source].clone();
        twin.id = format!("R{:05}", register_organisations.len() + 1);
        let name = twin.values[&Field::LegalName].clone();
        let (core, _) = name.rsplit_once(' ').unwrap_or((&name, ""));
        twin.values
            .insert(Field::LegalName, format!("{core} Service"));
        for f in [
            Field::VatId,
            Field::Lei,
            Field::RegisterNumber,
            Field::RegisterCourt,
            Field::Website,
            Field::Email,
        ] {
            twin.values.remove(&f);
        }
        register_organisations.push(twin);
    }

    let mut crm_organisations = Vec::new();
    let mut register_contacts = Vec::new();
    let mut crm_contacts = Vec::new();
    for (i, reg) in register_organisations.iter().enumerate() {
        // One in five register companies is not a customer.
        if i >= 300 || rng.chance(20) {
            continue;
        }
        let crm_id = crm_organisations.len() + 1;
        let mut copy = crm_copy(&mut rng, reg, crm_id);
        if [10usize, 50, 90].contains(&i) {
            // The CRM record of a look-alike lacks every identifier: a steward must pick.
            for f in [
                Field::VatId,
                Field::Lei,
                Field::RegisterNumber,
                Field::RegisterCourt,
            ] {
                copy.values.remove(&f);
            }
            let name = reg.values[&Field::LegalName].clone();
            let (core, _) = name.rsplit_once(' ').unwrap_or((&name, ""));
            copy.values.insert(Field::LegalName, core.to_string());
        }
        if rng.chance(2) {
            // Renamed since: the CRM still has the old name; the VAT id still agrees.
            copy.values.insert(
                Field::LegalName,
                format!("{} alt", copy.values[&Field::LegalName]),
            );
        }
        crm_organisations.push(copy);
        for _ in 0..1 + rng.below(3) {
            let person = contact(&mut rng, register_contacts.len(), reg);
            if rng.chance(85) {
                let crm_contact_id = crm_contacts.len() + 1;
                crm_contacts.push(crm_contact_copy(
                    &mut rng,
                    &person,
                    crm_contact_id,
                    &crm_id.to_string(),
                ));
            }
            register_contacts.push(person);
        }
        if rng.chance(2) {
            // Entered twice by two sales reps.
            let duplicate_id = crm_organisations.len() + 1;
            let duplicate = crm_copy(&mut rng, reg, duplicate_id);
            crm_organisations.push(duplicate);
        }
    }

    // Customers the register does not know: small firms, typos beyond repair.
    for n in 0..12 {
        let mut stranger = organisation(&mut rng, 10_000 + n, &mut used_names);
        stranger.id = (crm_organisations.len() + 1).to_string();
        stranger.values.remove(&Field::VatId);
        stranger.values.remove(&Field::Lei);
        stranger.values.remove(&Field::RegisterNumber);
        stranger.values.remove(&Field::RegisterCourt);
        stranger.values.insert(Field::Status, "active".into());
        let org_id = stranger.id.clone();
        crm_organisations.push(stranger.clone());
        let person = contact(&mut rng, 90_000 + n, &stranger);
        let crm_contact_id = crm_contacts.len() + 1;
        crm_contacts.push(crm_contact_copy(&mut rng, &person, crm_contact_id, &org_id));
    }

    free_text_entries(&mut crm_organisations, &mut crm_contacts);
    DemoData {
        register_organisations,
        register_contacts,
        crm_organisations,
        crm_contacts,
    }
}

/// Values typed as free text where a controlled list applies: a trade word instead of the
/// WZ code, a country name, an abbreviated salutation. Chosen by id, not by the random
/// stream, so the register files stay as they are.
fn free_text_entries(organisations: &mut [Record], contacts: &mut [Record]) {
    for (i, org) in organisations.iter_mut().enumerate() {
        if i % 17 == 3 {
            let code = org.values.get(&Field::IndustryCode).cloned();
            if let Some((trade, _)) = TRADES.iter().find(|(_, c)| Some(*c) == code.as_deref()) {
                org.values.insert(Field::IndustryCode, trade.to_string());
            }
        }
        if i % 29 == 5 {
            org.values.insert(Field::Country, "Deutschland".into());
        }
    }
    for (i, person) in contacts.iter_mut().enumerate() {
        if i % 7 == 3 {
            // "Dr. Anna" typed into the first name, the title field left empty.
            if let (Some(first), Some(title)) =
                (person.get(Field::FirstName), person.get(Field::Title))
            {
                let typed = format!("{title} {first}");
                person.values.insert(Field::FirstName, typed);
                person.values.remove(&Field::Title);
            }
        }
        if i % 37 == 11 {
            if let Some(email) = person.get(Field::Email) {
                let typo = email.replace('@', " at ");
                person.values.insert(Field::Email, typo);
            }
        }
        if i % 13 == 4 {
            let short = match person.get(Field::Salutation) {
                Some("Herr") => "Hr.",
                Some("Frau") => "Fr.",
                _ => continue,
            };
            person.values.insert(Field::Salutation, short.into());
        }
    }
}

/// The reference file's text: a header row `register_id,<columns…>`, one row per record.
pub fn reference_csv(records: &[Record], columns: &[(Field, &str)]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(std::iter::once("register_id").chain(columns.iter().map(|(_, c)| *c)))?;
    for r in records {
        out.write_record(
            std::iter::once(r.id.as_str())
                .chain(columns.iter().map(|(f, _)| r.raw(*f).unwrap_or(""))),
        )?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create the demo CRM at {path}: {problem}")]
    Create { path: String, problem: String },
}

/// Creates the demo CRM database at `path` (which must not exist yet). It is built in a
/// temporary file and moved into place, so an interrupted run leaves no half-filled CRM.
pub fn create_crm(path: &Path, data: &DemoData) -> Result<(), DemoError> {
    let err = |problem: String| DemoError::Create {
        path: path.display().to_string(),
        problem,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut conn =
        SqliteConnection::establish(&partial.to_string_lossy()).map_err(|e| err(e.to_string()))?;
    fill(&mut conn, data).map_err(|e| err(e.to_string()))?;
    drop(conn);
    std::fs::rename(&partial, path).map_err(|e| err(e.to_string()))
}

fn fill(conn: &mut SqliteConnection, data: &DemoData) -> QueryResult<()> {
    conn.batch_execute(
        "CREATE TABLE organisations (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            legal_form TEXT, street TEXT, house_no TEXT, zip TEXT, city TEXT, country TEXT,
            vat_id TEXT, lei TEXT, register_court TEXT, register_no TEXT,
            website TEXT, phone TEXT, email TEXT, industry TEXT, status TEXT,
            updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_by TEXT NOT NULL DEFAULT 'crm-import'
        );
        CREATE TABLE contacts (
            id INTEGER PRIMARY KEY,
            organisation_id INTEGER REFERENCES organisations (id),
            salutation TEXT, title TEXT, first_name TEXT, last_name TEXT NOT NULL,
            role TEXT, email TEXT, phone TEXT,
            updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_by TEXT NOT NULL DEFAULT 'crm-import'
        );",
    )?;
    conn.transaction(|conn| {
        insert_all(
            conn,
            "organisations",
            CRM_ORGANISATION_COLUMNS,
            &data.crm_organisations,
        )?;
        insert_all(conn, "contacts", CRM_CONTACT_COLUMNS, &data.crm_contacts)
    })
}

fn insert_all(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &[(Field, &str)],
    records: &[Record],
) -> QueryResult<()> {
    let names: Vec<&str> = columns.iter().map(|(_, c)| *c).collect();
    let marks = vec!["?"; columns.len() + 1].join(", ");
    let sql = format!(
        "INSERT INTO {table} (id, {}) VALUES ({marks})",
        names.join(", ")
    );
    for r in records {
        let id: i64 = r.id.parse().unwrap_or_default();
        let mut q = diesel::sql_query(&sql).bind::<BigInt, _>(id).into_boxed();
        for (field, _) in columns {
            q = q.bind::<Nullable<Text>, _>(r.raw(*field).map(str::to_string));
        }
        q.execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::normalise::{is_valid_de_vat, is_valid_lei};

    #[test]
    fn generation_is_deterministic() {
        let a = generate(SEED);
        let b = generate(SEED);
        assert_eq!(a.register_organisations, b.register_organisations);
        assert_eq!(a.crm_organisations, b.crm_organisations);
        assert_eq!(a.crm_contacts, b.crm_contacts);
    }

    #[test]
    fn identifiers_are_valid() {
        let data = generate(SEED);
        for r in &data.register_organisations {
            if let Some(v) = r.get(Field::VatId) {
                assert!(is_valid_de_vat(v), "{v}");
            }
            if let Some(l) = r.get(Field::Lei) {
                assert!(is_valid_lei(l), "{l}");
            }
        }
    }

    #[test]
    fn demo_has_the_faults_it_promises() {
        let data = generate(SEED);
        let crm = &data.crm_organisations;
        assert!(crm.len() > 200, "{} CRM organisations", crm.len());
        assert!(crm.iter().filter(|r| r.get(Field::VatId).is_none()).count() > 30);
        assert!(crm.iter().any(|r| r.get(Field::City) == Some("k.A.")));
        assert!(crm
            .iter()
            .any(|r| r.get(Field::Street).is_some_and(|s| s.ends_with("str."))));
        assert!(data
            .register_organisations
            .iter()
            .any(|r| r.get(Field::Status) == Some("inactive")));
        assert!(data.crm_contacts.len() > 200);
    }

    #[test]
    fn shipped_reference_files_match_the_generator() {
        // REFSYNC_BLESS=1 cargo test shipped_reference rewrites them after a deliberate change.
        let data = generate(SEED);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
        for (file, records, columns) in [
            (
                "reference-organisations.csv",
                &data.register_organisations,
                ORGANISATION_COLUMNS,
            ),
            (
                "reference-contacts.csv",
                &data.register_contacts,
                CONTACT_COLUMNS,
            ),
        ] {
            let want = reference_csv(records, columns).unwrap();
            let path = root.join(file);
            if std::env::var_os("REFSYNC_BLESS").is_some() {
                std::fs::write(&path, &want).unwrap();
            }
            let shipped = std::fs::read_to_string(&path).unwrap();
            assert!(
                shipped == want,
                "{file} differs from the generator; rerun with REFSYNC_BLESS=1 if intended"
            );
        }
    }
}
