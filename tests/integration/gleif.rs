//! The GLEIF connector against a local server that answers from the real GLEIF responses
//! in tests/fixtures/gleif (filtering and paging them as the API does).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use refsync::config::{GleifConfig, HttpConfig};
use refsync::domain::model::{EntityKind, Field, Record};
use refsync::register::gleif::GleifRegister;
use refsync::register::{Register, RegisterError};
use serde_json::{json, Value};

use crate::common::MANIFEST;
use crate::http_double::{Double, Reply, Seen};

const FRAPORT: &str = "5299001ERX0K10IZUL40";
const COMMERZBANK: &str = "851WYGNLUQLFZBSYGB56";
const PUMA: &str = "529900GRZ2BQY5ZM9N49";

fn fixture(name: &str) -> Value {
    let path = Path::new(MANIFEST).join("tests/fixtures/gleif").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}

/// The `data` objects of every real single-record answer.
fn real_records() -> Vec<Value> {
    let dir = Path::new(MANIFEST).join("tests/fixtures/gleif");
    let mut out: Vec<Value> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.starts_with("single_lei_record_")
                .then(|| fixture(&name)["data"].clone())
        })
        .collect();
    out.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
    out
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// What api.gleif.org answers, over the fixture records: the filters refsync uses,
/// pagination with absolute `links.next` on GLEIF's own host, fuzzy completions and
/// entity legal forms.
fn gleif_answer(records: &[Value], req: &Seen) -> Reply {
    let path = req.path();
    if path.ends_with("/fuzzycompletions") {
        let q = req.param("q").unwrap_or_default().to_lowercase();
        if q == "factbook" {
            return Reply::json(fixture("fuzzycompletions_all.json").to_string());
        }
        let data: Vec<Value> = records
            .iter()
            .filter(|r| text(r, "/attributes/entity/legalName/name").to_lowercase().contains(&q))
            .map(|r| {
                json!({"type": "fuzzycompletions",
                       "attributes": {"value": text(r, "/attributes/entity/legalName/name")},
                       "relationships": {"lei-records": {"data": {"type": "lei-records", "id": r["id"]}}}})
            })
            .collect();
        return Reply::json(json!({ "data": data }).to_string());
    }
    if let Some(code) = path.split("/entity-legal-forms/").nth(1) {
        let name = format!("entity_legal_form_{code}.json");
        return if Path::new(MANIFEST)
            .join("tests/fixtures/gleif")
            .join(&name)
            .exists()
        {
            Reply::json(fixture(&name).to_string())
        } else {
            Reply::status(404)
        };
    }
    if !path.ends_with("/lei-records") {
        return Reply::status(404);
    }
    let eq = |param: &str, pointer: &str, r: &Value| {
        req.param(param)
            .is_none_or(|want| text(r, pointer).eq_ignore_ascii_case(&want))
    };
    let matching: Vec<&Value> = records
        .iter()
        .filter(|r| {
            req.param("filter[lei]")
                .is_none_or(|l| l.split(',').any(|l| l == r["id"]))
        })
        .filter(|r| {
            eq(
                "filter[entity.registeredAs]",
                "/attributes/entity/registeredAs",
                r,
            )
        })
        .filter(|r| {
            eq(
                "filter[entity.registeredAt.id]",
                "/attributes/entity/registeredAt/id",
                r,
            )
        })
        .filter(|r| {
            eq(
                "filter[entity.legalAddress.country]",
                "/attributes/entity/legalAddress/country",
                r,
            )
        })
        .filter(|r| {
            eq(
                "filter[entity.legalAddress.city]",
                "/attributes/entity/legalAddress/city",
                r,
            )
        })
        .filter(|r| {
            eq(
                "filter[entity.legalName]",
                "/attributes/entity/legalName/name",
                r,
            )
        })
        .filter(|r| {
            req.param("filter[registration.lastUpdateDate]")
                .is_none_or(|f| {
                    let since = f.trim_start_matches(">=");
                    text(r, "/attributes/registration/lastUpdateDate")[..10]
                        .replace('-', "")
                        .as_str()
                        >= since
                })
        })
        .collect();
    let size: usize = req
        .param("page[size]")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let number: usize = req
        .param("page[number]")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let last = matching.len().div_ceil(size).max(1);
    let page: Vec<&Value> = matching
        .iter()
        .skip((number - 1) * size)
        .take(size)
        .copied()
        .collect();
    let mut links = json!({});
    if number < last {
        let query: String = req
            .target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .filter(|kv| !kv.starts_with("page%5Bnumber%5D") && !kv.starts_with("page[number]"))
            .collect::<Vec<_>>()
            .join("&");
        links["next"] = json!(format!(
            "https://api.gleif.org/api/v1/lei-records?{query}&page%5Bnumber%5D={}",
            number + 1
        ));
    }
    Reply::json(
        json!({
            "meta": {"pagination": {"currentPage": number, "perPage": size, "total": matching.len(), "lastPage": last}},
            "links": links,
            "data": page,
        })
        .to_string(),
    )
}

