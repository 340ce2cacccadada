//! Seeded synthetic German organisations and contacts with ground truth, for the demo, the
//! tests and the benchmark. A register of clean records and a CRM of imperfect copies:
//! typos, transposed letters, umlaut spellings, legal-form variants and omissions,
//! abbreviated streets, moved offices, renamed companies, missing fields, duplicates,
//! look-alikes, and CRM records the register does not know. Profiles go from easy to hard.
//! Same seed, same data.
//!
//! Contacts are those of a German B2C and B2B CRM: employees of firms (e-mail, phone,
//! employer, sometimes a birth date) and private customers (a home address and a birth
//! date, no e-mail, phone or employer), some of whom live with family members who are in
//! the register too (same address and last name, other first name and birth date). Their
//! CRM copies add the faults of such data: German or compact dates, day and month swapped,
//! a mistyped digit, moved customers, abbreviated or mistyped streets, a last name changed
//! by marriage, first and last name swapped.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub(crate) mod vocabulary;

use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::normalise::split_legal_form;
use vocabulary::{
    pick_form, slug, with_identifiers, City, Rng, CITIES, FIRST_NAMES_F, FIRST_NAMES_M, PREFIXES,
    ROLES, STREETS, SURNAMES, TRADES,
};

/// How dirty the CRM copies are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Easy,
    Medium,
    Hard,
}

impl Profile {
    pub const ALL: &'static [Profile] = &[Profile::Easy, Profile::Medium, Profile::Hard];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Easy => "easy",
            Profile::Medium => "medium",
            Profile::Hard => "hard",
        }
    }

    pub(crate) fn rates(self) -> Rates {
        match self {
            Profile::Easy => Rates {
                typo: 5,
                respell: 10,
                form_variant: 10,
                form_dropped: 5,
                abbreviate: 20,
                moved: 2,
                renamed: 0,
                missing: 10,
                duplicate: 2,
                absent: 5,
                lookalike: 1,
                identifiers_kept: 50,
                date_german: 20,
                date_swapped: 1,
                date_typo: 1,
                names_swapped: 1,
            },
            Profile::Medium => Rates {
                typo: 15,
                respell: 20,
                form_variant: 20,
                form_dropped: 10,
                abbreviate: 30,
                moved: 8,
                renamed: 3,
                missing: 20,
                duplicate: 5,
                absent: 10,
                lookalike: 3,
                identifiers_kept: 30,
                date_german: 30,
                date_swapped: 3,
                date_typo: 4,
                names_swapped: 2,
            },
            Profile::Hard => Rates {
                typo: 30,
                respell: 30,
                form_variant: 30,
                form_dropped: 20,
                abbreviate: 40,
                moved: 15,
                renamed: 8,
                missing: 35,
                duplicate: 8,
                absent: 15,
                lookalike: 5,
                identifiers_kept: 20,
                date_german: 40,
                date_swapped: 6,
                date_typo: 8,
                names_swapped: 4,
            },
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Profile, String> {
        Profile::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown profile `{s}`; use easy, medium or hard"))
    }
}

/// Chances in percent per CRM record.
pub(crate) struct Rates {
    typo: u64,
    respell: u64,
    form_variant: u64,
    form_dropped: u64,
    abbreviate: u64,
    moved: u64,
    renamed: u64,
    /// Per optional field: left empty in the CRM.
    missing: u64,
    duplicate: u64,
    /// The CRM record has no counterpart in the register.
    absent: u64,
    /// The register holds a near-twin (same name, other place or trade).
    lookalike: u64,
    /// Per identifier: the CRM has it too.
    identifiers_kept: u64,
    /// A birth date written the German way (`09.04.1956`, `9.4.1956`) or compact
    /// (`19560409`) rather than ISO: a habit, not an error.
    date_german: u64,
    /// Day and month of a birth date swapped (where both can be a month).
    date_swapped: u64,
    /// One digit of a birth date mistyped (still a date).
    date_typo: u64,
    /// First name in the last-name field and the other way round.
    names_swapped: u64,
}

/// A register, a CRM, and which CRM record is which register record.
#[derive(Debug, Clone, Default)]
pub struct Synthetic {
    pub register: Vec<Record>,
    pub crm: Vec<Record>,
    /// (CRM id, register id) for every CRM record that has a counterpart.
    pub truth: Vec<(String, String)>,
}

/// Syllables for surnames beyond the common ones, so a million names stay varied.
const SYLLABLES: &[&str] = &[
    "ber", "bach", "brand", "burg", "dorf", "ecker", "feld", "gar", "hau", "hein", "hoff", "kamp",
    "kir", "lan", "len", "lin", "mann", "mar", "mei", "mül", "ner", "reu", "rich", "ros", "sche",
    "stein", "ter", "thal", "wald", "wer", "win", "zel", "kö", "bür", "grü", "sä",
];

fn surname(rng: &mut Rng) -> String {
    if rng.chance(40) {
        return (*rng.pick(SURNAMES)).to_string();
    }
    let mut s: String = String::new();
    for _ in 0..2 + rng.below(2) {
        let syllable: &&str = rng.pick(SYLLABLES);
        s.push_str(syllable);
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => s,
    }
}

fn postcode(rng: &mut Rng, city: &City) -> String {
    // Cities own a two-digit postal area; the rest varies within it.
    let area = city.postcodes[0].get(..2).unwrap_or("10");
    format!("{area}{:03}", rng.below(1000))
}

fn street(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => (*rng.pick(STREETS)).to_string(),
        1 => format!("{}straße", rng.pick(SURNAMES)),
        _ => format!(
            "{}{}",
            surname(rng),
            rng.pick(&["weg", "straße", "allee", "ring"])
        ),
    }
}

