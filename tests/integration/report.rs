//! `refsync report` through the CLI on a CRM built with known counts: each figure is
//! checked by number, before and after a pass, on SQLite and PostgreSQL; no personal
//! value reaches any format; bad usage exits 2.

use diesel::connection::SimpleConnection;
use serde_json::Value;

use crate::common::{stderr, Sandbox, StoreKind};

const KEY: &str = "a-long-random-test-key-0123456789";

/// Four organisations and three contacts whose every figure is known (see the asserts).
const CRM: &str = "
DELETE FROM contacts;
DELETE FROM organisations;
INSERT INTO organisations (id, name, legal_form, street, house_no, zip, city, country, vat_id,
    lei, register_court, register_no, website, phone, email, industry, employees) VALUES
 (1, 'Zebrafant Werkzeug GmbH', 'GmbH', 'Quellengasse', '7', '80331', 'München', 'DE',
  'DE136695976', '529900T8BM49AURSDO55', 'München', 'HRB 7042', 'zebrafant.example',
  '089 123456', 'kontakt@zebrafant.example', '62.01', 'ca. 40'),
 (2, 'Okapiwerk Bäckerei', 'gmbh', 'Lindwurmgasse', '3', '80331', 'Hamburg', 'Deutschland',
  'DE136695978', NULL, NULL, '7042', NULL, '123', 'info@okapiwerk', 'Bäckerei', '10-49'),
 (3, 'Quokkabau AG', 'AG', 'k.A.', NULL, '00000', 'Berlin', 'DE', NULL, NULL, NULL, 'HRB 99',
  NULL, '-', NULL, '41.20', '1.250'),
 (4, 'Tapirhandel KG', 'KG', NULL, NULL, '20095', 'Hamburg', 'DE', NULL,
  '529900T8BM49AURSDO56', NULL, NULL, NULL, NULL, 'tapir@handel.example', 'k.A.', 'k.A.');
INSERT INTO contacts (id, organisation_id, salutation, title, first_name, last_name, role,
    email, phone) VALUES
 (1, 1, 'Herr', NULL, 'Xaver', 'Quirinus', 'Einkauf', 'xaver.quirinus@zebrafant.example',
  '089 123457'),
 (2, NULL, 'Fr.', NULL, 'Walburga', 'Zinnkraut', NULL, 'walburga@zinnkraut.example', NULL),
 (3, NULL, 'Frau', 'Dr.', 'Ottilie', 'Brennessel', NULL, 'ottilie.brennessel@example',
  '0151 2345678');
";

/// Values of the CRM above that identify a person or a firm: none may be in a report.
const PERSONAL: &[&str] = &[
    "Zebrafant",
    "Quellengasse",
    "kontakt@zebrafant",
    "Okapiwerk",
    "Lindwurmgasse",
    "Quokkabau",
    "Tapirhandel",
    "tapir@handel",
    "089 123456",
    "Xaver",
    "Quirinus",
    "Walburga",
    "Zinnkraut",
    "Ottilie",
    "Brennessel",
    "0151 2345678",
];

fn sandbox(kind: &StoreKind) -> Sandbox {
    let sb = kind.sandbox(|c| c).env("REFSYNC_PRIVACY_KEY", KEY);
    // The first command creates the demo CRM; then it holds only the rows above.
    sb.ok(&["report", "--job", "organisations", "--format", "json"]);
    sb.crm().batch_execute(CRM).expect("known CRM");
    sb
}

fn report(sb: &Sandbox, job: &str) -> Value {
    sb.json(&["report", "--job", job])
}