fn gleif_double() -> Double {
    let records = real_records();
    Double::start(move |req, _| gleif_answer(&records, req))
}

fn config(url: &str, edit: impl FnOnce(&mut HttpConfig)) -> GleifConfig {
    let mut http = HttpConfig::remote();
    http.requests_per_minute = 60_000;
    http.retries = 2;
    http.backoff_ms = 10;
    http.timeout_seconds = 5.0;
    edit(&mut http);
    GleifConfig {
        base_url: format!("{url}/api/v1"),
        page_size: 50,
        max_pages: 2,
        courts: BTreeMap::new(),
        http,
    }
}

fn register(config: &GleifConfig) -> GleifRegister {
    GleifRegister::new("gleif", config, None).expect("register")
}

async fn lookup(
    reg: &GleifRegister,
    records: &[Record],
) -> Vec<Result<Vec<Record>, RegisterError>> {
    reg.candidates(EntityKind::Organisation, records).await
}

fn ids(found: &Result<Vec<Record>, RegisterError>) -> Vec<String> {
    found
        .as_ref()
        .expect("lookup succeeded")
        .iter()
        .map(|r| r.id.clone())
        .collect()
}

#[tokio::test]
async fn lookup_by_lei_maps_every_field_in_one_batched_request() {
    let server = gleif_double();
    let reg = register(&config(&server.url, |_| {}));
    let crm = [
        Record::new("c1").with(Field::Lei, FRAPORT),
        Record::new("c2").with(Field::Lei, format!(" {} ", COMMERZBANK.to_lowercase())),
        Record::new("c3").with(Field::Lei, "5299001ERX0K10IZUL41"), // bad check digits
    ];
    let found = lookup(&reg, &crm).await;
    assert_eq!(ids(&found[0]), [FRAPORT]);
    assert_eq!(ids(&found[1]), [COMMERZBANK]);
    assert!(
        ids(&found[2]).is_empty(),
        "an invalid LEI is never looked up"
    );

    let lei_requests: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.param("filter[lei]").is_some())
        .collect();
    assert_eq!(lei_requests.len(), 1, "both LEIs in one request");
    assert_eq!(lei_requests[0].method, "GET");
    assert_eq!(
        lei_requests[0].param("filter[lei]").unwrap(),
        format!("{FRAPORT},{COMMERZBANK}")
    );

    let fraport = &found[0].as_ref().unwrap()[0];
    let expect = [
        (Field::Lei, FRAPORT),
        (
            Field::LegalName,
            "Fraport AG Frankfurt Airport Services Worldwide",
        ),
        (Field::Street, "Flughafen,Geb. 178"),
        (Field::Postcode, "60547"),
        (Field::City, "Frankfurt am Main"),
        (Field::Country, "DE"),
        (Field::HqStreet, "Flughafen,Geb. 178"),
        (Field::HqPostcode, "60547"),
        (Field::HqCity, "Frankfurt am Main"),
        (Field::HqCountry, "DE"),
        (Field::LegalFormCode, "6QQB"),
        (Field::Status, "active"),
        (Field::RegisterNumber, "HRB 7042"),
        (Field::RegisterCourt, "Frankfurt am Main"),
        (Field::RegisterUpdated, "2025-04-09T08:12:40Z"),
    ];
    for (field, value) in expect {
        assert_eq!(fraport.get(field), Some(value), "{field}");
    }
    // 6QQB has no entity-legal-forms fixture: the server says 404 and no label is made up.
    assert_eq!(fraport.get(Field::LegalForm), None);
}

