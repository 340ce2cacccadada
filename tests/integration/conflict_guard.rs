use diesel::sql_types::Text;
use diesel::{sql_query, QueryableByName, RunQueryDsl};

use crate::common::Sandbox;

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    v: Option<String>,
}

/// The demo CRM's column for each canonical field the test may meet.
fn column(field: &str) -> &'static str {
    match field {
        "legal_name" => "name",
        "street" => "street",
        "house_number" => "house_no",
        "postcode" => "zip",
        "status" => "status",
        other => panic!("test does not know the column for {other}"),
    }
}

/// Runs the organisations job and returns its first street proposal with its id and record.
fn first_street_proposal(sb: &Sandbox) -> (serde_json::Value, String, String) {
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let proposed = sb.json(&[
        "review",
        "list",
        "--job",
        "organisations",
        "--field",
        "street",
    ]);
    let change = proposed.as_array().unwrap()[0].clone();
    let (id, record) = (
        change["id"].to_string(),
        change["record_id"].as_str().unwrap().to_string(),
    );
    (change, id, record)
}

#[test]
fn a_value_edited_after_the_proposal_is_never_overwritten() {
    let sb = Sandbox::new();
    let (change, id, record) = first_street_proposal(&sb);
    let change = &change;
    let col = column(change["field"].as_str().unwrap());

    // A person edits the record in the CRM while the proposal waits.
    let mut crm = sb.crm();
    sql_query(format!(
        "UPDATE organisations SET {col} = 'Edited by hand 1' WHERE id = {record}"
    ))
    .execute(&mut crm)
    .unwrap();

    sb.ok(&["review", "approve", &id]);
    let out = sb.ok(&["review", "apply"]);
    assert!(out.contains("1 conflicts"), "{out}");

    let now: Value = sql_query(format!(
        "SELECT {col} AS v FROM organisations WHERE id = {record}"
    ))
    .get_result(&mut crm)
    .unwrap();
    assert_eq!(
        now.v.as_deref(),
        Some("Edited by hand 1"),
        "the human edit was overwritten"
    );

    let shown = sb.json(&["review", "show", &id]);
    assert_eq!(shown["change"]["status"], "conflict");
    assert!(shown["change"]["error"]
        .as_str()
        .unwrap()
        .contains("Edited by hand 1"));
    let audit = sb.json(&["audit", "list", "--change", &id]);
    assert_eq!(audit[0]["action"], "conflict");

    // The next pass proposes afresh from the current CRM value.
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let fresh = sb.json(&[
        "review",
        "list",
        "--record",
        &record,
        "--field",
        change["field"].as_str().unwrap(),
    ]);
    assert_eq!(fresh[0]["old_value"], "Edited by hand 1");
}

#[test]
fn edit_before_approve_writes_the_stewards_value() {
    let sb = Sandbox::new();
    let (_, id, record) = first_street_proposal(&sb);
    sb.ok(&["review", "approve", &id, "--value", "Am Steward-Platz"]);
    sb.ok(&["review", "apply"]);
    let now: Value = sql_query(format!(
        "SELECT street AS v FROM organisations WHERE id = {record}"
    ))
    .get_result(&mut sb.crm())
    .unwrap();
    assert_eq!(now.v.as_deref(), Some("Am Steward-Platz"));
    let audit = sb.json(&["audit", "list", "--change", &id]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["applied", "edited_and_approved"]);
}
