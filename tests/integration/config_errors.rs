use crate::common::{stderr, Sandbox};

/// (what is wrong, how to break the default config, env, words the error must contain)
#[test]
fn config_errors_name_the_file_the_key_and_the_problem() {
    type Edit = fn(String) -> String;
    type Case = (
        &'static str,
        Edit,
        Vec<(&'static str, &'static str)>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "unknown key",
            |c| c.replace("[logging]\n", "[logging]\nverbosity = 3\n"),
            vec![],
            vec!["refsync.toml", "verbosity", "logging"],
        ),
        (
            "session cookie without Secure on a public address",
            |c| c.replace("secure_cookie = true", "secure_cookie = false"),
            vec![("REFSYNC__HTTP__LISTEN", "0.0.0.0:8080")],
            vec!["http.secure_cookie", "loopback"],
        ),
        (
            "a check mapping onto no canonical field",
            |c| c + "\n[job.organisations.check.mappings.messe]\nfirma = \"company\"\n",
            vec![],
            vec![
                "job.organisations.check.mappings.messe.firma",
                "unknown canonical field `company`",
            ],
        ),
        (
            "a check mapping of nothing",
            |c| c + "\n[job.organisations.check.mappings.messe]\n",
            vec![],
            vec!["job.organisations.check.mappings.messe", "maps no field"],
        ),
        (
            "no checks at all",
            |c| c.replace("check_per_second = 50", "check_per_second = 0"),
            vec![],
            vec!["http.check_per_second", "at least 1"],
        ),
        (
            "bad cron expression",
            |c| c.replace("schedule = \"0 30 2 * * *\"", "schedule = \"every night\""),
            vec![],
            vec!["job.organisations.schedule", "every night", "cron"],
        ),
        (
            "bad store URL",
            |c| c.replace("sqlite://var/refsync.db", "mysql://x/y"),
            vec![],
            vec!["store.url", "mysql://x/y"],
        ),
        (
            "store URL that does not parse",
            |c| c,
            vec![("REFSYNC__STORE__URL", "postgres://u:S3cret@[::1:5432/x")],
            vec!["store.url", "postgres://u:***@[::1:5432/x", "[::1]:5432"],
        ),
        (
            "log filter that does not parse",
            |c| c.replace("level = \"info\"", "level = \"[[[verbose!!\""),
            vec![],
            vec!["logging.level", "[[[verbose!!", "refsync=debug"],
        ),
        (
            "log filter by environment that does not parse",
            |c| c,
            vec![("RUST_LOG", "[[[verbose!!")],
            vec!["RUST_LOG", "[[[verbose!!", "refsync=debug"],
        ),
        (
            "thresholds out of order",
            |c| c.replace("review_min = 0.75", "review_min = 0.95"),
            vec![],
            vec!["job.organisations.thresholds.review_min", "auto_apply_min"],
        ),
        (
            "job names a missing register",
            |c| c.replace("register = \"demo_contacts\"", "register = \"nope\""),
            vec![],
            vec!["job.contacts.register", "nope"],
        ),
        (
            "unknown canonical field",
            |c| c.replace("lei = \"fill_empty\"", "leiii = \"fill_empty\""),
            vec![],
            vec!["leiii", "legal_name"],
        ),
        (
            "SQL in a mapping",
            |c| {
                c.replace(
                    "table = \"organisations\"",
                    "table = \"organisations; DROP TABLE x\"",
                )
            },
            vec![],
            vec!["crm.demo.organisations", "identifier"],
        ),
        (
            "unknown comparator",
            |c| {
                c.replace(
                    "term_frequency = true       # an exact",
                    "comparisons = [{ field = \"city\", comparator = \"soundex\" }]\nterm_frequency = true       # an exact",
                )
            },
            vec![],
            vec![
                "job.organisations.matching.comparisons",
                "soundex",
                "person_name",
            ],
        ),
        (
            "comparison of a field nothing prepares",
            |c| {
                c.replace(
                    "term_frequency = true       # an exact",
                    "comparisons = [{ field = \"industry_code\", comparator = \"exact\" }]\nterm_frequency = true       # an exact",
                )
            },
            vec![],
            vec!["comparisons[0].field", "industry_code", "comparable fields"],
        ),
        (
            "blocking rule with an unknown transform",
            |c| {
                c.replace(
                    "rules = [\"lei\", \"vat_id\",",
                    "rules = [{ on = [\"soundex(postcode)\"] }, \"lei\", \"vat_id\",",
                )
            },
            vec![],
            vec!["register.demo_organisations", "soundex", "phonetic"],
        ),
        (
            "unknown survivor strategy",
            |c| {
                c.replace(
                    "survivor = [\"register_verified\",",
                    "survivor = [\"newest\",",
                )
            },
            vec![],
            vec![
                "job.organisations.duplicates.survivorship.survivor",
                "newest",
                "most_complete",
            ],
        ),
        (
            "survivorship rule for an unknown field",
            |c| c.replace("fields = { legal_name = [", "fields = { legal_nam = ["),
            vec![],
            vec![
                "job.organisations.duplicates.survivorship.fields",
                "legal_nam",
            ],
        ),
        (
            "survivorship rule for a field the CRM does not map",
            |c| c.replace("fields = { legal_name = [", "fields = { birth_date = ["),
            vec![],
            vec![
                "job.organisations.duplicates.survivorship.fields.birth_date",
                "organisations",
            ],
        ),
        (
            "duplicates enabled without saying how a record is deactivated",
            |c| {
                c.replace("enabled = false\nthreshold", "enabled = true\nthreshold")
                    .replace(
                        "deactivate = { column = \"status\", value = \"merged\" }\n",
                        "",
                    )
            },
            vec![],
            vec!["job.organisations.duplicates.deactivate", "inactive"],
        ),
        (
            "duplicates threshold that is no probability",
            |c| c.replace("threshold = 0.9 ", "threshold = 1.5 "),
            vec![],
            vec!["job.organisations.duplicates.threshold", "1.5"],
        ),
        (
            "SQL in a column to repoint",
            |c| {
                c.replace(
                    "column = \"organisation_id\" }]",
                    "column = \"organisation_id; --\" }]",
                )
            },
            vec![],
            vec![
                "job.organisations.duplicates.repoint.0.column",
                "identifier",
            ],
        ),
        (
            "bad report schedule",
            |c| {
                c.replace(
                    "[job.organisations]\n",
                    "[job.organisations]\nreport_schedule = \"weekly\"\nreport_dir = \".\"\n",
                )
            },
            vec![],
            vec!["job.organisations.report_schedule", "weekly", "cron"],
        ),
        (
            "report folder that does not exist",
            |c| {
                c.replace(
                    "[job.organisations]\n",
                    "[job.organisations]\nreport_schedule = \"0 0 6 * * *\"\nreport_dir = \"no-such-folder\"\n",
                )
            },
            vec![],
            vec![
                "job.organisations.report_dir",
                "no-such-folder",
                "create it",
            ],
        ),
        (
            "report folder that is a file",
            |c| {
                c.replace(
                    "[job.organisations]\n",
                    "[job.organisations]\nreport_schedule = \"0 0 6 * * *\"\nreport_dir = \"refsync.toml\"\n",
                )
            },
            vec![],
            vec!["job.organisations.report_dir", "not a folder"],
        ),
        (
            // sysfs takes no new files, not even from root (tests may run as root).
            "report folder that takes no files",
            |c| {
                c.replace(
                    "[job.organisations]\n",
                    "[job.organisations]\nreport_schedule = \"0 0 6 * * *\"\nreport_dir = \"/sys\"\n",
                )
            },
            vec![],
            vec!["job.organisations.report_dir", "cannot write into `/sys`"],
        ),
        (
            "report schedule without a folder",
            |c| {
                c.replace(
                    "[job.organisations]\n",
                    "[job.organisations]\nreport_schedule = \"0 0 6 * * *\"\n",
                )
            },
            vec![],
            vec!["job.organisations.report_dir", "report_schedule needs"],
        ),
        (
            "unknown key by environment",
            |c| c,
            vec![("REFSYNC__STORE__PASSWORD", "x")],
            vec!["password", "REFSYNC__STORE__PASSWORD"],
        ),
        (
            "bad value by environment",
            |c| c,
            vec![("REFSYNC__JOB__ORGANISATIONS__SCHEDULE", "soon")],
            vec!["job.organisations.schedule", "soon"],
        ),
    ];
    for (label, edit, envs, words) in cases {
        let mut sb = Sandbox::with_config(edit);
        for (k, v) in envs {
            sb = sb.env(k, v);
        }
        let out = sb.run(&["check-config"]);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{label}: exit code; stderr: {err}"
        );
        for word in words {
            assert!(err.contains(word), "{label}: error lacks {word:?}: {err}");
        }
        // A bad config stops every command before it touches the store.
        let run = sb.run(&["run", "--once"]);
        assert_eq!(run.status.code(), Some(2), "{label}: run");
        assert!(
            !sb.path("var").exists(),
            "{label}: the store was created despite a bad config"
        );
    }
}