#[tokio::test]
async fn legal_form_labels_come_from_gleif_entity_legal_forms() {
    // A real record whose ELF code is swapped for one with a real legal-form answer.
    let mut records = real_records();
    for r in &mut records {
        if r["id"] == FRAPORT {
            r["attributes"]["entity"]["legalForm"]["id"] = json!("10UR");
        }
    }
    let server = Double::start(move |req, _| gleif_answer(&records, req));
    let reg = register(&config(&server.url, |_| {}));
    let found = lookup(&reg, &[Record::new("c").with(Field::Lei, FRAPORT)]).await;
    let r = &found[0].as_ref().unwrap()[0];
    assert_eq!(r.get(Field::LegalFormCode), Some("10UR"));
    assert_eq!(r.get(Field::LegalForm), Some("Syndicat coopératif"));
}

#[tokio::test]
async fn lookup_by_register_number_and_court() {
    let server = gleif_double();
    let reg = register(&config(&server.url, |_| {}));
    let crm = [
        Record::new("fraport")
            .with(Field::RegisterNumber, "HRB7042")
            .with(Field::RegisterCourt, "Amtsgericht Frankfurt am Main"),
        Record::new("puma")
            .with(Field::RegisterNumber, "HRB 13085")
            .with(Field::RegisterCourt, "Fürth"),
        // Right number, wrong court: Commerzbank's HRB 32000 is at Frankfurt.
        Record::new("elsewhere")
            .with(Field::RegisterNumber, "HRB 32000")
            .with(Field::RegisterCourt, "Charlottenburg (Berlin)"),
    ];
    let found = lookup(&reg, &crm).await;
    assert_eq!(ids(&found[0]), [FRAPORT]);
    assert_eq!(ids(&found[1]), [PUMA]);
    assert!(ids(&found[2]).is_empty(), "{:?}", found[2]);

    let by_number: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.param("filter[entity.registeredAs]").is_some())
        .collect();
    let fraport = by_number
        .iter()
        .find(|s| s.param("filter[entity.registeredAs]").as_deref() == Some("HRB 7042"))
        .expect("asked for HRB 7042");
    assert_eq!(
        fraport.param("filter[entity.registeredAt.id]").as_deref(),
        Some("RA000242")
    );
    let berlin = by_number
        .iter()
        .find(|s| s.param("filter[entity.registeredAs]").as_deref() == Some("HRB 32000"))
        .expect("asked for HRB 32000");
    // No RA code known for Charlottenburg: asked within Germany, narrowed by court.
    assert_eq!(
        berlin
            .param("filter[entity.legalAddress.country]")
            .as_deref(),
        Some("DE")
    );
}

#[tokio::test]
async fn name_search_uses_filter_and_fuzzy_completions_narrowed_by_country() {
    let server = gleif_double();
    let reg = register(&config(&server.url, |_| {}));
    let crm = [
        Record::new("exact")
            .with(Field::LegalName, "PUMA SE")
            .with(Field::Country, "Deutschland")
            .with(Field::City, "Herzogenaurach"),
        Record::new("fuzzy")
            .with(Field::LegalName, "Commerzbank")
            .with(Field::Country, "DE"),
        Record::new("fuzzy-wrong-country")
            .with(Field::LegalName, "Commerzbank")
            .with(Field::Country, "FR"),
    ];
    let found = lookup(&reg, &crm).await;
    assert_eq!(ids(&found[0]), [PUMA]);
    assert_eq!(ids(&found[1]), [COMMERZBANK]);
    assert!(ids(&found[2]).is_empty());
    let exact = server
        .seen()
        .into_iter()
        .find(|s| s.param("filter[entity.legalName]").as_deref() == Some("PUMA SE"))
        .expect("name filter");
    assert_eq!(
        exact
            .param("filter[entity.legalAddress.country]")
            .as_deref(),
        Some("DE")
    );
    assert_eq!(
        exact.param("filter[entity.legalAddress.city]").as_deref(),
        Some("Herzogenaurach")
    );
}

