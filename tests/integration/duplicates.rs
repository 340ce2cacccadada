//! Duplicates inside the CRM through a job's pass: clusters with ids that stay, one merge
//! proposal per new or changed cluster, and stewards' decisions, on both stores.

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection;
use serde_json::Value;

use crate::common::{stderr, Sandbox, StoreKind};

pub(crate) fn enabled(config: String) -> String {
    config.replace("enabled = false\nthreshold", "enabled = true\nthreshold")
}

/// One pass of the organisations job; what its duplicates stage found.
fn pass(sb: &Sandbox) -> Value {
    let (out, report) = sb.pass_report("organisations");
    assert!(out.status.success(), "{}", stderr(&out));
    report["duplicates"].clone()
}

fn merges(sb: &Sandbox) -> Vec<Value> {
    sb.json(&["duplicates", "list", "--all"])
        .as_array()
        .unwrap()
        .clone()
}

fn members(merge: &Value) -> BTreeSet<String> {
    merge["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

/// Copies organisation `id` of the demo CRM as a new record; returns the new id.
fn plant_copy(sb: &Sandbox, id: &str) -> String {
    let columns = "name, legal_form, street, house_no, zip, city, country, vat_id, lei, \
                   register_court, register_no, website, phone, email, industry, status";
    sb.crm()
        .batch_execute(&format!(
            "INSERT INTO organisations ({columns}) SELECT {columns} FROM organisations WHERE id = {id}"
        ))
        .unwrap();
    let all = sb.crm_ids();
    all.last().unwrap().to_string()
}

/// A CRM organisation in none of `merges`' clusters.
fn unclustered(sb: &Sandbox, merges: &[Value]) -> String {
    let clustered: BTreeSet<String> = merges.iter().flat_map(members).collect();
    sb.crm_ids()
        .into_iter()
        .map(|id| id.to_string())
        .find(|id| !clustered.contains(id))
        .unwrap()
}

impl Sandbox {
    fn crm_ids(&self) -> Vec<i64> {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        diesel::sql_query("SELECT id FROM organisations ORDER BY id")
            .load::<Id>(&mut self.crm())
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    }
}

#[test]
fn a_pass_clusters_the_crms_duplicates_keeps_their_ids_and_proposes_each_merge_once() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = kind.sandbox(enabled);
        let found = pass(&sb);
        let first = merges(&sb);
        assert!(
            !first.is_empty(),
            "{name}: the demo CRM's planted duplicates were not found"
        );
        assert_eq!(
            (&found["clusters"], &found["proposed"]),
            (&Value::from(first.len()), &Value::from(first.len())),
            "{name}: {found}"
        );
        let records = sb.crm_ids().len();
        assert_eq!(
            found["compared"], records,
            "{name}: the first pass compares all"
        );
        for m in &first {
            assert_eq!(m["status"], "proposed", "{name}: {m}");
            let survivor = m["golden"]["survivor"].as_str().unwrap();
            assert!(members(m).contains(survivor), "{name}: {m}");
            assert!(members(m).len() >= 2, "{name}: {m}");
        }

        // Nothing changed: the same clusters under the same ids, nothing proposed again,
        // nothing compared again.
        let again = pass(&sb);
        assert_eq!(
            (&again["clusters"], &again["proposed"], &again["compared"]),
            (&Value::from(first.len()), &Value::from(0), &Value::from(0)),
            "{name}: {again}"
        );
        assert_eq!(
            merges(&sb),
            first,
            "{name}: a second pass changed the proposals"
        );

        // A record entered twice joins no one else: its cluster is the two of them.
        let original = unclustered(&sb, &first);
        let copy = plant_copy(&sb, &original);
        let joined = pass(&sb);
        assert_eq!(
            joined["compared"], 1,
            "{name}: only the new record: {joined}"
        );
        let now = merges(&sb);
        assert_eq!(now.len(), first.len() + 1, "{name}: {now:?}");
        let planted = &now[0];
        assert_eq!(
            members(planted),
            BTreeSet::from([original.clone(), copy.clone()]),
            "{name}: {planted}"
        );
        let id = planted["id"].as_i64().unwrap().to_string();

        // Rejected: not proposed again while the records stay as they are …
        sb.ok(&["duplicates", "reject", &id, "--by", "anna"]);
        let shown = sb.json(&["duplicates", "show", &id]);
        assert_eq!(
            (&shown["status"], &shown["decided_by"]),
            (&Value::from("rejected"), &Value::from("anna")),
            "{name}"
        );
        pass(&sb);
        assert_eq!(merges(&sb).len(), now.len(), "{name}: proposed again");
        // … and once a value in the cluster changes it is a new question.
        sb.crm()
            .batch_execute(&format!(
                "UPDATE organisations SET phone = '+49 30 1234567' WHERE id = {copy}"
            ))
            .unwrap();
        let edited = pass(&sb);
        assert_eq!(
            edited["compared"], 1,
            "{name}: only the edited record: {edited}"
        );
        let after = merges(&sb);
        assert_eq!(after.len(), now.len() + 1, "{name}");
        assert_eq!(
            after[0]["cluster_id"], planted["cluster_id"],
            "{name}: id kept"
        );
        assert_eq!(after[0]["status"], "proposed", "{name}");

        // Approved, audited; a decided merge is not decided again.
        let approve = after[0]["id"].as_i64().unwrap().to_string();
        sb.ok(&["duplicates", "approve", &approve, "--by", "ben"]);
        let waiting = sb.json(&["duplicates", "list"]);
        assert!(
            waiting
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["id"] != after[0]["id"]),
            "{name}: the approved merge still waits"
        );
        let audit = sb.json(&["audit", "export"]);
        let actions: Vec<(&str, &str)> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["action"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("merge_"))
            })
            .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
            .collect();
        assert_eq!(
            actions,
            vec![("merge_rejected", "anna"), ("merge_approved", "ben")],
            "{name}"
        );
        let out = sb.run(&["duplicates", "approve", &id]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            stderr(&out).contains("rejected, not proposed"),
            "{}",
            stderr(&out)
        );
        let out = sb.run(&["duplicates", "show", "999999"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains("no merge 999999"), "{}", stderr(&out));

        // A record deleted in the CRM leaves its cluster, and nothing is compared again.
        sb.crm()
            .batch_execute(&format!("DELETE FROM organisations WHERE id = {copy}"))
            .unwrap();
        let gone = pass(&sb);
        assert_eq!(
            (&gone["clusters"], &gone["compared"]),
            (&Value::from(first.len()), &Value::from(0)),
            "{name}: {gone}"
        );
        sb.ok(&["audit", "verify"]);
    }
}