fn house_number(rng: &mut Rng) -> String {
    (1 + rng.below(180)).to_string() + if rng.chance(10) { "a" } else { "" }
}

fn phone(rng: &mut Rng, city: &City) -> String {
    format!("+49 {} {}", city.area_code, 200_000 + rng.below(7_799_999))
}

pub(crate) fn organisation(rng: &mut Rng, n: usize) -> Record {
    let (form, register_type, _) = *pick_form(rng);
    let (trade, wz) = *rng.pick(TRADES);
    let city = rng.pick(CITIES);
    let core = match rng.below(5) {
        0 => format!("{} {trade}", surname(rng)),
        1 => format!("{} & {} {trade}", surname(rng), surname(rng)),
        2 => format!("{trade} {}", surname(rng)),
        3 => format!("{} {} {trade}", rng.pick(PREFIXES), surname(rng)),
        _ => surname(rng) + &surname(rng).to_lowercase(),
    };
    organisation_at(rng, n, &core, form, register_type, wz, city)
}

fn organisation_at(
    rng: &mut Rng,
    n: usize,
    core: &str,
    form: &str,
    register_type: Option<&str>,
    wz: &str,
    city: &City,
) -> Record {
    let domain = format!("{}-{n}.de", slug(core));
    let r = Record::new(format!("R{n:07}"))
        .with(Field::LegalName, format!("{core} {form}"))
        .with(Field::LegalForm, form)
        .with(Field::Street, street(rng))
        .with(Field::HouseNumber, house_number(rng))
        .with(Field::Postcode, postcode(rng, city))
        .with(Field::City, city.name)
        .with(Field::Country, "DE")
        .with(Field::Website, format!("www.{domain}"))
        .with(Field::Phone, phone(rng, city))
        .with(Field::Email, format!("info@{domain}"))
        .with(Field::IndustryCode, wz);
    with_identifiers(rng, r, form, register_type, city)
}

/// One typing error: a letter dropped, doubled, replaced, or two letters swapped.
fn typo(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    // Errors hit letters inside words, not the first one (people rarely get that wrong).
    let letters: Vec<usize> = (1..chars.len())
        .filter(|&i| chars[i].is_alphabetic() && chars[i - 1].is_alphabetic())
        .collect();
    if letters.is_empty() {
        return s.to_string();
    }
    let at = letters[rng.below(letters.len())];
    match rng.below(4) {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        2 => chars[at] = *rng.pick(&['e', 'a', 'n', 'r', 'i', 's', 't']),
        _ => {
            if at + 1 < chars.len() && chars[at + 1].is_alphabetic() {
                chars.swap(at, at + 1);
            } else {
                chars.swap(at - 1, at);
            }
        }
    }
    chars.into_iter().collect()
}

/// A spelling people type: an umlaut spelling (`Mueller`), capitals, or `und` for `&`
/// with the umlauts dropped (`Muller`). The demo's faults use it too.
pub(crate) fn respell(rng: &mut Rng, s: &str) -> String {
    match rng.below(3) {
        0 => s
            .replace('ü', "ue")
            .replace('ö', "oe")
            .replace('ä', "ae")
            .replace('ß', "ss"),
        1 => s.to_uppercase(),
        _ => s
            .replace(" & ", " und ")
            .replace('ü', "u")
            .replace('ö', "o")
            .replace('ä', "a"),
    }
}

/// Another way to write a legal form.
fn form_variant(rng: &mut Rng, form: &str) -> String {
    let variants: &[&str] = match form {
        "GmbH" => &["G.m.b.H.", "Gmbh", "Gesellschaft mit beschränkter Haftung"],
        "GmbH & Co. KG" => &["GmbH u. Co. KG", "GmbH & Co KG", "GmbH + Co. KG"],
        "AG" => &["Aktiengesellschaft"],
        "KG" => &["Kommanditgesellschaft"],
        "e.K." => &["e. K.", "e.Kfm."],
        "UG (haftungsbeschränkt)" => &["UG (haftungsbeschraenkt)", "UG haftungsbeschränkt"],
        "eG" => &["e.G."],
        "e.V." => &["e. V.", "eV"],
        _ => &[],
    };
    if variants.is_empty() {
        form.to_string()
    } else {
        (*rng.pick(variants)).to_string()
    }
}

/// `Hauptstraße` as CRMs abbreviate it: `Hauptstr.`
fn abbreviated(street: &str) -> String {
    street.replace("straße", "str.").replace("Straße", "Str.")
}

fn street_typo(rng: &mut Rng, v: &mut BTreeMap<Field, String>) {
    let s = v.get(&Field::Street).cloned().unwrap_or_default();
    v.insert(Field::Street, typo(rng, &s));
}

/// Street and number in one field, as many CRMs keep them.
fn join_street_and_number(v: &mut BTreeMap<Field, String>) {
    let line = format!(
        "{} {}",
        v.get(&Field::Street).cloned().unwrap_or_default(),
        v.get(&Field::HouseNumber).cloned().unwrap_or_default()
    );
    v.insert(Field::Street, line.trim().to_string());
    v.remove(&Field::HouseNumber);
}

