//! Register answers of any shape: GLEIF, reconciliation (both dialects) and VIES answers
//! built from real ones with one node replaced by any JSON, and arbitrary bytes, served by a
//! local double to the real clients. Whatever comes, a lookup ends in candidates or an
//! error — never a panic.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use refsync::config::RegisterConfig;
use refsync::domain::model::{EntityKind, Field, Record};
use refsync::register::vies::Vies;
use serde_json::{json, Value};

use crate::common::MANIFEST;
use crate::http_double::{Double, Reply, Seen};

/// Cases per property: fixed, so CI's time does not depend on the environment.
const CASES: u32 = 256;

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The JSON pointers of every node of `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(v, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// `fixture` with one node (chosen by the case) replaced by any JSON.
fn mutated(fixture: Value) -> impl Strategy<Value = Value> {
    let mut all = Vec::new();
    pointers(&fixture, String::new(), &mut all);
    (any::<prop::sample::Index>(), json()).prop_map(move |(pick, replacement)| {
        let mut value = fixture.clone();
        let at = &all[pick.index(all.len())];
        if let Some(node) = value.pointer_mut(at) {
            *node = replacement;
        }
        value
    })
}

/// A real answer with a node replaced, or bytes that may not be JSON at all.
fn body(fixture: Value) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutated(fixture).prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{MANIFEST}/tests/fixtures/{path}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A double answering every request with the body of the case under test (`/api`'s
/// manifest excepted, when `manifest` is given).
fn double(manifest: Option<Value>) -> (Double, Arc<Mutex<Vec<u8>>>) {
    let current = Arc::new(Mutex::new(Vec::new()));
    let body = Arc::clone(&current);
    let server = Double::start(move |req: &Seen, _| match &manifest {
        Some(m) if req.method == "GET" && req.path() == "/api" => Reply::json(m.to_string()),
        _ => Reply::json(body.lock().unwrap().clone()),
    });
    (server, current)
}

fn register(toml_text: &str) -> RegisterConfig {
    toml::from_str(toml_text).unwrap()
}

const HTTP: &str = "[http]\nretries = 0\nrequests_per_minute = 600000\nbreaker_failures = 1000000\ncache_ttl_hours = 0\n";

fn record() -> Record {
    let mut r = Record::new("1");
    r.values.insert(Field::LegalName, "Fraport AG".into());
    r.values.insert(Field::City, "Frankfurt am Main".into());
    r.values.insert(Field::Lei, "5299001ERX0K10IZUL40".into());
    r.values.insert(Field::RegisterNumber, "HRB 7042".into());
    r
}

fn runner() -> TestRunner {
    TestRunner::new(ProptestConfig::with_cases(CASES))
}

/// Each case's body served to a fresh register (nothing carried over between cases).
fn lookups_survive(
    config: RegisterConfig,
    current: Arc<Mutex<Vec<u8>>>,
    bodies: impl Strategy<Value = Vec<u8>>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runner()
        .run(&bodies, |b| {
            *current.lock().unwrap() = b;
            let register = rt
                .block_on(refsync::register::open("fuzz", &config, None))
                .unwrap();
            let found = rt.block_on(register.candidates(EntityKind::Organisation, &[record()]));
            prop_assert_eq!(found.len(), 1);
            Ok(())
        })
        .unwrap();
}

#[test]
fn gleif_answers_of_any_shape_end_in_candidates_or_an_error() {
    let (server, current) = double(None);
    let config = register(&format!(
        "kind = \"gleif\"\nbase_url = \"{}/api/v1\"\nmax_pages = 1\n{HTTP}",
        server.url
    ));
    let bodies = prop_oneof![
        body(fixture("gleif/multi_lei_records.json")),
        body(fixture("gleif/single_lei_record_5299001ERX0K10IZUL40.json")),
        body(fixture("gleif/fuzzycompletions_all.json")),
    ];
    lookups_survive(config, current, bodies);
    assert!(
        server.seen().len() >= CASES as usize,
        "the cases never reached the double"
    );
}

#[test]
fn reconciliation_answers_of_any_shape_end_in_candidates_or_an_error() {
    for (version, answer) in [
        (
            "0.2",
            json!({"q0": {"result": [{"id": "E1", "name": "Fraport AG", "score": 99.0, "match": true}]},
                       "q1": {"result": []}, "q2": {"result": []}, "q3": {"result": []}}),
        ),
        (
            "1.0-draft",
            json!({"results": [{"candidates": [{"id": "E1", "name": "Fraport AG", "score": 99.0}]}]}),
        ),
    ] {
        let manifest = json!({
            "versions": [version],
            "name": "fuzz",
            "identifierSpace": "http://example.org/entities/",
            "schemaSpace": "http://example.org/properties/",
            "view": {"url": "http://example.org/entities/{{id}}"},
            "extend": {},
        });
        let (server, current) = double(Some(manifest));
        let config = register(&format!(
            "kind = \"reconciliation\"\nendpoint = \"{}/api\"\n[extend]\ncity = \"city\"\n{HTTP}",
            server.url
        ));
        let extension = fixture(&format!(
            "reconciliation/{version}/examples/data-extension-response/valid/example-full.json"
        ));
        lookups_survive(config, current, prop_oneof![body(answer), body(extension)]);
        // Each case asks for the manifest and then at least one query.
        assert!(server.seen().len() >= 2 * CASES as usize, "{version}");
    }
}

#[test]
fn vies_answers_of_any_shape_are_a_verdict_or_an_error() {
    let (server, current) = double(None);
    let RegisterConfig::Vies(config) = register(&format!(
        "kind = \"vies\"\nbase_url = \"{}\"\n{HTTP}",
        server.url
    )) else {
        unreachable!("a vies section")
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = json!({"countryCode": "DE", "vatNumber": "136695976", "valid": true,
                        "errorWrappers": [{"error": "MS_UNAVAILABLE"}]});
    runner()
        .run(&body(answer), |b| {
            *current.lock().unwrap() = b;
            let vies = Vies::new("fuzz", &config, None).unwrap();
            let _ = rt.block_on(vies.check("DE136695976"));
            Ok(())
        })
        .unwrap();
    assert_eq!(server.seen().len(), CASES as usize);
}
