//! The W3C reconciliation client: the specification's conformance suite, and whole passes
//! against a local reconciliation service double in both dialects, `extend` included.

use std::path::Path;

use refsync::register::reconciliation::{schema_names, validator, Dialect};
use serde_json::{json, Value};

use crate::common::{Sandbox, MANIFEST};
use crate::http_double::{Double, Reply, Seen};

/// Upstream's `test.sh`: every `examples/<schema>/valid/*.json` validates against
/// `schemas/<schema>.json`, every `invalid/*.json` is rejected.
#[test]
fn conformance_suite_of_both_versions() {
    for (dialect, folder) in [(Dialect::V02, "0.2"), (Dialect::V1Draft, "1.0-draft")] {
        let examples = Path::new(MANIFEST)
            .join("tests/fixtures/reconciliation")
            .join(folder)
            .join("examples");
        let (mut valid, mut invalid) = (0, 0);
        for schema in schema_names(dialect) {
            let dir = examples.join(schema);
            if !dir.exists() {
                continue;
            }
            let v = validator(dialect, schema).unwrap();
            for (kind, expect) in [("valid", true), ("invalid", false)] {
                let Ok(entries) = std::fs::read_dir(dir.join(kind)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    let example: Value =
                        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                    assert_eq!(
                        v.is_valid(&example),
                        expect,
                        "{folder} {schema}: {}",
                        path.display()
                    );
                    if expect {
                        valid += 1
                    } else {
                        invalid += 1
                    }
                }
            }
        }
        // The suite's size, so a lost folder cannot make this test pass vacuously.
        assert!(
            valid >= 20 && invalid >= 10,
            "{folder}: {valid} valid, {invalid} invalid"
        );
    }
}

/// One organisation the double knows.
struct Entity {
    id: String,
    name: String,
    street: String,
    postcode: String,
    city: String,
}

fn entities() -> Vec<Entity> {
    let path = Path::new(MANIFEST).join("config/demo/reference-organisations.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Entity {
                id: format!("E{}", &r[0]),
                name: r[1].to_string(),
                street: format!("{} {}", &r[3], &r[4]),
                postcode: r[5].to_string(),
                city: r[6].to_string(),
            }
        })
        .collect()
}

/// Candidates for `name`: same name first (score 100), plus a decoy with a higher raw
/// score and `match: true` that refsync must not believe.
fn candidates(all: &[Entity], name: &str) -> Vec<Value> {
    let mut out: Vec<Value> = all
        .iter()
        .filter(|e| e.name.eq_ignore_ascii_case(name))
        .map(|e| json!({"id": e.id, "name": e.name, "score": 100.0, "match": false}))
        .collect();
    out.push(
        json!({"id": "DECOY", "name": "Völlig Andere Firma GmbH", "score": 1000.0, "match": true}),
    );
    out
}

fn extend_values(all: &[Entity], ids: &[Value], pid: &str) -> Vec<(String, Value)> {
    ids.iter()
        .filter_map(|id| all.iter().find(|e| Some(e.id.as_str()) == id.as_str()))
        .map(|e| {
            let v = match pid {
                "street" => json!({"str": e.street}),
                "postcode" => json!({"str": e.postcode}),
                "city" => json!({"id": format!("C-{}", e.city), "name": e.city}),
                _ => Value::Null,
            };
            (e.id.clone(), v)
        })
        .collect()
}

/// A reconciliation service at `/api` speaking `version` ("0.2" or "1.0-draft").
fn service(version: &'static str) -> Double {
    Double::start(answers(version))
}

