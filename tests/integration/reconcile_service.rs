//! refsync as a W3C reconciliation service (`/reconcile/{job}/{crm|register}`), driven the
//! way OpenRefine drives one: the manifest, batches of 10 queries with properties as a
//! form POST, property proposals, data extension, suggest and preview. Every answer is
//! checked against the specification's JSON schemas (data/reconciliation/0.2).

use reqwest::StatusCode;
use serde_json::{json, Value};

use refsync::register::reconciliation::{validator, Dialect};

use crate::common::StoreKind;
use crate::web_server::{client, Server};

/// Fails with every violation when `value` does not fit the 0.2 schema `name`.
fn conforms(name: &str, value: &Value) {
    let schema = validator(Dialect::V02, name).unwrap();
    let problems: Vec<String> = schema.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{name}: {problems:#?}\n{value:#}");
}

async fn get(server: &Server, token: Option<&str>, path: &str) -> (StatusCode, String) {
    let mut request = client().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// POSTs a form as OpenRefine does (`application/x-www-form-urlencoded`).
async fn post_form(
    server: &Server,
    token: Option<&str>,
    path: &str,
    key: &str,
    value: &Value,
) -> (StatusCode, Value) {
    let mut request = client()
        .post(server.url(path))
        .form(&[(key, value.to_string())]);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

/// The values of CRM organisations 1..=n, as `refsync explain` reads them.
fn organisations(server: &Server, n: usize) -> Vec<Value> {
    (1..=n)
        .map(|id| {
            server.sb.json(&[
                "explain",
                "--job",
                "organisations",
                "--record",
                &id.to_string(),
            ])["record"]["values"]
                .clone()
        })
        .collect()
}

#[tokio::test]
async fn openrefine_reconciles_a_list_against_the_crm_and_every_answer_fits_the_schemas() {
    let server = Server::start(&StoreKind::Sqlite);
    let token = server.token("vera");
    let token = Some(token.as_str());
    let base = "/reconcile/organisations/crm";

    let (status, text) = get(&server, token, base).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let manifest: Value = serde_json::from_str(&text).unwrap();
    conforms("manifest", &manifest);
    assert_eq!(manifest["defaultTypes"][0]["id"], "organisation");

    // A batch of 10 as OpenRefine sends it: the name column as the query, two columns as
    // properties, `type_strict` set.
    let rows = organisations(&server, 10);
    let batch: serde_json::Map<String, Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // A column OpenRefine finds empty in a row is left out of its properties.
            let properties: Vec<Value> = ["postcode", "city"]
                .iter()
                .filter(|f| r[**f].is_string())
                .map(|f| json!({ "pid": f, "v": r[*f] }))
                .collect();
            let query = json!({ "query": r["legal_name"], "type": "organisation",
                "type_strict": "should", "limit": 3, "properties": properties });
            (format!("q{i}"), query)
        })
        .collect();
    let batch = Value::Object(batch);
    conforms("reconciliation-query-batch", &batch);
    let (status, answer) = post_form(&server, token, base, "queries", &batch).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    conforms("reconciliation-result-batch", &answer);
    for i in 0..10 {
        let best = &answer[format!("q{i}")]["result"][0];
        assert_eq!(best["id"], (i + 1).to_string(), "q{i}: {answer:#}");
        assert!(best["score"].as_f64().unwrap() > 50.0, "{best}");
        assert!(answer[format!("q{i}")]["result"].as_array().unwrap().len() <= 3);
    }
    assert!(
        (0..10).any(|i| answer[format!("q{i}")]["result"][0]["match"] == true),
        "some rows are automatic matches: {answer:#}"
    );

    let (status, text) = get(
        &server,
        token,
        &format!("{base}/propose_properties?type=organisation"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let proposed: Value = serde_json::from_str(&text).unwrap();
    conforms("data-extension-property-proposal", &proposed);
    assert!(proposed["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == "vat_id"));

    let extend = json!({ "ids": ["1", "2", "no-such-id"], "properties": [{ "id": "city" }, { "id": "vat_id" }] });
    conforms("data-extension-query", &extend);
    let (status, extended) = post_form(&server, token, base, "extend", &extend).await;
    assert_eq!(status, StatusCode::OK, "{extended}");
    conforms("data-extension-response", &extended);
    assert_eq!(extended["rows"]["1"]["city"][0]["str"], rows[0]["city"]);
    assert_eq!(extended["rows"]["no-such-id"]["city"], json!([]));

    // What a steward types: the beginnings of the first two words.
    let typed: Vec<String> = rows[0]["legal_name"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .take(2)
        .map(|w| w.chars().take(4).collect())
        .collect();
    let path = format!(
        "{base}/suggest/entity?prefix={}",
        urlencode(&typed.join(" "))
    );
    let (status, text) = get(&server, token, &path).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let suggested: Value = serde_json::from_str(&text).unwrap();
    conforms("suggest-entities-response", &suggested);
    let ids: Vec<&Value> = suggested["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert!(ids.contains(&&json!("1")), "{typed:?}: {suggested:#}");
    let register = format!(
        "/reconcile/organisations/register/suggest/entity?prefix={}",
        urlencode(&typed.join(" "))
    );
    let (status, text) = get(&server, token, &register).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let suggested: Value = serde_json::from_str(&text).unwrap();
    conforms("suggest-entities-response", &suggested);
    assert!(
        !suggested["result"].as_array().unwrap().is_empty(),
        "{typed:?}: {suggested:#}"
    );

    let (status, html) = get(&server, token, &format!("{base}/preview?id=2")).await;
    assert_eq!(status, StatusCode::OK);
    let name = rows[1]["legal_name"]
        .as_str()
        .unwrap()
        .replace('&', "&amp;");
    assert!(html.contains(&name), "{html}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_register_side_answers_too_and_bad_batches_are_refused_by_name() {
    let server = Server::start(&StoreKind::Sqlite);
    let token = server.token("vera");
    let token = Some(token.as_str());
    let rows = organisations(&server, 1);
    let batch = json!({ "q0": { "query": rows[0]["legal_name"],
        "properties": [{ "pid": "city", "v": rows[0]["city"] }] } });
    let (status, answer) = post_form(
        &server,
        token,
        "/reconcile/organisations/register",
        "queries",
        &batch,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    conforms("reconciliation-result-batch", &answer);
    assert!(
        answer["q0"]["result"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with('R'),
        "{answer}"
    );

    let too_many: serde_json::Map<String, Value> = (0..101)
        .map(|i| (format!("q{i}"), json!({ "query": "Alpha" })))
        .collect();
    let cases = [
        (
            Value::Object(too_many),
            StatusCode::BAD_REQUEST,
            "at most 100",
        ),
        (
            json!({ "q0": { "query": "Alpha", "properties": [{ "pid": "P17", "v": "DE" }] } }),
            StatusCode::BAD_REQUEST,
            "`P17`",
        ),
        (
            json!({ "q0": { "query": "Alpha", "type": "Q5" } }),
            StatusCode::BAD_REQUEST,
            "`organisation` only",
        ),
        (
            json!(["not", "a", "batch"]),
            StatusCode::BAD_REQUEST,
            "not a query batch",
        ),
    ];
    for (body, want, says) in cases {
        let (status, answer) = post_form(
            &server,
            token,
            "/reconcile/organisations/crm",
            "queries",
            &body,
        )
        .await;
        assert_eq!(status, want, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    let (status, _) = get(&server, token, "/reconcile/organisations/elsewhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_is_needed_unless_the_register_side_is_made_public() {
    let closed = Server::start(&StoreKind::Sqlite);
    for side in ["crm", "register"] {
        let (status, text) = get(&closed, None, &format!("/reconcile/organisations/{side}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{side}: {text}");
        assert!(text.contains("Bearer"), "{text}");
    }
    let (status, _) = get(&closed, Some("not-a-token"), "/reconcile/organisations/crm").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Check on entry's role reads nothing, here neither.
    let intake = {
        let mut child = closed
            .sb
            .command(&["user", "add", "formular", "--role", "intake"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(
            child.stdin.take().unwrap(),
            "{}",
            crate::web_server::PASSWORD
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
        closed.token("formular")
    };
    let (status, _) = get(&closed, Some(&intake), "/reconcile/organisations/register").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let open = Server::start_with(&StoreKind::Sqlite, |c| {
        c.replace("reconcile_public = false", "reconcile_public = true")
    });
    let (status, text) = get(&open, None, "/reconcile/organisations/register").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    conforms("manifest", &serde_json::from_str(&text).unwrap());
    let (status, _) = get(&open, None, "/reconcile/organisations/crm").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the CRM side stays closed"
    );
}

#[tokio::test]
async fn an_erased_person_is_never_answered() {
    let server = Server::start_with(&StoreKind::Sqlite, |c| {
        c.replace(
            "key_env = \"REFSYNC_PRIVACY_KEY\"",
            "key_file = \"privacy.key\"",
        )
    });
    std::fs::write(server.sb.path("privacy.key"), "a-privacy-key-for-the-tests").unwrap();
    let token = server.token("vera");
    let token = Some(token.as_str());
    let person = server
        .sb
        .json(&["explain", "--job", "contacts", "--record", "1"])["record"]["values"]
        .clone();
    let name = format!(
        "{} {}",
        person["first_name"].as_str().unwrap(),
        person["last_name"].as_str().unwrap()
    );
    let batch = json!({ "q0": { "query": name, "properties": [{ "pid": "email", "v": person["email"] }] } });
    let base = "/reconcile/contacts/crm";
    let (_, before) = post_form(&server, token, base, "queries", &batch).await;
    assert_eq!(before["q0"]["result"][0]["id"], "1", "{before:#}");
    let (_, text) = get(
        &server,
        token,
        &format!("{base}/suggest/entity?prefix={}", urlencode(&name)),
    )
    .await;
    assert!(
        text.contains("\"id\":\"1\""),
        "found before the erasure: {text}"
    );

    server.sb.json(&["erase", "1", "--job", "contacts"]);
    let (status, after) = post_form(&server, token, base, "queries", &batch).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let ids: Vec<&Value> = after["q0"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert!(!ids.contains(&&json!("1")), "{after:#}");
    let extend = json!({ "ids": ["1"], "properties": [{ "id": "last_name" }] });
    let (_, extended) = post_form(&server, token, base, "extend", &extend).await;
    assert_eq!(extended["rows"]["1"]["last_name"], json!([]), "{extended}");
    let (status, _) = get(&server, token, &format!("{base}/preview?id=1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The index still holds the record as it was read before the erasure.
    let (status, text) = get(
        &server,
        token,
        &format!("{base}/suggest/entity?prefix={}", urlencode(&name)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let suggested: Value = serde_json::from_str(&text).unwrap();
    assert!(
        suggested["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != "1"),
        "{suggested:#}"
    );
}

/// Fails with every violation when `value` does not fit the 1.0-draft schema `name`.
fn conforms_draft(name: &str, value: &Value) {
    let schema = validator(Dialect::V1Draft, name).unwrap();
    let problems: Vec<String> = schema.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(
        problems.is_empty(),
        "1.0-draft {name}: {problems:#?}\n{value:#}"
    );
}

async fn post_json(server: &Server, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = client()
        .post(server.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

#[tokio::test]
async fn the_1_0_draft_is_served_beside_with_its_own_shapes() {
    let server = Server::start(&StoreKind::Sqlite);
    let token = server.token("vera");
    let base = "/reconcile/organisations/crm/1.0-draft";

    let (status, text) = get(&server, Some(&token), base).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    conforms_draft("manifest", &serde_json::from_str(&text).unwrap());

    let rows = organisations(&server, 3);
    let queries: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut conditions =
                vec![json!({ "matchType": "name", "propertyValue": r["legal_name"] })];
            if r["city"].is_string() {
                conditions.push(json!({ "matchType": "property", "propertyId": "city",
                                        "propertyValue": r["city"], "required": false }));
            }
            json!({ "type": "organisation", "limit": 2, "conditions": conditions })
        })
        .collect();
    let batch = json!({ "queries": queries });
    conforms_draft("reconciliation-query-batch", &batch);
    let (status, answer) = post_json(&server, &token, &format!("{base}/match"), &batch).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    conforms_draft("reconciliation-result-batch", &answer);
    for (i, result) in answer["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            result["candidates"][0]["id"],
            (i + 1).to_string(),
            "{answer:#}"
        );
    }

    let extend = json!({ "ids": ["1", "2"], "properties": [{ "id": "city" }] });
    conforms_draft("data-extension-query", &extend);
    let (status, extended) = post_json(&server, &token, &format!("{base}/extend"), &extend).await;
    assert_eq!(status, StatusCode::OK, "{extended}");
    conforms_draft("data-extension-response", &extended);
    let row = extended["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "1")
        .unwrap();
    assert_eq!(row["properties"][0]["values"][0]["str"], rows[0]["city"]);

    let (status, text) = get(
        &server,
        Some(&token),
        &format!("{base}/extend/propose?type=organisation"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    conforms_draft(
        "data-extension-property-proposal",
        &serde_json::from_str(&text).unwrap(),
    );
    let (status, text) = get(
        &server,
        Some(&token),
        &format!("{base}/suggest/entity?prefix=GmbH"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    conforms_draft(
        "suggest-entities-response",
        &serde_json::from_str(&text).unwrap(),
    );

    let by_id =
        json!({ "queries": [{ "conditions": [{ "matchType": "id", "propertyValue": "1" }] }] });
    let (status, answer) = post_json(&server, &token, &format!("{base}/match"), &by_id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().unwrap().contains("matchType `id`"),
        "{answer}"
    );
}
