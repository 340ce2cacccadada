//! Corrections stewards can trust, on SQLite and PostgreSQL: policies, human-edit
//! protection, reconciliation after a crash, revert, "wrong for this record", duplicates,
//! inactive register records, and a tamper-evident audit log.

use diesel::sql_types::{Nullable, Text};
use diesel::{sql_query, QueryableByName, RunQueryDsl};
use serde_json::Value;

use crate::common::{Sandbox, StoreKind};

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

fn crm_value(sb: &Sandbox, column: &str, id: &str) -> Option<String> {
    let row: Cell = sql_query(format!(
        "SELECT CAST({column} AS TEXT) AS v FROM organisations WHERE id = {id}"
    ))
    .get_result(&mut sb.crm())
    .unwrap();
    row.v
}

fn set_crm(sb: &Sandbox, column: &str, id: &str, value: &str) {
    sql_query(format!(
        "UPDATE organisations SET {column} = '{value}', updated_by = 'anna' WHERE id = {id}"
    ))
    .execute(&mut sb.crm())
    .unwrap();
}

fn changes(sb: &Sandbox, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["review", "list", "--limit", "100000"];
    full.extend(args);
    sb.json(&full).as_array().unwrap().clone()
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// Street changes are applied (overwrite) so that provenance and revert have material.
fn overwrite_streets(c: String) -> String {
    c.replace("street = \"propose\"", "street = \"overwrite\"")
}

#[test]
fn policies_decide_what_is_applied_and_what_is_proposed() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| {
            overwrite_streets(c).replace("website = \"fill_empty\"", "website = \"ignore\"")
        });
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let all = changes(&sb, &["--all", "--job", "organisations"]);
        let of = |field: &str| {
            all.iter()
                .filter(|c| c["field"] == field && c["kind"] == "field")
                .collect::<Vec<_>>()
        };
        let label = store.name();

        // fill_empty: only ever into empty fields, applied in the auto band.
        assert!(!of("vat_id").is_empty(), "{label}");
        for c in of("vat_id") {
            assert!(
                c["old_value"].is_null() || c["old_value"] == "",
                "{label}: {c}"
            );
        }
        assert!(
            of("vat_id").iter().any(|c| c["status"] == "applied"),
            "{label}"
        );
        // propose: never applied without a steward.
        assert!(
            of("legal_name").iter().all(|c| c["status"] == "proposed"),
            "{label}"
        );
        // overwrite: applied where the match is in the auto band.
        assert!(
            of("street")
                .iter()
                .any(|c| c["status"] == "applied" && !c["old_value"].is_null()),
            "{label}"
        );
        // ignore: nothing at all.
        assert!(of("website").is_empty(), "{label}");
        // overwrite_placeholder: "k.A." replaced, real values left alone.
        let cities = of("city");
        assert!(
            cities
                .iter()
                .any(|c| c["old_value"] == "k.A." && c["status"] == "applied"),
            "{label}: {cities:?}"
        );
        assert!(
            cities
                .iter()
                .all(|c| c["old_value"] == "k.A." || c["old_value"].is_null()),
            "{label}"
        );
        // min_probability = 0.95 on legal_form: weaker matches wait for review.
        for c in of("legal_form") {
            let below = c["score"].as_f64().unwrap() < 0.95;
            assert_eq!(c["status"] == "proposed", below, "{label}: {c}");
        }
    }
}

#[test]
fn a_field_a_person_edited_after_refsync_wrote_it_is_never_overwritten() {
    for store in StoreKind::both() {
        let sb = store.sandbox(overwrite_streets);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let applied = changes(&sb, &["--status", "applied", "--field", "street"]);
        let record = str_of(&applied[0]["record_id"]);
        set_crm(&sb, "street", &record, "Handweg");
        sb.ok(&["run", "--once", "--job", "organisations"]);

        assert_eq!(
            crm_value(&sb, "street", &record).as_deref(),
            Some("Handweg"),
            "{}",
            store.name()
        );
        let held = changes(&sb, &["--record", &record, "--field", "street"]);
        assert_eq!(held.len(), 1, "{}: {held:?}", store.name());
        let reason = held[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("edited in CRM since refsync wrote it") && reason.contains("anna"),
            "{reason}"
        );
        // The steward can still decide for the register value.
        sb.ok(&["review", "approve", &str_of(&held[0]["id"])]);
        sb.ok(&["review", "apply"]);
        assert_eq!(
            crm_value(&sb, "street", &record),
            applied[0]["new_value"].as_str().map(str::to_string)
        );
    }
}

