use diesel::connection::SimpleConnection;
use serde_json::Value;

use std::path::Path;

use crate::common::{PgDatabase, Sandbox, StoreKind};

fn report<'a>(reports: &'a Value, job: &str) -> &'a Value {
    reports
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["job"] == job)
        .unwrap_or_else(|| panic!("no report for {job}: {reports}"))
}

fn counts(reports: &Value, job: &str) -> Value {
    report(reports, job)["counts"].clone()
}

#[test]
fn fresh_run_prints_a_summary_and_leaves_reviewable_changes() {
    let sb = Sandbox::new();
    let summary = sb.ok(&["run", "--once"]);
    for expected in [
        "records read",
        "matched",
        "not found",
        "lookup failed",
        "changes",
        "proposed",
        "applied",
        "conflicts",
        "match model      fitted by EM in this pass",
    ] {
        assert!(
            summary.contains(expected),
            "summary lacks {expected:?}:\n{summary}"
        );
    }
    let proposed = sb.json(&["review", "list"]);
    assert!(
        !proposed.as_array().unwrap().is_empty(),
        "nothing to review"
    );
    assert!(proposed
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "proposed"));

    let audit = sb.json(&["audit", "list", "--limit", "10000"]);
    let applied: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "applied")
        .collect();
    assert!(!applied.is_empty(), "no applied change was audited");
    for entry in &applied {
        for key in ["new_value", "source", "score", "pass_id", "change_id"] {
            assert!(!entry[key].is_null(), "audit entry without {key}: {entry}");
        }
    }

    // What the audit says was written is what the CRM now holds.
    let first = applied[0];
    let show = sb.json(&["review", "show", &first["change_id"].to_string()]);
    assert_eq!(show["change"]["status"], "applied");
    assert!(
        show["explanation"]["comparisons"].is_array(),
        "no explanation: {show}"
    );
}

#[test]
fn second_run_on_unchanged_data_creates_nothing_new() {
    let sb = Sandbox::new();
    let first = sb.json(&["run", "--once"]);
    let all_after_first = sb.json(&["review", "list", "--all", "--limit", "100000"]);
    let second = sb.json(&["run", "--once"]);
    let all_after_second = sb.json(&["review", "list", "--all", "--limit", "100000"]);
    assert_eq!(
        all_after_first, all_after_second,
        "the second pass changed the change list"
    );
    for job in ["organisations", "contacts"] {
        let (a, b) = (counts(&first, job), counts(&second, job));
        assert_eq!(b["changes_proposed"], 0, "{job}: {b}");
        assert_eq!(b["changes_applied"], 0, "{job}: {b}");
        assert_eq!(
            b["pending_review"], a["changes_proposed"],
            "{job}: still pending must be what was proposed"
        );
        assert_eq!(
            b["different"].as_i64().unwrap() + b["in_sync"].as_i64().unwrap(),
            b["matched_auto"].as_i64().unwrap() + b["matched_review"].as_i64().unwrap()
        );
        // What the first pass wrote to the CRM, the second finds there: those records
        // are left as they stood, not scored again.
        assert_eq!(b["records_read"], a["records_read"], "{job}");
        assert!(
            b["unchanged"].as_i64().unwrap() * 10 >= b["records_read"].as_i64().unwrap() * 9,
            "{job}: {a} then {b}"
        );
        // Refitted on the CRM the first pass corrected, EM would see more agreement than
        // it learned from; the register is the same, so its fit stands.
        assert_eq!(report(&first, job)["model"], "fitted", "{job}");
        assert_eq!(report(&second, job)["model"], "reused", "{job}");
    }
}

/// The demo with its organisation register read from a copy the test may edit.
fn with_own_register(store: &StoreKind) -> (Sandbox, std::path::PathBuf) {
    let sb = store.sandbox(|c| c);
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo/reference-organisations.csv");
    let copy = sb.path("register.csv");
    std::fs::copy(&shipped, &copy).unwrap();
    let config = std::fs::read_to_string(sb.path("refsync.toml")).unwrap();
    let config = config.replace(&shipped.display().to_string(), &copy.display().to_string());
    std::fs::write(sb.path("refsync.toml"), config).unwrap();
    (sb, copy)
}

fn int(counts: &Value, key: &str) -> i64 {
    counts[key]
        .as_i64()
        .unwrap_or_else(|| panic!("no {key} in {counts}"))
}