pub(crate) fn crm_organisation(rng: &mut Rng, reg: &Record, id: usize, rates: &Rates) -> Record {
    let mut r = reg.clone();
    r.id = format!("C{id:07}");
    let name = reg.get(Field::LegalName).unwrap_or_default().to_string();
    let form = reg.get(Field::LegalForm).unwrap_or_default().to_string();
    let mut core = name
        .strip_suffix(form.as_str())
        .unwrap_or(&name)
        .trim()
        .to_string();
    let v = &mut r.values;
    if rng.chance(rates.renamed) {
        // The CRM still has the company's previous name.
        core = format!("{} {}", surname(rng), rng.pick(TRADES).0);
    }
    if rng.chance(rates.typo) {
        core = typo(rng, &core);
    }
    if rng.chance(rates.respell) {
        core = respell(rng, &core);
    }
    let written_form = if rng.chance(rates.form_dropped) {
        String::new()
    } else if rng.chance(rates.form_variant) {
        form_variant(rng, &form)
    } else {
        form.clone()
    };
    v.insert(
        Field::LegalName,
        format!("{core} {written_form}").trim().to_string(),
    );
    if written_form.is_empty() || rng.chance(rates.missing) {
        v.remove(&Field::LegalForm);
    }
    if rng.chance(rates.moved) {
        // An old office in the same city: other street, number and postcode.
        let city = CITIES
            .iter()
            .find(|c| Some(c.name) == reg.get(Field::City))
            .unwrap_or(&CITIES[0]);
        v.insert(Field::Street, street(rng));
        v.insert(Field::HouseNumber, (1 + rng.below(99)).to_string());
        v.insert(Field::Postcode, postcode(rng, city));
        if rng.chance(50) {
            v.remove(&Field::Phone);
        }
    }
    if rng.chance(rates.abbreviate) {
        let s = v.get(&Field::Street).cloned().unwrap_or_default();
        v.insert(Field::Street, abbreviated(&s));
    }
    if rng.chance(rates.typo / 2) {
        street_typo(rng, v);
    }
    if rng.chance(rates.missing / 2) {
        join_street_and_number(v);
    }
    if let Some(phone) = v.get(&Field::Phone).cloned() {
        if rng.chance(50) {
            v.insert(Field::Phone, phone.replacen("+49 ", "0", 1));
        }
    }
    for field in [Field::Lei, Field::VatId, Field::RegisterNumber] {
        if !rng.chance(rates.identifiers_kept) {
            v.remove(&field);
        }
    }
    if !v.contains_key(&Field::RegisterNumber) {
        v.remove(&Field::RegisterCourt);
    }
    for field in [
        Field::Website,
        Field::Phone,
        Field::Email,
        Field::Street,
        Field::HouseNumber,
        Field::Postcode,
        Field::IndustryCode,
    ] {
        if rng.chance(rates.missing) {
            v.remove(&field);
        }
    }
    if rng.chance(rates.missing / 4) {
        v.insert(Field::City, "k.A.".into());
    }
    if let Some(headcount) = headcount_as_typed(&reg.id) {
        v.insert(Field::Employees, headcount);
    }
    r
}

/// The headcount a CRM user typed for the firm behind register record `id`, in the forms
/// people use (a count, `ca. 40`, a band, `1.250`, `k.A.`), or none. Chosen by a hash of
/// the id, not by the random stream, so every other value stays as the seed made it; a
/// firm's duplicates carry the same figure. Most firms are small, as in the German register.
fn headcount_as_typed(id: &str) -> Option<String> {
    // A stream of its own, seeded by the id (FNV-1a), mixed by the generator's splitmix.
    let mut rng = Rng(id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }));
    let count = match rng.below(100) {
        0..=59 => 1 + rng.below(9),
        60..=84 => 10 + rng.below(40),
        85..=95 => 50 + rng.below(200),
        _ => 250 + rng.below(5000),
    };
    let band = match count {
        0..=9 => "1-9",
        10..=49 => "10-49",
        50..=249 => "50-249",
        _ => "250+",
    };
    Some(match rng.below(10) {
        0 | 1 => return None,
        2 => "k.A.".to_string(),
        3 => format!("ca. {}", count.div_ceil(10) * 10),
        4 => band.to_string(),
        _ if count >= 1000 => format!("{}.{:03}", count / 1000, count % 1000),
        _ => count.to_string(),
    })
}

fn contact(rng: &mut Rng, n: usize) -> Record {
    let female = rng.chance(50);
    let first = *rng.pick(if female { FIRST_NAMES_F } else { FIRST_NAMES_M });
    let last = surname(rng);
    let city = rng.pick(CITIES);
    // Contact data come with the firm the person works for, and its mail domain.
    let (form, _, _) = *pick_form(rng);
    let employer = format!("{} {}", surname(rng), rng.pick(TRADES).0);
    let domain = format!("{}-{}.de", slug(&employer), n % 9973);
    let mut r = Record::new(format!("P{n:07}"))
        .with(Field::OrganisationName, format!("{employer} {form}"))
        .with(Field::Salutation, if female { "Frau" } else { "Herr" })
        .with(Field::FirstName, first)
        .with(Field::LastName, &last)
        .with(Field::Role, *rng.pick(ROLES))
        .with(
            Field::Email,
            format!("{}.{}{}@{domain}", slug(first), slug(&last), n % 97),
        )
        .with(Field::Phone, phone(rng, city));
    if rng.chance(12) {
        r = r.with(
            Field::Title,
            if rng.chance(20) { "Prof. Dr." } else { "Dr." },
        );
    }
    r
}

/// A register contact working at `employer` (a register organisation): the firm's name,
/// its mail domain, an extension of its switchboard.
pub(crate) fn contact_at(rng: &mut Rng, n: usize, employer: &Record) -> Record {
    let mut r = contact(rng, n);
    let domain = employer
        .get(Field::Website)
        .map_or("example.de", |w| w.trim_start_matches("www."));
    if let Some(name) = employer.get(Field::LegalName) {
        r.values.insert(Field::OrganisationName, name.to_string());
    }
    if let Some((local, _)) = r.get(Field::Email).and_then(|e| e.split_once('@')) {
        let email = format!("{local}@{domain}");
        r.values.insert(Field::Email, email);
    }
    if let Some(phone) = employer.get(Field::Phone) {
        let extension = format!("{phone}-{}", 10 + rng.below(89));
        r.values.insert(Field::Phone, extension);
    }
    r
}