#[test]
fn an_apply_cut_short_is_reconciled_on_the_next_start() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| c);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let proposed = changes(&sb, &["--field", "street"]);
        let (written, unwritten) = (&proposed[0], &proposed[1]);
        sb.ok(&[
            "review",
            "approve",
            &str_of(&written["id"]),
            &str_of(&unwritten["id"]),
        ]);
        // A crash: both were marked as applying; only the first reached the CRM.
        store
            .exec(
                &sb,
                &format!(
                    "UPDATE changes SET applying_since = CURRENT_TIMESTAMP WHERE id IN ({}, {})",
                    written["id"], unwritten["id"]
                ),
            )
            .unwrap();
        set_crm(
            &sb,
            "street",
            &str_of(&written["record_id"]),
            written["new_value"].as_str().unwrap(),
        );

        sb.ok(&["run", "--once", "--job", "organisations"]);
        for c in [written, unwritten] {
            let shown = sb.json(&["review", "show", &str_of(&c["id"])]);
            assert_eq!(
                shown["change"]["status"],
                "applied",
                "{}: {shown}",
                store.name()
            );
            assert!(shown["change"]["applying_since"].is_null());
            assert_eq!(
                crm_value(&sb, "street", &str_of(&c["record_id"])),
                c["new_value"].as_str().map(str::to_string)
            );
            let audit = sb.json(&["audit", "list", "--change", &str_of(&c["id"])]);
            assert!(
                audit[0]["detail"].as_str().unwrap().contains("reconciled"),
                "{audit}"
            );
        }
        // Applying is idempotent: nothing is left to apply.
        assert!(sb.ok(&["review", "apply"]).contains("no approved changes"));
    }
}

/// A pass takes the ids of the changes it stores before inserting them and applies them as
/// it inserted them, without reading them back: each id must still name the change that was
/// written, in the CRM, the audit log and later changes alike.
#[test]
fn every_applied_change_is_the_one_its_id_names_in_the_crm_and_the_audit_log() {
    for store in StoreKind::both() {
        let sb = store.sandbox(overwrite_streets);
        let label = store.name();
        let report = sb.json(&["run", "--once", "--job", "organisations"]);
        let pass = report[0]["pass_id"].to_string();
        let applied = changes(&sb, &["--status", "applied", "--pass", &pass]);
        let streets: Vec<&Value> = applied.iter().filter(|c| c["field"] == "street").collect();
        assert!(streets.len() > 3, "{label}: too few street changes to tell");
        for c in &streets {
            let id = str_of(&c["id"]);
            assert_eq!(
                crm_value(&sb, "street", &str_of(&c["record_id"])),
                c["new_value"].as_str().map(str::to_string),
                "{label}: {c}"
            );
            let audit = sb.json(&["audit", "list", "--change", &id]);
            let entry = &audit.as_array().unwrap()[0];
            assert_eq!(entry["action"], "applied", "{label}: {audit}");
            for key in ["record_id", "field", "old_value", "new_value"] {
                assert_eq!(entry[key], c[key], "{label}: {key} of {id}: {audit}");
            }
        }
        // A change made later gets an id after the ones the pass took.
        let last = applied
            .iter()
            .filter_map(|c| c["id"].as_i64())
            .max()
            .unwrap();
        sb.ok(&["revert", "--change", &str_of(&streets[0]["id"])]);
        let reverts = changes(&sb, &["--field", "street", "--status", "applied"]);
        let revert = reverts
            .iter()
            .filter_map(|c| c["id"].as_i64())
            .max()
            .unwrap();
        assert!(revert > last, "{label}: revert {revert} after {last}");
        assert!(sb.ok(&["audit", "verify"]).contains("intact"), "{label}");
    }
}

/// A change whose CRM write is under way is settled by its apply; a verdict in between
/// would be overwritten by it, so it is refused with the reason.
#[test]
fn a_change_being_written_to_the_crm_takes_no_verdict_until_it_is_settled() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| c);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let proposed = changes(&sb, &["--field", "street"]);
        let id = str_of(&proposed[0]["id"]);
        sb.ok(&["review", "approve", &id]);
        store
            .exec(
                &sb,
                &format!("UPDATE changes SET applying_since = CURRENT_TIMESTAMP WHERE id = {id}"),
            )
            .unwrap();
        let refused = sb.run(&["review", "reject", &id]);
        let said = String::from_utf8_lossy(&refused.stdout);
        assert_eq!(refused.status.code(), Some(1), "{}: {said}", store.name());
        assert!(said.contains("being written to the CRM"), "{said}");
        let shown = sb.json(&["review", "show", &id]);
        assert_eq!(shown["change"]["status"], "approved", "{shown}");
    }
}