#[test]
fn a_record_split_out_of_a_cluster_is_never_joined_with_the_others_again() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = kind.sandbox(enabled);
        pass(&sb);
        let original = unclustered(&sb, &merges(&sb));
        let (first, second) = (plant_copy(&sb, &original), plant_copy(&sb, &original));
        pass(&sb);
        let three = merges(&sb)[0].clone();
        assert_eq!(
            members(&three),
            BTreeSet::from([original.clone(), first.clone(), second.clone()]),
            "{name}: {three}"
        );
        let id = three["id"].as_i64().unwrap().to_string();

        let out = sb.run(&["duplicates", "split", &id, "--record", "999999"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            stderr(&out).contains("not in this cluster"),
            "{}",
            stderr(&out)
        );
        let out = sb.run(&["duplicates", "split", &id]);
        assert_eq!(out.status.code(), Some(2), "{name}: --record is required");

        sb.ok(&[
            "duplicates",
            "split",
            &id,
            "--record",
            &second,
            "--by",
            "anna",
        ]);
        assert_eq!(
            sb.json(&["duplicates", "show", &id])["status"],
            "rejected",
            "{name}"
        );
        pass(&sb);
        let after = merges(&sb);
        assert_eq!(
            members(&after[0]),
            BTreeSet::from([original.clone(), first.clone()]),
            "{name}: the two that stay are proposed afresh"
        );
        assert!(
            after
                .iter()
                .filter(|m| m["status"] == "proposed")
                .all(|m| !members(m).contains(&second)),
            "{name}: the record split out was joined again: {after:?}"
        );
        let audit = sb.json(&["audit", "export"]);
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "merge_split"
                    && e["detail"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("split out {second}"))),
            "{name}"
        );
    }
}

