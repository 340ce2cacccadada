//! VIES as a job's VAT id check, against a local double of the EC's REST contract
//! (`POST /check-vat-number`): "not registered" becomes a change of its own, a transient
//! VIES error makes the record `lookup_failed`, never invalid.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde_json::{json, Value};

use crate::common::Sandbox;
use crate::http_double::{Double, Reply};
use refsync::domain::validate::{vat_id, VatCheck};

#[derive(QueryableByName)]
struct Org {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    vat_id: Option<String>,
}

/// Not registered when the number ends in 1; member state down when it ends in 2.
fn vies_answer(number: &str) -> Value {
    match number.chars().last() {
        Some('1') => json!({"countryCode": "DE", "vatNumber": number, "valid": false}),
        Some('2') => {
            json!({"actionSucceed": false, "errorWrappers": [{"error": "MS_UNAVAILABLE"}]})
        }
        _ => json!({"countryCode": "DE", "vatNumber": number, "valid": true}),
    }
}

#[test]
fn vies_checks_vat_ids_and_transient_errors_are_lookup_failed() {
    let server = Double::start(|req, _| {
        if req.path() != "/vies/check-vat-number" {
            return Reply::status(404);
        }
        let body: Value = serde_json::from_str(&req.body).unwrap();
        Reply::json(vies_answer(body["vatNumber"].as_str().unwrap()).to_string())
    });
    let section = format!(
        "[register.vies]\nkind = \"vies\"\nbase_url = \"{}/vies\"\n\n\
         [register.vies.http]\nrequests_per_minute = 60000\n\n",
        server.url
    );
    let sb = Sandbox::with_config(|c| {
        c.replace(
            "register = \"demo_organisations\"",
            "register = \"demo_organisations\"\nvies = \"vies\"",
        )
        .replace(
            "# ---------------------------------------------------------------- jobs",
            &section,
        )
    });
    let (out, report) = sb.pass_report("organisations");
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let counts = &report["counts"];

    // VAT ids written by this pass (filled from the register) were not in the CRM yet.
    let audit = sb.json(&["audit", "list", "--limit", "100000"]);
    let written: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "applied" && a["field"] == "vat_id")
        .filter_map(|a| a["record_id"].as_str())
        .collect();
    let orgs: Vec<Org> = diesel::sql_query("SELECT id, vat_id FROM organisations")
        .load::<Org>(&mut sb.crm())
        .unwrap()
        .into_iter()
        .filter(|o| !written.contains(&o.id.as_str()))
        .collect();
    let checked = |last: char| -> Vec<String> {
        orgs.iter()
            .filter(|o| {
                o.vat_id
                    .as_deref()
                    .is_some_and(|v| matches!(vat_id(v), VatCheck::Valid(c) if c.ends_with(last)))
            })
            .map(|o| o.id.clone())
            .collect()
    };
    let (unregistered, unavailable) = (checked('1'), checked('2'));
    assert!(!unregistered.is_empty() && !unavailable.is_empty());
    assert_eq!(
        counts["lookup_failed"].as_u64(),
        Some(unavailable.len() as u64),
        "{counts}"
    );

    let changes = sb.json(&["review", "list"]);
    let vies_flags: Vec<&Value> = changes
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["field"] == "vat_id" && c["reason"].as_str().unwrap_or_default().contains("VIES")
        })
        .collect();
    assert!(!vies_flags.is_empty(), "no VIES change among {changes}");
    for flag in vies_flags {
        let record = flag["record_id"].as_str().unwrap();
        assert!(unregistered.iter().any(|id| id == record), "{flag}");
    }
    // The pass summary counts VIES requests (the demo register is a local file).
    assert_eq!(
        report["register"]["requests"].as_u64(),
        Some(server.seen().len() as u64)
    );
    // Only format-valid VAT ids were sent to VIES.
    for req in server.seen() {
        let body: Value = serde_json::from_str(&req.body).unwrap();
        let vat = format!(
            "{}{}",
            body["countryCode"].as_str().unwrap(),
            body["vatNumber"].as_str().unwrap()
        );
        assert!(matches!(vat_id(&vat), VatCheck::Valid(_)), "{vat}");
    }
}