#[test]
fn unreadable_config_says_so() {
    let sb = Sandbox::new();
    let out = sb
        .command(&["check-config"])
        .args(["--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
    std::fs::write(sb.path("broken.toml"), "[store\nurl = 1").unwrap();
    let out = sb
        .command(&["check-config"])
        .args(["--config", "broken.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid TOML"), "{}", stderr(&out));
}

#[test]
fn check_config_prints_the_effective_config_without_secrets() {
    let sb = Sandbox::new()
        .env(
            "REFSYNC__STORE__URL",
            "postgres://refsync:hunter2@db.internal:5432/refsync",
        )
        .env("REFSYNC__JOB__ORGANISATIONS__THRESHOLDS__REVIEW_MIN", "0.8");
    let out = sb.ok(&["check-config"]);
    assert!(
        out.contains("postgres://refsync:***@db.internal:5432/refsync"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains("review_min = 0.8"), "{out}");
}

#[test]
fn a_store_url_that_does_not_parse_is_bad_config_and_its_password_is_never_shown() {
    let sb = Sandbox::new().env("REFSYNC__STORE__URL", "postgres://u:S3cret@[::1:5432/x");
    for command in [&["check-config"][..], &["run", "--once"], &["migrate"]] {
        let out = sb.run(command);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", stderr(&out));
        let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!shown.contains("S3cret"), "{command:?}: {shown}");
    }
}

#[test]
fn bad_cli_arguments_exit_2() {
    let sb = Sandbox::new();
    assert_eq!(
        sb.run(&["run"]).status.code(),
        Some(2),
        "run without --once"
    );
    assert_eq!(
        sb.run(&["run", "--once", "--job", "nope"]).status.code(),
        Some(2)
    );
    assert_eq!(
        sb.run(&["review", "approve"]).status.code(),
        Some(2),
        "approve without ids or filter"
    );
    assert_eq!(
        sb.run(&["review", "list", "--status", "maybe"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(sb.run(&["frobnicate"]).status.code(), Some(2));
}