/// (count, of) of the report figure named `name` over all records.
fn report_figure(sb: &Sandbox, name: &str) -> Option<(u64, u64)> {
    let report = sb.json(&["report", "--job", "organisations"]);
    report["figures"].as_array().unwrap().iter().find_map(|f| {
        let mut full = format!("{}.{}", f["subject"].as_str()?, f["measure"].as_str()?);
        if let Some(detail) = f["detail"].as_str() {
            full = format!("{full}.{detail}");
        }
        (full == name).then(|| (f["count"].as_u64().unwrap(), f["of"].as_u64().unwrap()))
    })
}

#[test]
fn the_report_counts_the_clusters_and_merges_the_pass_stored() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = kind.sandbox(enabled);
        pass(&sb);
        let proposed = merges(&sb);
        assert!(!proposed.is_empty(), "{name}: the demo CRM has duplicates");
        let clustered: usize = proposed.iter().map(|m| members(m).len()).sum();
        let records = sb.crm_ids().len() as u64;
        assert_eq!(
            report_figure(&sb, "records.in_cluster"),
            Some((clustered as u64, records)),
            "{name}"
        );
        assert_eq!(
            report_figure(&sb, "clusters.cluster_count"),
            Some((proposed.len() as u64, clustered as u64)),
            "{name}"
        );
        let id = proposed[0]["id"].as_i64().unwrap().to_string();
        sb.ok(&["duplicates", "reject", &id, "--by", "anna"]);
        let all = proposed.len() as u64;
        assert_eq!(
            report_figure(&sb, "merges.merge_status.rejected"),
            Some((1, all)),
            "{name}"
        );
        assert_eq!(
            report_figure(&sb, "merges.merge_status.proposed"),
            Some((all - 1, all)),
            "{name}"
        );
    }
}

#[test]
fn a_job_without_duplicates_enabled_finds_none() {
    let sb = Sandbox::with_config(|c| c);
    assert_eq!(pass(&sb), Value::Null, "no duplicates stage ran");
    assert!(merges(&sb).is_empty());
    let table = sb.ok(&["duplicates", "list"]);
    assert!(table.starts_with("id"), "{table}");
    assert_eq!(
        report_figure(&sb, "records.in_cluster"),
        None,
        "not looked for is no figure, not zero"
    );
}

/// The CRM's answer to `sql`, one text value (or NULL) in a column `v`.
fn crm_value(sb: &Sandbox, sql: &str) -> Option<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        v: Option<String>,
    }
    diesel::sql_query(sql)
        .get_result::<V>(&mut sb.crm())
        .optional()
        .unwrap()
        .and_then(|r| r.v)
}

/// Organisation `id`'s columns that a merge may write, as text.
fn organisation(sb: &Sandbox, id: &str) -> Vec<Option<String>> {
    ["name", "phone", "website", "email", "status"]
        .iter()
        .map(|c| {
            crm_value(
                sb,
                &format!("SELECT CAST({c} AS TEXT) AS v FROM organisations WHERE id = {id}"),
            )
        })
        .collect()
}

/// `n` CRM organisations in none of `merges`' clusters, each copied as a new record:
/// (original, copy) pairs.
fn plant_pairs(sb: &Sandbox, n: usize) -> Vec<(String, String)> {
    let clustered: BTreeSet<String> = merges(sb).iter().flat_map(members).collect();
    let originals: Vec<String> = sb
        .crm_ids()
        .into_iter()
        .map(|id| id.to_string())
        .filter(|id| !clustered.contains(id))
        .take(n)
        .collect();
    originals
        .into_iter()
        .map(|o| {
            let copy = plant_copy(sb, &o);
            (o, copy)
        })
        .collect()
}

/// The merge proposed for exactly these records.
fn merge_of(sb: &Sandbox, records: &[&str]) -> Value {
    let want: BTreeSet<String> = records.iter().map(|r| r.to_string()).collect();
    merges(sb)
        .into_iter()
        .find(|m| m["status"] == "proposed" && members(m) == want)
        .unwrap_or_else(|| panic!("no merge proposed for {want:?}"))
}

