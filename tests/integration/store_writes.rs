//! The store's batch writes of record statuses, match links and provenance: each backend
//! writes them in a shape of its own (SQLite: multi-row statements in runs of 1,000;
//! PostgreSQL: one array per column), and the same rows must come back from both.

use chrono::{NaiveDate, NaiveDateTime};
use refsync::config::DbUrl;
use refsync::domain::model::{EntityKind, MatchStatus};
use refsync::store::provenance::{self, ProvenanceRow};
use refsync::store::seal::Seal;
use refsync::store::status::{self, MatchRow, StatusRow};
use refsync::store::{passes, Store};

use crate::common::StoreKind;

const JOB: &str = "organisations";
/// More than one run of 1,000 rows, and a remainder.
const RECORDS: usize = 1_201;

fn at(day: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, day)
        .and_then(|d| d.and_hms_micro_opt(9, 30, 15, 123_456))
        .expect("a date")
}

fn record(i: usize) -> String {
    format!("r{i:04}")
}

fn status_row(i: usize, pass_id: i64, found: bool) -> StatusRow {
    StatusRow {
        job: JOB.into(),
        record_id: record(i),
        entity: EntityKind::Organisation,
        status: if found {
            MatchStatus::Different
        } else {
            MatchStatus::NotFound
        },
        // Quotes, a backslash, a line break and umlauts: text passes through unharmed.
        detail: format!(r#"{{"name":"Müller & Söhne \"{i}\"\\n","found":{found}}}"#),
        pass_id,
        checked_at: at(if found { 1 } else { 2 }),
        verified_at: found.then(|| at(1)),
        inputs: (i % 2 == 0).then_some(i as i64 * 7_919),
    }
}

fn match_row(i: usize, pass_id: i64, register: &str) -> MatchRow {
    MatchRow {
        job: JOB.into(),
        record_id: record(i),
        register_id: format!("{register}{i}"),
        score: 0.5 + i as f64 / 3_000.0,
        method: "similarity".into(),
        grade: "auto".into(),
        pass_id,
        matched_at: at(3),
    }
}

fn provenance_row(i: usize, field: &str, value: Option<&str>, change_id: i64) -> ProvenanceRow {
    ProvenanceRow {
        crm: "demo".into(),
        entity: "organisation".into(),
        record_id: record(i),
        field: field.into(),
        value: value.map(str::to_string),
        source: "demo_organisations".into(),
        register_id: format!("REG{i}"),
        change_id,
        pass_id: 1,
        written_at: at(4),
    }
}

/// Writes two passes' worth of rows and reads every row back, in key order.
async fn write_and_read(
    url: &str,
    seal: Seal,
) -> (Vec<StatusRow>, Vec<MatchRow>, Vec<ProvenanceRow>) {
    let store = Store::open(&DbUrl::new(url), seal).await.expect("store");
    store
        .db
        .run(|conn| {
            let pass_id = passes::begin(conn, JOB, "organisation")?;
            let found: Vec<StatusRow> =
                (0..RECORDS).map(|i| status_row(i, pass_id, true)).collect();
            status::upsert_statuses(conn, &found)?;
            // The next pass finds the first half no more.
            let lost: Vec<StatusRow> = (0..RECORDS / 2)
                .map(|i| status_row(i, pass_id, false))
                .collect();
            status::upsert_statuses(conn, &lost)?;

            let links: Vec<MatchRow> = (0..RECORDS).map(|i| match_row(i, pass_id, "OLD")).collect();
            status::upsert_matches(conn, &links)?;
            let relinked: Vec<MatchRow> = (0..RECORDS)
                .step_by(3)
                .map(|i| match_row(i, pass_id, "NEW"))
                .collect();
            status::upsert_matches(conn, &relinked)?;

            // Two writes of one field in one call: the later is what the CRM holds.
            let mut written = Vec::new();
            for i in 0..RECORDS {
                written.push(provenance_row(i, "city", Some("Köln"), 1));
                written.push(provenance_row(i, "phone", None, 2));
                if i % 4 == 0 {
                    written.push(provenance_row(i, "city", Some("Bonn"), 3));
                }
            }
            provenance::record_all(conn, &written)?;
            provenance::record_all(conn, &[provenance_row(7, "phone", Some("+49 221 1"), 4)])?;

            let ids: Vec<String> = (0..RECORDS).map(record).collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let (mut statuses, mut links) = status::of_records(conn, JOB, &refs)?;
            statuses.sort_by(|a, b| a.record_id.cmp(&b.record_id));
            links.sort_by(|a, b| a.record_id.cmp(&b.record_id));
            let written = provenance::for_records(conn, "demo", "organisation", &ids)?;
            let mut written: Vec<ProvenanceRow> = written.into_values().flatten().collect();
            written.sort_by(|a, b| (&a.record_id, &a.field).cmp(&(&b.record_id, &b.field)));
            Ok::<_, diesel::result::Error>((statuses, links, written))
        })
        .await
        .expect("write and read")
}

#[test]
fn statuses_links_and_provenance_written_in_batches_come_back_the_same_from_both_stores() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut read = Vec::new();
    for kind in StoreKind::both() {
        let sb = kind.sandbox(|c| c);
        sb.ok(&["migrate"]);
        let (statuses, links, written) =
            runtime.block_on(write_and_read(&kind.url(&sb), sb.seal()));
        let name = kind.name();

        assert_eq!(statuses.len(), RECORDS, "{name}");
        let lost = &statuses[10];
        assert_eq!(lost.status, MatchStatus::NotFound, "{name}");
        assert_eq!(lost.checked_at, at(2), "{name}");
        assert_eq!(lost.inputs, Some(10 * 7_919), "{name}");
        assert_eq!(
            lost.verified_at,
            Some(at(1)),
            "{name}: a record not found keeps when it was last found"
        );
        let kept = &statuses[RECORDS - 1];
        assert_eq!(
            (kept.status, kept.inputs),
            (MatchStatus::Different, Some(1_200 * 7_919)),
            "{name}"
        );
        assert_eq!(statuses[RECORDS - 2].inputs, None, "{name}");
        assert_eq!(
            kept.detail, r#"{"name":"Müller & Söhne \"1200\"\\n","found":true}"#,
            "{name}"
        );

        assert_eq!(links.len(), RECORDS, "{name}");
        assert_eq!(links[3].register_id, "NEW3", "{name}");
        assert_eq!(links[4].register_id, "OLD4", "{name}");
        assert_eq!(links[4].score, 0.5 + 4.0 / 3_000.0, "{name}");

        assert_eq!(written.len(), 2 * RECORDS, "{name}");
        let value = |i: usize, field: &str| {
            let row = written
                .iter()
                .find(|r| r.record_id == record(i) && r.field == field)
                .expect("a provenance row");
            (row.value.clone(), row.change_id)
        };
        assert_eq!(
            value(4, "city"),
            (Some("Bonn".into()), 3),
            "{name}: the later write"
        );
        assert_eq!(value(5, "city"), (Some("Köln".into()), 1), "{name}");
        assert_eq!(value(5, "phone"), (None, 2), "{name}: NULL written");
        assert_eq!(value(7, "phone"), (Some("+49 221 1".into()), 4), "{name}");

        read.push((name, format!("{statuses:?}\n{links:?}\n{written:?}")));
    }
    // Pass ids are the same (each store's first pass), so every row compares whole.
    assert!(
        read[0].1 == read[1].1,
        "{} and {} stored different rows",
        read[0].0,
        read[1].0
    );
}