#[test]
fn revert_restores_one_change_or_a_whole_pass_and_reports_conflicts() {
    for store in StoreKind::both() {
        let sb = store.sandbox(overwrite_streets);
        let report = sb.json(&["run", "--once", "--job", "organisations"]);
        let pass = report[0]["pass_id"].to_string();
        let applied = changes(&sb, &["--status", "applied", "--pass", &pass]);
        let label = store.name();

        // One change.
        let one = applied.iter().find(|c| c["field"] == "street").unwrap();
        let record = str_of(&one["record_id"]);
        sb.ok(&["revert", "--change", &str_of(&one["id"])]);
        assert_eq!(
            crm_value(&sb, "street", &record),
            one["old_value"].as_str().map(str::to_string),
            "{label}"
        );
        assert_eq!(
            sb.json(&["review", "show", &str_of(&one["id"])])["change"]["status"],
            "reverted"
        );
        let refused = sb.run(&["revert", "--change", &str_of(&one["id"])]);
        assert_eq!(refused.status.code(), Some(2), "{label}: reverting twice");

        // The next pass does not undo the undo.
        let next = sb.json(&["run", "--once", "--job", "organisations"]);
        assert_eq!(next[0]["counts"]["changes_applied"], 0, "{label}");
        assert_eq!(
            crm_value(&sb, "street", &record),
            one["old_value"].as_str().map(str::to_string)
        );

        // The whole pass, with one value edited by a person since: that one conflicts.
        let edited = applied.iter().find(|c| c["field"] == "vat_id").unwrap();
        set_crm(&sb, "vat_id", &str_of(&edited["record_id"]), "DE999999999");
        let out = sb.json(&["revert", "--pass", &pass]);
        let remaining = applied.len() as i64 - 1;
        assert_eq!(out["counts"]["conflicts"], 1, "{label}: {out}");
        assert_eq!(
            out["counts"]["applied"].as_i64().unwrap(),
            remaining - 1,
            "{label}: {out}"
        );
        assert_eq!(
            crm_value(&sb, "vat_id", &str_of(&edited["record_id"])).as_deref(),
            Some("DE999999999")
        );
        for c in applied.iter().filter(|c| c["id"] != edited["id"]) {
            let column = match c["field"].as_str().unwrap() {
                "house_number" => "house_no",
                "register_number" => "register_no",
                "industry_code" => "industry",
                "postcode" => "zip",
                other => other,
            };
            let table_value = match c["entity"].as_str() {
                Some("organisation") => crm_value(&sb, column, &str_of(&c["record_id"])),
                _ => continue,
            };
            assert_eq!(
                table_value,
                c["old_value"].as_str().map(str::to_string),
                "{label}: {c}"
            );
        }
        let verify = sb.ok(&["audit", "verify"]);
        assert!(verify.contains("intact"), "{label}: {verify}");
    }
}

#[test]
fn a_register_value_marked_wrong_is_never_proposed_again() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| c);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let street = &changes(&sb, &["--field", "street"])[0];
        let (id, record) = (str_of(&street["id"]), str_of(&street["record_id"]));
        sb.ok(&["review", "wrong", &id]);
        // Even after the CRM value changes, the same register value is not proposed again.
        set_crm(&sb, "street", &record, "Nebenweg");
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let open = changes(&sb, &["--record", &record, "--field", "street"]);
        assert!(open.is_empty(), "{}: {open:?}", store.name());
        let shown = sb.json(&["review", "show", &id]);
        assert_eq!(
            shown["explanation"]["fields"]["street"]["state"], "flagged_wrong",
            "{shown}"
        );
        let audit = sb.json(&["audit", "list", "--change", &id]);
        assert_eq!(audit[0]["action"], "flagged_wrong");

        // A plain rejection holds while the CRM value stays, and lapses when it changes.
        // A record matched by an identifier, so it stays matched when its name changes.
        let names = changes(&sb, &["--field", "legal_name"]);
        let other = names
            .iter()
            .find(|c| {
                ["vat_id=A", "lei=A", "register=A"]
                    .iter()
                    .any(|g| c["reason"].as_str().unwrap().contains(g))
            })
            .expect("a name proposal on an identifier match");
        let other_record = str_of(&other["record_id"]);
        sb.ok(&["review", "reject", &str_of(&other["id"])]);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        assert!(changes(&sb, &["--record", &other_record, "--field", "legal_name"]).is_empty());
        let renamed = format!("{} Holding", other["old_value"].as_str().unwrap()).replace('\'', "");
        set_crm(&sb, "name", &other_record, &renamed);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        assert_eq!(
            changes(&sb, &["--record", &other_record, "--field", "legal_name"]).len(),
            1
        );
    }
}

