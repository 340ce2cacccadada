//! The shipped CRM mapping profiles against real databases: writes through lookups with the
//! CRM's own modified columns, row filters, and incremental passes.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{sql_query, PgConnection, QueryableByName, RunQueryDsl};
use refsync::demo::{generate, SEED};
use refsync::domain::model::Field;

use crate::common::{PgDatabase, Sandbox};

/// An Odoo-shaped schema filled with the demo CRM: companies and their contact persons in
/// one `res_partner` table, countries by id in `res_country`.
fn odoo_database() -> PgDatabase {
    let db = PgDatabase::create();
    let mut pg = db.connect();
    pg.batch_execute(
        "CREATE TABLE res_country (id SERIAL PRIMARY KEY, code VARCHAR(2) NOT NULL UNIQUE, name VARCHAR NOT NULL);
         INSERT INTO res_country (code, name) VALUES ('DE', 'Germany'), ('AT', 'Austria'), ('CH', 'Switzerland');
         CREATE TABLE res_partner (
             id SERIAL PRIMARY KEY, name VARCHAR NOT NULL, is_company BOOLEAN NOT NULL DEFAULT false,
             parent_id INTEGER REFERENCES res_partner (id), street VARCHAR, street2 VARCHAR, zip VARCHAR,
             city VARCHAR, country_id INTEGER REFERENCES res_country (id), vat VARCHAR, company_registry VARCHAR,
             email VARCHAR, phone VARCHAR, website VARCHAR, active BOOLEAN NOT NULL DEFAULT true,
             write_uid INTEGER, write_date TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT '2024-01-01 00:00:00');",
    )
    .unwrap();
    let data = generate(SEED);
    for (i, org) in data.crm_organisations.iter().enumerate() {
        let street = match (org.get(Field::Street), org.get(Field::HouseNumber)) {
            (Some(s), Some(n)) => Some(format!("{s} {n}")),
            (s, _) => s.map(str::to_string),
        };
        // Every tenth company was entered without a country.
        let country = (i % 10 != 0).then_some("DE");
        sql_query(
            "INSERT INTO res_partner (id, name, is_company, street, zip, city, country_id, vat, company_registry, email, phone, website, active)
             VALUES (CAST($1 AS INTEGER), $2, true, $3, $4, $5, (SELECT id FROM res_country WHERE code = $6), $7, $8, $9, $10, $11, $12)",
        )
        .bind::<Text, _>(&org.id)
        .bind::<Text, _>(org.get(Field::LegalName).unwrap_or("?"))
        .bind::<Nullable<Text>, _>(street)
        .bind::<Nullable<Text>, _>(org.get(Field::Postcode))
        .bind::<Nullable<Text>, _>(org.get(Field::City))
        .bind::<Nullable<Text>, _>(country)
        .bind::<Nullable<Text>, _>(org.get(Field::VatId))
        .bind::<Nullable<Text>, _>(org.get(Field::RegisterNumber))
        .bind::<Nullable<Text>, _>(org.get(Field::Email))
        .bind::<Nullable<Text>, _>(org.get(Field::Phone))
        .bind::<Nullable<Text>, _>(org.get(Field::Website))
        // One archived company: refsync must leave it alone.
        .bind::<diesel::sql_types::Bool, _>(i != 7)
        .execute(&mut pg)
        .unwrap();
    }
    pg.batch_execute("SELECT setval('res_partner_id_seq', (SELECT max(id) FROM res_partner))")
        .unwrap();
    for person in &data.crm_contacts {
        let name = format!(
            "{} {}",
            person.get(Field::FirstName).unwrap_or(""),
            person.get(Field::LastName).unwrap_or("")
        );
        // Persons live at their company's address, as Odoo fills it in.
        sql_query("INSERT INTO res_partner (name, is_company, parent_id, email, phone, zip, city) VALUES ($1, false, CAST($2 AS INTEGER), $3, $4, (SELECT zip FROM res_partner WHERE id = CAST($2 AS INTEGER)), (SELECT city FROM res_partner WHERE id = CAST($2 AS INTEGER)))")
            .bind::<Text, _>(name.trim())
            .bind::<Text, _>(person.get(Field::OrganisationId).unwrap_or("1"))
            .bind::<Nullable<Text>, _>(person.get(Field::Email))
            .bind::<Nullable<Text>, _>(person.get(Field::Phone))
            .execute(&mut pg)
            .unwrap();
    }
    db
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(pg: &mut PgConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<Count>(pg).unwrap().n
}

fn odoo_sandbox(crm: &PgDatabase) -> Sandbox {
    Sandbox::example("odoo", |c| c)
        .env("REFSYNC__CRM__ODOO__URL", &crm.url)
        .env("REFSYNC__JOB__ODOO_COMPANIES__OVERLAP_SECONDS", "0")
}

#[test]
fn odoo_profile_reads_companies_writes_through_lookups_and_stamps_write_date() {
    let crm = odoo_database();
    let mut pg = crm.connect();
    let companies = count(
        &mut pg,
        "SELECT count(*) AS n FROM res_partner WHERE is_company AND active",
    );
    let sb = odoo_sandbox(&crm);
    let report = sb.json(&["run", "--once"]);
    let counts = &report[0]["counts"];
    assert_eq!(
        counts["records_read"], companies,
        "only active companies are read: {counts}"
    );
    assert!(counts["changes_applied"].as_i64().unwrap() > 0, "{counts}");

    // Countries were filled through the lookup table, as ids.
    let filled = count(&mut pg, "SELECT count(*) AS n FROM res_partner p JOIN res_country c ON c.id = p.country_id WHERE p.is_company AND p.write_uid = 1");
    assert!(filled > 0, "no country was written through res_country");
    // Every row refsync wrote carries Odoo's own markers: write_uid and a fresh write_date.
    let stale = count(&mut pg, "SELECT count(*) AS n FROM res_partner WHERE write_uid = 1 AND write_date < now() AT TIME ZONE 'UTC' - interval '10 minutes'");
    assert_eq!(stale, 0);
    assert!(
        count(
            &mut pg,
            "SELECT count(*) AS n FROM res_partner WHERE write_uid = 1"
        ) > 0
    );
    // The archived company was not touched.
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) AS n FROM res_partner WHERE NOT active AND write_uid IS NOT NULL"
        ),
        0
    );

    // A second pass finds what it wrote through the lookups as written: it applies nothing
    // and proposes nothing again for a field it wrote. (EM refits on the cleaner data, so a
    // borderline record may reach the review band now; that is a proposal, not a write.)
    let pass_changes = |report: &serde_json::Value| -> Vec<serde_json::Value> {
        let pass = report[0]["pass_id"].to_string();
        let list = sb.json(&[
            "review", "list", "--all", "--pass", &pass, "--limit", "100000",
        ]);
        list.as_array().unwrap().clone()
    };
    let written: Vec<(String, String)> = pass_changes(&report)
        .iter()
        .filter(|c| c["status"] == "applied")
        .map(|c| (c["record_id"].to_string(), c["field"].to_string()))
        .collect();
    assert!(!written.is_empty());
    let again = sb.json(&["run", "--once"]);
    assert_eq!(again[0]["counts"]["changes_applied"], 0);
    // What pass 1 wrote into Odoo's typed columns, pass 2 finds as it predicted.
    assert_eq!(
        again[0]["counts"]["unchanged"], again[0]["counts"]["records_read"],
        "{}",
        again[0]["counts"]
    );
    for change in pass_changes(&again) {
        let key = (change["record_id"].to_string(), change["field"].to_string());
        assert!(
            !written.contains(&key),
            "written in pass 1, proposed again: {change}"
        );
    }
}

