//! The JSON API through a real listener: who may do what, CSRF, paging, the OpenAPI
//! document, login rate limiting.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::StoreKind;
use crate::web_server::{
    client, get_json, get_page, login, revoked_by, session_cookie, Server, PASSWORD, USERS,
};

/// The id of the first change in `status` (of pass 1).
async fn first_change(server: &Server, token: &str, status: &str) -> i64 {
    let page = get_json(
        server,
        token,
        &format!("/api/v1/changes?status={status}&pass=1&limit=1"),
    )
    .await;
    page["items"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no {status} change: {page}"))
}

const ROLES: [&str; 3] = ["viewer", "steward", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

#[tokio::test]
async fn every_endpoint_allows_exactly_the_roles_it_should_on_both_stores() {
    for kind in StoreKind::both() {
        authorization_matrix(&kind).await;
    }
}

async fn authorization_matrix(kind: &StoreKind) {
    let server = Server::start_with(kind, |c| {
        c.replace("enabled = false\nthreshold", "enabled = true\nthreshold")
    });
    let tokens: Vec<(String, String)> = USERS
        .iter()
        .map(|(name, role)| (role.to_string(), server.token(name)))
        .collect();
    let admin = &tokens[2].1;
    let proposed = first_change(&server, admin, "proposed").await;
    let applied = first_change(&server, admin, "applied").await;
    let merges = get_json(&server, admin, "/api/v1/duplicates").await;
    let merge = |i: usize| {
        merges[i]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no merge {i}: {merges}"))
    };
    let (approved, rejected, split) = (merge(0), merge(1), merge(2));
    let split_out = merges[2]["members"][0].clone();

    // (method, path, body, least role; None = public). Admin-only writes succeed once,
    // for the admin, who comes last.
    let table: Vec<(Method, String, Value, Option<&str>)> = vec![
        (
            Method::GET,
            "/api/v1/openapi.json".into(),
            Value::Null,
            None,
        ),
        (
            Method::GET,
            "/api/v1/me".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            "/api/v1/passes".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            "/api/v1/passes/1".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            "/api/v1/changes".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            format!("/api/v1/changes/{proposed}"),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            "/api/v1/records/organisations/1".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            "/api/v1/status".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            "/api/v1/consent/contacts/1".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::POST,
            "/api/v1/consent/contacts/1".into(),
            json!({ "channel": "phone", "source": "Anruf" }),
            Some("steward"),
        ),
        (
            Method::GET,
            "/api/v1/audit".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::POST,
            "/api/v1/check".into(),
            json!({ "job": "organisations", "record": { "legal_name": "Alpha GmbH" } }),
            Some("steward"),
        ),
        (
            Method::POST,
            "/api/v1/decisions".into(),
            json!({ "verdict": "approve", "ids": [proposed] }),
            Some("steward"),
        ),
        (
            Method::GET,
            "/api/v1/duplicates".into(),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::GET,
            format!("/api/v1/duplicates/{approved}"),
            Value::Null,
            Some("viewer"),
        ),
        (
            Method::POST,
            format!("/api/v1/duplicates/{approved}/approve"),
            json!({}),
            Some("steward"),
        ),
        (
            Method::POST,
            format!("/api/v1/duplicates/{rejected}/reject"),
            json!({}),
            Some("steward"),
        ),
        (
            Method::POST,
            format!("/api/v1/duplicates/{split}/split"),
            json!({ "records": [split_out] }),
            Some("steward"),
        ),
        // The approved merge written to the CRM and undone, before any change is applied.
        (
            Method::POST,
            "/api/v1/duplicates/apply".into(),
            json!({}),
            Some("admin"),
        ),
        (
            Method::POST,
            format!("/api/v1/duplicates/{approved}/revert"),
            json!({}),
            Some("admin"),
        ),
        (
            Method::POST,
            "/api/v1/apply".into(),
            json!({}),
            Some("admin"),
        ),
        (
            Method::POST,
            "/api/v1/revert".into(),
            json!({ "change": applied }),
            Some("admin"),
        ),
        (
            Method::GET,
            "/api/v1/config".into(),
            Value::Null,
            Some("admin"),
        ),
        (
            Method::GET,
            "/api/v1/users".into(),
            Value::Null,
            Some("admin"),
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            json!({ "name": "neu", "role": "viewer", "password": "long-enough-password" }),
            Some("admin"),
        ),
        (
            Method::POST,
            "/api/v1/users/neu/disable".into(),
            json!({}),
            Some("admin"),
        ),
    ];

    // The table covers every documented operation.
    let doc = get_json(&server, admin, "/api/v1/openapi.json").await;
    let documented = documented_operations(&doc);
    let covered: BTreeSet<(String, String)> = table
        .iter()
        .map(|(m, p, _, _)| (m.as_str().to_string(), template_of(p, &documented)))
        .collect();
    assert_eq!(covered, documented, "the matrix must cover every operation");

    for (method, path, body, least) in &table {
        let mut callers: Vec<(&str, Option<&str>)> = vec![("anonymous", None)];
        callers.extend(
            tokens
                .iter()
                .map(|(role, token)| (role.as_str(), Some(token.as_str()))),
        );
        for (role, token) in callers {
            let mut request = client().request(method.clone(), server.url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if !body.is_null() {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            let allowed = match least {
                None => true,
                Some(least) => token.is_some() && rank(role) >= rank(least),
            };
            let what = format!("{} {method} {path} as {role}: {status} {text}", kind.name());
            if allowed {
                assert!(status.is_success(), "{what}");
            } else if token.is_none() {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                assert!(text.contains(least.unwrap()), "{what}");
            }
        }
    }

    // Text search is case-insensitive and literal (no LIKE wildcards) on every store.
    let total = |query: &'static str| {
        let (server, admin) = (&server, admin);
        async move {
            get_json(server, admin, &format!("/api/v1/changes?{query}")).await["total"]
                .as_i64()
                .unwrap()
        }
    };
    let (lower, upper) = (total("text=gmbh").await, total("text=GMBH").await);
    assert!(lower > 0, "{}: the demo has GmbH values", kind.name());
    assert_eq!(lower, upper, "{}", kind.name());
    assert_eq!(
        total("text=%25").await,
        0,
        "{}: `%` is literal",
        kind.name()
    );
    assert_eq!(total("text=_").await, 0, "{}: `_` is literal", kind.name());

    // The revocation the steward recorded is a consent record in their name, and it rules
    // out the business phone that presumed consent allowed before.
    let consent = get_json(&server, admin, "/api/v1/consent/contacts/1").await;
    let phone = consent["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["channel"] == "phone")
        .cloned()
        .unwrap();
    assert_eq!(phone["allowed"], json!(false), "{consent}");
    assert!(revoked_by(&consent, "phone", "stefan"), "{consent}");

    // The steward decided each merge; the admin's second approval and split changed
    // nothing, and a decided merge is not decided the other way. The approved one was
    // applied and reverted by the admin.
    for (id, status) in [
        (approved, "reverted"),
        (rejected, "rejected"),
        (split, "rejected"),
    ] {
        let merge = get_json(&server, admin, &format!("/api/v1/duplicates/{id}")).await;
        assert_eq!(
            (&merge["status"], &merge["decided_by"]),
            (&json!(status), &json!("stefan")),
            "{}: {merge}",
            kind.name()
        );
        assert!(merge["golden"]["survivor"].is_string(), "{merge}");
    }
    for (method, path, want) in [
        (
            Method::POST,
            format!("/api/v1/duplicates/{rejected}/approve"),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/duplicates/999999/approve".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/v1/duplicates?status=merged".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/api/v1/duplicates/{approved}/revert"),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/duplicates/999999/revert".into(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let answer = client()
            .request(method.clone(), server.url(&path))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), want, "{} {method} {path}", kind.name());
    }

    // The steward's decision names the steward in the audit log.
    let history = get_json(&server, admin, &format!("/api/v1/audit?change={proposed}")).await;
    let by = |action: &str| {
        history
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["action"] == action)
            .map(|h| h["actor"].clone())
    };
    // The steward approved it; the admin's apply wrote it.
    assert_eq!(by("approved"), Some(json!("stefan")), "{history}");
    assert_eq!(by("applied"), Some(json!("anke")), "{history}");
    // The config is redacted and the new user was disabled.
    let users = get_json(&server, admin, "/api/v1/users").await;
    let neu = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "neu")
        .unwrap();
    assert_eq!(neu["disabled"], true);
    assert!(
        users.to_string().find("argon2").is_none(),
        "no password hashes: {users}"
    );
}

/// (METHOD, path template) of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// The documented template a concrete path fills in, e.g. `/api/v1/passes/1` →
/// `/api/v1/passes/{id}`.
fn template_of(path: &str, documented: &BTreeSet<(String, String)>) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    // A literal route wins over a template, as in the router (`duplicates/apply`).
    if documented.iter().any(|(_, t)| t == path) {
        return path.to_string();
    }
    documented
        .iter()
        .map(|(_, t)| t)
        .find(|t| {
            let tparts: Vec<&str> = t.split('/').collect();
            tparts.len() == parts.len()
                && tparts
                    .iter()
                    .zip(&parts)
                    .all(|(t, p)| t == p || t.starts_with('{'))
        })
        .cloned()
        .unwrap_or_else(|| path.to_string())
}

/// (METHOD, path) of every `.route(...)` in the API's source: what the router serves.
fn routed_operations() -> BTreeSet<(String, String)> {
    let source = ["src/web/api.rs", "src/web/check.rs"]
        .map(|file| {
            std::fs::read_to_string(std::path::Path::new(crate::common::MANIFEST).join(file))
                .unwrap()
        })
        .join("\n");
    let mut out = BTreeSet::new();
    for line in source.lines().filter_map(|l| l.split_once(".route(\"")) {
        let (_, line) = line;
        let path = line.split('"').next().unwrap().to_string();
        for method in ["get", "post", "put", "patch", "delete"] {
            if line.contains(&format!("{method}(")) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_names_exactly_the_routes_served() {
    let server = Server::start(&StoreKind::Sqlite);
    let response = client()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    // The document's shape, per the OpenAPI 3.1 rules it relies on.
    let shape = json!({
        "type": "object",
        "required": ["openapi", "info", "paths", "components"],
        "properties": {
            "openapi": { "type": "string", "pattern": "^3\\.1\\.\\d+$" },
            "info": { "type": "object", "required": ["title", "version"] },
            "paths": { "type": "object", "propertyNames": { "pattern": "^/" },
                "additionalProperties": { "type": "object",
                    "propertyNames": { "enum": ["get", "post", "put", "patch", "delete"] },
                    "additionalProperties": { "type": "object", "required": ["responses", "summary"],
                        "properties": { "parameters": { "type": "array", "items": {
                            "type": "object", "required": ["name", "in", "schema"],
                            "properties": { "in": { "enum": ["query", "path", "header", "cookie"] } } } } } } } }
        }
    });
    let validator = jsonschema::validator_for(&shape).unwrap();
    let problems: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:#?}");

    // Every $ref points at something in the document.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }

    // Every path parameter of a template is declared, and the routes match the router's.
    let documented = documented_operations(&doc);
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')) {
            let name = name.trim_end_matches('}');
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
            assert!(declared, "{method} {path} does not declare `{name}`");
        }
    }
    assert_eq!(documented, routed_operations());

    // And each documented operation is routed: never 404 without a JSON error, never 405.
    let token = server.token("anke");
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "1")
            .replace("{job}", "organisations")
            .replace("{record_id}", "1")
            .replace("{name}", "nobody");
        let method: Method = method.parse().unwrap();
        let mut request = client()
            .request(method.clone(), server.url(&concrete))
            .bearer_auth(&token);
        if method == Method::POST {
            // A body the handlers refuse: routing is the question, not the effect.
            request = request.json(&json!({ "verdict": "none" }));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let is_json = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete}"
        );
        assert!(
            status != StatusCode::NOT_FOUND || is_json,
            "{method} {concrete} is not routed"
        );
    }
}