/// Contacts who are private customers rather than a firm's employees, in percent.
const PRIVATE: u64 = 35;
/// Employees whose birth date is on file (every private customer's is).
const EMPLOYEE_BIRTH_DATE: u64 = 50;
/// Private customers who live with 1–3 family members that are customers too.
const HOUSEHOLD: u64 = 20;
/// A further child of a household is a twin of the one before.
const TWINS: u64 = 10;
/// Of the CRM contacts the register does not know, the share drawn as a relative of a
/// register customer (where the customer drawn is a private one): same address and last name.
const STRANGER_RELATIVE: u64 = 25;

/// A calendar date: year, month, day.
type Ymd = (u32, u32, u32);

fn is_date((y, m, d): Ymd) -> bool {
    (1900..=2010).contains(&y)
        && (1..=12).contains(&m)
        && (1..=crate::domain::normalise::days_in_month(y, m)).contains(&d)
}

/// A day in the years `from..=to`.
fn date_between(rng: &mut Rng, from: u32, to: u32) -> Ymd {
    let y = from + rng.below((to.max(from) - from + 1) as usize) as u32;
    let m = 1 + rng.below(12) as u32;
    let d = 1 + rng.below(crate::domain::normalise::days_in_month(y, m) as usize) as u32;
    (y, m, d)
}

fn iso((y, m, d): Ymd) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

fn parse_iso(s: &str) -> Option<Ymd> {
    let mut parts = s.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

fn salutation(female: bool) -> &'static str {
    if female {
        "Frau"
    } else {
        "Herr"
    }
}

/// A private customer: a home address in a German city and a birth date; no employer,
/// e-mail or phone.
fn private_customer(rng: &mut Rng, n: usize) -> Record {
    let female = rng.chance(50);
    let first = *rng.pick(if female { FIRST_NAMES_F } else { FIRST_NAMES_M });
    let last = surname(rng);
    let city = rng.pick(CITIES);
    let mut r = Record::new(format!("P{n:07}"))
        .with(Field::Salutation, salutation(female))
        .with(Field::FirstName, first)
        .with(Field::LastName, last)
        .with(Field::Street, street(rng))
        .with(Field::HouseNumber, house_number(rng))
        .with(Field::Postcode, postcode(rng, city))
        .with(Field::City, city.name)
        .with(Field::BirthDate, iso(date_between(rng, 1935, 2005)));
    if rng.chance(6) {
        r = r.with(Field::Title, "Dr.");
    }
    r
}

/// A register contact of a B2C and B2B CRM: a private customer, or a firm's employee
/// (half of them with a birth date on file).
fn person(rng: &mut Rng, n: usize) -> Record {
    if rng.chance(PRIVATE) {
        return private_customer(rng, n);
    }
    let mut r = contact(rng, n);
    if rng.chance(EMPLOYEE_BIRTH_DATE) {
        let born = date_between(rng, 1958, 2004);
        r.values.insert(Field::BirthDate, iso(born));
    }
    r
}

/// A private customer (a home address, no employer).
fn is_private(r: &Record) -> bool {
    r.get(Field::OrganisationName).is_none() && r.get(Field::Street).is_some()
}

/// What a family member is to the household's first customer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kin {
    Spouse,
    Child,
    Parent,
}

/// A child where the first customer is old enough to have a grown one, else a parent.
fn child_or_parent(head_born: u32) -> Kin {
    if head_born + 22 <= 2005 {
        Kin::Child
    } else {
        Kin::Parent
    }
}

/// A family member of private customer `head`: the same address and last name, a first
/// name none of `taken` has, a birth date that fits `kin` (or `twin`'s, a sibling born
/// the same day).
fn relative(
    rng: &mut Rng,
    n: usize,
    head: &Record,
    kin: Kin,
    taken: &[&str],
    twin: Option<Ymd>,
) -> Record {
    let head_female = head.get(Field::Salutation) == Some("Frau");
    let head_born = head
        .get(Field::BirthDate)
        .and_then(parse_iso)
        .map_or(1970, |(y, _, _)| y);
    let (female, born) = match kin {
        Kin::Spouse => {
            let female = if rng.chance(95) {
                !head_female
            } else {
                head_female
            };
            let year = (head_born + rng.below(13) as u32).saturating_sub(6);
            (
                female,
                date_between(rng, year.clamp(1925, 2005), year.clamp(1925, 2005)),
            )
        }
        Kin::Child => {
            let female = rng.chance(50);
            let born = twin.unwrap_or_else(|| {
                date_between(rng, (head_born + 22).min(2005), (head_born + 38).min(2005))
            });
            (female, born)
        }
        Kin::Parent => {
            let from = head_born.saturating_sub(36).max(1920);
            let to = head_born.saturating_sub(20).max(1920);
            (rng.chance(60), date_between(rng, from, to))
        }
    };
    let names = if female { FIRST_NAMES_F } else { FIRST_NAMES_M };
    let mut first = *rng.pick(names);
    for _ in 0..20 {
        if !taken.contains(&first) {
            break;
        }
        first = *rng.pick(names);
    }
    let mut r = Record::new(format!("P{n:07}"))
        .with(Field::Salutation, salutation(female))
        .with(Field::FirstName, first)
        .with(Field::BirthDate, iso(born));
    for field in [
        Field::LastName,
        Field::Street,
        Field::HouseNumber,
        Field::Postcode,
        Field::City,
    ] {
        if let Some(value) = head.get(field) {
            r.values.insert(field, value.to_string());
        }
    }
    if rng.chance(3) {
        r = r.with(Field::Title, "Dr.");
    }
    r
}

