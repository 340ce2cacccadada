//! Check on entry through a real listener (`POST /api/v1/check`) and the CLI
//! (`refsync check`): the answer's parts, who may ask, what is stored and only when asked,
//! and the refusals of bad input.

use std::io::Write;
use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::common::{stderr, stdout, Sandbox, StoreKind};
use crate::web_server::{client, get_json, get_page, Server, PASSWORD};

/// POSTs `body` (bytes as given) to the check endpoint: the status, the headers' Retry-After
/// and the JSON answer.
async fn post_raw(
    server: &Server,
    token: &str,
    body: Vec<u8>,
) -> (StatusCode, Option<String>, Value) {
    let response = client()
        .post(server.url("/api/v1/check"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, retry, json)
}

async fn post_check(server: &Server, token: &str, body: &Value) -> (StatusCode, Value) {
    let (status, _, json) = post_raw(server, token, body.to_string().into_bytes()).await;
    (status, json)
}

/// The values of CRM record `id` of `job`, as `refsync explain` reads them.
fn crm_values(sb: &Sandbox, job: &str, id: &str) -> Map<String, Value> {
    let explained = sb.json(&["explain", "--job", job, "--record", id]);
    explained["record"]["values"].as_object().unwrap().clone()
}

/// Organisation 2 of the demo CRM as a web form would send it, with two values no check
/// lets pass: an impossible e-mail and a VAT id of too few digits.
fn organisation_two(sb: &Sandbox) -> Value {
    let crm = crm_values(sb, "organisations", "2");
    let mut record = Map::new();
    for field in ["legal_name", "street", "house_number", "postcode", "city"] {
        record.insert(field.into(), crm[field].clone());
    }
    record.insert("email".into(), json!("info at example"));
    record.insert("vat_id".into(), json!("DE123"));
    Value::Object(record)
}

fn total_changes(kind_name: &str, page: &Value) -> i64 {
    page["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("{kind_name}: no total in {page}"))
}

#[tokio::test]
async fn a_record_the_crm_holds_comes_back_as_its_duplicate_with_its_problems_and_nothing_is_stored_on_both_stores(
) {
    for kind in StoreKind::both() {
        let server = Server::start(&kind);
        let steward = server.token("stefan");
        let record = organisation_two(&server.sb);
        let before = get_json(&server, &steward, "/api/v1/changes?limit=1").await;
        let passes_before = get_json(&server, &steward, "/api/v1/passes").await;

        let body = json!({ "job": "organisations", "record": record });
        let (status, answer) = post_check(&server, &steward, &body).await;
        let what = format!("{}: {answer:#}", kind.name());
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(answer["entity"], "organisation", "{what}");
        assert_eq!(answer["erased"], false, "{what}");
        let duplicate = &answer["duplicates"][0];
        assert_eq!(duplicate["id"], "2", "{what}");
        assert!(duplicate["probability"].as_f64().unwrap() >= 0.75, "{what}");
        assert!(
            !duplicate["explanation"].as_array().unwrap().is_empty(),
            "{what}"
        );
        let problems: Vec<(&str, &str)> = answer["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["field"].as_str().unwrap(), p["kind"].as_str().unwrap()))
            .collect();
        assert!(
            problems.contains(&("vat_id", "invalid_identifier")),
            "{what}"
        );
        assert!(problems.contains(&("email", "impossible_email")), "{what}");
        assert!(answer["register"]["best"]["id"].is_string(), "{what}");
        assert!(
            ["in_sync", "different"].contains(&answer["register"]["status"].as_str().unwrap()),
            "{what}"
        );
        assert_eq!(
            answer["normalised"]["legal_name"], record["legal_name"],
            "{what}"
        );
        assert!(
            answer["channels"].is_null(),
            "organisations have no channels: {what}"
        );
        assert!(answer["stored"].is_null(), "{what}");

        let after = get_json(&server, &steward, "/api/v1/changes?limit=1").await;
        assert_eq!(
            total_changes(kind.name(), &after),
            total_changes(kind.name(), &before)
        );
        let passes_after = get_json(&server, &steward, "/api/v1/passes").await;
        assert_eq!(passes_after, passes_before, "{}", kind.name());
    }
}

#[tokio::test]
async fn store_true_proposes_a_new_record_or_updates_of_the_duplicate_and_never_writes_the_crm_on_both_stores(
) {
    for kind in StoreKind::both() {
        let server = Server::start(&kind);
        let steward = server.token("stefan");

        // Nobody knows it: a new record is proposed.
        let new = json!({ "job": "organisations", "store": true, "record": {
            "legal_name": "Quarzwerk Zyxwvut GmbH", "postcode": "80331", "city": "München" } });
        let (status, answer) = post_check(&server, &steward, &new).await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", kind.name());
        assert!(
            answer["duplicates"].as_array().unwrap().is_empty(),
            "{answer}"
        );
        let stored = &answer["stored"];
        let pass = stored["pass_id"].as_i64().unwrap();
        assert!(
            stored["record_id"].as_str().unwrap().starts_with("check:"),
            "{stored}"
        );
        assert_eq!(stored["changes_proposed"], 1, "{stored}");
        let page = get_json(&server, &steward, &format!("/api/v1/changes?pass={pass}")).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        let change = &page["items"][0];
        assert_eq!(change["kind"], "new_record", "{change}");
        assert_eq!(change["status"], "proposed", "{change}");
        assert!(
            change["new_value"].as_str().unwrap().contains("Quarzwerk"),
            "{change}"
        );

        // The CRM has it, without a VAT id (nor has the register): an update is proposed
        // for organisation 2, which stays as it is in the CRM.
        let crm_before = crm_values(&server.sb, "organisations", "2");
        let mut record = organisation_two(&server.sb);
        record["vat_id"] = json!("DE136695976");
        record.as_object_mut().unwrap().remove("email");
        let update = json!({ "job": "organisations", "store": true, "record": record });
        let (status, answer) = post_check(&server, &steward, &update).await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", kind.name());
        let stored = &answer["stored"];
        assert_eq!(stored["record_id"], "2", "{answer:#}");
        let pass = stored["pass_id"].as_i64().unwrap();
        let page = get_json(&server, &steward, &format!("/api/v1/changes?pass={pass}")).await;
        let vat = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == "vat_id")
            .unwrap_or_else(|| panic!("no vat_id proposal: {page:#}"));
        assert_eq!(vat["new_value"], "DE136695976");
        assert_eq!(vat["status"], "proposed");
        assert_eq!(vat["record_id"], "2");
        assert_eq!(crm_values(&server.sb, "organisations", "2"), crm_before);
    }
}

/// Adds user `name` with `role` through the CLI.
fn add_user(sb: &Sandbox, name: &str, role: &str) {
    let mut child = sb
        .command(&["user", "add", name, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn the_intake_role_may_check_and_do_nothing_else_and_a_viewer_may_not_check() {
    let server = Server::start(&StoreKind::Sqlite);
    add_user(&server.sb, "formular", "intake");
    let intake = server.token("formular");
    let body = json!({ "job": "organisations", "record": { "legal_name": "Alpha GmbH" } });

    let (status, answer) = post_check(&server, &intake, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let me = get_json(&server, &intake, "/api/v1/me").await;
    assert_eq!(me["role"], "intake");
    for path in [
        "/api/v1/changes",
        "/api/v1/passes",
        "/api/v1/records/organisations/1",
    ] {
        let (status, text) = get_page(&server, &intake, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {text}");
    }
    let (status, text) = get_page(&server, &intake, "/queue").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the review UI: {text}");

    // It learns which CRM record a lead duplicates, not what the CRM holds about it.
    let known = json!({ "job": "organisations", "record": organisation_two(&server.sb) });
    let (_, for_intake) = post_check(&server, &intake, &known).await;
    let (_, for_steward) = post_check(&server, &server.token("stefan"), &known).await;
    let values = |answer: &Value| -> Vec<Value> {
        answer["duplicates"][0]["explanation"]
            .as_array()
            .unwrap_or_else(|| panic!("no duplicate: {answer:#}"))
            .iter()
            .map(|c| c["register"].clone())
            .filter(|v| !v.is_null())
            .collect()
    };
    assert_eq!(for_intake["duplicates"][0]["id"], "2", "{for_intake:#}");
    assert!(values(&for_intake).is_empty(), "{for_intake:#}");
    assert!(!values(&for_steward).is_empty(), "{for_steward:#}");

    let viewer = server.token("vera");
    let (status, answer) = post_check(&server, &viewer, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("steward"),
        "{answer}"
    );
    let (status, _, _) = post_raw(&server, "no-such-token", body.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_check_bodies_answer_with_a_json_error_that_names_the_problem() {
    let server = Server::start(&StoreKind::Sqlite);
    let steward = server.token("stefan");
    let oversized = json!({ "job": "organisations",
        "record": { "legal_name": "x".repeat(70 * 1024) } })
    .to_string();
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "not a check request",
        ),
        (
            br#"{"job": "organisations", "record": {"legal_name": "x"}, "stor": true}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "unknown field `stor`",
        ),
        (
            br#"{"job": "organisations", "record": {"firma": "x"}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "unknown canonical field `firma`",
        ),
        (
            br#"{"job": "organisations", "record": {"legal_name": 5}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            br#"{"record": {"legal_name": "x"}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "missing field `job`",
        ),
        (
            br#"{"job": "organisations", "record": {}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "no values",
        ),
        (
            br#"{"job": "organisations", "mapping": "messe", "record": {"firma": "x"}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "no mapping `messe`",
        ),
        (
            br#"{"job": "nope", "record": {"legal_name": "x"}}"#.to_vec(),
            StatusCode::NOT_FOUND,
            "no job `nope`",
        ),
        (
            oversized.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "64 KiB",
        ),
    ];
    for (body, want, says) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let (status, _, answer) = post_raw(&server, &steward, body).await;
        assert_eq!(status, want, "{shown}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains(says), "{shown}: {error}");
    }
}

#[tokio::test]
async fn a_web_forms_own_field_names_are_read_through_its_configured_mapping() {
    let server = Server::start_with(&StoreKind::Sqlite, |c| {
        c + "\n[job.organisations.check.mappings.messe]\nfirma = \"legal_name\"\nplz = \"postcode\"\nort = \"city\"\n"
    });
    let steward = server.token("stefan");
    let crm = crm_values(&server.sb, "organisations", "2");
    let body = json!({ "job": "organisations", "mapping": "messe", "record": {
        "firma": crm["legal_name"], "plz": crm["postcode"], "ort": crm["city"] } });
    let (status, answer) = post_check(&server, &steward, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["normalised"]["legal_name"], crm["legal_name"]);
    assert_eq!(answer["normalised"]["postcode"], crm["postcode"]);
    assert_eq!(answer["duplicates"][0]["id"], "2", "{answer:#}");

    let unknown = json!({ "job": "organisations", "mapping": "messe",
        "record": { "firma": "x", "strasse": "Hauptstr." } });
    let (status, answer) = post_check(&server, &steward, &unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("`strasse`") && error.contains("firma"),
        "{error}"
    );
}

#[tokio::test]
async fn a_contact_is_answered_with_a_verdict_per_channel() {
    let server = Server::start(&StoreKind::Sqlite);
    let steward = server.token("stefan");
    let crm = crm_values(&server.sb, "contacts", "1");
    let known = json!({ "job": "contacts", "record": {
        "first_name": crm["first_name"], "last_name": crm["last_name"], "email": crm["email"] } });
    let (status, answer) = post_check(&server, &steward, &known).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["duplicates"][0]["id"], "1", "{answer:#}");
    let channels = &answer["channels"];
    assert_eq!(channels["audience"], "business", "{channels}");
    assert_eq!(
        channels["verdicts"].as_array().unwrap().len(),
        5,
        "{channels}"
    );

    let stranger = json!({ "job": "contacts", "record": {
        "first_name": "Quirin", "last_name": "Zyxwvutsrq", "email": "quirin@zyx.example" } });
    let (status, answer) = post_check(&server, &steward, &stranger).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let channels = &answer["channels"];
    assert_eq!(channels["audience"], "consumer", "{channels}");
    let email = channels["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["channel"] == "email")
        .unwrap();
    assert_eq!(email["allowed"], false, "{email}");
    assert_eq!(email["ground"], "consumer_without_opt_in", "{email}");
}

#[tokio::test]
async fn checks_beyond_a_tokens_rate_answer_429_with_retry_after_and_other_tokens_go_on() {
    let server = Server::start_with(&StoreKind::Sqlite, |c| {
        c.replace("check_per_second = 50", "check_per_second = 1")
    });
    let (first, second) = (server.token("stefan"), server.token("anke"));
    let body = json!({ "job": "organisations", "record": { "legal_name": "Alpha GmbH" } })
        .to_string()
        .into_bytes();
    let (status, _, _) = post_raw(&server, &first, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, retry, answer) = post_raw(&server, &first, body.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert!(retry.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("check_per_second"),
        "{answer}"
    );
    let (status, _, _) = post_raw(&server, &second, body).await;
    assert_eq!(status, StatusCode::OK);
}

/// `refsync check` with `record` as a JSON object on stdin.
fn check_stdin(sb: &Sandbox, args: &[&str], record: &str) -> std::process::Output {
    let mut child = sb
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(record.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn refsync_check_answers_the_same_from_fields_or_stdin_and_logs_no_personal_value() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once"]);
    let crm = crm_values(&sb, "contacts", "1");
    let (first, last, email) = (
        crm["first_name"].as_str().unwrap(),
        crm["last_name"].as_str().unwrap(),
        crm["email"].as_str().unwrap(),
    );
    let fields = sb.run(&[
        "check",
        "--job",
        "contacts",
        "--field",
        &format!("first_name={first}"),
        "--field",
        &format!("last_name={last}"),
        "--field",
        &format!("email={email}"),
    ]);
    assert!(fields.status.success(), "{}", stderr(&fields));
    let record = json!({ "first_name": first, "last_name": last, "email": email }).to_string();
    let piped = check_stdin(&sb, &["check", "--job", "contacts"], &record);
    assert!(piped.status.success(), "{}", stderr(&piped));
    // Figures to nine places: the last bit of a term-frequency weight may differ between
    // two processes.
    fn rounded(v: Value) -> Value {
        match v {
            Value::Number(n) if n.is_f64() => {
                json!((n.as_f64().unwrap() * 1e9).round() / 1e9)
            }
            Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
            Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (k, rounded(v))).collect())
            }
            other => other,
        }
    }
    let parse = |out: &std::process::Output| -> Value {
        let mut v: Value = serde_json::from_str(&stdout(out)).unwrap();
        v.as_object_mut().unwrap().remove("index_built_at");
        rounded(v)
    };
    let (a, b) = (parse(&fields), parse(&piped));
    assert_eq!(a, b);
    assert_eq!(a["duplicates"][0]["id"], "1", "{a:#}");
    assert!(a["channels"]["verdicts"].is_array(), "{a:#}");
    for out in [&fields, &piped] {
        let log = stderr(out);
        assert!(log.contains("record checked"), "{log}");
        for value in [first, last, email] {
            assert!(!log.contains(value), "`{value}` in the log:\n{log}");
        }
    }
}

#[test]
fn refsync_check_stores_proposals_only_when_asked_on_both_stores() {
    for kind in StoreKind::both() {
        let sb = kind.sandbox(|c| c);
        sb.ok(&["run", "--once"]);
        let proposed = |sb: &Sandbox| {
            sb.json(&[
                "review", "list", "--status", "proposed", "--limit", "100000",
            ])
            .as_array()
            .unwrap()
            .len()
        };
        let before = proposed(&sb);
        let args = [
            "check",
            "--job",
            "organisations",
            "--field",
            "legal_name=Quarzwerk Zyxwvut GmbH",
        ];
        sb.ok(&args);
        assert_eq!(proposed(&sb), before, "{}", kind.name());
        let out = sb.ok(&[&args[..], &["--store"]].concat());
        let answer: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            answer["stored"]["changes_proposed"],
            1,
            "{}: {answer:#}",
            kind.name()
        );
        assert_eq!(proposed(&sb), before + 1, "{}", kind.name());
    }
}

#[test]
fn refsync_check_exits_2_on_bad_input_and_says_what_is_wrong() {
    let sb = Sandbox::new();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--field", "legal_name"], "", "not `field=value`"),
        (
            vec!["--field", "firma=x"],
            "",
            "unknown canonical field `firma`",
        ),
        (vec![], "{not json", "not a JSON object"),
        (vec![], r#"{"legal_name": 5}"#, "not a JSON object"),
        (
            vec!["--mapping", "messe", "--field", "firma=x"],
            "",
            "no mapping `messe`",
        ),
        (
            vec!["--field", "legal_name=x", "--field", "legal_name=y"],
            "",
            "given twice",
        ),
    ];
    for (extra, input, says) in cases {
        let args: Vec<&str> = ["check", "--job", "organisations"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let out = check_stdin(&sb, &args, input);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let out = sb.run(&["check", "--job", "nope", "--field", "legal_name=x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no job `nope`"), "{}", stderr(&out));
}

/// The daemon's log lines, as they come.
struct DaemonLog {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl DaemonLog {
    fn start(sb: &Sandbox) -> DaemonLog {
        use std::io::{BufRead, BufReader};
        let mut child = sb
            .command(&["daemon"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        DaemonLog { child, lines }
    }

    /// The next line logging `message` for which `also` holds, as JSON.
    fn wait_for(&self, message: &str, also: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(60)) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["message"] == message && also(&v) {
                    return v;
                }
            }
            seen.push(line);
        }
        panic!("the daemon never logged {message:?}:\n{}", seen.join("\n"));
    }
}

impl Drop for DaemonLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_daemon_answers_from_indexes_it_rebuilds_after_each_pass_of_the_job() {
    use diesel::connection::SimpleConnection;
    // Organisations every two seconds; contacts not today.
    let sb = Sandbox::with_config(|c| {
        c.replace(
            "schedule = \"0 30 2 * * *\"",
            "schedule = \"*/2 * * * * *\"",
        )
        .replace("# listen = \"127.0.0.1:9187\"", "listen = \"127.0.0.1:0\"")
    })
    .env("REFSYNC__LOGGING__FORMAT", "json");
    sb.ok(&["run", "--once"]);
    add_user(&sb, "stefan", "steward");
    let token = sb
        .ok(&["user", "token", "create", "stefan", "--label", "test"])
        .trim()
        .to_string();
    let daemon = DaemonLog::start(&sb);
    let listening = daemon.wait_for("http listener started", |_| true);
    let base = format!("http://{}", listening["address"].as_str().unwrap());
    daemon.wait_for("check index built", |v| v["job"] == "organisations");

    let lead = json!({ "job": "organisations", "record": {
        "legal_name": "Quarzwerk Zyxwvut GmbH", "postcode": "80331", "city": "München" } });
    let check = || async {
        let response = client()
            .post(format!("{base}/api/v1/check"))
            .bearer_auth(&token)
            .json(&lead)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    assert!(check().await["duplicates"].as_array().unwrap().is_empty());

    // Someone enters it in the CRM; the next pass of the job rebuilds the index.
    let entered = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sb.crm()
        .batch_execute(
            "INSERT INTO organisations (id, name, zip, city, country, status) \
             VALUES (9001, 'Quarzwerk Zyxwvut GmbH', '80331', 'München', 'DE', 'active')",
        )
        .unwrap();
    // The first build logged after the insert may have read the CRM before it; the one
    // after that certainly did not.
    daemon.wait_for("check index built", |v| {
        v["job"] == "organisations" && v["timestamp"].as_str().unwrap() > entered.as_str()
    });
    daemon.wait_for("check index built", |v| v["job"] == "organisations");
    let answer = check().await;
    assert_eq!(answer["duplicates"][0]["id"], "9001", "{answer:#}");
}

#[test]
fn an_erased_person_is_neither_checked_nor_stored() {
    let sb = Sandbox::new().env("REFSYNC_PRIVACY_KEY", "a-privacy-key-for-the-tests");
    sb.ok(&["run", "--once"]);
    let crm = crm_values(&sb, "contacts", "1");
    let email = crm["email"].as_str().unwrap().to_string();
    sb.json(&["erase", "1", "--job", "contacts"]);
    let proposed = |sb: &Sandbox| {
        sb.json(&[
            "review", "list", "--status", "proposed", "--limit", "100000",
        ])
        .as_array()
        .unwrap()
        .len()
    };
    let before = proposed(&sb);
    let out = sb.ok(&[
        "check",
        "--job",
        "contacts",
        "--field",
        &format!("email={email}"),
        "--field",
        "last_name=Unbekannt",
        "--store",
    ]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["erased"], true, "{answer:#}");
    assert!(
        answer["normalised"].as_object().unwrap().is_empty(),
        "{answer:#}"
    );
    assert!(answer["duplicates"].as_array().unwrap().is_empty());
    assert!(
        answer["register"].is_null() && answer["stored"].is_null(),
        "{answer:#}"
    );
    assert!(
        !out.contains(&email),
        "the answer repeats the erased address"
    );
    assert_eq!(proposed(&sb), before);
}
