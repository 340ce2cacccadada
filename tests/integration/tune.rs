//! `refsync tune` on decisions made by a seeded generator from a known threshold: the
//! suggestion must recover it. Decisions go into the store through the same functions the
//! CLI and the web layer use (`sync::review::decide`, `sync::verdicts::judge`).

use refsync::config::DbUrl;
use refsync::domain::lifecycle::Verdict;
use refsync::domain::model::{EntityKind, MatchStatus};
use refsync::domain::tune::MatchVerdict;
use refsync::store::changes::{self, ChangeFilter, NewChange};
use refsync::store::seal::Seal;
use refsync::store::status::{self, MatchRow, StatusRow};
use refsync::store::{now, passes, Store};
use refsync::sync::review::decide;
use refsync::sync::verdicts::{judge, Pair};

use crate::common::{stderr, Sandbox, StoreKind};

/// The generator's threshold: pairs above it are the same entity …
const CUT: f64 = 0.83;
/// … except within this distance of it, where a label is wrong with a chance that falls
/// from 1/2 at the threshold to 0 at this distance, as stewards' doubts would.
const NOISE: f64 = 0.015;
const PAIRS: usize = 600;
const JOB: &str = "organisations";

/// One generated pair: its score and the label its decisions give it.
struct Generated {
    score: f64,
    is_match: bool,
}

fn label(rng: &mut fastrand::Rng, score: f64) -> bool {
    let d = score - CUT;
    let flip = if d.abs() < NOISE {
        0.5 * (1.0 - d.abs() / NOISE)
    } else {
        0.0
    };
    (d >= 0.0) != (rng.f64() < flip)
}

/// A record as a pass leaves it: its status, and the link to its register record when it
/// is matched (else it is `not_found`, with `register` kept as its best candidate).
async fn seed_record(
    store: &Store,
    pass_id: i64,
    record: &str,
    register: &str,
    score: f64,
    matched: bool,
) {
    let (record, register) = (record.to_string(), register.to_string());
    let detail = if matched {
        "{}".to_string()
    } else {
        serde_json::json!({
            "decision": "not_found",
            "best": { "candidate": { "register_id": register, "score": score } },
        })
        .to_string()
    };
    store
        .db
        .run(move |conn| {
            status::upsert_statuses(
                conn,
                &[StatusRow {
                    job: JOB.into(),
                    record_id: record.clone(),
                    entity: EntityKind::Organisation,
                    status: if matched {
                        MatchStatus::Different
                    } else {
                        MatchStatus::NotFound
                    },
                    detail,
                    pass_id,
                    checked_at: now(),
                    verified_at: matched.then(now),
                    inputs: None,
                }],
            )?;
            if !matched {
                return Ok(());
            }
            status::upsert_matches(
                conn,
                &[MatchRow {
                    job: JOB.into(),
                    record_id: record,
                    register_id: register,
                    score,
                    method: "similarity".into(),
                    grade: String::new(),
                    pass_id,
                    matched_at: now(),
                }],
            )
        })
        .await
        .expect("seed record");
}

/// A proposed change of a field, as a pass stores it for a match of `score`.
async fn propose(
    store: &Store,
    pass_id: i64,
    record: &str,
    register: &str,
    field: &str,
    score: f64,
) -> i64 {
    let change = NewChange {
        pass_id,
        job: JOB.into(),
        entity: refsync::domain::model::EntityKind::Organisation,
        record_id: record.into(),
        source: "demo_organisations".into(),
        register_id: register.into(),
        field: field.into(),
        kind: refsync::domain::model::ChangeKind::Field,
        old_value: Some("old".into()),
        new_value: Some("new".into()),
        policy: refsync::domain::model::Policy::Propose,
        status: refsync::domain::model::ChangeStatus::Proposed,
        score,
        reason: "generated".into(),
        created_at: now(),
        decided_at: None,
        decided_by: None,
        applying_since: None,
        reverts_change_id: None,
    };
    store
        .db
        .run(move |conn| changes::insert(conn, &change))
        .await
        .expect("insert change")
}