/// The 1–3 family members who live with private customer `head`, numbered from `n`: a
/// spouse mostly, grown children (now and then twins) or a parent.
fn household(rng: &mut Rng, head: &Record, n: usize) -> Vec<Record> {
    let head_born = head
        .get(Field::BirthDate)
        .and_then(parse_iso)
        .map_or(1970, |(y, _, _)| y);
    let mut members: Vec<Record> = Vec::new();
    let mut last_child: Option<Ymd> = None;
    // Mostly a couple; the larger the household, the rarer.
    let size = match rng.below(10) {
        0..=4 => 1,
        5..=7 => 2,
        _ => 3,
    };
    for k in 0..size {
        let kin = if k == 0 && rng.chance(75) {
            Kin::Spouse
        } else {
            child_or_parent(head_born)
        };
        let twin = match (kin, last_child) {
            (Kin::Child, Some(born)) if rng.chance(TWINS) => Some(born),
            _ => None,
        };
        let taken: Vec<&str> = std::iter::once(head)
            .chain(&members)
            .filter_map(|m| m.get(Field::FirstName))
            .collect();
        let member = relative(rng, n + k, head, kin, &taken, twin);
        if kin == Kin::Child {
            last_child = member.get(Field::BirthDate).and_then(parse_iso);
        }
        members.push(member);
    }
    members
}

/// A contact the register does not know: now and then a relative of one of its private
/// customers (same address and last name), else anyone.
fn stranger_contact(rng: &mut Rng, register: &[Record], n: usize) -> Record {
    if !register.is_empty() && rng.chance(STRANGER_RELATIVE) {
        let head = &register[rng.below(register.len())];
        if is_private(head) {
            let head_born = head
                .get(Field::BirthDate)
                .and_then(parse_iso)
                .map_or(1970, |(y, _, _)| y);
            let kin = if rng.chance(50) {
                Kin::Spouse
            } else {
                child_or_parent(head_born)
            };
            let taken: Vec<&str> = head.get(Field::FirstName).into_iter().collect();
            return relative(rng, n, head, kin, &taken, None);
        }
    }
    person(rng, n)
}

/// The CRM's copy of register contact `reg`: name, employer, e-mail and phone faults. The
/// demo draws on it: an employee's copy takes the same random numbers as ever.
pub(crate) fn crm_contact(rng: &mut Rng, reg: &Record, id: usize, rates: &Rates) -> Record {
    let mut r = reg.clone();
    r.id = format!("K{id:07}");
    let v = &mut r.values;
    for field in [Field::FirstName, Field::LastName] {
        let mut name = v.get(&field).cloned().unwrap_or_default();
        if rng.chance(rates.typo / 2) {
            name = typo(rng, &name);
        }
        if rng.chance(rates.respell) {
            name = respell(rng, &name);
        }
        v.insert(field, name);
    }
    if rng.chance(rates.form_dropped / 2) {
        let initial: String = v
            .get(&Field::FirstName)
            .and_then(|f| f.chars().next())
            .map(|c| format!("{c}."))
            .unwrap_or_default();
        v.insert(Field::FirstName, initial);
    }
    if rng.chance(rates.renamed / 2) {
        // Married: a new last name, or a double name.
        let last = v.get(&Field::LastName).cloned().unwrap_or_default();
        let new = if rng.chance(50) {
            surname(rng)
        } else {
            format!("{last}-{}", surname(rng))
        };
        v.insert(Field::LastName, new);
    }
    let changed_jobs = rng.chance(rates.moved / 2);
    if changed_jobs && v.contains_key(&Field::OrganisationName) {
        // Changed jobs: the CRM still names the old firm.
        v.insert(
            Field::OrganisationName,
            format!("{} {} GmbH", surname(rng), rng.pick(TRADES).0),
        );
    } else if let Some(employer) = v.get(&Field::OrganisationName).cloned() {
        let mut written = employer;
        if rng.chance(rates.form_dropped) {
            written = split_legal_form(&written).0;
        }
        if rng.chance(rates.typo / 2) {
            written = typo(rng, &written);
        }
        if rng.chance(rates.respell) {
            written = respell(rng, &written);
        }
        v.insert(Field::OrganisationName, written);
    }
    if rng.chance(rates.missing / 3) {
        v.remove(&Field::OrganisationName);
    }
    if let Some(phone) = v.get(&Field::Phone).cloned() {
        if rng.chance(50) {
            v.insert(Field::Phone, phone.replacen("+49 ", "0", 1));
        }
    }
    if rng.chance(rates.abbreviate / 2) {
        if let Some(email) = v.get(&Field::Email).map(|e| e.to_uppercase()) {
            v.insert(Field::Email, email);
        }
    }
    for field in [
        Field::Email,
        Field::Phone,
        Field::Title,
        Field::Salutation,
        Field::Role,
    ] {
        if rng.chance(rates.missing) {
            v.remove(&field);
        }
    }
    r
}

/// One digit of `date` replaced by another such that it is still a date (the century
/// is left alone: nobody types 2956).
fn digit_typo(rng: &mut Rng, date: Ymd) -> Ymd {
    let (y, m, d) = date;
    let digits: Vec<u32> = format!("{y:04}{m:02}{d:02}")
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    for _ in 0..20 {
        let mut t = digits.clone();
        let at = 2 + rng.below(6);
        let digit = rng.below(10) as u32;
        if digit == t[at] {
            continue;
        }
        t[at] = digit;
        let number = |from: usize, to: usize| t[from..to].iter().fold(0, |n, x| n * 10 + x);
        let typed = (number(0, 4), number(4, 6), number(6, 8));
        if is_date(typed) {
            return typed;
        }
    }
    date
}

