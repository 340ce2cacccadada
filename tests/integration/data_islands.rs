//! CSV lists matched against the CRM and the register: import proposals and the corrected export.

use std::path::Path;

use serde_json::Value;

use crate::common::{Sandbox, StoreKind, MANIFEST};

/// A German Excel export: Windows-1252, semicolons, street and number in one column, one
/// broken row, one company nobody knows, and a typo the register corrects.
fn trade_fair_list(sb: &Sandbox) -> std::path::PathBuf {
    let reference = std::fs::read_to_string(
        Path::new(MANIFEST).join("config/demo/reference-organisations.csv"),
    )
    .unwrap();
    let mut reader = csv::Reader::from_reader(reference.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |row: &csv::StringRecord, name: &str| {
        row[headers.iter().position(|h| h == name).unwrap()].to_string()
    };
    let mut text = String::from("Firma;Straße;PLZ;Ort;E-Mail;Notiz\r\n");
    for (i, row) in reader.records().take(30).enumerate() {
        let row = row.unwrap();
        let city = if i == 4 {
            col(&row, "city").replace('ü', "ue") + "x"
        } else {
            col(&row, "city")
        };
        text.push_str(&format!(
            "{};{} {};{};{};{};Stand Halle 3, Gespräch über Größe\r\n",
            col(&row, "name"),
            col(&row, "street"),
            col(&row, "house_number"),
            col(&row, "postcode"),
            city,
            col(&row, "email")
        ));
    }
    text.push_str("Kaputt;nur;drei\r\n");
    text.push_str("Zukunftswerk Müßiggang GmbH;Teststraße 1;10115;Berlin;;\r\n");
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| match c {
            'ä' => 0xe4,
            'ö' => 0xf6,
            'ü' => 0xfc,
            'ß' => 0xdf,
            'Ä' => 0xc4,
            'Ö' => 0xd6,
            'Ü' => 0xdc,
            c if c.is_ascii() => c as u8,
            other => panic!("no Windows-1252 byte for {other}"),
        })
        .collect();
    let path = sb.path("messe.csv");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_windows_1252_list_becomes_proposals_and_a_corrected_file() {
    for store in StoreKind::both() {
        let sb = store.sandbox(|c| c);
        let label = store.name();
        sb.ok(&["run", "--once", "--job", "organisations"]);
        let list = trade_fair_list(&sb);
        let list = list.to_str().unwrap();

        let report = sb.json(&["import", list, "--job", "organisations"]);
        assert_eq!(report["layout"]["encoding"], "Windows1252", "{label}");
        assert_eq!(report["layout"]["delimiter"], ";");
        assert_eq!(report["invalid_rows"], 1, "{label}: {report}");
        assert!(
            report["errors"][0]["line"].as_u64().unwrap() >= 32,
            "{report}"
        );
        let (new, updates, duplicates) = (
            report["new"].as_u64().unwrap(),
            report["updates"].as_u64().unwrap(),
            report["duplicates"].as_u64().unwrap(),
        );
        assert_eq!(new + updates + duplicates, 31, "{label}: {report}");
        assert!(new >= 1 && duplicates >= 1, "{label}: {report}");

        let pass = report["pass_id"].to_string();
        let proposed: Vec<Value> = sb
            .json(&["review", "list", "--pass", &pass, "--limit", "1000"])
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(
            proposed.len() as i64,
            report["changes_proposed"].as_i64().unwrap(),
            "{label}"
        );
        let stranger = proposed
            .iter()
            .find(|c| {
                c["kind"] == "new_record"
                    && c["new_value"]
                        .as_str()
                        .unwrap()
                        .contains("Zukunftswerk Müßiggang GmbH")
            })
            .expect("the unknown company is proposed as new, umlauts intact");
        assert!(stranger["reason"]
            .as_str()
            .unwrap()
            .contains("not in the register"));
        assert!(
            proposed.iter().all(|c| c["status"] == "proposed"),
            "{label}: a list never writes by itself"
        );

        // Importing the same list again proposes nothing new.
        let again = sb.json(&["import", list, "--job", "organisations"]);
        assert_eq!(again["changes_proposed"], 0, "{label}: {again}");

        // The export: UTF-8 with BOM, same delimiter, the register's corrections applied,
        // street and house number kept together as the list has them.
        sb.ok(&[
            "export",
            list,
            "--job",
            "organisations",
            "--out",
            "messe-korrigiert.csv",
        ]);
        let out = std::fs::read_to_string(sb.path("messe-korrigiert.csv")).unwrap();
        assert!(out.starts_with('\u{feff}'));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("refsync_status;refsync_crm_id;refsync_register_id;refsync_score;refsync_corrections"), "{}", lines[0]);
        assert_eq!(
            lines.len(),
            1 + 31,
            "{label}: the broken row is reported, not exported"
        );
        assert!(
            lines.iter().any(|l| l.contains("Gespräch über Größe")),
            "umlauts survive the round trip"
        );
        let corrected = lines[5];
        assert!(
            corrected.contains("city: "),
            "{label}: the typo in row 5 is corrected: {corrected}"
        );
        let street_cell = lines[1].split(';').nth(1).unwrap();
        assert!(
            street_cell.chars().last().unwrap().is_ascii_digit() || street_cell.ends_with('a'),
            "{street_cell}"
        );
        assert!(
            lines.iter().any(|l| l.contains(";new;"))
                && lines.iter().any(|l| l.contains(";duplicate;"))
        );
    }
}

