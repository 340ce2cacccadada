//! `check-config --deep` and the daemon's start: what a config names must exist where it
//! points, before the first pass finds out record by record.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::json;

use crate::common::{stderr, stdout, Sandbox};
use crate::http_double::{Double, Reply, Seen};

fn deep(sb: &Sandbox) -> std::process::Output {
    sb.run(&["check-config", "--deep"])
}

#[test]
fn the_shipped_config_passes_the_deep_check_before_and_after_its_first_pass() {
    let sb = Sandbox::with_config(|c| c);
    let out = deep(&sb);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("crm demo: the demo CRM is created"),
        "{}",
        stdout(&out)
    );
    // A check does not create the demo CRM.
    assert!(!sb.path("var/demo-crm.db").exists());
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let out = deep(&sb);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("crm demo: reached"), "{text}");
    assert!(
        text.contains("register demo_organisations: read whole"),
        "{text}"
    );
}

#[test]
fn a_misspelled_crm_column_is_found_before_the_first_pass_and_said_at_daemon_start() {
    let sb = Sandbox::with_config(|c| c);
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let config = std::fs::read_to_string(sb.path("refsync.toml")).unwrap();
    std::fs::write(
        sb.path("refsync.toml"),
        config.replace("postcode = \"zip\"", "postcode = \"plz\""),
    )
    .unwrap();
    // Loading alone cannot know the CRM's columns.
    assert!(sb.run(&["check-config"]).status.success());

    let out = deep(&sb);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("ERROR") && text.contains("plz"), "{text}");
    assert!(stderr(&out).contains("1 problem"), "{}", stderr(&out));

    // The daemon says so at start, beside its scheduler.
    let mut daemon = sb
        .command(&["daemon"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read up to the check's last line (or the end, should it stop): no reading forever.
    let mut said = false;
    for line in BufReader::new(daemon.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        said |= line.contains("\"level\":\"ERROR\"") && line.contains("plz");
        if line.contains("the config does not fit") || line.contains("the config fits") {
            break;
        }
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert!(said, "the daemon did not say what does not fit");
}

#[test]
fn a_missing_register_file_is_an_error_of_the_deep_check() {
    let sb = Sandbox::with_config(|c| c.replace("reference-organisations.csv", "no-such-file.csv"));
    assert!(sb.run(&["check-config"]).status.success());
    let out = deep(&sb);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains("ERROR") && text.contains("no-such-file.csv"),
        "{text}"
    );
}

#[test]
fn a_deactivation_column_or_foreign_key_the_crm_lacks_is_an_error_of_the_deep_check() {
    let sb = Sandbox::with_config(|c| c);
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let config = std::fs::read_to_string(sb.path("refsync.toml")).unwrap();
    let out = deep(&sb);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "job organisations: every column [job.organisations.duplicates] names exists"
        ),
        "{}",
        stdout(&out)
    );
    for (from, to) in [
        ("column = \"status\", value", "column = \"active\", value"),
        ("table = \"contacts\", column", "table = \"people\", column"),
        (
            "column = \"organisation_id\" }]",
            "column = \"parent_id\" }]",
        ),
    ] {
        std::fs::write(sb.path("refsync.toml"), config.replace(from, to)).unwrap();
        assert!(sb.run(&["check-config"]).status.success(), "{to}");
        let out = deep(&sb);
        assert_eq!(out.status.code(), Some(2), "{to}: {}", stderr(&out));
        let text = stdout(&out);
        let missing = to.split('"').nth(1).unwrap();
        assert!(
            text.contains("ERROR")
                && text.contains(missing)
                && text.contains("[job.organisations.duplicates]"),
            "{to}: {text}"
        );
    }
}

/// A 0.2 service whose manifest points at its own property proposals, listing `listed`.
fn service(listed: &'static [&'static str]) -> Double {
    Double::start(move |req: &Seen, _| {
        let host = req.header("host").unwrap_or("127.0.0.1").to_string();
        match req.path().as_str() {
            "/api" => Reply::json(
                json!({
                    "versions": ["0.2"],
                    "name": "refsync test service",
                    "identifierSpace": "http://example.org/entities/",
                    "schemaSpace": "http://example.org/properties/",
                    "view": {"url": "http://example.org/entities/{{id}}"},
                    "extend": {"propose_properties": {
                        "service_url": format!("http://{host}"),
                        "service_path": "/api/propose"
                    }},
                })
                .to_string(),
            ),
            "/api/propose" if req.param("type").as_deref() == Some("Organization") => {
                let properties: Vec<_> = listed
                    .iter()
                    .map(|id| json!({"id": id, "name": id}))
                    .collect();
                Reply::json(json!({"type": "Organization", "properties": properties}).to_string())
            }
            _ => Reply::status(404),
        }
    })
}

fn against(endpoint: &str, extend: &str) -> Sandbox {
    let section = format!(
        "[register.recon]\nkind = \"reconciliation\"\nendpoint = \"{endpoint}\"\n\
         type = \"Organization\"\n\n[register.recon.extend]\n{extend}\n\n\
         [register.recon.http]\nretries = 0\n\n"
    );
    Sandbox::with_config(|c| {
        c.replace("register = \"demo_organisations\"", "register = \"recon\"")
            .replace(
                "# ---------------------------------------------------------------- jobs",
                &section,
            )
    })
}

#[test]
fn an_extend_id_the_service_does_not_list_is_an_error_that_lists_what_it_has() {
    let server = service(&["street", "postcode", "city"]);
    let endpoint = format!("{}/api", server.url);
    let good = against(&endpoint, "street = \"street\"\ncity = \"city\"");
    let out = deep(&good);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 property and extend ids found among the service's 3"),
        "{}",
        stdout(&out)
    );

    let bad = against(&endpoint, "street = \"street\"\nwebsite = \"homepage\"");
    let out = deep(&bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("no property homepage"), "{text}");
    assert!(
        text.contains("street, postcode, city") || text.contains("city, postcode, street"),
        "{text}"
    );
}

#[test]
fn a_register_that_cannot_be_reached_is_a_warning_and_an_html_page_gets_a_hint() {
    let down = against("http://127.0.0.1:9/api", "city = \"city\"");
    let out = deep(&down);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("warning") && stdout(&out).contains("register `recon` unavailable"),
        "{}",
        stdout(&out)
    );

    let page = Double::start(|_: &Seen, _| {
        let mut reply = Reply::json("<!DOCTYPE html><html><body>register table</body></html>");
        reply.headers = vec![("Content-Type".into(), "text/html".into())];
        reply
    });
    let out = deep(&against(
        &format!("{}/db/register", page.url),
        "city = \"city\"",
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("HTML page") && stdout(&out).contains("/-/reconcile"),
        "{}",
        stdout(&out)
    );
}