/// How that service answers.
fn answers(version: &'static str) -> impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static {
    let all = entities();
    move |req: &Seen, _| {
        let manifest = json!({
            "versions": [version],
            "name": "refsync test service",
            "identifierSpace": "http://example.org/entities/",
            "schemaSpace": "http://example.org/properties/",
            "defaultTypes": [{"id": "Organization", "name": "Organization"}],
            "view": {"url": "http://example.org/entities/{{id}}"},
            "extend": {"propose_properties": {"service_url": "http://example.org", "service_path": "/propose"}},
        });
        let path = req.path();
        match (version, req.method.as_str(), path.as_str()) {
            (_, "GET", "/api") => Reply::json(manifest.to_string()),
            ("0.2", "POST", "/api") => {
                if let Some(queries) = req.form("queries") {
                    let queries: Value = serde_json::from_str(&queries).unwrap();
                    let mut out = serde_json::Map::new();
                    for (key, q) in queries.as_object().unwrap() {
                        let name = q["query"].as_str().unwrap_or_default();
                        out.insert(key.clone(), json!({"result": candidates(&all, name)}));
                    }
                    Reply::json(Value::Object(out).to_string())
                } else if let Some(extend) = req.form("extend") {
                    let q: Value = serde_json::from_str(&extend).unwrap();
                    let ids = q["ids"].as_array().unwrap();
                    let mut rows = serde_json::Map::new();
                    for id in ids {
                        rows.insert(id.as_str().unwrap().to_string(), json!({}));
                    }
                    let mut meta = Vec::new();
                    for p in q["properties"].as_array().unwrap() {
                        let pid = p["id"].as_str().unwrap();
                        meta.push(json!({"id": pid, "name": pid}));
                        for (id, v) in extend_values(&all, ids, pid) {
                            rows[&id][pid] = json!([v]);
                        }
                    }
                    Reply::json(json!({"meta": meta, "rows": rows}).to_string())
                } else {
                    Reply::status(400)
                }
            }
            ("1.0-draft", "POST", "/api/match") => {
                let batch: Value = serde_json::from_str(&req.body).unwrap();
                let results: Vec<Value> = batch["queries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|q| {
                        let name = q["conditions"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|c| c["matchType"] == "name")
                            .and_then(|c| c["propertyValue"].as_str())
                            .unwrap_or_default();
                        json!({"candidates": candidates(&all, name)})
                    })
                    .collect();
                Reply::json(json!({ "results": results }).to_string())
            }
            ("1.0-draft", "POST", "/api/extend") => {
                let q: Value = serde_json::from_str(&req.body).unwrap();
                let ids = q["ids"].as_array().unwrap();
                let pids: Vec<&str> = q["properties"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap())
                    .collect();
                let rows: Vec<Value> = ids
                    .iter()
                    .map(|id| {
                        let properties: Vec<Value> = pids
                            .iter()
                            .map(|pid| {
                                let values: Vec<Value> =
                                    extend_values(&all, std::slice::from_ref(id), pid)
                                        .into_iter()
                                        .map(|(_, v)| v)
                                        .collect();
                                json!({"id": pid, "values": values})
                            })
                            .collect();
                        json!({"id": id, "properties": properties})
                    })
                    .collect();
                let meta: Vec<Value> = pids.iter().map(|p| json!({"id": p, "name": p})).collect();
                Reply::json(json!({"meta": meta, "rows": rows}).to_string())
            }
            _ => Reply::status(404),
        }
    }
}

/// The default config with the organisations job on the service at `url` as `recon`;
/// `http` adds to its [register.recon.http] section.
fn sandbox_against(url: &str, http: &str) -> Sandbox {
    let section = format!(
        "[register.recon]\nkind = \"reconciliation\"\nendpoint = \"{url}/api\"\ntype = \"Organization\"\n\n\
         [register.recon.extend]\nstreet = \"street\"\npostcode = \"postcode\"\ncity = \"city\"\n\n\
         [register.recon.http]\nrequests_per_minute = 60000\n{http}\n\n"
    );
    Sandbox::with_config(|c| {
        c.replace("register = \"demo_organisations\"", "register = \"recon\"")
            .replace(
                "# ---------------------------------------------------------------- jobs",
                &section,
            )
    })
}