#[test]
fn an_applied_merge_writes_the_merged_record_deactivates_the_others_repoints_their_contacts_and_reverts_whole(
) {
    for kind in StoreKind::both() {
        let name = kind.name();
        // The register fills no phone or website here: the records keep what the test gives.
        let sb = kind.sandbox(|c| {
            enabled(c)
                .replacen("website = \"fill_empty\"", "website = \"ignore\"", 1)
                .replacen("phone = \"overwrite_placeholder\"", "phone = \"ignore\"", 1)
        });
        pass(&sb);
        let (original, copy) = plant_pairs(&sb, 1).remove(0);
        // The original is the more complete record and survives; its e-mail is empty, so
        // the merged record takes the copy's.
        sb.crm()
            .batch_execute(&format!(
                "UPDATE organisations SET phone = '+49 30 5550100', website = 'https://merge-probe.de', \
                 email = 'info@merge-probe.de' WHERE id IN ({original}, {copy});
                 UPDATE organisations SET email = NULL WHERE id = {original};
                 UPDATE organisations SET phone = NULL, website = NULL WHERE id = {copy};
                 UPDATE contacts SET organisation_id = {copy} WHERE id = (SELECT min(id) FROM contacts);"
            ))
            .unwrap();
        let contact = crm_value(&sb, "SELECT CAST(min(id) AS TEXT) AS v FROM contacts").unwrap();
        pass(&sb);
        let merge = merge_of(&sb, &[&original, &copy]);
        assert_eq!(
            merge["golden"]["survivor"],
            original.as_str(),
            "{name}: {merge}"
        );
        let id = merge["id"].as_i64().unwrap().to_string();

        // Nothing is written before a steward approves.
        let out = sb.ok(&["duplicates", "apply"]);
        assert!(out.contains("no approved merges"), "{name}: {out}");
        let copy_before = organisation(&sb, &copy);
        let survivor_before = organisation(&sb, &original);

        sb.ok(&["duplicates", "approve", &id, "--by", "ben"]);
        let out = sb.ok(&["duplicates", "apply", "--by", "ben"]);
        assert!(
            out.contains(&format!("merge {id} ")) && out.contains("applied"),
            "{name}: {out}"
        );

        let survivor = organisation(&sb, &original);
        assert_eq!(
            survivor[3].as_deref(),
            Some("info@merge-probe.de"),
            "{name}: {survivor:?}"
        );
        assert_eq!(survivor[1].as_deref(), Some("+49 30 5550100"), "{name}");
        let merged = organisation(&sb, &copy);
        assert_eq!(merged[4].as_deref(), Some("merged"), "{name}: deactivated");
        assert_eq!(
            merged[..4],
            copy_before[..4],
            "{name}: the merged record's values stay"
        );
        assert_eq!(
            crm_value(
                &sb,
                &format!(
                    "SELECT CAST(organisation_id AS TEXT) AS v FROM contacts WHERE id = {contact}"
                )
            ),
            Some(original.clone()),
            "{name}: the contact points at the survivor"
        );
        let shown = sb.json(&["duplicates", "show", &id]);
        assert_eq!(
            (&shown["status"], &shown["error"]),
            (&Value::from("applied"), &Value::Null),
            "{name}"
        );

        let audit = sb.json(&["audit", "export"]);
        let applied: Vec<(&str, Option<&str>)> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "merge_applied")
            .map(|e| (e["record_id"].as_str().unwrap(), e["field"].as_str()))
            .collect();
        assert_eq!(
            applied,
            vec![(original.as_str(), Some("email")), (copy.as_str(), None)],
            "{name}"
        );
        sb.ok(&["audit", "verify"]);
        // Applied once: not applied again.
        let out = sb.ok(&["duplicates", "apply"]);
        assert!(out.contains("no approved merges"), "{name}: {out}");
        // A merged record is no one's duplicate any more: the next pass proposes nothing.
        let found = pass(&sb);
        assert_eq!(found["proposed"], 0, "{name}: {found}");
        assert!(
            merges(&sb)
                .iter()
                .filter(|m| m["status"] == "proposed")
                .all(|m| !members(m).contains(&copy)),
            "{name}: the merged record was proposed again"
        );

        // Undone: refused while a value it wrote was edited since, nothing half-undone …
        let contact_org = |sb: &Sandbox| {
            crm_value(
                sb,
                &format!(
                    "SELECT CAST(organisation_id AS TEXT) AS v FROM contacts WHERE id = {contact}"
                ),
            )
        };
        sb.crm()
            .batch_execute(&format!(
                "UPDATE organisations SET email = 'neu@merge-probe.de' WHERE id = {original}"
            ))
            .unwrap();
        let out = sb.run(&["revert", "--merge", &id]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("`email` of record") && said.contains("nothing changed"),
            "{name}: {said}"
        );
        assert_eq!(
            organisation(&sb, &copy)[4].as_deref(),
            Some("merged"),
            "{name}"
        );
        assert_eq!(contact_org(&sb), Some(original.clone()), "{name}");
        assert_eq!(
            sb.json(&["duplicates", "show", &id])["status"],
            "applied",
            "{name}"
        );
        // … and whole once the edit is gone.
        sb.crm()
            .batch_execute(&format!(
                "UPDATE organisations SET email = 'info@merge-probe.de' WHERE id = {original}"
            ))
            .unwrap();
        sb.ok(&["revert", "--merge", &id, "--by", "anna"]);
        assert_eq!(organisation(&sb, &original), survivor_before, "{name}");
        assert_eq!(organisation(&sb, &copy), copy_before, "{name}");
        assert_eq!(contact_org(&sb), Some(copy.clone()), "{name}");
        assert_eq!(
            sb.json(&["duplicates", "show", &id])["status"],
            "reverted",
            "{name}"
        );
        let audit = sb.json(&["audit", "export"]);
        let reverted: Vec<(&str, Option<&str>, &str)> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "reverted")
            .map(|e| {
                (
                    e["record_id"].as_str().unwrap(),
                    e["field"].as_str(),
                    e["actor"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            reverted,
            vec![
                (original.as_str(), Some("email"), "anna"),
                (copy.as_str(), None, "anna")
            ],
            "{name}"
        );
        sb.ok(&["audit", "verify"]);
        let out = sb.run(&["revert", "--merge", &id]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            stderr(&out).contains("reverted, not applied"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_merge_edited_or_deleted_since_the_proposal_fails_alone_and_writes_nothing() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = kind.sandbox(enabled);
        pass(&sb);
        let pairs = plant_pairs(&sb, 3);
        pass(&sb);
        let ids: Vec<(String, String)> = pairs
            .iter()
            .map(|(o, c)| {
                let m = merge_of(&sb, &[o, c]);
                let survivor = m["golden"]["survivor"].as_str().unwrap().to_string();
                (m["id"].as_i64().unwrap().to_string(), survivor)
            })
            .collect();
        for (id, _) in &ids {
            sb.ok(&["duplicates", "approve", id]);
        }
        let (edited, deleted, whole) = (&ids[0], &ids[1], &ids[2]);
        sb.crm()
            .batch_execute(&format!(
                "UPDATE organisations SET name = name || ' (Zweigstelle)' WHERE id = {};
                 DELETE FROM contacts WHERE organisation_id = {1};
                 DELETE FROM organisations WHERE id = {1};",
                edited.1, deleted.1
            ))
            .unwrap();
        let before: Vec<Vec<Option<String>>> = pairs[..2]
            .iter()
            .flat_map(|(o, c)| [organisation(&sb, o), organisation(&sb, c)])
            .collect();

        let out = sb.run(&["duplicates", "apply"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: a failed merge is work not done"
        );
        let status = |id: &str| sb.json(&["duplicates", "show", id]);
        let e = status(&edited.0);
        assert_eq!(e["status"], "failed", "{name}: {e}");
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("edited since the proposal"),
            "{name}: {e}"
        );
        let d = status(&deleted.0);
        assert_eq!(d["status"], "failed", "{name}: {d}");
        assert_eq!(
            d["error"].as_str().unwrap(),
            format!("record {} is gone from the CRM", deleted.1),
            "{name}"
        );
        assert_eq!(
            status(&whole.0)["status"],
            "applied",
            "{name}: the others still apply"
        );
        let after: Vec<Vec<Option<String>>> = pairs[..2]
            .iter()
            .flat_map(|(o, c)| [organisation(&sb, o), organisation(&sb, c)])
            .collect();
        assert_eq!(after, before, "{name}: a failed merge wrote something");
        let audit = sb.json(&["audit", "export"]);
        let failed = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "merge_failed")
            .count();
        assert_eq!(failed, 2, "{name}");
        sb.ok(&["audit", "verify"]);
    }
}