#[test]
fn duplicates_and_dissolved_companies_become_proposals_never_actions() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| c);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let all = changes(&sb, &["--all", "--job", "organisations"]);
        let label = store.name();

        let merges: Vec<&Value> = all
            .iter()
            .filter(|c| c["kind"] == "merge_candidate")
            .collect();
        assert!(merges.len() >= 2, "{label}: the demo has duplicates");
        for m in &merges {
            assert_eq!(m["status"], "proposed");
            let partner = m["new_value"]
                .as_str()
                .unwrap()
                .trim_start_matches("duplicate of ")
                .to_string();
            assert!(
                merges.iter().any(|o| o["record_id"] == partner.as_str()),
                "{label}: {partner} lacks its own merge_candidate"
            );
        }
        let deactivations: Vec<&Value> = all.iter().filter(|c| c["kind"] == "deactivate").collect();
        assert!(!deactivations.is_empty(), "{label}");
        for d in deactivations {
            assert_eq!(d["status"], "proposed", "{label}: {d}");
            assert_eq!(d["new_value"], "inactive");
            assert_eq!(
                crm_value(&sb, "status", &str_of(&d["record_id"])).as_deref(),
                Some("active")
            );
        }
        // Rerun: the same proposals, nothing new.
        let again = sb.json(&["run", "--once", "--job", "organisations"]);
        assert_eq!(again[0]["counts"]["changes_proposed"], 0, "{label}");
    }
}

#[test]
fn the_audit_log_exports_and_detects_tampering() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| c);
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let label = store.name();
        assert!(sb.ok(&["audit", "verify"]).contains("intact"), "{label}");

        let csv = sb.ok(&["audit", "export", "--format", "csv"]);
        let header = csv.lines().next().unwrap();
        for column in [
            "id",
            "at",
            "actor",
            "action",
            "old_value",
            "new_value",
            "hash",
            "prev_hash",
        ] {
            assert!(header.split(',').any(|h| h == column), "{label}: {header}");
        }
        let json = sb.ok(&["audit", "export", "--format", "json"]);
        let entries: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(entries.len(), csv.lines().count() - 1, "{label}");
        assert!(
            entries
                .windows(2)
                .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()),
            "oldest first"
        );
        sb.ok(&["audit", "export", "--format", "json", "--out", "audit.json"]);
        assert!(sb.path("audit.json").exists());

        // Someone with database access edits one entry, bypassing the append-only trigger.
        let victim = entries[entries.len() / 2]["id"].to_string();
        let tamper = match store {
            StoreKind::Sqlite => format!(
                "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET new_value = 'forged' WHERE id = {victim};"
            ),
            StoreKind::Postgres(_) => format!(
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; UPDATE audit_log SET new_value = 'forged' WHERE id = {victim};"
            ),
        };
        store.exec(&sb, &tamper).unwrap();
        let out = sb.run(&["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1), "{label}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("entry {victim}")) && text.contains("edited"),
            "{label}: {text}"
        );
    }
}

#[test]
fn free_text_is_mapped_onto_controlled_lists_as_proposals() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| c);
        sb.ok(&["run", "--once"]);
        let label = store.name();
        let picklists: Vec<Value> = changes(&sb, &["--all"])
            .into_iter()
            .filter(|c| c["kind"] == "picklist")
            .collect();
        let find = |field: &str, from: &str| {
            picklists
                .iter()
                .find(|c| c["field"] == field && c["old_value"] == from)
                .unwrap_or_else(|| panic!("{label}: no {field} mapping from {from:?}"))
                .clone()
        };
        assert_eq!(find("country", "Deutschland")["new_value"], "DE");
        assert_eq!(find("salutation", "Hr.")["new_value"], "Herr");
        // A trade word where a WZ code belongs: corrected from the register where the company
        // is matched (the code is invalid), else mapped through the code list.
        let industry = changes(&sb, &["--all", "--field", "industry_code"])
            .into_iter()
            .find(|c| c["old_value"] == "Steuerberatung" && c["status"] == "proposed")
            .unwrap_or_else(|| panic!("{label}: no industry_code proposal for Steuerberatung"));
        assert_eq!(industry["new_value"], "69.20");
        assert!(
            picklists.iter().all(|c| c["status"] == "proposed"),
            "{label}: never applied unasked"
        );

        sb.ok(&["review", "approve", &str_of(&industry["id"])]);
        sb.ok(&["review", "apply"]);
        assert_eq!(
            crm_value(&sb, "industry", &str_of(&industry["record_id"])).as_deref(),
            Some("69.20")
        );
        let again = sb.json(&["run", "--once"]);
        for report in again.as_array().unwrap() {
            assert_eq!(report["counts"]["changes_proposed"], 0, "{label}: {report}");
        }
    }
}