#[test]
fn a_pass_leaves_records_nothing_happened_to_as_they_stood_and_scores_the_rest() {
    for store in StoreKind::both() {
        let (sb, register) = with_own_register(&store);
        let pass = || {
            counts(
                &sb.json(&["run", "--once", "--job", "organisations"]),
                "organisations",
            )
        };
        let first = pass();
        let queue = sb.json(&["review", "list", "--all", "--limit", "100000"]);
        // What the first pass applied, the second finds in the CRM as it predicted.
        let second = pass();
        let n = int(&first, "records_read");
        assert_eq!(int(&second, "unchanged"), n, "{}: {second}", store.name());
        assert_eq!(int(&second, "matched_auto") + int(&second, "not_found"), 0);
        assert_eq!(
            int(&second, "pending_review"),
            int(&first, "changes_proposed")
        );
        assert_eq!(
            sb.json(&["review", "list", "--all", "--limit", "100000"]),
            queue
        );

        // A value edited in the CRM, a proposal a steward rejected: those two records are
        // scored again, the rest left as they stood.
        let proposed = sb.json(&[
            "review",
            "list",
            "--job",
            "organisations",
            "--limit",
            "100000",
        ]);
        let proposed = proposed.as_array().unwrap();
        let rejected = &proposed[0];
        let edited = proposed
            .iter()
            .find(|c| c["record_id"] != rejected["record_id"])
            .unwrap();
        sb.ok(&["review", "reject", &rejected["id"].to_string()]);
        sb.crm()
            .batch_execute(&format!(
                "UPDATE organisations SET phone = '+49 30 99999999' WHERE id = {}",
                edited["record_id"].as_str().unwrap()
            ))
            .unwrap();
        let third = pass();
        assert_eq!(int(&third, "unchanged"), n - 2, "{}: {third}", store.name());
        assert_eq!(
            int(&third, "matched_auto") + int(&third, "matched_review"),
            2
        );
        // The rejected value is not proposed again.
        assert_eq!(int(&third, "changes_proposed"), 0, "{third}");

        // The register's content changed (one value, as many records as before: the model
        // stands): every record is scored against it again.
        let text = std::fs::read_to_string(&register).unwrap();
        let changed = text.replacen("Berlin", "Berlin-Mitte", 1);
        assert_ne!(changed, text, "the demo register names Berlin");
        std::fs::write(&register, changed).unwrap();
        let fourth = sb.json(&["run", "--once", "--job", "organisations"]);
        assert_eq!(report(&fourth, "organisations")["model"], "reused");
        let fourth = counts(&fourth, "organisations");
        assert_eq!(int(&fourth, "unchanged"), 0, "{}: {fourth}", store.name());
        assert_eq!(int(&fourth, "records_read"), n);
    }
}

#[test]
fn postgres_store_gives_the_same_counts_as_sqlite() {
    let sqlite = Sandbox::new();
    let on_sqlite = sqlite.json(&["run", "--once"]);

    let db = PgDatabase::create();
    let pg = Sandbox::new().env("REFSYNC__STORE__URL", &db.url);
    let on_pg = pg.json(&["run", "--once"]);
    for job in ["organisations", "contacts"] {
        assert_eq!(counts(&on_sqlite, job), counts(&on_pg, job), "{job}");
    }
    let again = pg.json(&["run", "--once"]);
    assert_eq!(counts(&again, "organisations")["changes_proposed"], 0);
    assert_eq!(
        sqlite
            .json(&["review", "list", "--all", "--limit", "100000"])
            .as_array()
            .unwrap()
            .len(),
        pg.json(&["review", "list", "--all", "--limit", "100000"])
            .as_array()
            .unwrap()
            .len()
    );
}