/// Decides `PAIRS` generated pairs: about half by match verdict, the rest by approving or
/// rejecting their changes (a right match has one change approved and its other change
/// approved or rejected; every 50th right match has both rejected, as a steward who trusts
/// the CRM more would; a wrong match has both rejected).
async fn generate(url: &str, seal: Seal) -> Vec<Generated> {
    let store = Store::open(&DbUrl::new(url), seal).await.expect("store");
    let pass_id = store
        .db
        .run(|conn| passes::begin(conn, JOB, "organisation"))
        .await
        .expect("pass");
    let mut rng = fastrand::Rng::with_seed(20_261_127);
    let (mut approve, mut reject, mut judged) = (vec![], vec![], vec![]);
    let mut out = Vec::with_capacity(PAIRS);
    for i in 0..PAIRS {
        let (record, register) = (format!("gen-{i:04}"), format!("REG{i:04}"));
        let score = 0.5 + 0.5 * rng.f64();
        let is_match = label(&mut rng, score);
        let mut counted_as_match = is_match;
        if rng.bool() {
            seed_record(&store, pass_id, &record, &register, score, true).await;
            judged.push((record, is_match));
        } else {
            let name = propose(&store, pass_id, &record, &register, "legal_name", score).await;
            let street = propose(&store, pass_id, &record, &register, "street", score).await;
            if is_match && i % 50 != 0 {
                approve.push(name);
                if rng.bool() {
                    &mut approve
                } else {
                    &mut reject
                }
                .push(street);
            } else {
                counted_as_match = false;
                reject.extend([name, street]);
            }
        }
        out.push(Generated {
            score,
            is_match: counted_as_match,
        });
    }
    for (ids, verdict) in [
        (approve, Verdict::Approve { edited: None }),
        (reject, Verdict::Reject),
    ] {
        let n = ids.len();
        let filter = ChangeFilter {
            ids,
            ..Default::default()
        };
        let decided = decide(&store, filter, verdict, "steward")
            .await
            .expect("decide");
        assert_eq!(decided.len(), n);
        assert!(decided.iter().all(|d| d.refused.is_none()));
    }
    for (record, is_match) in judged {
        let pair = Pair {
            job: JOB.into(),
            record_id: record,
            register_id: None,
        };
        let verdict = if is_match {
            MatchVerdict::Confirmed
        } else {
            MatchVerdict::Rejected
        };
        judge(&store, pair, verdict, "steward")
            .await
            .expect("verdict");
    }
    // Two more right matches, judged through the CLI by the test: a match, and the best
    // candidate of a record refsync did not find.
    seed_record(&store, pass_id, "cli-1", "REG-CLI", 0.97, true).await;
    seed_record(&store, pass_id, "cli-2", "REG-NF", 0.6, false).await;
    out
}