#[test]
fn an_unmappable_list_says_how_to_map_it() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("odd.csv"), "Spalte A,Spalte B\nx,y\n").unwrap();
    let out = sb.run(&["import", "odd.csv", "--job", "organisations"]);
    assert_eq!(out.status.code(), Some(2));
    let err = crate::common::stderr(&out);
    assert!(err.contains("--map") && err.contains("Spalte A"), "{err}");
    let mapped = sb.run(&[
        "import",
        "odd.csv",
        "--job",
        "organisations",
        "--map",
        "legal_name=Spalte A",
        "--map",
        "city=Spalte B",
    ]);
    assert_eq!(
        mapped.status.code(),
        Some(0),
        "{}",
        crate::common::stderr(&mapped)
    );
    let wrong = sb.run(&[
        "import",
        "odd.csv",
        "--job",
        "organisations",
        "--map",
        "legalname=Spalte A",
    ]);
    assert_eq!(wrong.status.code(), Some(2));
}

#[test]
fn contacts_are_checked_without_a_register_and_flagged_when_their_company_is_gone() {
    let sb = Sandbox::with_config(|c| {
        c.replace(
            "[job.contacts.thresholds]",
            "normalise = [\"phone\"]\n\n[job.contacts.thresholds]",
        )
    });
    let reports = sb.json(&["run", "--once"]);
    assert_eq!(
        reports[0]["job"], "organisations",
        "organisations run first"
    );
    let all: Vec<Value> = sb
        .json(&[
            "review", "list", "--all", "--job", "contacts", "--limit", "100000",
        ])
        .as_array()
        .unwrap()
        .clone();
    let of = |kind: &str, field: &str| {
        all.iter()
            .filter(|c| c["kind"] == kind && c["field"] == field)
            .cloned()
            .collect::<Vec<_>>()
    };

    // Phones in E.164, applied: the number is the same, only its spelling changes.
    let phones = of("picklist", "phone");
    assert!(!phones.is_empty());
    for p in &phones {
        assert_eq!(p["status"], "applied", "{p}");
        let v = p["new_value"].as_str().unwrap();
        assert!(
            v.starts_with("+49") && v[1..].chars().all(|c| c.is_ascii_digit()),
            "{v}"
        );
    }
    // Titles typed into first names are split out for review: by the register where it
    // knows the person, else by the name check.
    let names: Vec<Value> = of("picklist", "first_name")
        .into_iter()
        .chain(of("field", "first_name"))
        .collect();
    let typed_titles: Vec<&Value> = names
        .iter()
        .filter(|c| c["old_value"].as_str().unwrap().starts_with("Dr."))
        .collect();
    assert!(!typed_titles.is_empty(), "{names:?}");
    assert!(typed_titles
        .iter()
        .all(|c| c["status"] == "proposed" && !c["new_value"].as_str().unwrap().contains("Dr.")));
    // An impossible address is flagged, never rewritten.
    let bad_mail = of("flag", "email");
    assert!(
        bad_mail
            .iter()
            .any(|c| c["old_value"].as_str().unwrap().contains(" at ")),
        "{bad_mail:?}"
    );
    // Contacts of dissolved companies are flagged.
    let orphans = of("flag", "organisation_id");
    assert!(!orphans.is_empty());
    let inactive: Vec<Value> = sb
        .json(&[
            "review",
            "list",
            "--all",
            "--job",
            "organisations",
            "--limit",
            "100000",
        ])
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "deactivate")
        .cloned()
        .collect();
    for o in &orphans {
        assert!(
            inactive.iter().any(|d| d["record_id"] == o["old_value"]),
            "{o}"
        );
    }
    let again = sb.json(&["run", "--once"]);
    for r in again.as_array().unwrap() {
        assert_eq!(r["counts"]["changes_proposed"], 0, "{r}");
        assert_eq!(r["counts"]["changes_applied"], 0, "{r}");
    }
}
