use std::path::Path;

use crate::common::{stderr, Sandbox, MANIFEST};

/// Changes in the store, as `review list --all` shows them.
fn stored_changes(sb: &Sandbox) -> usize {
    sb.json(&["review", "list", "--all", "--limit", "100000"])
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_missing_crm_table_fails_the_pass_and_keeps_the_store() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let before = stored_changes(&sb);
    let broken = Sandbox::with_config(|c| {
        c.replace("table = \"organisations\"", "table = \"organisations_old\"")
    });
    // Same store and CRM as the first sandbox.
    let config = std::fs::read_to_string(broken.path("refsync.toml"))
        .unwrap()
        .replace(
            "sqlite://var/",
            &format!("sqlite://{}/var/", sb.dir.path().display()),
        );
    std::fs::write(broken.path("refsync.toml"), config).unwrap();
    let out = broken.run(&["run", "--once", "--job", "organisations"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("organisations_old"), "{err}");
    assert_eq!(stored_changes(&sb), before);
}

#[test]
fn a_malformed_reference_row_names_its_line_and_keeps_the_store() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let before = stored_changes(&sb);
    let shipped = std::fs::read_to_string(
        Path::new(MANIFEST).join("config/demo/reference-organisations.csv"),
    )
    .unwrap();
    let mut lines: Vec<&str> = shipped.lines().collect();
    lines.insert(5, "R99999,Kaputt GmbH,GmbH");
    std::fs::write(sb.path("broken.csv"), lines.join("\n")).unwrap();
    let config = std::fs::read_to_string(sb.path("refsync.toml")).unwrap();
    let demo = Path::new(MANIFEST).join("config/demo/reference-organisations.csv");
    std::fs::write(
        sb.path("refsync.toml"),
        config.replace(&demo.display().to_string(), "broken.csv"),
    )
    .unwrap();

    let out = sb.run(&["run", "--once", "--job", "organisations"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("broken.csv") && err.contains("line 6"),
        "{err}"
    );
    assert_eq!(stored_changes(&sb), before);
    // The failed pass is on record with its reason.
    let out = sb.ok(&["run", "--once", "--job", "contacts"]);
    assert!(out.contains("succeeded"));
}

#[test]
fn a_missing_crm_database_is_not_created_empty() {
    let sb = Sandbox::with_config(|c| c.replace("demo_data = true", "demo_data = false"));
    let out = sb.run(&["run", "--once", "--job", "organisations"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!sb.path("var/demo-crm.db").exists());
}