fn tune_recovers_the_generators_threshold(kind: StoreKind) {
    let sb = kind.sandbox(|c| c);
    sb.ok(&["migrate"]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut generated = runtime.block_on(generate(&kind.url(&sb), sb.seal()));

    // A second thought replaces the first verdict on a pair; the audit log keeps both.
    sb.ok(&[
        "review", "match", "reject", "--job", JOB, "--record", "cli-1",
    ]);
    let said = sb.ok(&[
        "review", "match", "confirm", "--job", JOB, "--record", "cli-1",
    ]);
    assert!(
        said.contains("REG-CLI") && said.contains("confirmed"),
        "{said}"
    );
    let audit = sb.json(&["audit", "list", "--record", "cli-1"]);
    let actions: Vec<_> = audit
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["score"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("match_confirmed", "tester", Some(0.97)),
            ("match_rejected", "tester", Some(0.97))
        ]
    );
    let other = sb.run(&[
        "review", "match", "confirm", "--job", JOB, "--record", "cli-2",
    ]);
    assert_eq!(
        other.status.code(),
        Some(2),
        "a not_found record has no match to confirm"
    );
    let said = sb.ok(&[
        "review",
        "match",
        "confirm",
        "--job",
        JOB,
        "--record",
        "cli-2",
        "--register",
        "REG-NF",
    ]);
    assert!(said.contains("probability 0.600"), "{said}");
    generated
        .extend([(0.97, true), (0.6, true)].map(|(score, is_match)| Generated { score, is_match }));

    let report = sb.json(&["tune", "--job", JOB, "--svg", "chart.svg"]);
    let name = kind.name();
    assert_eq!(report["pairs"], generated.len(), "{name}");
    let matches = generated.iter().filter(|g| g.is_match).count();
    assert_eq!(report["matches"], matches, "{name}");
    let auto = report["suggested"]["auto_apply_min"].as_f64().unwrap();
    let review = report["suggested"]["review_min"].as_f64().unwrap();
    assert!(
        (auto - CUT).abs() <= 0.02,
        "{name}: auto_apply_min {auto}, generator {CUT}"
    );
    assert!(
        (review - CUT).abs() <= 0.02,
        "{name}: review_min {review}, generator {CUT}"
    );
    assert!(
        report["at_suggested"]["auto_apply_min"]["precision"]
            .as_f64()
            .unwrap()
            >= 0.99
    );

    // In today's review band (0.75 ≤ score < 0.92) and at or above the suggested
    // auto_apply_min: review work the suggestion would have saved.
    let saved = generated
        .iter()
        .filter(|g| g.score >= auto && g.score < 0.92)
        .count();
    assert!(saved > 0);
    assert_eq!(report["queue"]["auto_applied"]["pairs"], saved, "{name}");
    let outright = generated
        .iter()
        .filter(|g| g.score >= 0.75 && g.score < review)
        .count();
    assert_eq!(
        report["queue"]["rejected_outright"]["pairs"], outright,
        "{name}"
    );

    let chart = std::fs::read_to_string(sb.path("chart.svg")).expect("chart written");
    assert_svg_has_both_curves(&chart);

    let table = sb.ok(&["tune", "--job", JOB, "--target-precision", "0.95"]);
    for want in [
        "threshold",
        "auto_apply_min",
        "review_min",
        "applied automatically",
        " 1.0 |",
    ] {
        assert!(table.contains(want), "{name}: `{want}` missing:\n{table}");
    }
    let looser = sb.json(&["tune", "--job", JOB, "--target-precision", "0.95"]);
    assert_eq!(
        looser["targets"]["precision"], 0.95,
        "{name}: the flag is read"
    );
    assert!(
        looser["at_suggested"]["auto_apply_min"]["precision"]
            .as_f64()
            .unwrap()
            >= 0.95
    );
    assert!(looser["suggested"]["auto_apply_min"].as_f64().unwrap() <= auto);
}

#[test]
fn tune_recovers_the_generators_threshold_on_both_stores() {
    for kind in StoreKind::both() {
        tune_recovers_the_generators_threshold(kind);
    }
}

fn assert_svg_has_both_curves(text: &str) {
    let doc = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("bad SVG ({e}):\n{text}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    for id in ["precision", "recall"] {
        let line = doc
            .descendants()
            .find(|n| n.tag_name().name() == "polyline" && n.attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("no {id} curve in\n{text}"));
        let points = line.attribute("points").unwrap_or_default();
        assert!(points.split(' ').count() > 10, "{id}: {points}");
    }
    assert!(doc
        .descendants()
        .any(|n| n.attribute("class") == Some("marker")));
}

#[test]
fn tune_without_enough_decisions_says_how_to_get_them() {
    let sb = Sandbox::new();
    let out = sb.run(&["tune", "--job", JOB]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for want in [
        "0 decided",
        "at least 40",
        "review match confirm",
        "review approve",
    ] {
        assert!(err.contains(want), "`{want}` missing: {err}");
    }

    let out = sb.run(&["tune", "--job", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no job `nope`"));
    let out = sb.run(&["tune", "--job", JOB, "--target-precision", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a number from 0 to 1"),
        "{}",
        stderr(&out)
    );

    let out = sb.run(&[
        "review", "match", "reject", "--job", JOB, "--record", "nobody",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("has no match") && err.contains("refsync explain"),
        "{err}"
    );
}
