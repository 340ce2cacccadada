//! The register examples in config/examples are valid configuration, and register
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

#[test]
fn every_register_example_passes_check_config() {
    let dir = Path::new(MANIFEST).join("config/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if text.lines().any(|l| l == "[store]") {
            // A whole CRM profile rather than a register snippet: checked as it is.
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let out = Sandbox::example(&stem, |c| c).run(&["check-config"]);
            if text.contains("mysql://") && !cfg!(feature = "mysql") {
                assert_eq!(out.status.code(), Some(2), "{stem}");
                assert!(
                    stderr(&out).contains("--features mysql"),
                    "{}",
                    stderr(&out)
                );
            } else {
                assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
            }
            continue;
        }
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("[register.")?.strip_suffix(']'))
            .unwrap_or_else(|| panic!("{} has no [register.NAME]", path.display()));
        let sb = if text.contains("kind = \"vies\"") {
            // VIES checks VAT ids beside a job's register.
            let vies = format!("demo_organisations\"\nvies = \"{name}");
            with_register(&text, &vies)
        } else {
            with_register(&text, name)
        };
        let out = sb.run(&["check-config"]);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        checked += 1;
    }
    assert!(checked >= 5);
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