#[test]
fn incremental_passes_read_only_what_changed() {
    let crm = odoo_database();
    let mut pg = crm.connect();
    let sb = odoo_sandbox(&crm);
    let first = sb.json(&["run", "--once"]);
    assert!(first[0]["counts"]["records_read"].as_i64().unwrap() > 200);

    // Everything is older than what the first pass saw…
    pg.batch_execute("UPDATE res_partner SET write_date = '2023-06-01 00:00:00'")
        .unwrap();
    let quiet = sb.json(&["run", "--once"]);
    assert_eq!(quiet[0]["counts"]["records_read"], 0, "{}", quiet[0]);

    // …until a person edits one company: only it is read.
    pg.batch_execute("UPDATE res_partner SET phone = '0221 999999', write_date = now() AT TIME ZONE 'UTC', write_uid = 7 WHERE id = 12").unwrap();
    let next = sb.json(&["run", "--once"]);
    assert_eq!(next[0]["counts"]["records_read"], 1, "{}", next[0]);
    let status = sb.json(&["review", "list", "--all", "--record", "12"]);
    assert!(status.is_array());

    // The weekly full pass comes back when it is due.
    let full = Sandbox::example("odoo", |c| c)
        .env("REFSYNC__CRM__ODOO__URL", &crm.url)
        .env("REFSYNC__JOB__ODOO_COMPANIES__FULL_PASS_EVERY_HOURS", "0");
    std::fs::create_dir_all(full.path("var")).unwrap();
    std::fs::copy(sb.path("var/refsync.db"), full.path("var/refsync.db")).unwrap();
    let everything = full.json(&["run", "--once"]);
    assert!(everything[0]["counts"]["records_read"].as_i64().unwrap() > 200);
}