#[tokio::test]
async fn session_writes_need_the_csrf_token_and_bearer_tokens_do_not() {
    let server = Server::start(&StoreKind::Sqlite);
    let response = login(&server, "stefan", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain http on loopback was configured: {set}"
    );
    let cookie = session_cookie(&response);
    let me: Value = client()
        .get(server.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf"].as_str().unwrap().to_string();
    assert_eq!(csrf.len(), 64);

    let admin = server.token("anke");
    let page = get_json(&server, &admin, "/api/v1/changes?status=proposed&limit=4").await;
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    let status_of = |id: i64| {
        let (server, admin) = (&server, &admin);
        async move { get_json(server, admin, &format!("/api/v1/changes/{id}")).await["status"].clone() }
    };

    // (how, expected status): the change stays proposed unless the request passes.
    let wrong = "0".repeat(64);
    let api_cases: [(Option<&str>, StatusCode); 3] = [
        (None, StatusCode::FORBIDDEN),
        (Some(wrong.as_str()), StatusCode::FORBIDDEN),
        (Some(csrf.as_str()), StatusCode::OK),
    ];
    for (header, expected) in api_cases {
        let mut request = client()
            .post(server.url("/api/v1/decisions"))
            .header("cookie", &cookie)
            .json(&json!({ "verdict": "reject", "ids": [ids[0]] }));
        if let Some(h) = header {
            request = request.header("x-csrf-token", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "header {header:?}");
        let after = status_of(ids[0]).await;
        let want = if expected == StatusCode::OK {
            "rejected"
        } else {
            "proposed"
        };
        assert_eq!(after, want);
    }

    // Forms carry the token in a field.
    let form_cases = [
        (wrong.as_str(), StatusCode::FORBIDDEN, "proposed"),
        (csrf.as_str(), StatusCode::OK, "approved"),
    ];
    for (token, expected, after) in form_cases {
        let response = client()
            .post(server.url("/decide"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", token),
                ("verdict", "approve"),
                ("id", &ids[1].to_string()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        assert_eq!(status_of(ids[1]).await, after);
    }

    // A bearer token is no cookie a browser sends by itself: no CSRF token needed.
    let steward = server.token("stefan");
    let response = client()
        .post(server.url("/api/v1/decisions"))
        .bearer_auth(&steward)
        .json(&json!({ "verdict": "wrong", "ids": [ids[2]] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(status_of(ids[2]).await, "rejected");

    // A body over the limit is 413 here as in the UI, with a JSON error.
    let huge = json!({ "verdict": "approve", "ids": [ids[2]], "note": "x".repeat(3 << 20) });
    let response = client()
        .post(server.url("/api/v1/decisions"))
        .bearer_auth(&steward)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert_eq!(status_of(ids[2]).await, "rejected");

    // Logging out ends the session.
    let response = client()
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = client()
        .get(server.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn change_pages_cover_the_filter_exactly_once_in_order() {
    let server = Server::start(&StoreKind::Sqlite);
    let token = server.token("vera");
    let first = get_json(&server, &token, "/api/v1/changes?status=proposed&limit=1").await;
    let total = first["total"].as_i64().unwrap();
    assert!(
        total > 20,
        "the demo pass proposes enough changes to page: {total}"
    );
    assert_eq!(first["by_status"]["proposed"].as_i64(), Some(total));

    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = get_json(
            &server,
            &token,
            &format!("/api/v1/changes?status=proposed&limit=7&offset={offset}&sort=-id"),
        )
        .await;
        assert_eq!(page["total"].as_i64(), Some(total));
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|c| c["id"].as_i64().unwrap()));
        offset += 7;
    }
    assert_eq!(seen.len() as i64, total);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "sorted by -id: {seen:?}"
    );

    // Filters narrow the total; the confidence range is inclusive.
    let narrow = get_json(
        &server,
        &token,
        "/api/v1/changes?status=proposed&max_score=0.999&min_score=0.5",
    )
    .await;
    for c in narrow["items"].as_array().unwrap() {
        let s = c["score"].as_f64().unwrap();
        assert!((0.5..=0.999).contains(&s), "{c}");
    }
    assert!(narrow["total"].as_i64().unwrap() <= total);

    // Bad paging is a clear 400.
    for bad in [
        "limit=0",
        "limit=501",
        "offset=-1",
        "sort=name",
        "status=nonsense",
        "min_score=2",
        "limit=abc",
    ] {
        let response = client()
            .get(server.url(&format!("/api/v1/changes?{bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}: {body}"
        );
    }
}

#[tokio::test]
async fn five_failed_logins_lock_the_name_for_a_while_but_not_other_users() {
    let server = Server::start(&StoreKind::Sqlite);
    for attempt in 1..=5 {
        let response = login(&server, "stefan", "wrong-password-here").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // Even the right password is refused now.
    let response = login(&server, "stefan", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("set-cookie").is_none());
    // Unknown names fail the same way as wrong passwords.
    let response = login(&server, "nobody", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = login(&server, "vera", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[test]
fn user_commands_refuse_bad_input_with_usage_errors() {
    let sb = crate::common::Sandbox::new();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["user", "add", "x y", "--role", "viewer"],
            "correct-horse-battery\n",
            "not a user name",
        ),
        (
            &["user", "add", "anna", "--role", "boss"],
            "correct-horse-battery\n",
            "`boss` is not one of: intake, viewer, steward, admin",
        ),
        (
            &["user", "add", "anna", "--role", "admin"],
            "short\n",
            "too short",
        ),
        (&["user", "disable", "ghost"], "", "no user `ghost`"),
        (
            &["user", "token", "create", "ghost", "--label", "x"],
            "",
            "no enabled user",
        ),
    ];
    for (args, stdin, expected) in cases {
        use std::io::Write;
        let mut child = sb
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The command may refuse before reading stdin; a closed pipe is fine then.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        let err = crate::common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn the_tune_page_shows_admins_the_curve_and_the_suggestion_from_decisions() {
    let server = Server::start(&StoreKind::Sqlite);
    let steward = server.token("stefan");
    let admin = server.token("anke");
    let (status, _) = get_page(&server, &steward, "/admin/tune?job=organisations").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "stewards do not tune");

    // Before anyone decided, the page says what is missing instead of failing.
    let (status, html) = get_page(&server, &admin, "/admin/tune?job=organisations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"too-few\""), "{html}");

    // Stewards accept the changes of some records and reject those of others.
    let page = get_json(
        &server,
        &admin,
        "/api/v1/changes?status=proposed&job=organisations&limit=500",
    )
    .await;
    let mut by_record: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for c in page["items"].as_array().unwrap() {
        by_record
            .entry(c["record_id"].as_str().unwrap().to_string())
            .or_default()
            .push(c["id"].as_i64().unwrap());
    }
    assert!(by_record.len() >= 45, "{} records", by_record.len());
    for (i, ids) in by_record.values().enumerate() {
        let verdict = if i % 4 == 0 { "reject" } else { "approve" };
        let response = client()
            .post(server.url("/api/v1/decisions"))
            .bearer_auth(&steward)
            .json(&json!({ "verdict": verdict, "ids": ids }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (status, html) = get_page(&server, &admin, "/admin/tune?job=organisations&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        "id=\"bands\"",
        "id=\"suggested-auto\"",
        "id=\"queue-shift\"",
        "<svg",
        "id=\"precision\"",
        "id=\"recall\"",
        "[job.organisations.thresholds]",
    ] {
        assert!(html.contains(part), "{part} missing: {html}");
    }
    // Records whose only proposals are list codes or merges say nothing about the match.
    let decided: usize = html
        .split("id=\"decided\">")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        (40..=by_record.len()).contains(&decided),
        "{decided} of {} records",
        by_record.len()
    );
    // A target outside 0..=1 is refused with the reason.
    let (status, html) =
        get_page(&server, &admin, "/admin/tune?job=organisations&precision=2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
}

#[tokio::test]
async fn viewers_read_the_data_audit_of_a_job_in_their_language() {
    let server = Server::start(&StoreKind::Sqlite);
    let viewer = server.token("vera");
    let (status, html) = get_page(&server, &viewer, "/queue").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"nav-report\""), "no way to the report");

    let (status, html) = get_page(&server, &viewer, "/report?job=organisations").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for part in [
        "<h1>Datenaudit – organisations</h1>",
        "Vollständigkeit",
        "<svg",
    ] {
        assert!(html.contains(part), "no `{part}`");
    }
    let (status, html) = get_page(&server, &viewer, "/report?job=contacts&lang=en").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for part in ["<h1>Data audit – contacts</h1>", "Reachability (UWG §7)"] {
        assert!(html.contains(part), "no `{part}`");
    }

    let (status, _) = get_page(&server, &viewer, "/report?job=nonesuch").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let anonymous = client()
        .get(server.url("/report?job=organisations"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        anonymous.status(),
        StatusCode::OK,
        "the logged-out get no report"
    );
    assert!(!anonymous.text().await.unwrap().contains("Datenaudit"));
}
