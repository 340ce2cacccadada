//! Lawful data: consent per channel, erasure that stays erased, retention and access
//! requests — through the CLI, on SQLite and PostgreSQL.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;

use crate::common::{stderr, Sandbox, StoreKind};

const KEY: &str = "a-long-random-test-key-0123456789";

fn sandbox(kind: &StoreKind) -> Sandbox {
    kind.sandbox(|c| c).env("REFSYNC_PRIVACY_KEY", KEY)
}

fn verdict(show: &Value, channel: &str) -> (bool, String) {
    let v = show["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["channel"] == channel)
        .unwrap_or_else(|| panic!("no verdict for {channel}: {show}"));
    (
        v["allowed"].as_bool().unwrap(),
        v["reason"].as_str().unwrap().to_string(),
    )
}

fn changes_of(sb: &Sandbox, job: &str) -> Vec<Value> {
    sb.json(&["review", "list", "--all", "--job", job, "--limit", "100000"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn consent_verdicts_follow_records_and_records_are_append_only() {
    for kind in StoreKind::both() {
        let sb = sandbox(&kind);
        // Contact 4 belongs to an organisation: a business contact.
        let show = sb.json(&["consent", "show", "4"]);
        assert_eq!(show["audience"], "business", "{}", kind.name());
        assert!(verdict(&show, "letter").0);
        assert!(!verdict(&show, "phone").0);

        sb.ok(&[
            "consent",
            "record",
            "4",
            "--channel",
            "phone",
            "--status",
            "presumed",
            "--source",
            "trade fair 2026",
            "--at",
            "2026-01-05",
        ]);
        let (allowed, reason) = verdict(&sb.json(&["consent", "show", "4"]), "phone");
        assert!(allowed && reason.contains("presumed"), "{reason}");
        // A steward records the revocation: it wins from its timestamp on.
        sb.ok(&[
            "consent",
            "record",
            "4",
            "--channel",
            "phone",
            "--status",
            "opt_out",
            "--source",
            "call of 2026-02-01",
            "--at",
            "2026-02-01 09:30",
        ]);
        let show = sb.json(&["consent", "show", "4"]);
        let (allowed, reason) = verdict(&show, "phone");
        assert!(
            !allowed && reason.contains("revoked on 2026-02-01"),
            "{reason}"
        );
        assert_eq!(show["records"].as_array().unwrap().len(), 2);

        // Without its organisation the contact is a consumer: presumed consent never counts.
        sb.crm()
            .batch_execute("UPDATE contacts SET organisation_id = NULL WHERE id = 5")
            .unwrap();
        sb.ok(&[
            "consent",
            "record",
            "5",
            "--channel",
            "phone",
            "--status",
            "presumed",
            "--source",
            "guess",
        ]);
        let show = sb.json(&["consent", "show", "5"]);
        assert_eq!(show["audience"], "consumer");
        assert!(!verdict(&show, "phone").0);

        // Bad input is bad usage, named.
        let out = sb.run(&[
            "consent",
            "record",
            "5",
            "--channel",
            "email",
            "--status",
            "presumed",
            "--source",
            "x",
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("telephone to businesses"),
            "{}",
            stderr(&out)
        );
        let out = sb.run(&[
            "consent",
            "record",
            "5",
            "--channel",
            "mail",
            "--status",
            "opt_in",
        ]);
        assert_eq!(out.status.code(), Some(2));

        for sql in [
            "UPDATE consents SET status = 'opt_in'",
            "DELETE FROM consents",
        ] {
            let err = kind.exec(&sb, sql).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{}: {sql}: {err}", kind.name());
        }
        sb.ok(&["audit", "verify"]);
    }
}

#[test]
fn consent_import_keeps_good_rows_reports_broken_ones_and_exports_them() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path("consents.csv"),
        "Kontakt;Kanal;Status;Quelle;Datum;requested_at;confirmed_at;confirmed_text\n\
         1;email;opt_in;newsletter;2026-03-01 10:05;2026-03-01 10:00;2026-03-01 10:05;Ja, Newsletter\n\
         1;phone;opt_in;call;2026-03-02;;;\n\
         2;mail;opt_in;form;2026-03-03;;;\n\
         3;sms;opt_in;form;2026-03-03;;;;too;many\n\
         2;email;opt_in;form;2026-03-04;2026-03-04;;\n\
         2;letter;opt_out;letter;2026-03-05;;;\n",
    )
    .unwrap();
    let report = sb.json(&["consent", "import", "consents.csv"]);
    assert_eq!(report["rows"], 6);
    assert_eq!(report["recorded"], 3);
    let errors: Vec<(u64, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["problem"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [4, 5, 6]);
    assert!(errors[0].1.contains("`mail` is not one of"), "{errors:?}");
    assert!(errors[1].1.contains("expected 8 fields"), "{errors:?}");
    assert!(errors[2].1.contains("double opt-in"), "{errors:?}");

    let show = sb.json(&["consent", "show", "1"]);
    assert!(verdict(&show, "email").0, "double opt-in proof imported");
    assert!(verdict(&show, "phone").0);
    assert!(!verdict(&sb.json(&["consent", "show", "2"]), "letter").0);

    let export = sb.ok(&["consent", "export"]);
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 4, "{export}");
    assert!(lines[0].starts_with("contact_id,channel,status,source,given_at"));
    assert!(lines[1].contains("Ja, Newsletter"), "{export}");
    // The export reads back in.
    std::fs::write(sb.path("again.csv"), &export).unwrap();
    assert_eq!(sb.json(&["consent", "import", "again.csv"])["recorded"], 3);
}

#[test]
fn consent_comes_from_crm_columns_once_per_change() {
    let sb = Sandbox::with_config(|c| {
        c.replace(
            "[job.contacts.thresholds]",
            "consent_columns = { email = \"newsletter\", phone = \"call_ok\" }\n\n[job.contacts.thresholds]",
        )
    });
    sb.ok(&["consent", "show", "1"]); // creates the demo CRM
    sb.crm()
        .batch_execute(
            "ALTER TABLE contacts ADD COLUMN newsletter TEXT; \
             ALTER TABLE contacts ADD COLUMN call_ok TEXT; \
             UPDATE contacts SET newsletter = 'ja', call_ok = 'nein' WHERE id = 1; \
             UPDATE contacts SET newsletter = 'vielleicht' WHERE id = 2;",
        )
        .unwrap();
    let report = sb.json(&["consent", "import", "--from-crm"]);
    assert_eq!(report["rows"], 3, "{report}");
    assert_eq!(report["recorded"], 2, "{report}");
    let problem = report["errors"][0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("contact 2") && problem.contains("vielleicht"),
        "{problem}"
    );
    let show = sb.json(&["consent", "show", "1"]);
    let (allowed, reason) = verdict(&show, "email");
    assert!(
        !allowed && reason.contains("double opt-in"),
        "a CRM flag is no DOI proof: {reason}"
    );
    assert!(!verdict(&show, "phone").0);
    assert_eq!(show["records"][0]["source"], "CRM demo column call_ok");
    // A rerun adds nothing; a changed flag adds its record.
    assert_eq!(sb.json(&["consent", "import", "--from-crm"])["recorded"], 0);
    sb.crm()
        .batch_execute("UPDATE contacts SET newsletter = 'nein' WHERE id = 1")
        .unwrap();
    assert_eq!(sb.json(&["consent", "import", "--from-crm"])["recorded"], 1);

    let out = Sandbox::new().run(&["consent", "import", "--from-crm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("consent_columns"), "{}", stderr(&out));
}

/// The demo CRM's contact 1 and the values that identify him.
const EMAIL: &str = "bjoern.friedrich1@spedition-rosmannwer-0.de";
const FIRST: &str = "Björn";
/// His last name as a JSON value (`Friedrichbeck KG` is another firm's name).
const LAST_JSON: &str = "\"Friedrich\"";

#[test]
fn an_erased_contact_stays_erased_and_the_audit_chain_verifies() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = sandbox(&kind);
        sb.ok(&["run", "--once", "--job", "contacts"]);
        // Some history about contact 1: a change decided by a steward, consents.
        sb.crm()
            .batch_execute("UPDATE contacts SET role = 'Einkauf' WHERE id = 1")
            .unwrap();
        sb.ok(&[
            "consent",
            "record",
            "1",
            "--channel",
            "phone",
            "--status",
            "opt_in",
            "--source",
            "call",
            "--at",
            "2026-01-02",
        ]);
        sb.email_opt_in("1");
        sb.ok(&["run", "--once", "--job", "contacts"]);
        assert!(
            changes_of(&sb, "contacts")
                .iter()
                .any(|c| c["record_id"] == "1"),
            "{name}: refsync holds changes of contact 1 before the erasure"
        );

        let report = sb.json(&["erase", "1", "--job", "contacts"]);
        assert_eq!(report["crm_outcome"], "anonymised", "{name}: {report}");
        assert_eq!(report["consents_removed"], 1);
        assert_eq!(report["phone_proofs_kept"], 1);
        sb.ok(&["audit", "verify"]);

        // Nothing identifying is left in refsync's store, but the telephone proof.
        let audit = sb.ok(&["audit", "export", "--format", "json"]);
        assert!(
            !audit.contains(EMAIL) && !audit.contains(LAST_JSON),
            "{name}: {audit}"
        );
        assert!(audit.contains("[erased]"), "{name}");
        let changes = changes_of(&sb, "contacts");
        assert!(!changes.is_empty(), "{name}: other contacts' changes stay");
        assert!(changes.iter().all(|c| c["record_id"] != "1"));
        let out = sb.run(&[
            "consent",
            "record",
            "1",
            "--channel",
            "letter",
            "--status",
            "opt_in",
            "--source",
            "x",
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains("was erased"), "{}", stderr(&out));
        let show = sb.json(&["consent", "show", "1"]);
        assert_eq!(show["records"].as_array().unwrap().len(), 1);
        assert_eq!(show["records"][0]["channel"], "phone");
        let verdicts = show["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 5, "one verdict per channel: {show}");
        assert!(verdicts.iter().all(|v| v["allowed"] == false));
        // The kept proof cannot be deleted within its five years; nothing can be edited.
        for sql in [
            "DELETE FROM consents",
            "UPDATE audit_log SET new_value = 'forged'",
            "UPDATE audit_log SET new_value = 'forged', redacted = 'erased'",
        ] {
            let err = kind.exec(&sb, sql).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{name}: {sql}: {err}");
        }
        let crm_row: Pair =
            diesel::sql_query("SELECT email AS a, last_name AS b FROM contacts WHERE id = 1")
                .get_result(&mut sb.crm())
                .unwrap();
        assert_eq!(
            (crm_row.a, crm_row.b),
            (Some(String::new()), Some(String::new())),
            "{name}: anonymised in the CRM"
        );

        // The person comes back into the CRM under a new id: the next pass leaves them alone.
        sb.crm()
            .batch_execute(&format!(
                "INSERT INTO contacts (id, organisation_id, first_name, last_name, email) \
                 VALUES (9001, 1, '{FIRST}', 'Friedrich', '{}')",
                EMAIL.to_uppercase()
            ))
            .unwrap();
        let pass = sb.json(&["run", "--once", "--job", "contacts"]);
        assert!(
            pass[0]["counts"]["skipped"].as_i64().unwrap() >= 2,
            "{name}: {pass}"
        );
        for id in ["1", "9001"] {
            let detail = record_status_detail(&kind, &sb, id);
            assert!(detail.contains("\"suppressed\""), "{name}: {id}: {detail}");
        }
        let changes = changes_of(&sb, "contacts");
        assert!(!changes.is_empty(), "{name}: other contacts' changes stay");
        assert!(changes
            .iter()
            .all(|c| c["record_id"] != "1" && c["record_id"] != "9001"));

        // An imported list with the person: skipped, nothing proposed.
        std::fs::write(
            sb.path("leads.csv"),
            format!(
                "Vorname;Nachname;E-Mail\n{FIRST};Friedrich;{EMAIL}\nErika;Neu;erika@example.org\n"
            ),
        )
        .unwrap();
        let import = sb.json(&["import", "leads.csv", "--job", "contacts"]);
        assert_eq!(import["suppressed"], 1, "{name}: {import}");
        assert_eq!(import["rows"], 1);
        let pass = import["pass_id"].to_string();
        let proposals = sb.ok(&[
            "review", "list", "--all", "--pass", &pass, "--format", "json",
        ]);
        assert!(
            !proposals.contains(LAST_JSON) && proposals.contains("Erika"),
            "{name}"
        );
        sb.ok(&["audit", "verify"]);

        // Five years after the erasure the telephone proof goes too (UWG §7a).
        assert_eq!(sb.json(&["retention", "run"])["phone_proofs_removed"], 0);
        kind.exec(
            &sb,
            "UPDATE erasures SET erased_at = erased_at - INTERVAL '1827 days'",
        )
        .or_else(|_| {
            kind.exec(
                &sb,
                "UPDATE erasures SET erased_at = datetime(erased_at, '-1827 days')",
            )
        })
        .unwrap();
        assert_eq!(
            sb.json(&["retention", "run"])["phone_proofs_removed"],
            1,
            "{name}"
        );
        assert!(sb.json(&["consent", "show", "1"])["records"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}

#[test]
fn erasing_a_contact_removes_the_merges_and_clusters_that_hold_his_values() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = kind
            .sandbox(|c| {
                c + "\n[job.contacts.duplicates]\nenabled = true\nthreshold = 0.8\n\
                         deactivate = { column = \"active\", value = \"0\" }\n"
            })
            .env("REFSYNC_PRIVACY_KEY", KEY);
        // The first command creates the demo CRM; its contacts get a column to deactivate.
        sb.ok(&["report", "--job", "contacts", "--format", "json"]);
        sb.crm()
            .batch_execute("ALTER TABLE contacts ADD COLUMN active TEXT NOT NULL DEFAULT '1'")
            .unwrap();
        sb.ok(&["run", "--once", "--job", "contacts"]);
        // Contact 1 entered a second time: a cluster of two, a merge with his values.
        sb.crm()
            .batch_execute(
                "INSERT INTO contacts (organisation_id, salutation, title, first_name, last_name, role, email, phone) \
                 SELECT organisation_id, salutation, title, first_name, last_name, role, email, phone \
                 FROM contacts WHERE id = 1",
            )
            .unwrap();
        sb.ok(&["run", "--once", "--job", "contacts"]);
        let holds_him = |merge: &Value| merge["members"].as_array().unwrap().contains(&"1".into());
        let before = sb.json(&["duplicates", "list", "--all"]);
        let before = before.as_array().unwrap();
        let his = before.iter().filter(|m| holds_him(m)).count();
        assert!(
            his >= 1,
            "{name}: a merge of contact 1 and his copy: {before:?}"
        );
        assert!(
            before
                .iter()
                .any(|m| holds_him(m) && m.to_string().contains(EMAIL)),
            "{name}: the golden record carries his e-mail"
        );

        // The duplicates stage keeps a digest of his values: a row for him exists until
        // the erasure, so another can be stored only after it.
        let digest_row =
            "INSERT INTO duplicate_seen (job, record_id, digest) VALUES ('contacts', '1', 'x')";
        assert!(
            kind.exec(&sb, digest_row).is_err(),
            "{name}: no digest kept"
        );

        let report = sb.json(&["erase", "1", "--job", "contacts"]);
        assert_eq!(report["purged"]["merges"], his, "{name}: {report}");
        kind.exec(&sb, digest_row)
            .unwrap_or_else(|e| panic!("{name}: the digest of his values stayed: {e}"));
        assert!(
            report["purged"]["duplicates"].as_u64().unwrap() >= 1,
            "{name}: his place in the cluster: {report}"
        );
        let after = sb.json(&["duplicates", "list", "--all"]);
        let after = after.as_array().unwrap();
        assert_eq!(after.len(), before.len() - his, "{name}: other merges stay");
        assert!(!after.iter().any(holds_him), "{name}");
        assert!(
            !after.iter().any(|m| m.to_string().contains(EMAIL)),
            "{name}"
        );
        sb.ok(&["audit", "verify"]);
    }
}

#[test]
fn audit_verify_finds_values_swapped_under_a_redaction_mark() {
    let kind = StoreKind::Sqlite;
    let sb = sandbox(&kind);
    sb.ok(&[
        "consent",
        "record",
        "1",
        "--channel",
        "sms",
        "--status",
        "opt_in",
        "--source",
        "form",
    ]);
    // Pretend the entry was redacted by retention: no retention run stands behind the mark.
    kind.exec(
        &sb,
        "DROP TRIGGER audit_log_no_update; \
         UPDATE audit_log SET new_value = 'pseudonym:forged-opt-out', redacted = 'retention'",
    )
    .unwrap();
    let out = sb.run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FORGED: marked `retention`"), "{text}");
    // A value that is no pseudonym under the mark: the entry no longer matches its hash.
    kind.exec(
        &sb,
        "UPDATE audit_log SET new_value = 'opt_out', redacted = 'retention'",
    )
    .unwrap();
    let out = sb.run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("BROKEN") && text.contains("edited"), "{text}");
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    a: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    b: Option<String>,
}

fn record_status_detail(kind: &StoreKind, sb: &Sandbox, id: &str) -> String {
    let sql = format!(
        "SELECT status AS a, detail AS b FROM record_status WHERE job = 'contacts' AND record_id = '{id}'"
    );
    let row: Pair = match kind {
        StoreKind::Sqlite => {
            diesel::SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy())
                .unwrap()
                .transaction(|c| diesel::sql_query(&sql).get_result(c))
                .unwrap()
        }
        StoreKind::Postgres(db) => db
            .connect()
            .transaction(|c| diesel::sql_query(&sql).get_result(c))
            .unwrap(),
    };
    format!(
        "{} {}",
        row.a.unwrap_or_default(),
        row.b.unwrap_or_default()
    )
}

#[test]
fn erasure_needs_a_key_and_a_contact_job() {
    let sb = Sandbox::new();
    let out = sb.run(&["erase", "1", "--job", "contacts"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("REFSYNC_PRIVACY_KEY"),
        "{}",
        stderr(&out)
    );
    let sb = sb.env("REFSYNC_PRIVACY_KEY", KEY);
    let out = sb.run(&["erase", "1", "--job", "organisations"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("contact job"), "{}", stderr(&out));
    let short = Sandbox::new().env("REFSYNC_PRIVACY_KEY", "short");
    let out = short.run(&["erase", "1", "--job", "contacts"]);
    assert!(
        stderr(&out).contains("shorter than 16 bytes"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn subject_access_lists_what_refsync_holds_as_json_and_escaped_html() {
    let sb = sandbox(&StoreKind::Sqlite);
    sb.ok(&["run", "--once", "--job", "contacts"]);
    sb.crm()
        .batch_execute("UPDATE contacts SET role = '<script>alert(1)</script>' WHERE id = 1")
        .unwrap();
    sb.ok(&["run", "--once", "--job", "contacts"]);
    sb.ok(&[
        "consent",
        "record",
        "1",
        "--channel",
        "email",
        "--status",
        "opt_out",
        "--source",
        "unsubscribe link",
    ]);
    let doc: Value = serde_json::from_str(&sb.ok(&[
        "subject-access",
        "1",
        "--job",
        "contacts",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(doc["contact_id"], "1");
    assert_eq!(doc["crm_values"]["email"], EMAIL);
    assert_eq!(doc["consent"]["verdicts"].as_array().unwrap().len(), 5);
    assert_eq!(doc["consent"]["records"][0]["source"], "unsubscribe link");
    assert!(doc["status"]["status"].is_string(), "{doc}");
    assert!(!doc["changes"].as_array().unwrap().is_empty(), "{doc}");
    assert!(doc["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "consent_recorded"));
    let sources = doc["sources"].as_array().unwrap();
    assert!(
        sources.iter().any(|s| s == "unsubscribe link"),
        "{sources:?}"
    );

    let html = sb.ok(&[
        "subject-access",
        "1",
        "--job",
        "contacts",
        "--format",
        "html",
    ]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(EMAIL) && html.contains("Verdict per channel"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"), "markup in values is escaped");
}

#[test]
fn retention_pseudonymises_old_values_and_the_chain_still_verifies() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = kind
            .sandbox(|c| c.replace("# retention_days = 730", "retention_days = 30"))
            .env("REFSYNC_PRIVACY_KEY", KEY);
        sb.ok(&["run", "--once", "--job", "contacts"]);
        // Changes and audit entries from 40 days ago: written through the library, as the
        // audit chain hashes the time and the store refuses to change it afterwards.
        let url = match &kind {
            StoreKind::Sqlite => format!("sqlite://{}", sb.path("var/refsync.db").display()),
            StoreKind::Postgres(db) => db.url.clone(),
        };
        let (mut conn, _) = refsync::db::connect(
            &refsync::config::DbUrl::new(&url),
            refsync::db::Missing::Refuse,
        )
        .unwrap();
        let old = refsync::store::now() - chrono::Duration::days(40);
        for value in ["Anna Alt", "Bernd Alt"] {
            refsync::store::audit::append(
                &mut conn,
                &sb.seal().key,
                &refsync::store::audit::NewAudit {
                    at: old,
                    actor: "anna".into(),
                    action: refsync::store::audit::AuditAction::Approved,
                    job: "contacts".into(),
                    pass_id: None,
                    change_id: None,
                    entity: "contact".into(),
                    record_id: "2".into(),
                    field: Some("last_name".into()),
                    old_value: Some(value.into()),
                    new_value: Some("Neu".into()),
                    source: None,
                    score: None,
                    detail: None,
                },
            )
            .unwrap();
        }
        kind.exec(
            &sb,
            "UPDATE changes SET created_at = created_at - INTERVAL '40 days' WHERE status = 'applied'",
        )
        .or_else(|_| {
            kind.exec(
                &sb,
                "UPDATE changes SET created_at = datetime(created_at, '-40 days') WHERE status = 'applied'",
            )
        })
        .unwrap();
        let applied_before: Vec<Value> = changes_of(&sb, "contacts")
            .into_iter()
            .filter(|c| c["status"] == "applied")
            .collect();
        assert!(!applied_before.is_empty(), "{name}");

        let report = sb.json(&["retention", "run"]);
        assert_eq!(report["audit_entries_pseudonymised"], 2, "{name}: {report}");
        assert_eq!(
            report["changes_pseudonymised"].as_u64().unwrap() as usize,
            applied_before.len()
        );
        sb.ok(&["audit", "verify"]);
        let audit = sb.ok(&["audit", "export", "--format", "json"]);
        assert!(
            !audit.contains("Anna Alt") && !audit.contains("Bernd Alt"),
            "{name}"
        );
        let entries: Vec<Value> = serde_json::from_str(&audit).unwrap();
        let pseudonyms: Vec<&str> = entries
            .iter()
            .filter(|e| e["redacted"] == "retention")
            .map(|e| e["old_value"].as_str().unwrap())
            .collect();
        assert_eq!(pseudonyms.len(), 2);
        assert_ne!(
            pseudonyms[0], pseudonyms[1],
            "different values, different pseudonyms"
        );
        assert!(pseudonyms[0].starts_with("pseudonym:"));
        let applied_after: Vec<Value> = changes_of(&sb, "contacts")
            .into_iter()
            .filter(|c| c["status"] == "applied")
            .collect();
        assert_eq!(
            applied_after.len(),
            applied_before.len(),
            "pseudonymised, not deleted"
        );
        for c in &applied_after {
            assert!(
                c["new_value"].as_str().unwrap().starts_with("pseudonym:"),
                "{c}"
            );
        }
        // Newer values stay; a second run finds nothing more to do.
        let again = sb.json(&["retention", "run"]);
        assert_eq!(again["audit_entries_pseudonymised"], 0);
        assert_eq!(again["changes_pseudonymised"], 0);
        // A pseudonymised change cannot be reverted into the CRM.
        let id = applied_before[0]["id"].to_string();
        let out = sb.run(&["revert", "--change", &id]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains("retention"), "{}", stderr(&out));
    }
}

#[test]
fn contact_enrichment_takes_only_the_allowed_fields() {
    // Names alone cannot tell the demo's namesakes apart; the e-mail makes the matches.
    let without_phone = "enrich_fields = [\"first_name\", \"last_name\", \"email\"]";
    let sb = Sandbox::with_config(|c| {
        c.replace(
            "enrich_fields = [\"salutation\", \"title\", \"first_name\", \"last_name\", \"role\", \"email\", \"phone\"]",
            without_phone,
        )
        .replace("salutation = \"fill_empty\"\ntitle = \"fill_empty\"\n", "")
        .replace("role = \"propose\"\nemail = \"fill_empty\"\nphone = \"fill_empty\"\n", "email = \"fill_empty\"\n")
    });
    let full = Sandbox::new();
    for s in [&sb, &full] {
        s.ok(&["run", "--once", "--job", "contacts"]);
    }
    let fields = |s: &Sandbox| -> std::collections::BTreeSet<String> {
        changes_of(s, "contacts")
            .iter()
            .filter(|c| c["kind"] == "field")
            .map(|c| c["field"].as_str().unwrap().to_string())
            .collect()
    };
    let all = fields(&full);
    assert!(all.contains("phone"), "{all:?}");
    let minimal = fields(&sb);
    assert!(!minimal.is_empty());
    assert!(
        minimal
            .iter()
            .all(|f| f == "first_name" || f == "last_name" || f == "email"),
        "{minimal:?}"
    );
    // Nothing outside the list is kept from the register either: no register phone number
    // in the stored comparisons.
    fn register_phone(v: &Value) -> bool {
        match v {
            Value::Object(o) => {
                (o.get("field") == Some(&Value::from("phone"))
                    && o.get("register").is_some_and(|r| !r.is_null()))
                    || o.values().any(register_phone)
            }
            Value::Array(a) => a.iter().any(register_phone),
            _ => false,
        }
    }
    let compared = |s: &Sandbox| {
        let url = s.path("var/refsync.db");
        let rows: Vec<Pair> =
            diesel::sql_query("SELECT status AS a, detail AS b FROM record_status")
                .load(&mut diesel::SqliteConnection::establish(&url.to_string_lossy()).unwrap())
                .unwrap();
        rows.into_iter().any(|r| {
            register_phone(&serde_json::from_str(&r.b.unwrap_or_default()).unwrap_or_default())
        })
    };
    assert!(compared(&full));
    assert!(!compared(&sb), "no phone comparison stored");

    let bad = Sandbox::with_config(|c| {
        c.replace(
            "enrich_fields = [\"salutation\", \"title\", \"first_name\", \"last_name\", \"role\", \"email\", \"phone\"]",
            without_phone,
        )
    });
    let out = bad.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("job.contacts.fields.") && err.contains("enrich_fields"),
        "{err}"
    );
}