#[test]
fn a_hostile_identifier_in_a_mapping_is_rejected_before_any_sql_runs() {
    for hostile in [
        "where = { \"is_company = true; DROP TABLE res_partner; --\" = \"x\", active = \"true\" }",
        "where = { is_company = \"true\", active = \"true\" }\n[crm.odoo.organisations.lookups.city]\ntable = \"res_country; DELETE FROM res_country\"\nkey = \"id\"\nvalue = \"code\"",
    ] {
        let sb = Sandbox::example("odoo", |c| {
            c.replacen("where = { is_company = \"true\", active = \"true\" }", hostile, 1)
        });
        let out = sb.run(&["check-config"]);
        assert_eq!(out.status.code(), Some(2), "{hostile}");
        assert!(crate::common::stderr(&out).contains("not a plain SQL identifier"), "{}", crate::common::stderr(&out));
    }
}

#[test]
fn odoo_contacts_whose_address_differs_from_their_companys_are_flagged() {
    let crm = odoo_database();
    let mut pg = crm.connect();
    // One person moved on paper: their own postcode no longer matches the company's.
    pg.batch_execute(
        "UPDATE res_partner SET zip = '99999' WHERE id = (SELECT min(id) FROM res_partner WHERE NOT is_company AND zip IS NOT NULL)",
    )
    .unwrap();
    let sb = odoo_sandbox(&crm);
    let reports = sb.json(&["run", "--once"]);
    assert_eq!(reports[0]["job"], "odoo_companies", "companies first");
    let flags: Vec<serde_json::Value> = sb
        .json(&[
            "review",
            "list",
            "--job",
            "odoo_contacts",
            "--limit",
            "10000",
        ])
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "flag" && c["field"] == "postcode")
        .cloned()
        .collect();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["old_value"], "99999");
    assert!(flags[0]["new_value"]
        .as_str()
        .unwrap()
        .contains("organisation's address"));
}

#[derive(QueryableByName)]
struct Partner {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    active: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    parent_id: Option<i64>,
}

fn partner(pg: &mut PgConnection, id: i64) -> Partner {
    sql_query("SELECT CAST(id AS BIGINT) AS id, active, CAST(parent_id AS BIGINT) AS parent_id FROM res_partner WHERE id = $1")
        .bind::<BigInt, _>(id)
        .get_result(pg)
        .unwrap()
}