#[test]
fn a_pass_on_postgresql_leaves_the_planner_statistics_of_the_tables_it_filled() {
    // A first pass grows its tables from nothing; plans made on the empty tables must not
    // outlive it where autovacuum is slow or off. `reltuples` is -1 until a table is analysed.
    let db = PgDatabase::create();
    let pg = Sandbox::new().env("REFSYNC__STORE__URL", &db.url);
    pg.json(&["run", "--once", "--job", "organisations"]);
    let mut conn = db.connect();
    #[derive(diesel::QueryableByName)]
    struct Counted {
        #[diesel(sql_type = diesel::sql_types::Text)]
        relname: String,
        #[diesel(sql_type = diesel::sql_types::Float)]
        reltuples: f32,
    }
    let counted: Vec<Counted> = diesel::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT relname::text AS relname, reltuples FROM pg_class \
             WHERE relname IN ('changes', 'provenance', 'audit_log', 'record_status', 'matches') \
             ORDER BY relname",
        ),
        &mut conn,
    )
    .unwrap();
    assert_eq!(counted.len(), 5);
    for c in counted {
        assert!(
            c.reltuples > 0.0,
            "{}: {} rows counted",
            c.relname,
            c.reltuples
        );
    }
}

#[test]
fn steward_decisions_are_audited_and_rejections_stick() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let proposed = sb.json(&["review", "list", "--job", "organisations"]);
    let ids: Vec<String> = proposed
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|c| c["id"].to_string())
        .collect();
    sb.ok(&["review", "reject", &ids[0]]);
    sb.ok(&["review", "approve", &ids[1]]);
    let out = sb.ok(&["review", "apply", "--job", "organisations"]);
    assert!(out.contains("1 applied"), "{out}");

    let audit = sb.json(&["audit", "list", "--limit", "100000"]);
    let actions: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| ids.contains(&a["change_id"].to_string()))
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_string(),
                a["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("rejected".into(), "tester".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("approved".into(), "tester".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("applied".into(), "tester".into())),
        "{actions:?}"
    );

    // A rejected value is not proposed again by the next pass.
    let next = sb.json(&["run", "--once", "--job", "organisations"]);
    assert_eq!(counts(&next, "organisations")["changes_proposed"], 0);
    // Applying twice is harmless.
    let again = sb.ok(&["review", "apply"]);
    assert!(again.contains("no approved changes"), "{again}");
    // Decisions on changes that are no longer open are refused, with a reason.
    let refused = sb.run(&["review", "approve", &ids[0]]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("cannot be approved"));
}

#[test]
fn a_birth_date_that_is_no_date_is_counted_flagged_and_matched_without() {
    let sb = Sandbox::new();
    // The first pass creates the demo CRM; then the CRM gains a birth date column.
    sb.ok(&["run", "--once", "--job", "contacts"]);
    sb.crm()
        .batch_execute(
            "ALTER TABLE contacts ADD COLUMN birth_date TEXT;
             UPDATE contacts SET birth_date = '31.02.1980', updated_at = datetime('now', '+1 minute')
              WHERE id = (SELECT min(id) FROM contacts);
             UPDATE contacts SET birth_date = '09.04.1956', updated_at = datetime('now', '+1 minute')
              WHERE id = (SELECT max(id) FROM contacts);",
        )
        .unwrap();
    let config = std::fs::read_to_string(sb.path("refsync.toml")).unwrap();
    let mapped = config.replacen(
        "last_name = \"last_name\"\n",
        "last_name = \"last_name\"\nbirth_date = \"birth_date\"\n",
        1,
    );
    assert_ne!(config, mapped, "the contacts mapping moved");
    std::fs::write(sb.path("refsync.toml"), mapped).unwrap();

    let summary = sb.ok(&["run", "--once", "--job", "contacts"]);
    assert!(
        summary.contains("unreadable       1 values compared as missing"),
        "{summary}"
    );
    sb.crm()
        .batch_execute(
            "UPDATE contacts SET updated_at = datetime('now', '+2 minutes') WHERE birth_date IS NOT NULL",
        )
        .unwrap();
    let report = sb.json(&["run", "--once", "--job", "contacts"]);
    assert_eq!(
        counts(&report, "contacts")["unreadable_values"],
        1,
        "{report}"
    );
    let flags: Vec<Value> = sb
        .json(&["review", "list", "--limit", "100000"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["field"] == "birth_date")
        .cloned()
        .collect();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["kind"], "flag");
    assert_eq!(flags[0]["old_value"], "31.02.1980");
}

