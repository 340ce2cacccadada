use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use crate::common::{stderr, PgDatabase, Sandbox};

/// Every table the migrations create.
const TABLES: &[&str] = &[
    "passes",
    "changes",
    "audit_log",
    "record_status",
    "matches",
    "provenance",
    "suppressions",
    "job_cursors",
    "job_resume",
    "job_leases",
    "register_cache",
    "users",
    "sessions",
    "api_tokens",
    "consents",
    "erasures",
    "erased_subjects",
    "match_verdicts",
    "pass_models",
];

#[test]
fn migrate_is_repeatable_on_sqlite_and_the_audit_log_is_append_only() {
    let sb = Sandbox::new();
    assert!(!sb.path("var").exists());
    sb.ok(&["migrate"]);
    let again = sb.ok(&["migrate"]);
    assert!(again.contains("up to date"), "{again}");
    sb.ok(&["run", "--once", "--job", "organisations"]);

    let mut store =
        SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy()).unwrap();
    for table in TABLES {
        store
            .batch_execute(&format!("SELECT count(*) FROM {table}"))
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    let update = store.batch_execute("UPDATE audit_log SET new_value = 'forged'");
    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(store.batch_execute("DELETE FROM audit_log").is_err());
}

#[test]
fn migrate_is_repeatable_on_postgres_and_the_audit_log_is_append_only() {
    let db = PgDatabase::create();
    let sb = Sandbox::new().env("REFSYNC__STORE__URL", &db.url);
    sb.ok(&["migrate"]);
    assert!(sb.ok(&["migrate"]).contains("up to date"));
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let mut pg = db.connect();
    for table in TABLES {
        pg.batch_execute(&format!("SELECT count(*) FROM {table}"))
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    let update = pg.batch_execute("UPDATE audit_log SET new_value = 'forged'");
    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(pg.batch_execute("DELETE FROM audit_log").is_err());
}

#[test]
fn unreachable_postgres_is_a_clear_error() {
    let sb = Sandbox::new().env("REFSYNC__STORE__URL", "postgres://nobody@127.0.0.1:1/none");
    let out = sb.run(&["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect") && err.contains("127.0.0.1:1"),
        "{err}"
    );
}
