//! The examples in config/examples are whole configs that work as they are, and register
//! settings are checked with the key named.

use std::path::Path;

use crate::common::{stderr, Sandbox, MANIFEST};

/// The shipped config with `section` added and the organisation job using `register`.
fn with_register(section: &str, register: &str) -> Sandbox {
    let (section, register) = (section.to_string(), register.to_string());
    Sandbox::with_config(move |c| {
        format!(
            "{}\n{section}",
            c.replace(
                "register = \"demo_organisations\"",
                &format!("register = \"{register}\"")
            )
        )
    })
}

/// The examples users copy, each as it is.
fn examples() -> Vec<(String, String)> {
    let dir = Path::new(MANIFEST).join("config/examples");
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_example_is_a_whole_config_that_check_config_accepts_as_it_is() {
    let found = examples();
    assert!(found.len() >= 9, "{found:?}");
    for (stem, text) in found {
        let out = Sandbox::example(&stem, |c| c).run(&["check-config"]);
        if text.contains("mysql://") && !cfg!(feature = "mysql") {
            assert_eq!(out.status.code(), Some(2), "{stem}");
            assert!(
                stderr(&out).contains("--features mysql"),
                "{}",
                stderr(&out)
            );
        } else {
            assert!(out.status.success(), "{stem}: {}", stderr(&out));
        }
    }
}

#[test]
fn the_examples_with_bundled_registers_run_a_pass_as_they_are() {
    for stem in ["file-csv", "file-jsonl", "gleif-golden-copy"] {
        let (out, report) = Sandbox::example(stem, |c| c).pass_report("organisations");
        assert!(out.status.success(), "{stem}: {}", stderr(&out));
        assert_eq!(report["status"], "succeeded", "{stem}: {report}");
        let counts = &report["counts"];
        let matched =
            counts["matched_auto"].as_i64().unwrap() + counts["matched_review"].as_i64().unwrap();
        // The golden-copy sample holds only the demo firms that have an LEI.
        let least = if stem == "gleif-golden-copy" { 40 } else { 200 };
        assert!(matched >= least, "{stem}: {matched} matched: {report}");
        assert_eq!(counts["lookup_failed"], 0, "{stem}: {report}");
    }
}

#[test]
fn bad_register_settings_name_the_key() {
    let cases = [
        (
            "[register.g]\nkind = \"gleif\"\n[register.g.courts]\n\"Fürth\" = \"RA12\"\n",
            "register.g.courts.Fürth",
        ),
        (
            "[register.g]\nkind = \"gleif\"\n[register.g.http]\nrequests_per_minute = 0\n",
            "register.g.http.requests_per_minute",
        ),
        (
            "[register.g]\nkind = \"gleif\"\n[register.g.http]\napi_key_env = \"A\"\napi_key_file = \"/x\"\n",
            "register.g.http.api_key_file",
        ),
        (
            "[register.g]\nkind = \"reconciliation\"\nendpoint = \"ftp://x\"\n",
            "register.g.endpoint",
        ),
        (
            "[register.g]\nkind = \"gleif\"\nbase_url = \"https://x\"\nspeed = 3\n",
            "speed",
        ),
    ];
    for (section, key) in cases {
        let out = with_register(section, "g").run(&["check-config"]);
        assert_eq!(out.status.code(), Some(2), "{section}");
        assert!(stderr(&out).contains(key), "{key}: {}", stderr(&out));
    }
}

#[test]
fn a_contact_job_cannot_use_gleif() {
    let sb = Sandbox::with_config(|c| {
        format!(
            "{}\n[register.g]\nkind = \"gleif\"\n",
            c.replace("register = \"demo_contacts\"", "register = \"g\"")
        )
    });
    let out = sb.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("organisations only"),
        "{}",
        stderr(&out)
    );
}