/// A birth date as the CRM holds it: maybe with day and month swapped or a digit
/// mistyped, written ISO, German (`09.04.1956`, `9.4.1956`) or compact (`19560409`).
fn crm_birth_date(rng: &mut Rng, born: Ymd, rates: &Rates) -> String {
    let (y, mut m, mut d) = born;
    if rng.chance(rates.date_swapped) && d <= 12 && d != m {
        std::mem::swap(&mut d, &mut m);
    }
    let (y, m, d) = if rng.chance(rates.date_typo) {
        digit_typo(rng, (y, m, d))
    } else {
        (y, m, d)
    };
    if rng.chance(rates.date_german) {
        if rng.chance(25) {
            format!("{d}.{m}.{y}")
        } else {
            format!("{d:02}.{m:02}.{y:04}")
        }
    } else if rng.chance(rates.date_german / 4) {
        format!("{y:04}{m:02}{d:02}")
    } else {
        iso((y, m, d))
    }
}

/// A private customer's home address as the CRM holds it: an old one (moved since, in
/// the same or another city), the street abbreviated (`Hauptstr.`), respelled or
/// mistyped, street and number in one field, parts missing.
fn crm_home_address(rng: &mut Rng, v: &mut BTreeMap<Field, String>, rates: &Rates) {
    if rng.chance(rates.moved) {
        let city = if rng.chance(50) {
            rng.pick(CITIES)
        } else {
            CITIES
                .iter()
                .find(|c| Some(c.name) == v.get(&Field::City).map(String::as_str))
                .unwrap_or(&CITIES[0])
        };
        v.insert(Field::Street, street(rng));
        v.insert(Field::HouseNumber, house_number(rng));
        v.insert(Field::Postcode, postcode(rng, city));
        v.insert(Field::City, city.name.to_string());
    }
    let s = v.get(&Field::Street).cloned().unwrap_or_default();
    if rng.chance(rates.abbreviate) {
        v.insert(Field::Street, abbreviated(&s));
    } else if rng.chance(rates.respell / 2) {
        v.insert(Field::Street, s.replace('ß', "ss"));
    }
    if rng.chance(rates.typo / 2) {
        street_typo(rng, v);
    }
    if rng.chance(rates.respell / 3) {
        let city = v.get(&Field::City).cloned().unwrap_or_default();
        v.insert(Field::City, respell(rng, &city));
    }
    if rng.chance(rates.missing / 2) {
        join_street_and_number(v);
    }
    for field in [
        Field::Street,
        Field::HouseNumber,
        Field::Postcode,
        Field::City,
    ] {
        if rng.chance(rates.missing / 3) {
            v.remove(&field);
        }
    }
}

/// The CRM's copy of register contact `reg` in the generated B2C and B2B CRM: the faults
/// of [`crm_contact`], a woman's last name changed by marriage, first and last name
/// swapped, and the faults of birth dates and home addresses. The demo's B2B contacts
/// take [`crm_contact`] alone, so its CRM stays as it was.
fn crm_person(rng: &mut Rng, reg: &Record, id: usize, rates: &Rates) -> Record {
    let mut r = crm_contact(rng, reg, id, rates);
    let v = &mut r.values;
    if reg.get(Field::Salutation) == Some("Frau") && rng.chance(rates.renamed / 2) {
        // Married since, or the other way round: her husband's name or a double name.
        let last = v.get(&Field::LastName).cloned().unwrap_or_default();
        let new = if rng.chance(70) {
            surname(rng)
        } else {
            format!("{}-{last}", surname(rng))
        };
        v.insert(Field::LastName, new);
    }
    if rng.chance(rates.names_swapped) {
        let first = v.remove(&Field::FirstName);
        let last = v.remove(&Field::LastName);
        if let Some(first) = first {
            v.insert(Field::LastName, first);
        }
        if let Some(last) = last {
            v.insert(Field::FirstName, last);
        }
    }
    if let Some(born) = reg.get(Field::BirthDate).and_then(parse_iso) {
        if rng.chance(rates.missing) {
            v.remove(&Field::BirthDate);
        } else {
            let written = crm_birth_date(rng, born, rates);
            v.insert(Field::BirthDate, written);
        }
    }
    if reg.get(Field::Street).is_some() {
        crm_home_address(rng, v, rates);
    }
    r
}

