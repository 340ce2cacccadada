//! The SuiteCRM profile against a real MariaDB (`REFSYNC_TEST_MYSQL_URL`, e.g.
//! mysql://root@127.0.0.1:3306/test); built with `--features mysql`.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{sql_query, Connection, MysqlConnection, QueryableByName, RunQueryDsl};
use refsync::demo::{generate, SEED};
use refsync::domain::model::Field;

use crate::common::Sandbox;

/// A fresh MariaDB database for one test, dropped when the guard goes.
struct MariaDb {
    admin_url: String,
    name: String,
    url: String,
}

impl MariaDb {
    fn create() -> MariaDb {
        let admin_url = std::env::var("REFSYNC_TEST_MYSQL_URL").unwrap_or_else(|_| {
            panic!("REFSYNC_TEST_MYSQL_URL is not set; the MariaDB tests need it, e.g. mysql://root@127.0.0.1:3306/test")
        });
        let name = format!("refsync_test_{}", std::process::id());
        let mut admin = MysqlConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("cannot reach MariaDB at {admin_url}: {e}"));
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        MariaDb {
            admin_url,
            name,
            url,
        }
    }

    fn connect(&self) -> MysqlConnection {
        MysqlConnection::establish(&self.url).unwrap()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = MysqlConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(c: &mut MysqlConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<Count>(c).unwrap().n
}

/// SuiteCRM's shape: uuid ids, billing address columns, soft deletes, a link table.
fn suitecrm_database() -> MariaDb {
    let db = MariaDb::create();
    let mut c = db.connect();
    c.batch_execute(
        "CREATE TABLE accounts (id CHAR(36) NOT NULL PRIMARY KEY, name VARCHAR(150), date_entered DATETIME,
             date_modified DATETIME, modified_user_id CHAR(36), deleted TINYINT(1) DEFAULT 0,
             billing_address_street VARCHAR(150), billing_address_city VARCHAR(100),
             billing_address_postalcode VARCHAR(20), billing_address_country VARCHAR(255),
             phone_office VARCHAR(100), website VARCHAR(255)) CHARACTER SET utf8mb4;
         CREATE TABLE contacts (id CHAR(36) NOT NULL PRIMARY KEY, date_modified DATETIME, modified_user_id CHAR(36),
             deleted TINYINT(1) DEFAULT 0, salutation VARCHAR(255), first_name VARCHAR(100), last_name VARCHAR(100),
             title VARCHAR(100), phone_work VARCHAR(100)) CHARACTER SET utf8mb4;
         CREATE TABLE accounts_contacts (id CHAR(36) NOT NULL PRIMARY KEY, contact_id CHAR(36), account_id CHAR(36),
             deleted TINYINT(1) DEFAULT 0);",
    )
    .unwrap();
    let data = generate(SEED);
    let uuid = |prefix: u32, n: &str| format!("{prefix:08x}-0000-4000-8000-{:0>12}", n);
    for (i, org) in data.crm_organisations.iter().enumerate() {
        let street = match (org.get(Field::Street), org.get(Field::HouseNumber)) {
            (Some(s), Some(n)) => Some(format!("{s} {n}")),
            (s, _) => s.map(str::to_string),
        };
        sql_query(
            "INSERT INTO accounts (id, name, date_entered, date_modified, modified_user_id, deleted, billing_address_street,
             billing_address_city, billing_address_postalcode, billing_address_country, phone_office, website)
             VALUES (?, ?, '2024-01-01 00:00:00', '2024-01-01 00:00:00', 'seed', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind::<Text, _>(uuid(1, &org.id))
        .bind::<Text, _>(org.get(Field::LegalName).unwrap_or("?"))
        .bind::<diesel::sql_types::Integer, _>(i32::from(i == 5))
        .bind::<Nullable<Text>, _>(street)
        .bind::<Nullable<Text>, _>(org.get(Field::City))
        .bind::<Nullable<Text>, _>(org.get(Field::Postcode))
        .bind::<Nullable<Text>, _>((i % 10 != 0).then_some("DE"))
        .bind::<Nullable<Text>, _>(org.get(Field::Phone))
        .bind::<Nullable<Text>, _>(org.get(Field::Website))
        .execute(&mut c)
        .unwrap();
    }
    for person in &data.crm_contacts {
        let id = uuid(2, &person.id);
        sql_query("INSERT INTO contacts (id, date_modified, modified_user_id, salutation, first_name, last_name, title, phone_work) VALUES (?, '2024-01-01 00:00:00', 'seed', ?, ?, ?, ?, ?)")
            .bind::<Text, _>(&id)
            .bind::<Nullable<Text>, _>(person.get(Field::Salutation))
            .bind::<Nullable<Text>, _>(person.get(Field::FirstName))
            .bind::<Nullable<Text>, _>(person.get(Field::LastName))
            .bind::<Nullable<Text>, _>(person.get(Field::Title))
            .bind::<Nullable<Text>, _>(person.get(Field::Phone))
            .execute(&mut c)
            .unwrap();
        sql_query("INSERT INTO accounts_contacts (id, contact_id, account_id) VALUES (?, ?, ?)")
            .bind::<Text, _>(uuid(3, &person.id))
            .bind::<Text, _>(&id)
            .bind::<Text, _>(uuid(1, person.get(Field::OrganisationId).unwrap_or("1")))
            .execute(&mut c)
            .unwrap();
    }
    db
}

fn sandbox(crm: &MariaDb) -> Sandbox {
    Sandbox::example("suitecrm", |c| c)
        .env("REFSYNC__CRM__SUITECRM__URL", &crm.url)
        .env("REFSYNC__JOB__SUITECRM_ACCOUNTS__OVERLAP_SECONDS", "0")
}

#[test]
fn suitecrm_profile_on_mariadb_writes_with_its_modified_columns_and_reads_incrementally() {
    let crm = suitecrm_database();
    let mut c = crm.connect();
    let live = count(
        &mut c,
        "SELECT count(*) AS n FROM accounts WHERE deleted = 0",
    );
    let sb = sandbox(&crm);
    let first = sb.json(&["run", "--once"]);
    let counts = &first[0]["counts"];
    assert_eq!(
        counts["records_read"], live,
        "soft-deleted accounts are not read: {counts}"
    );
    assert!(counts["changes_applied"].as_i64().unwrap() > 0, "{counts}");
    let written = count(
        &mut c,
        "SELECT count(*) AS n FROM accounts WHERE modified_user_id = '1'",
    );
    assert!(written > 0);
    assert_eq!(
        count(&mut c, "SELECT count(*) AS n FROM accounts WHERE modified_user_id = '1' AND date_modified < UTC_TIMESTAMP() - INTERVAL 10 MINUTE"),
        0,
        "refsync stamps date_modified in UTC"
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) AS n FROM accounts WHERE deleted = 1 AND modified_user_id = '1'"
        ),
        0
    );

    // Incremental: nothing changed since → nothing read; one edit → one record read.
    c.batch_execute("UPDATE accounts SET date_modified = '2023-06-01 00:00:00'")
        .unwrap();
    let quiet = sb.json(&["run", "--once"]);
    assert_eq!(quiet[0]["counts"]["records_read"], 0, "{}", quiet[0]);
    c.batch_execute("UPDATE accounts SET phone_office = 'k.A.', date_modified = UTC_TIMESTAMP(), modified_user_id = 'anna' WHERE deleted = 0 ORDER BY id LIMIT 1").unwrap();
    let next = sb.json(&["run", "--once"]);
    assert_eq!(next[0]["counts"]["records_read"], 1, "{}", next[0]);
    assert_eq!(
        next[0]["counts"]["changes_applied"], 1,
        "the placeholder phone is replaced: {}",
        next[0]
    );
}

#[test]
fn mysql_is_refused_as_the_state_store() {
    let sb = Sandbox::new().env("REFSYNC__STORE__URL", "mysql://root@127.0.0.1:3306/test");
    let out = sb.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::common::stderr(&out).contains("SQLite or PostgreSQL"));
}