fn pass_against(version: &'static str) {
    let server = service(version);
    let sb = sandbox_against(&server.url, "");
    let (out, report) = sb.pass_report("organisations");
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let counts = &report["counts"];
    let matched =
        counts["matched_auto"].as_i64().unwrap() + counts["matched_review"].as_i64().unwrap();
    assert!(matched > 50, "{version}: {counts}");
    assert_eq!(
        counts["lookup_failed"].as_i64(),
        Some(0),
        "{version}: {counts}"
    );

    // Nothing matched the decoy, whatever its raw score said.
    let proposed = sb.json(&["review", "list"]);
    assert!(
        proposed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["register_id"] != "DECOY"),
        "{version}"
    );
    // Street, postcode and city exist only through `extend`: changes to them prove it ran.
    let extended_fields: Vec<&str> = proposed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["field"].as_str())
        .filter(|f| ["street", "postcode", "city"].contains(f))
        .collect();
    assert!(
        !extended_fields.is_empty(),
        "{version}: no change from extended fields"
    );
    // The service's own score is shown to the steward beside refsync's.
    let first = proposed.as_array().unwrap()[0]["id"].to_string();
    let shown = sb.json(&["review", "show", &first]);
    assert!(
        shown["explanation"]["register_score"].is_string(),
        "{version}: {}",
        shown["explanation"]
    );

    let seen = server.seen();
    let extends: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.form("extend").is_some() || s.path() == "/api/extend")
        .collect();
    assert!(!extends.is_empty(), "{version}: extend never asked");
    match version {
        "0.2" => assert!(seen
            .iter()
            .any(|s| s.method == "POST" && s.form("queries").is_some())),
        _ => assert!(seen.iter().any(|s| s.path() == "/api/match"
            && s.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")))),
    }
}

#[test]
fn a_pass_against_a_0_2_service_with_extend() {
    pass_against("0.2");
}

#[test]
fn a_pass_against_a_1_0_draft_service_with_extend() {
    pass_against("1.0-draft");
}

/// How many answers the store caches for requests that begin with `prefix`.
fn cached(sb: &Sandbox, prefix: &str) -> i64 {
    use diesel::sql_types::{BigInt, Text};
    use diesel::{sql_query, Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut store =
        SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy()).unwrap();
    sql_query("SELECT count(*) AS n FROM register_cache WHERE request LIKE ? || '%'")
        .bind::<Text, _>(prefix)
        .get_result::<N>(&mut store)
        .unwrap()
        .n
}

/// The organisations pass's counts, whatever its exit code (a pass whose lookups all
/// failed may end non-zero).
fn pass_counts(sb: &Sandbox) -> Value {
    sb.pass_report("organisations").1["counts"].take()
}

#[test]
fn error_answers_are_never_cached_so_a_fixed_service_is_asked_again() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    type Breaks = fn(&Seen) -> Option<Reply>;
    // (what, how the service breaks, how the requests it breaks begin in the cache)
    let cases: Vec<(&str, Breaks, &str)> = vec![
        (
            "a 404 manifest",
            |req| (req.method == "GET" && req.path() == "/api").then(|| Reply::status(404)),
            "GET ",
        ),
        (
            "a 5xx answer",
            |req| {
                (req.method == "POST" && req.form("queries").is_some()).then(|| Reply::status(503))
            },
            "POST ",
        ),
        (
            "an answer that fails the schema",
            |req| {
                (req.method == "POST" && req.form("queries").is_some())
                    .then(|| Reply::json(r#"{"q0": {"result": "not a list"}}"#))
            },
            "POST ",
        ),
    ];
    for (label, breaks, broken_requests) in cases {
        let broken = Arc::new(AtomicBool::new(true));
        let healthy = answers("0.2");
        let flag = broken.clone();
        let server = Double::start(move |req, n| {
            match flag.load(Ordering::SeqCst).then(|| breaks(req)).flatten() {
                Some(reply) => reply,
                None => healthy(req, n),
            }
        });
        // Cached for a day, and no retries: the failure is quick and would be kept.
        let sb = sandbox_against(&server.url, "cache_ttl_hours = 24\nretries = 0");
        let failed = pass_counts(&sb);
        assert_eq!(
            failed["matched_auto"].as_i64(),
            Some(0),
            "{label}: {failed}"
        );
        assert!(
            failed["lookup_failed"].as_i64() > Some(50),
            "{label}: {failed}"
        );
        assert_eq!(
            cached(&sb, broken_requests),
            0,
            "{label}: an error answer was cached"
        );

        broken.store(false, Ordering::SeqCst);
        let fixed = pass_counts(&sb);
        assert_eq!(fixed["lookup_failed"].as_i64(), Some(0), "{label}: {fixed}");
        assert!(
            fixed["matched_auto"].as_i64() > Some(50),
            "{label}: {fixed}"
        );
    }
}

#[test]
fn cache_clear_forgets_the_cached_answers_of_one_register_or_of_all() {
    let server = service("0.2");
    let sb = sandbox_against(&server.url, "cache_ttl_hours = 24");
    let asked = || server.seen().len();
    pass_counts(&sb);
    let first = asked();
    // Within the TTL the next pass asks the service nothing.
    pass_counts(&sb);
    assert_eq!(asked(), first, "answers came from the cache");

    let unknown = sb.run(&["cache", "clear", "--register", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = crate::common::stderr(&unknown);
    for word in ["nope", "recon", "demo_organisations"] {
        assert!(err.contains(word), "lacks {word:?}: {err}");
    }
    assert_eq!(
        sb.ok(&["cache", "clear", "--register", "demo_organisations"]),
        "removed 0 cached answers of register `demo_organisations`\n"
    );
    let cleared = sb.ok(&["cache", "clear", "--register", "recon"]);
    let removed: u64 = cleared
        .strip_prefix("removed ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{cleared}"));
    assert!(removed > 1, "{cleared}");
    assert_eq!(sb.ok(&["cache", "clear"]), "removed 0 cached answers\n");

    // The next pass asks afresh.
    let counts = pass_counts(&sb);
    assert!(asked() > first, "the service was asked again");
    assert_eq!(counts["lookup_failed"].as_i64(), Some(0), "{counts}");
}

#[test]
fn a_service_that_sends_null_values_fails_no_lookup() {
    let healthy = answers("0.2");
    // Every extend answer says the street of its first entity is `{"str": null}`.
    let server = Double::start(move |req, n| {
        let reply = healthy(req, n);
        if req.form("extend").is_none() {
            return reply;
        }
        let mut answer: Value = serde_json::from_slice(&reply.body).unwrap();
        if let Some((_, row)) = answer["rows"].as_object_mut().unwrap().iter_mut().next() {
            row["street"] = json!([{ "str": null }]);
        }
        Reply::json(answer.to_string())
    });
    let sb = sandbox_against(&server.url, "");
    let counts = pass_counts(&sb);
    assert_eq!(counts["lookup_failed"].as_i64(), Some(0), "{counts}");
    assert!(counts["matched_auto"].as_i64() > Some(50), "{counts}");
}