/// (count, of) of the figure named `subject.measure[.detail]`, over all records or in
/// the segment `dimension=key`.
fn figure_in(report: &Value, segment: Option<(&str, &str)>, name: &str) -> (u64, u64) {
    let figures = match segment {
        None => &report["figures"],
        Some((dimension, key)) => &report["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["dimension"] == dimension && s["key"] == key)
            .unwrap_or_else(|| panic!("no segment {dimension}={key}"))["figures"],
    };
    let f = figures
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            let mut n = format!(
                "{}.{}",
                f["subject"].as_str().unwrap(),
                f["measure"].as_str().unwrap()
            );
            if let Some(d) = f["detail"].as_str() {
                n = format!("{n}.{d}");
            }
            n == name
        })
        .unwrap_or_else(|| panic!("no figure {name} in {segment:?}"));
    (f["count"].as_u64().unwrap(), f["of"].as_u64().unwrap())
}

fn figure(report: &Value, name: &str) -> (u64, u64) {
    figure_in(report, None, name)
}

fn assert_figures(report: &Value, want: &[(&str, (u64, u64))], context: &str) {
    for (name, counts) in want {
        assert_eq!(figure(report, name), *counts, "{context}: {name}");
    }
}

#[test]
fn the_report_counts_a_crm_built_with_known_figures_before_and_after_a_pass() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let sb = sandbox(&kind);

        // No pass yet: the CRM side only, and the report says so.
        let out = sb.run(&["report", "--job", "organisations", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("no pass yet"), "{}", stderr(&out));
        let before: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(before["crm_only"], true, "{name}");
        assert_eq!(before["records"], 4, "{name}");
        assert!(before["cost"].is_null(), "{name}");
        assert!(
            !before["figures"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["section"] == "match_status"),
            "{name}: no status without a pass"
        );
        assert_figures(
            &before,
            &[
                ("legal_name.filled", (4, 4)),
                ("street.filled", (2, 4)),
                ("street.placeholder", (1, 4)),
                ("street.empty", (1, 4)),
                ("phone.filled", (2, 4)),
                ("phone.placeholder", (1, 4)),
                ("vat_id.invalid", (1, 2)),
                ("lei.invalid", (1, 2)),
                ("register_number.invalid", (1, 3)),
                ("email.invalid", (1, 3)),
                ("phone.invalid", (1, 2)),
                ("postcode.unknown_postcode", (1, 4)),
                ("postcode.postcode_other_city", (1, 4)),
                ("legal_form.in_list", (3, 4)),
                ("legal_form.free_text", (1, 4)),
                ("legal_form.mapped_to.GmbH", (1, 4)),
                ("country.free_text", (1, 4)),
                ("country.mapped_to.DE", (1, 4)),
                ("industry_code.in_list", (2, 3)),
                ("industry_code.mapped_to.10.71", (1, 3)),
                ("employees.filled", (3, 4)),
                ("employees.placeholder", (1, 4)),
                // Rows written just now by the test.
                ("records.modified_within_30_days", (4, 4)),
            ],
            name,
        );
        // Segments: Bundesland from the postcode, WZ section from code or free text.
        for (segment, records) in [
            (("region", "Bayern"), 2),
            (("region", "Hamburg"), 1),
            (("industry", "J"), 1),
            (("industry", "C"), 1),
            (("industry", "F"), 1),
            (("legal_form", "GmbH"), 2),
            // Size classes from the headcount as typed: `ca. 40`, `10-49`, `1.250`.
            (("size", "10-49"), 2),
            (("size", "250+"), 1),
        ] {
            assert_eq!(
                figure_in(&before, Some(segment), "legal_name.filled"),
                (records, records),
                "{name}: {segment:?}"
            );
        }
        assert_eq!(
            figure_in(
                &before,
                Some(("region", "Bayern")),
                "postcode.postcode_other_city"
            ),
            (1, 2),
            "{name}"
        );

        // After a pass: currency, match status with its trend, and the cost.
        sb.pass_report("organisations");
        let after = report(&sb, "organisations");
        assert_eq!(after["crm_only"], false, "{name}");
        let passes = after["passes"].as_array().unwrap();
        assert_eq!(passes.len(), 1, "{name}");
        assert_eq!(passes[0]["records_read"], 4, "{name}");
        let statuses: u64 = [
            "in_sync",
            "different",
            "not_found",
            "ambiguous",
            "lookup_failed",
        ]
        .iter()
        .chain(&["inactive", "skipped", "not_checked"])
        .map(|s| figure(&after, &format!("{s}.records")).0)
        .sum();
        assert_eq!(statuses, 4, "{name}: every record has one status");
        assert_eq!(figure(&after, "not_checked.records"), (0, 4), "{name}");
        let currency: u64 = [
            "verified_within_30_days",
            "verified_within_90_days",
            "verified_within_365_days",
            "verified_longer",
            "never_verified",
            "inactive",
        ]
        .iter()
        .map(|m| figure(&after, &format!("records.{m}")).0)
        .sum();
        assert_eq!(currency, 4, "{name}");
        // Matched records were verified just now; the others never were.
        let not_found = figure(&after, "not_found.records").0;
        assert_eq!(
            figure(&after, "records.never_verified").0,
            not_found,
            "{name}"
        );
        let cost = &after["cost"];
        assert_eq!(
            cost["for_review"].as_u64().unwrap(),
            sb.json(&[
                "review",
                "list",
                "--job",
                "organisations",
                "--limit",
                "1000"
            ])
            .as_array()
            .unwrap()
            .len() as u64,
            "{name}: the waiting changes are the review queue"
        );
        assert_eq!(cost["decisions"], 0, "{name}");
        assert!(cost["decisions_per_hour"].is_null(), "{name}");
    }
}