/// Generates `register_size` register records and `crm_size` CRM records of `kind`.
pub fn generate(
    kind: EntityKind,
    profile: Profile,
    seed: u64,
    register_size: usize,
    crm_size: usize,
) -> Synthetic {
    let rates = profile.rates();
    let mut rng = Rng(seed ^ (kind as u64 + 1).wrapping_mul(0x5851_F42D_4C95_7F2D));
    let make = |rng: &mut Rng, n: usize| match kind {
        EntityKind::Organisation => organisation(rng, n),
        EntityKind::Contact => person(rng, n),
    };
    let mut register: Vec<Record> = Vec::with_capacity(register_size);
    while register.len() < register_size {
        let n = register.len();
        let r = make(&mut rng, n);
        // Some private customers' families are customers too.
        let family = if kind == EntityKind::Contact && is_private(&r) && rng.chance(HOUSEHOLD) {
            household(&mut rng, &r, n + 1)
        } else {
            Vec::new()
        };
        register.push(r);
        register.extend(family);
        register.truncate(register_size);
    }
    // Look-alikes: a twin of a register record under the same name in another place.
    let twins = register_size * rates.lookalike as usize / 100;
    for t in 0..twins {
        let source = rng.below(register_size.max(1));
        let Some(original) = register.get(source).cloned() else {
            break;
        };
        let mut twin = make(&mut rng, register_size + t);
        for field in [
            Field::LegalName,
            Field::LegalForm,
            Field::FirstName,
            Field::LastName,
            Field::Salutation,
        ] {
            match original.get(field) {
                Some(v) => twin.values.insert(field, v.to_string()),
                None => twin.values.remove(&field),
            };
        }
        register.push(twin);
    }
    let mut crm = Vec::with_capacity(crm_size);
    let mut truth = Vec::with_capacity(crm_size);
    let originals = register_size.max(1);
    while crm.len() < crm_size {
        let id = crm.len();
        if rng.chance(rates.absent) {
            // A record the register does not know: generated, but never put there.
            let copy = match kind {
                EntityKind::Organisation => {
                    let stranger = make(&mut rng, 10_000_000 + id);
                    crm_organisation(&mut rng, &stranger, id, &rates)
                }
                EntityKind::Contact => {
                    let known = &register[..register.len().min(register_size)];
                    let stranger = stranger_contact(&mut rng, known, 10_000_000 + id);
                    crm_person(&mut rng, &stranger, id, &rates)
                }
            };
            crm.push(copy);
            continue;
        }
        // Spread over the register so the CRM is a sample of it, not its head.
        let reg = &register[(id.wrapping_mul(7919) + rng.below(originals)) % originals];
        let copies = if rng.chance(rates.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            if crm.len() >= crm_size {
                break;
            }
            let cid = crm.len();
            let copy = match kind {
                EntityKind::Organisation => crm_organisation(&mut rng, reg, cid, &rates),
                EntityKind::Contact => crm_person(&mut rng, reg, cid, &rates),
            };
            truth.push((copy.id.clone(), reg.id.clone()));
            crm.push(copy);
        }
    }
    Synthetic {
        register,
        crm,
        truth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_truth_points_at_real_records() {
        let a = generate(EntityKind::Organisation, Profile::Hard, 1, 500, 200);
        let b = generate(EntityKind::Organisation, Profile::Hard, 1, 500, 200);
        assert_eq!(
            (&a.register, &a.crm, &a.truth),
            (&b.register, &b.crm, &b.truth)
        );
        assert_eq!(a.crm.len(), 200);
        let ids: std::collections::HashSet<&str> =
            a.register.iter().map(|r| r.id.as_str()).collect();
        assert!(a.truth.iter().all(|(_, r)| ids.contains(r.as_str())));
        let absent = a.crm.len() - a.truth.len();
        assert!(absent > 5 && absent < 80, "absent {absent}");
        let c = generate(EntityKind::Organisation, Profile::Hard, 2, 500, 200);
        assert_ne!(a.crm, c.crm);
    }

    #[test]
    fn harder_profiles_have_dirtier_copies() {
        let differing = |p: Profile| {
            let s = generate(EntityKind::Organisation, p, 9, 2000, 1000);
            let by_id: std::collections::HashMap<&str, &Record> =
                s.register.iter().map(|r| (r.id.as_str(), r)).collect();
            s.truth
                .iter()
                .filter(|(c, r)| {
                    let crm = s.crm.iter().find(|x| &x.id == c).unwrap();
                    crm.get(Field::LegalName) != by_id[r.as_str()].get(Field::LegalName)
                })
                .count()
        };
        let (easy, hard) = (differing(Profile::Easy), differing(Profile::Hard));
        assert!(hard > 2 * easy, "easy {easy}, hard {hard}");
    }

    #[test]
    fn contacts_carry_names_and_typos() {
        let s = generate(EntityKind::Contact, Profile::Medium, 3, 300, 100);
        assert!(s
            .register
            .iter()
            .all(|r| r.get(Field::LastName).is_some() && r.get(Field::FirstName).is_some()));
        assert!(s
            .crm
            .iter()
            .any(|r| r.get(Field::FirstName).is_some_and(|f| f.ends_with('.'))));
    }

    fn households(s: &Synthetic) -> std::collections::HashMap<Vec<&str>, Vec<&Record>> {
        let mut by_address: std::collections::HashMap<Vec<&str>, Vec<&Record>> =
            std::collections::HashMap::new();
        for r in s.register.iter().filter(|r| is_private(r)) {
            let key = [
                Field::Street,
                Field::HouseNumber,
                Field::Postcode,
                Field::City,
                Field::LastName,
            ]
            .iter()
            .map(|f| r.get(*f).unwrap_or_default())
            .collect();
            by_address.entry(key).or_default().push(r);
        }
        by_address
    }

    #[test]
    fn private_customers_have_an_address_and_a_birth_date_and_no_employer() {
        let s = generate(EntityKind::Contact, Profile::Medium, 5, 3000, 1000);
        let again = generate(EntityKind::Contact, Profile::Medium, 5, 3000, 1000);
        assert_eq!(
            (&s.register, &s.crm, &s.truth),
            (&again.register, &again.crm, &again.truth)
        );
        assert_eq!(s.register.len(), 3000 + 3000 * 3 / 100);
        let (private, employees): (Vec<&Record>, Vec<&Record>) =
            s.register.iter().partition(|r| is_private(r));
        let share = private.len() * 100 / s.register.len();
        assert!((30..=60).contains(&share), "{share} % private customers");
        for r in &private {
            for field in [
                Field::Street,
                Field::HouseNumber,
                Field::Postcode,
                Field::City,
            ] {
                assert!(r.get(field).is_some(), "{} has no {field}", r.id);
            }
            assert!(CITIES.iter().any(|c| Some(c.name) == r.get(Field::City)));
            let born = r.get(Field::BirthDate).expect("a birth date");
            assert_eq!(
                crate::domain::normalise::parse_birth_date(born).as_deref(),
                Some(born),
                "{born} is not an ISO date"
            );
            for field in [
                Field::Email,
                Field::Phone,
                Field::OrganisationName,
                Field::Role,
            ] {
                assert!(r.get(field).is_none(), "{} has {field}", r.id);
            }
        }
        for r in &employees {
            for field in [Field::Email, Field::Phone, Field::OrganisationName] {
                assert!(r.get(field).is_some(), "{} has no {field}", r.id);
            }
            assert!(r.get(Field::Street).is_none());
        }
        let dated = s
            .register
            .iter()
            .filter(|r| r.get(Field::BirthDate).is_some())
            .count();
        let share = dated * 100 / s.register.len();
        assert!((60..=80).contains(&share), "{share} % with a birth date");
        // The CRM copies of private customers keep them private.
        let by_id: std::collections::HashMap<&str, &Record> =
            s.register.iter().map(|r| (r.id.as_str(), r)).collect();
        for (c, r) in &s.truth {
            let crm = s.crm.iter().find(|x| &x.id == c).unwrap();
            if is_private(by_id[r.as_str()]) {
                assert!(
                    crm.get(Field::OrganisationName).is_none() && crm.get(Field::Email).is_none()
                );
            }
        }
        // Common names stay common: namesakes who are different people.
        let mut names: std::collections::HashMap<(&str, &str), usize> = Default::default();
        for r in &s.register {
            let name = (
                r.get(Field::FirstName).unwrap(),
                r.get(Field::LastName).unwrap(),
            );
            *names.entry(name).or_default() += 1;
        }
        assert!(
            names.values().filter(|n| **n >= 2).count() > 20,
            "too few namesakes"
        );
    }

    #[test]
    fn families_share_an_address_and_a_last_name_but_not_a_first_name() {
        let s = generate(EntityKind::Contact, Profile::Medium, 5, 3000, 1000);
        let homes = households(&s);
        let families: Vec<&Vec<&Record>> = homes.values().filter(|m| m.len() > 1).collect();
        assert!(families.len() > 100, "{} families", families.len());
        assert!(families.iter().all(|m| m.len() <= 4));
        assert!(families.iter().any(|m| m.len() == 4));
        let mut twins = 0;
        for members in &families {
            let mut first: Vec<&str> = members
                .iter()
                .filter_map(|r| r.get(Field::FirstName))
                .collect();
            first.sort_unstable();
            first.dedup();
            assert_eq!(first.len(), members.len(), "{members:?}");
            let mut born: Vec<&str> = members
                .iter()
                .filter_map(|r| r.get(Field::BirthDate))
                .collect();
            born.sort_unstable();
            born.dedup();
            twins += members.len() - born.len();
        }
        assert!(
            twins < families.len() / 10,
            "{twins} twins in {} families",
            families.len()
        );
        // Some of the CRM's unknown customers live with a register family.
        let known: std::collections::HashSet<&str> =
            s.truth.iter().map(|(c, _)| c.as_str()).collect();
        assert!(s
            .crm
            .iter()
            .filter(|c| !known.contains(c.id.as_str()))
            .any(|c| {
                homes.keys().any(|k| {
                    k[0] == c.get(Field::Street).unwrap_or_default()
                        && k[2] == c.get(Field::Postcode).unwrap_or_default()
                        && k[4] == c.get(Field::LastName).unwrap_or_default()
                })
            }));
    }

    #[test]
    fn crm_birth_dates_and_addresses_have_faults_more_in_harder_profiles() {
        let faults = |p: Profile| {
            let s = generate(EntityKind::Contact, p, 8, 4000, 3000);
            let by_id: std::collections::HashMap<&str, &Record> =
                s.register.iter().map(|r| (r.id.as_str(), r)).collect();
            let crm: std::collections::HashMap<&str, &Record> =
                s.crm.iter().map(|r| (r.id.as_str(), r)).collect();
            let (mut german, mut wrong, mut missing, mut short, mut moved, mut swapped) =
                (0, 0, 0, 0, 0, 0);
            for (c, r) in &s.truth {
                let (crm, reg) = (crm[c.as_str()], by_id[r.as_str()]);
                if let Some(born) = reg.get(Field::BirthDate) {
                    match crm.get(Field::BirthDate) {
                        None => missing += 1,
                        Some(d) => {
                            german += usize::from(d.contains('.'));
                            let parsed = crate::domain::normalise::parse_birth_date(d);
                            wrong += usize::from(parsed.as_deref() != Some(born));
                        }
                    }
                }
                if is_private(reg) {
                    short +=
                        usize::from(crm.get(Field::Street).is_some_and(|s| s.contains("str.")));
                    moved += usize::from(
                        crm.get(Field::City)
                            .is_some_and(|c| c != reg.get(Field::City).unwrap())
                            && crm
                                .get(Field::Postcode)
                                .is_some_and(|p| p != reg.get(Field::Postcode).unwrap()),
                    );
                }
                swapped += usize::from(crm.get(Field::FirstName) == reg.get(Field::LastName));
            }
            [german, wrong, missing, short, moved, swapped]
        };
        let (easy, hard) = (faults(Profile::Easy), faults(Profile::Hard));
        for (i, what) in [
            "German dates",
            "wrong dates",
            "missing dates",
            "str.",
            "moved",
            "swapped names",
        ]
        .iter()
        .enumerate()
        {
            assert!(
                easy[i] > 0 && hard[i] > easy[i],
                "{what}: easy {}, hard {}",
                easy[i],
                hard[i]
            );
        }
    }
}
