//! Deterministic German demo data: a reference register (shipped under `config/demo/`) and
//! a demo CRM, both drawn from the synthetic generator ([`crate::synth`]) with its medium
//! profile's faults (typos, spellings, legal-form variants, moves, renames, missing
//! identifiers and fields), laid out as a CRM holds them, plus what CRMs add on their own:
//! placeholders, free text where a code list applies, dissolved companies still active,
//! duplicates, records the register does not know, and look-alike companies.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::domain::model::{Field, Record};
use crate::synth::vocabulary::{Rng, TRADES};
use crate::synth::{self, Profile, Rates};

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
    (Field::Employees, "employees"),
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

/// The demo data: the register's truth and the CRM's imperfect copy.
pub struct DemoData {
    pub register_organisations: Vec<Record>,
    pub register_contacts: Vec<Record>,
    /// CRM organisations; their ids are the CRM's integer ids as text.
    pub crm_organisations: Vec<Record>,
    /// CRM contacts with `organisation_id` pointing at a CRM organisation.
    pub crm_contacts: Vec<Record>,
}

/// How dirty the demo CRM's copies are: the generator's middle profile.
pub const PROFILE: Profile = Profile::Medium;

/// The demo's register and CRM, drawn from the synthetic generator (see [`crate::synth`])
/// with the [`PROFILE`]'s faults, laid out as a CRM holds them: organisations with integer
/// ids, their contacts pointing at them, plus what a CRM adds on its own (placeholders,
/// duplicates, customers the register does not know, look-alikes a steward must pick).
pub fn generate(seed: u64) -> DemoData {
    let mut rng = Rng(seed);
    let rates = PROFILE.rates();
    let mut register_organisations: Vec<Record> = (0..300)
        .map(|n| {
            let r = synth::organisation(&mut rng, n);
            let status = if rng.chance(3) { "inactive" } else { "active" };
            r.with(Field::Status, status)
        })
        .collect();

    // Look-alikes: a second company of nearly the same name at the same postcode.
    for source in LOOKALIKES {
        let mut twin = register_organisations[source].clone();
        twin.id = format!("R{:07}", register_organisations.len());
        let core = without_form(&twin);
        twin.values
            .insert(Field::LegalName, format!("{core} Service"));
        for f in IDENTIFIERS.iter().chain(&[Field::Website, Field::Email]) {
            twin.values.remove(f);
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
        let mut copy = crm_organisation(&mut rng, reg, crm_id, &rates);
        if LOOKALIKES.contains(&i) {
            // The CRM record of a look-alike lacks every identifier: a steward must pick.
            for f in &IDENTIFIERS {
                copy.values.remove(f);
            }
            copy.values.insert(Field::LegalName, without_form(reg));
        }
        crm_organisations.push(copy);
        for _ in 0..1 + rng.below(3) {
            let person = synth::contact_at(&mut rng, register_contacts.len(), reg);
            if rng.chance(85) {
                let id = crm_contacts.len() + 1;
                crm_contacts.push(crm_contact(&mut rng, &person, id, crm_id, &rates));
            }
            register_contacts.push(person);
        }
        if rng.chance(2) {
            // Entered twice by two sales reps.
            let duplicate_id = crm_organisations.len() + 1;
            let duplicate = crm_organisation(&mut rng, reg, duplicate_id, &rates);
            crm_organisations.push(duplicate);
        }
    }

    // Customers the register does not know: small firms without identifiers.
    for n in 0..12 {
        let mut stranger = synth::organisation(&mut rng, 10_000 + n);
        stranger.id = (crm_organisations.len() + 1).to_string();
        for f in &IDENTIFIERS {
            stranger.values.remove(f);
        }
        stranger.values.insert(Field::Status, "active".into());
        let crm_id = crm_organisations.len() + 1;
        let person = synth::contact_at(&mut rng, 90_000 + n, &stranger);
        crm_organisations.push(stranger);
        let id = crm_contacts.len() + 1;
        crm_contacts.push(crm_contact(&mut rng, &person, id, crm_id, &rates));
    }

    free_text_entries(&mut crm_organisations, &mut crm_contacts);
    DemoData {
        register_organisations,
        register_contacts,
        crm_organisations,
        crm_contacts,
    }
}

/// Register companies that get a look-alike twin.
const LOOKALIKES: [usize; 3] = [10, 50, 90];

/// What identifies a company in a register: the CRM copies of look-alikes and unknown
/// customers lack it all.
const IDENTIFIERS: [Field; 4] = [
    Field::VatId,
    Field::Lei,
    Field::RegisterNumber,
    Field::RegisterCourt,
];

/// The company's name without its last word (mostly the legal form).
fn without_form(r: &Record) -> String {
    let name = r.get(Field::LegalName).unwrap_or_default();
    name.rsplit_once(' ')
        .map_or(name, |(core, _)| core)
        .to_string()
}

/// The generator's copy of a register organisation under the CRM's integer id, still
/// `active` in the CRM whatever the register says; a few phones are placeholders.
fn crm_organisation(rng: &mut Rng, reg: &Record, crm_id: usize, rates: &Rates) -> Record {
    let mut copy = synth::crm_organisation(rng, reg, crm_id, rates);
    copy.id = crm_id.to_string();
    copy.values.insert(Field::Status, "active".into());
    if rng.chance(6) {
        let placeholder = *rng.pick(&["k.A.", "-", "unbekannt"]);
        copy.values.insert(Field::Phone, placeholder.to_string());
    }
    copy
}

/// The generator's copy of a register contact, pointing at its CRM organisation (the CRM
/// knows the employer by id, not by name).
fn crm_contact(
    rng: &mut Rng,
    reg: &Record,
    id: usize,
    organisation_id: usize,
    rates: &Rates,
) -> Record {
    let mut copy = synth::crm_contact(rng, reg, id, rates);
    copy.id = id.to_string();
    copy.values.remove(&Field::OrganisationName);
    copy.values
        .insert(Field::OrganisationId, organisation_id.to_string());
    copy
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
            website TEXT, phone TEXT, email TEXT, industry TEXT, employees TEXT, status TEXT,
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
