//! Seeded synthetic German organisations and contacts with ground truth, for the demo, the
//! tests and the benchmark. A register of clean records and a CRM of imperfect copies:
//! typos, transposed letters, umlaut spellings, legal-form variants and omissions,
//! abbreviated streets, moved offices, renamed companies, missing fields, duplicates,
//! look-alikes, and CRM records the register does not know. Profiles go from easy to hard.
//! Same seed, same data.

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
        .with(
            Field::HouseNumber,
            (1 + rng.below(180)).to_string() + if rng.chance(10) { "a" } else { "" },
        )
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
        v.insert(
            Field::Street,
            s.replace("straße", "str.").replace("Straße", "Str."),
        );
    }
    if rng.chance(rates.typo / 2) {
        let s = v.get(&Field::Street).cloned().unwrap_or_default();
        v.insert(Field::Street, typo(rng, &s));
    }
    if rng.chance(rates.missing / 2) {
        // Street and number in one field, as many CRMs keep them.
        let line = format!(
            "{} {}",
            v.get(&Field::Street).cloned().unwrap_or_default(),
            v.get(&Field::HouseNumber).cloned().unwrap_or_default()
        );
        v.insert(Field::Street, line.trim().to_string());
        v.remove(&Field::HouseNumber);
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
    r
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
    if rng.chance(rates.moved / 2) {
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
        let email = v
            .get(&Field::Email)
            .map(|e| e.to_uppercase())
            .unwrap_or_default();
        v.insert(Field::Email, email);
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
        EntityKind::Contact => contact(rng, n),
    };
    let mut register: Vec<Record> = (0..register_size).map(|n| make(&mut rng, n)).collect();
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
            let stranger = make(&mut rng, 10_000_000 + id);
            let copy = match kind {
                EntityKind::Organisation => crm_organisation(&mut rng, &stranger, id, &rates),
                EntityKind::Contact => crm_contact(&mut rng, &stranger, id, &rates),
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
                EntityKind::Contact => crm_contact(&mut rng, reg, cid, &rates),
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
}