#[test]
fn a_review_list_cut_at_its_limit_says_how_many_there_are() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let all = sb.json(&["review", "list", "--limit", "100000"]);
    let total = all.as_array().unwrap().len();
    assert!(total > 5, "{total}");
    let out = sb.run(&["review", "list", "--limit", "5", "--format", "json"]);
    assert!(out.status.success());
    let shown: Value = serde_json::from_slice(&out.stdout).expect("whole JSON on stdout");
    assert_eq!(shown.as_array().unwrap().len(), 5);
    let note = crate::common::stderr(&out);
    assert!(
        note.contains(&format!("showing 5 of {total} changes")),
        "{note}"
    );
    let whole = sb.run(&["review", "list", "--limit", "100000"]);
    assert!(
        !crate::common::stderr(&whole).contains("showing"),
        "a whole list needs no note"
    );
}

#[test]
fn an_id_that_names_no_change_is_a_bad_argument_in_every_review_command() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once", "--job", "organisations"]);
    for command in ["show", "approve", "reject", "wrong"] {
        let out = sb.run(&["review", command, "99999999"]);
        assert_eq!(out.status.code(), Some(2), "review {command}");
    }
}

/// A record's status in the store and whether a change of it (merge candidates aside) is
/// still open, for the organisations job of a sandbox's SQLite store.
#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct StatusRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    record_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    open: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    failed: bool,
}

fn organisation_statuses(sb: &Sandbox) -> Vec<StatusRow> {
    use diesel::{sql_query, Connection, RunQueryDsl, SqliteConnection};
    let mut store =
        SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy()).unwrap();
    let change = |status: &str| {
        format!(
            "EXISTS (SELECT 1 FROM changes c WHERE c.job = s.job AND c.record_id = s.record_id \
             AND c.kind <> 'merge_candidate' AND c.status IN ({status}))"
        )
    };
    sql_query(format!(
        "SELECT s.record_id, s.status, {} AS open, {} AS failed FROM record_status s \
         WHERE s.job = 'organisations' ORDER BY 1",
        change("'proposed', 'approved', 'conflict', 'failed'"),
        change("'failed'"),
    ))
    .load(&mut store)
    .unwrap()
}

/// A pass stores a matched record's status as it stands once its approved changes are
/// written: `in_sync` exactly where no change of it stays open.
#[test]
fn a_matched_record_is_in_sync_exactly_where_no_change_of_it_stays_open() {
    let sb = Sandbox::new();
    let (_, report) = sb.pass_report("organisations");
    let c = &report["counts"];
    assert!(
        int(c, "changes_applied") > 0 && int(c, "in_sync") > 0,
        "{c}"
    );
    let rows = organisation_statuses(&sb);
    let wrong: Vec<&StatusRow> = rows
        .iter()
        .filter(|r| (r.status == "in_sync" && r.open) || (r.status == "different" && !r.open))
        .collect();
    assert_eq!(wrong, Vec::<&StatusRow>::new());
    assert!(rows.iter().any(|r| r.status == "different"));
}

/// Where the CRM refuses the writes, the record is left `different`, never `in_sync` with
/// its change unwritten.
#[test]
fn a_record_whose_approved_change_could_not_be_written_stays_different() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once", "--job", "contacts"]);
    sb.crm()
        .batch_execute(
            "CREATE TRIGGER read_only BEFORE UPDATE ON organisations \
             BEGIN SELECT RAISE(ABORT, 'read-only for this test'); END;",
        )
        .unwrap();
    let (_, report) = sb.pass_report("organisations");
    let c = &report["counts"];
    assert!(int(c, "changes_failed") > 0, "{c}");
    assert_eq!(int(c, "changes_applied"), 0, "{c}");
    assert_eq!(
        int(c, "in_sync") + int(c, "different"),
        int(c, "matched_auto") + int(c, "matched_review"),
        "{c}"
    );
    let rows = organisation_statuses(&sb);
    let of_failed: Vec<&StatusRow> = rows.iter().filter(|r| r.failed).collect();
    assert!(!of_failed.is_empty());
    // An inactive record keeps its status `inactive`.
    for row in &of_failed {
        assert!(
            ["different", "inactive"].contains(&row.status.as_str()),
            "{row:?}"
        );
    }
    assert!(of_failed.iter().any(|r| r.status == "different"));
    let in_sync_yet_open: Vec<&StatusRow> = rows
        .iter()
        .filter(|r| r.status == "in_sync" && r.open)
        .collect();
    assert_eq!(in_sync_yet_open, Vec::<&StatusRow>::new());
}