#[tokio::test]
async fn real_fuzzy_completions_answer_is_followed_by_one_lei_request() {
    let server = gleif_double();
    let reg = register(&config(&server.url, |_| {}));
    let found = lookup(&reg, &[Record::new("c").with(Field::LegalName, "factbook")]).await;
    // The completions name LEIs outside the fixtures: asked for, not found, no error.
    assert!(ids(&found[0]).is_empty());
    let real = fixture("fuzzycompletions_all.json");
    let mut expected: Vec<String> = real["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(c, "/relationships/lei-records/data/id"))
        .collect();
    expected.sort();
    expected.dedup();
    expected.truncate(10);
    let asked = server
        .seen()
        .into_iter()
        .find_map(|s| s.param("filter[lei]"))
        .expect("a follow-up LEI request");
    assert_eq!(asked.split(',').collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn search_results_are_paged_up_to_max_pages() {
    // Twelve records share one fake registeredAs value so that one query spans pages.
    let mut records = real_records();
    for r in &mut records {
        r["attributes"]["entity"]["registeredAs"] = json!("HRB 1");
        r["attributes"]["entity"]["legalAddress"]["country"] = json!("DE");
        r["attributes"]["ocid"] = Value::Null;
    }
    let server = Double::start(move |req, _| gleif_answer(&records, req));
    let crm = [Record::new("c").with(Field::RegisterNumber, "HRB 1")];
    let mut cfg = config(&server.url, |_| {});
    cfg.page_size = 5;
    cfg.max_pages = 2;
    let found = lookup(&register(&cfg), &crm).await;
    assert_eq!(ids(&found[0]).len(), 10, "two pages of five");
    let pages: Vec<String> = server
        .seen()
        .iter()
        .filter(|s| s.path().ends_with("/lei-records"))
        .map(|s| s.param("page[number]").unwrap_or_else(|| "1".into()))
        .collect();
    assert_eq!(pages, ["1", "2"]);

    cfg.max_pages = 5;
    let found = lookup(&register(&cfg), &crm).await;
    assert_eq!(ids(&found[0]).len(), 12, "all three pages");
}

/// A server that answers the n-th request with `first(n)` until it returns `None`, then
/// replays GLEIF.
fn flaky(first: impl Fn(usize) -> Option<Reply> + Send + Sync + 'static) -> Double {
    let records = real_records();
    Double::start(move |req, n| first(n).unwrap_or_else(|| gleif_answer(&records, req)))
}

#[tokio::test]
async fn http_429_waits_for_retry_after_then_succeeds() {
    let server = flaky(|n| (n == 0).then(|| Reply::status(429).header("Retry-After", "1")));
    let reg = register(&config(&server.url, |_| {}));
    let started = Instant::now();
    let found = lookup(&reg, &[Record::new("c").with(Field::Lei, FRAPORT)]).await;
    assert_eq!(ids(&found[0]), [FRAPORT]);
    let seen = server.seen();
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, Retry-After said 1 s"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(reg.stats().retries, 1);
}

#[tokio::test]
async fn retry_after_beyond_the_limit_fails_the_lookup_without_waiting() {
    let server = flaky(|_| Some(Reply::status(429).header("Retry-After", "3600")));
    let reg = register(&config(&server.url, |h| h.max_retry_after_seconds = 5));
    let started = Instant::now();
    let found = lookup(&reg, &[Record::new("c").with(Field::Lei, FRAPORT)]).await;
    let err = found[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("Retry-After 3600"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn http_500_then_success() {
    let server = flaky(|n| (n < 2).then(|| Reply::status(500)));
    let reg = register(&config(&server.url, |_| {}));
    let found = lookup(&reg, &[Record::new("c").with(Field::Lei, PUMA)]).await;
    assert_eq!(ids(&found[0]), [PUMA]);
    let record_requests = server
        .seen()
        .iter()
        .filter(|s| s.path().ends_with("/lei-records"))
        .count();
    assert_eq!(record_requests, 3, "two failures, then the answer");
    assert_eq!(reg.stats().retries, 2);
}

#[tokio::test]
async fn persistent_5xx_is_lookup_failed_not_not_found() {
    let server = flaky(|_| Some(Reply::status(503)));
    let reg = register(&config(&server.url, |_| {}));
    let found = lookup(&reg, &[Record::new("c").with(Field::Lei, PUMA)]).await;
    match &found[0] {
        Err(RegisterError::Unavailable { reason, .. }) => {
            assert!(
                reason.contains("503") && reason.contains("3 attempts"),
                "{reason}"
            )
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn timeout_is_lookup_failed() {
    let server = flaky(|_| Some(Reply::json("{}").delayed(Duration::from_secs(3))));
    let reg = register(&config(&server.url, |h| {
        h.timeout_seconds = 0.3;
        h.retries = 1;
    }));
    let started = Instant::now();
    let found = lookup(&reg, &[Record::new("c").with(Field::Lei, PUMA)]).await;
    let err = found[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.seen().len(), 2, "one retry after the timeout");
}

#[tokio::test]
async fn malformed_truncated_and_oversized_answers_are_lookup_failed() {
    let records = real_records();
    let fraport =
        json!({"data": [records.iter().find(|r| r["id"] == FRAPORT).unwrap()]}).to_string();
    let cases: Vec<(&str, Reply)> = vec![
        (
            "malformed JSON",
            Reply::json("{\"data\": [ {\"attributes\": "),
        ),
        ("cut off", Reply::json(fraport.clone()).truncated()),
        (
            "max_body_bytes",
            Reply::json(format!(
                "{{\"data\": [], \"pad\": \"{}\"}}",
                "x".repeat(20_000)
            )),
        ),
        ("no `data` list", Reply::json("{\"errors\": []}")),
        (
            "without `attributes.lei`",
            Reply::json("{\"data\": [{\"attributes\": {}}]}"),
        ),
    ];
    for (expected, reply) in cases {
        let server = Double::start(move |_, _| reply.clone());
        let reg = register(&config(&server.url, |h| {
            h.retries = 0;
            h.max_body_bytes = 16_384;
        }));
        let found = lookup(&reg, &[Record::new("c").with(Field::Lei, FRAPORT)]).await;
        match &found[0] {
            Err(RegisterError::Unavailable { reason, .. }) => {
                assert!(reason.contains(expected), "{expected}: {reason}")
            }
            other => panic!("{expected}: expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn circuit_breaker_stops_asking_a_register_that_is_down() {
    let server = flaky(|_| Some(Reply::status(503)));
    let reg = register(&config(&server.url, |h| {
        h.retries = 0;
        h.breaker_failures = 2;
        h.breaker_cooldown_seconds = 60;
    }));
    // Name lookups: one request each, asked one after the other.
    for name in ["Alpha", "Beta", "Gamma", "Delta"] {
        let found = lookup(&reg, &[Record::new(name).with(Field::LegalName, name)]).await;
        assert!(
            matches!(found[0], Err(RegisterError::Unavailable { .. })),
            "{name}"
        );
    }
    assert_eq!(
        server.seen().len(),
        2,
        "the breaker opened after two failures"
    );
    let found = lookup(&reg, &[Record::new("x").with(Field::LegalName, "X")]).await;
    let err = found[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("circuit breaker open"), "{err}");
    assert!(reg.stats().breaker_rejections >= 2);
}

#[tokio::test]
async fn circuit_breaker_lets_a_trial_through_after_the_cooldown() {
    let down = Arc::new(AtomicUsize::new(1));
    let flag = down.clone();
    let server = flaky(move |_| (flag.load(Ordering::SeqCst) == 1).then(|| Reply::status(503)));
    let reg = register(&config(&server.url, |h| {
        h.retries = 0;
        h.breaker_failures = 1;
        h.breaker_cooldown_seconds = 1;
    }));
    let crm = [Record::new("c").with(Field::Lei, PUMA)];
    assert!(lookup(&reg, &crm).await[0].is_err());
    down.store(0, Ordering::SeqCst);
    assert!(lookup(&reg, &crm).await[0].is_err(), "still open");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        ids(&lookup(&reg, &crm).await[0]),
        [PUMA],
        "half-open trial succeeded"
    );
}

#[tokio::test]
async fn requests_keep_to_the_configured_rate() {
    let server = gleif_double();
    // 300 per minute: one request every 200 ms.
    let reg = register(&config(&server.url, |h| {
        h.requests_per_minute = 300;
        h.concurrency = 4;
    }));
    let crm: Vec<Record> = (0..6)
        .map(|i| {
            Record::new(format!("c{i}")).with(Field::RegisterNumber, format!("HRB {}", 100 + i))
        })
        .collect();
    let found = lookup(&reg, &crm).await;
    assert!(found.iter().all(Result::is_ok));
    let seen = server.seen();
    assert_eq!(seen.len(), 6);
    let mut times: Vec<Instant> = seen.iter().map(|s| s.at).collect();
    times.sort();
    for pair in times.windows(2) {
        // 200 ms apart by the limiter; generous slack for a loaded machine's clock.
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(150),
            "requests {gap:?} apart, limit is 200 ms"
        );
    }
    let span = *times.last().unwrap() - times[0];
    assert!(span >= Duration::from_millis(950), "6 requests in {span:?}");
    assert!(reg.stats().rate_limit_waits >= 5);
}

/// The response cache, on both store backends: a second pass within the TTL asks
/// nothing; after the TTL only records whose `lastUpdateDate` moved are taken anew.
async fn cache_spares_requests_and_revalidates_by_last_update(url: &str) {
    use refsync::config::DbUrl;
    use refsync::store::Store;

    let state = tempfile::tempdir().unwrap();
    let seal = crate::common::seal_in(state.path());
    let store = Store::open(&DbUrl::new(url), seal).await.expect("store");
    let moved = Arc::new(AtomicUsize::new(0));
    let flag = moved.clone();
    let server = Double::start(move |req, _| {
        let mut records = real_records();
        if flag.load(Ordering::SeqCst) == 1 {
            for r in &mut records {
                if r["id"] == COMMERZBANK {
                    r["attributes"]["entity"]["legalName"]["name"] = json!("Commerzbank AG");
                    r["attributes"]["registration"]["lastUpdateDate"] =
                        json!("2026-11-20T10:00:00Z");
                }
            }
        }
        gleif_answer(&records, req)
    });
    let cfg = config(&server.url, |h| h.cache_ttl_hours = 1.0);
    let crm = [
        Record::new("a").with(Field::Lei, FRAPORT),
        Record::new("b").with(Field::Lei, COMMERZBANK),
    ];
    let open =
        |name: &str, cfg: &GleifConfig| GleifRegister::new(name, cfg, Some(store.clone())).unwrap();

    let first = open("gleif", &cfg);
    let found = lookup(&first, &crm).await;
    assert_eq!(ids(&found[1]), [COMMERZBANK]);
    assert!(first.stats().requests >= 1);
    let asked = server.seen().len();

    // The next pass, within the TTL: everything from the cache, legal-form 404s included.
    let second = open("gleif", &cfg);
    let again = lookup(&second, &crm).await;
    assert_eq!(server.seen().len(), asked, "no request within the TTL");
    assert_eq!(second.stats().requests, 0);
    assert!(second.stats().cache_hits >= 2);
    assert_eq!(
        found[0].as_ref().unwrap()[0],
        again[0].as_ref().unwrap()[0],
        "the cached record maps the same"
    );

    // After the TTL (a register whose cache entries live 0.2 s): one revalidation
    // request; Fraport, unchanged, keeps its cached body, Commerzbank's lastUpdateDate
    // moved and its new name is taken.
    let expired = config(&server.url, |h| h.cache_ttl_hours = 0.2 / 3600.0);
    let warm = open("short-lived", &expired);
    lookup(&warm, &crm).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    moved.store(1, Ordering::SeqCst);
    let before = server.seen().len();
    let third = open("short-lived", &expired);
    let fresh = lookup(&third, &crm).await;
    let new_requests: Vec<Seen> = server.seen()[before..]
        .iter()
        .filter(|s| s.path().ends_with("/lei-records"))
        .cloned()
        .collect();
    assert_eq!(
        new_requests.len(),
        1,
        "one revalidation request for both LEIs"
    );
    assert!(
        new_requests[0]
            .param("filter[registration.lastUpdateDate]")
            .is_some_and(|f| f.starts_with(">=")),
        "{:?}",
        new_requests[0].target
    );
    assert_eq!(third.stats().cache_revalidated, 1, "Fraport had not moved");
    assert_eq!(
        fresh[1].as_ref().unwrap()[0].get(Field::LegalName),
        Some("Commerzbank AG")
    );
    assert_eq!(
        fresh[0].as_ref().unwrap()[0].get(Field::LegalName),
        Some("Fraport AG Frankfurt Airport Services Worldwide")
    );
}

#[tokio::test]
async fn cache_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/state.db", dir.path().display());
    cache_spares_requests_and_revalidates_by_last_update(&url).await;
}

#[tokio::test]
async fn cache_on_postgres() {
    let db = crate::common::PgDatabase::create();
    cache_spares_requests_and_revalidates_by_last_update(&db.url).await;
}

/// A whole pass with GLEIF down: every organisation is `lookup_failed` (never
/// `not_found`), nothing changes in the CRM, and the summary shows the traffic.
#[test]
fn a_pass_against_a_register_that_is_down_changes_nothing() {
    let server = Double::start(|_, _| Reply::status(503));
    let section = format!(
        "[register.gleif]\nkind = \"gleif\"\nbase_url = \"{}/api/v1\"\n\n\
         [register.gleif.http]\nrequests_per_minute = 60000\nconcurrency = 1\nretries = 1\nbackoff_ms = 1\nbreaker_failures = 2\n\
         api_key_env = \"GLEIF_TEST_TOKEN\"\n\n",
        server.url
    );
    let sb = crate::common::Sandbox::with_config(|c| {
        c.replace("register = \"demo_organisations\"", "register = \"gleif\"")
            .replace(
                "# ---------------------------------------------------------------- jobs",
                &section,
            )
    })
    .env("GLEIF_TEST_TOKEN", "s3cr3t-token-value")
    .env("REFSYNC__LOGGING__LEVEL", "refsync=debug");

    let config = sb.ok(&["check-config"]);
    assert!(config.contains("GLEIF_TEST_TOKEN"), "{config}");
    assert!(
        !config.contains("s3cr3t"),
        "check-config shows the token:\n{config}"
    );

    let (out, report) = sb.pass_report("organisations");
    let stderr = crate::common::stderr(&out);
    // Nothing was checked: the pass failed, and says why.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "the token reached the logs");
    assert_eq!(report["status"], "failed", "{report}");
    let problem = report["error"].as_str().unwrap_or_default();
    assert!(
        problem.starts_with("every lookup failed") && problem.contains("unavailable"),
        "{problem}"
    );
    let read = report["counts"]["records_read"].as_i64().unwrap();
    assert!(read > 0);
    assert_eq!(
        report["counts"]["lookup_failed"].as_i64(),
        Some(read),
        "{report}"
    );
    assert_eq!(report["counts"]["not_found"].as_i64(), Some(0));
    assert_eq!(report["counts"]["changes_applied"].as_i64(), Some(0));
    assert_eq!(report["counts"]["changes_proposed"].as_i64(), Some(0));
    // Two failed requests opened the breaker; nothing else was sent.
    assert_eq!(report["register"]["requests"].as_u64(), Some(2), "{report}");
    assert!(report["register"]["breaker_rejections"].as_u64().unwrap() > 0);
    assert_eq!(server.seen().len(), 2);
    assert!(server
        .seen()
        .iter()
        .all(|s| s.header("authorization") == Some("Bearer s3cr3t-token-value")));

    let statuses = sb.json(&["review", "list"]);
    assert!(statuses.as_array().unwrap().is_empty(), "{statuses}");
    let out = sb.run(&["run", "--once", "--job", "organisations"]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("failed in")
            && table.contains("problem          every lookup failed")
            && table.contains("requests"),
        "{table}"
    );
    let status = sb.ok(&["status"]);
    assert!(status.contains("failed (needs attention)"), "{status}");
}