#[test]
fn reachability_counts_who_may_be_addressed_per_channel_and_why_not() {
    let sb = sandbox(&StoreKind::Sqlite);
    sb.email_opt_in("3");
    sb.ok(&[
        "consent",
        "record",
        "2",
        "--channel",
        "phone",
        "--status",
        "opt_out",
        "--source",
        "call",
        "--at",
        "2026-01-04",
    ]);
    let contacts = report(&sb, "contacts");
    assert_figures(
        &contacts,
        &[
            ("salutation.free_text", (1, 3)),
            ("salutation.mapped_to.Frau", (1, 3)),
            ("email.invalid", (1, 3)),
            ("email.allowed", (1, 3)),
            ("email.refused.no_consent", (1, 3)),
            ("email.refused.consumer_without_opt_in", (1, 3)),
            ("phone.refused.revoked", (1, 3)),
            ("phone.refused.consumer_without_opt_in", (1, 3)),
            ("phone.refused.no_consent", (1, 3)),
            ("letter.allowed", (3, 3)),
        ],
        "before the erasure",
    );

    sb.ok(&["erase", "1", "--job", "contacts"]);
    let contacts = report(&sb, "contacts");
    assert_figures(
        &contacts,
        &[
            ("email.refused.erased", (1, 3)),
            ("email.refused.no_consent", (0, 3)),
            ("letter.allowed", (2, 3)),
            ("letter.refused.erased", (1, 3)),
        ],
        "after the erasure",
    );
}

#[test]
fn no_personal_value_appears_in_any_format() {
    let sb = sandbox(&StoreKind::Sqlite);
    sb.pass_report("organisations");
    sb.pass_report("contacts");
    for job in ["organisations", "contacts"] {
        for (format, lang) in [
            ("html", "de"),
            ("html", "en"),
            ("json", "de"),
            ("csv", "de"),
        ] {
            let file = format!("{job}.{lang}.{format}");
            sb.ok(&[
                "report", "--job", job, "--format", format, "--lang", lang, "--out", &file,
            ]);
            let text = std::fs::read_to_string(sb.path(&file)).unwrap();
            assert!(text.len() > 500, "{file} is nearly empty:\n{text}");
            let lower = text.to_lowercase();
            for value in PERSONAL {
                assert!(
                    !lower.contains(&value.to_lowercase()),
                    "{file} shows `{value}`"
                );
            }
        }
    }
}