#[test]
fn a_merge_of_odoo_companies_archives_the_copy_repoints_its_people_and_reverts_whole() {
    let crm = odoo_database();
    let mut pg = crm.connect();
    // An active company with contact persons, entered a second time; one person was filed
    // under the copy.
    let original = count(
        &mut pg,
        "SELECT CAST(p.parent_id AS BIGINT) AS n FROM res_partner p JOIN res_partner c ON c.id = p.parent_id \
         WHERE c.active GROUP BY p.parent_id ORDER BY count(*) DESC, p.parent_id LIMIT 1",
    );
    pg.batch_execute(&format!(
        "INSERT INTO res_partner (name, is_company, street, zip, city, country_id, vat, company_registry, email, phone, website) \
         SELECT name, is_company, street, zip, city, country_id, vat, company_registry, email, phone, website \
         FROM res_partner WHERE id = {original};
         UPDATE res_partner SET parent_id = (SELECT max(id) FROM res_partner) \
         WHERE id = (SELECT min(id) FROM res_partner WHERE parent_id = {original});"
    ))
    .unwrap();
    let copy = count(
        &mut pg,
        "SELECT CAST(max(id) AS BIGINT) AS n FROM res_partner WHERE is_company",
    );
    let person = count(
        &mut pg,
        &format!("SELECT CAST(id AS BIGINT) AS n FROM res_partner WHERE parent_id = {copy}"),
    );
    let sb = Sandbox::example("odoo", |c| {
        c.replace(
            "[job.odoo_companies.duplicates]\nenabled = false",
            "[job.odoo_companies.duplicates]\nenabled = true",
        )
    })
    .env("REFSYNC__CRM__ODOO__URL", &crm.url);
    sb.ok(&["run", "--once", "--job", "odoo_companies"]);

    let merges = sb.json(&["duplicates", "list", "--job", "odoo_companies"]);
    let merge = merges
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["members"]
                .as_array()
                .unwrap()
                .contains(&copy.to_string().into())
        })
        .unwrap_or_else(|| panic!("no merge holds the copy {copy}: {merges}"))
        .clone();
    let survivor: i64 = merge["golden"]["survivor"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let merged: Vec<i64> = merge["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().parse().unwrap())
        .filter(|id| *id != survivor)
        .collect();
    assert!(merged.contains(&copy) || survivor == copy, "{merge}");
    let people_before: Vec<(i64, Option<i64>)> = merged
        .iter()
        .chain([&survivor])
        .flat_map(|company| {
            sql_query("SELECT CAST(id AS BIGINT) AS id, active, CAST(parent_id AS BIGINT) AS parent_id FROM res_partner WHERE parent_id = $1")
                .bind::<BigInt, _>(*company)
                .load::<Partner>(&mut pg)
                .unwrap()
        })
        .map(|p| (p.id, p.parent_id))
        .collect();
    assert!(people_before.iter().any(|(id, _)| *id == person));

    let id = merge["id"].to_string();
    sb.ok(&["duplicates", "approve", &id, "--by", "ben"]);
    let out = sb.ok(&["duplicates", "apply", "--by", "ben"]);
    assert!(out.contains("applied"), "{out}");
    // Archived as Odoo's own merge wizard does, never deleted; every person of a merged
    // company now belongs to the survivor.
    for id in &merged {
        assert!(!partner(&mut pg, *id).active, "company {id} archived");
        assert_eq!(
            count(
                &mut pg,
                &format!("SELECT count(*) AS n FROM res_partner WHERE parent_id = {id}")
            ),
            0
        );
    }
    assert!(partner(&mut pg, survivor).active);
    for (person, _) in &people_before {
        assert_eq!(partner(&mut pg, *person).parent_id, Some(survivor));
    }

    sb.ok(&["revert", "--merge", &id, "--by", "ben"]);
    for id in &merged {
        assert!(partner(&mut pg, *id).active, "company {id} active again");
    }
    for (person, parent) in &people_before {
        assert_eq!(
            partner(&mut pg, *person).parent_id,
            *parent,
            "person {person} back with their company"
        );
    }
    assert_eq!(
        sb.json(&["duplicates", "show", &id])["status"],
        "reverted",
        "the merge is marked reverted"
    );
}