#[test]
fn the_html_is_one_page_with_charts_in_german_or_english() {
    let sb = sandbox(&StoreKind::Sqlite);
    let german = sb.ok(&["report", "--job", "organisations"]);
    let english = sb.ok(&["report", "--job", "organisations", "--lang", "en"]);
    for (page, lang, words) in [
        (
            &german,
            "de",
            ["Vollständigkeit", "Gültigkeit", "nur die Seite des CRM"],
        ),
        (
            &english,
            "en",
            ["Completeness", "Validity", "the CRM side only"],
        ),
    ] {
        assert!(page.starts_with("<!DOCTYPE html>"), "{lang}");
        assert!(page.contains(&format!("<html lang=\"{lang}\">")), "{lang}");
        assert!(page.contains("<svg"), "{lang}: no chart");
        assert!(page.contains("@page { size: A4"), "{lang}: no print CSS");
        // Self-contained: nothing is loaded from elsewhere.
        for outside in ["<script", "src=", "<link", "http://", "https://"] {
            let ignoring_svg_namespace = page.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !ignoring_svg_namespace.contains(outside),
                "{lang}: `{outside}`"
            );
        }
        for word in words {
            assert!(page.contains(word), "{lang}: no `{word}`");
        }
    }
}

#[test]
fn an_unknown_format_language_or_job_is_bad_usage() {
    let sb = Sandbox::new();
    for (args, says) in [
        (&["--format", "xml"][..], "xml"),
        (&["--lang", "fr"][..], "fr"),
        (&["--job", "nonesuch"][..], "nonesuch"),
    ] {
        let mut full = vec!["report"];
        if args[0] != "--job" {
            full.extend(["--job", "organisations"]);
        }
        full.extend(args);
        let out = sb.run(&full);
        assert_eq!(out.status.code(), Some(2), "{full:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "{full:?} printed a report");
    }
}

#[test]
fn the_cost_follows_the_review_queue_and_the_stewards_decisions() {
    for kind in StoreKind::both() {
        let name = kind.name();
        // The demo CRM as shipped: its pass proposes changes for review.
        let sb = kind.sandbox(|c| c);
        sb.pass_report("organisations");
        let queue = sb.json(&[
            "review",
            "list",
            "--job",
            "organisations",
            "--limit",
            "1000",
        ]);
        let queue = queue.as_array().unwrap();
        assert!(queue.len() > 3, "{name}: the demo pass proposes changes");
        let before = report(&sb, "organisations")["cost"].clone();
        assert_eq!(before["for_review"], queue.len(), "{name}");
        assert_eq!(before["decisions"], 0, "{name}");

        // Three decisions, one command each: seconds apart, one sitting.
        for change in &queue[..2] {
            sb.ok(&["review", "approve", &change["id"].to_string()]);
        }
        sb.ok(&["review", "reject", &queue[2]["id"].to_string()]);
        let after = report(&sb, "organisations")["cost"].clone();
        assert_eq!(after["for_review"], queue.len() - 3, "{name}");
        assert_eq!(after["decisions"], 3, "{name}");
        let rate = after["decisions_per_hour"].as_f64().unwrap_or(0.0);
        assert!(
            rate > 0.0,
            "{name}: two gaps in one sitting give a rate: {after}"
        );
        let hours = after["review_hours"].as_f64().unwrap();
        let want = (queue.len() - 3) as f64 / rate;
        assert!((hours - want).abs() < 1e-6, "{name}: {hours} ≠ {want}");
        let by_field = after["by_field"].as_array().unwrap();
        assert!(!by_field.is_empty(), "{name}");
        let listed: u64 = by_field
            .iter()
            .map(|f| f["proposals"].as_u64().unwrap())
            .sum();
        assert!(listed <= after["for_review"].as_u64().unwrap(), "{name}");
    }
}
