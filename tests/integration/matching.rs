//! `refsync match` on two small CSV files with known true links, and `refsync explain`.

use std::collections::HashMap;

use crate::common::{stderr, Sandbox};

const CRM: &str = "\
id,Firma,Strasse,PLZ,Ort,USt,Telefon
1,Müller Maschinenbau GmbH,Hauptstr. 12,80331,München,,089 1234567
2,MUELLER MASCHINENBAU G.m.b.H.,Hauptstraße 12,80331,Muenchen,,
3,Bäckerei Krause e. K.,Kantstr. 5 a,10623,Berlin,,
4,Hofmann Logistik GmbH u. Co. KG,Hafenstraße 3,20457,Hamburg,,040 555123
5,Nordlicht Software UG (haftungsbeschraenkt),Am Markt 1,24103,Kiel,,
6,Alte Werft Handels GmbH,Werftstr. 9,28195,Bremen,DE136695976,
7,Schulz & Partner Steuerberatung GbR,Schillerstr. 44,60313,Frankfurt a. M.,,
8,Zeppelin Ballonfahrten GmbH,Seestr. 1,88045,Friedrichshafen,,
9,Weber Metallbau KG,Industriestr. 7,50667,Köln,,0221 998877
10,Schmidt Elektrotechnik GmbH,Ringstr. 2,70173,Stuttgart,,
";

const REGISTER: &str = "\
id,Firma,Strasse,PLZ,Ort,USt,Telefon
R1,Müller Maschinenbau GmbH,Hauptstraße 12,80331,München,,+49 89 1234567
R2,Müller Logistik GmbH,Hauptstraße 14,80331,München,,+49 89 7654321
R3,Bäckerei Krause e.K.,Kantstraße 5a,10623,Berlin,,
R4,Hofmann Logistik GmbH & Co. KG,Hafenstraße 3,20457,Hamburg,,+49 40 555123
R5,Nordlicht Software UG (haftungsbeschränkt),Am Markt 1,24103,Kiel,,
R6,Hanse Werft Holding GmbH,Werftstraße 9,28195,Bremen,DE136695976,
R7,Schulz & Partner Steuerberatung GbR,Schillerstraße 44,60313,Frankfurt am Main,,
R8,Weber Metallbau KG,Industriestraße 7,50667,Köln,,+49 221 998877
R9,Weber Metallbau GmbH,Bahnhofstraße 1,01067,Dresden,,
R10,Krause Bäckerei GmbH,Lindenstraße 8,04109,Leipzig,,
";

/// CRM id → register id; 8 (Zeppelin) and 10 (Schmidt) are not in the register.
const TRUTH: &[(&str, &str)] = &[
    ("1", "R1"),
    ("2", "R1"),
    ("3", "R3"),
    ("4", "R4"),
    ("5", "R5"),
    ("6", "R6"),
    ("7", "R7"),
    ("9", "R8"),
];

const MAPS: &[&str] = &[
    "legal_name=Firma",
    "street=Strasse",
    "postcode=PLZ",
    "city=Ort",
    "vat_id=USt",
    "phone=Telefon",
];

fn links(sb: &Sandbox) -> HashMap<String, (String, String, f64)> {
    let mut reader = csv::Reader::from_path(sb.path("links.csv")).expect("links.csv");
    let headers = reader.headers().expect("header").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "crm_id",
            "register_id",
            "probability",
            "weight",
            "band",
            "grade"
        ]
    );
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            let probability: f64 = r[2].parse().expect("probability");
            (
                r[0].to_string(),
                (r[1].to_string(), r[4].to_string(), probability),
            )
        })
        .collect()
}

/// `refsync match` on the sandbox's crm.csv and register.csv, writing links.csv.
const MATCH_FILES: [&str; 9] = [
    "match",
    "--kind",
    "organisation",
    "--crm",
    "crm.csv",
    "--register",
    "register.csv",
    "--out",
    "links.csv",
];

#[test]
fn match_links_two_csv_files_to_the_known_true_links() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("crm.csv"), CRM).unwrap();
    std::fs::write(sb.path("register.csv"), REGISTER).unwrap();
    let mut args = MATCH_FILES.to_vec();
    for m in MAPS {
        args.extend(["--map", m]);
    }
    let out = sb.ok(&args);
    assert!(
        out.contains("10 CRM records against 10 register records"),
        "{out}"
    );
    let got = links(&sb);
    for (crm, register) in TRUTH {
        let (linked, band, p) = got
            .get(*crm)
            .unwrap_or_else(|| panic!("CRM {crm} not linked: {got:?}"));
        assert_eq!(linked, register, "CRM {crm}");
        assert!(
            band == "auto" || band == "review",
            "CRM {crm}: {band} ({p})"
        );
    }
    for absent in ["8", "10"] {
        assert!(
            !got.contains_key(absent),
            "CRM {absent} has no counterpart: {got:?}"
        );
    }
}

#[test]
fn match_reads_mappings_from_a_file_and_names_bad_ones() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("crm.csv"), CRM.replace("id,", "crm_no,")).unwrap();
    std::fs::write(sb.path("register.csv"), REGISTER).unwrap();
    std::fs::write(
        sb.path("mapping.toml"),
        "[crm]\nid_column = \"crm_no\"\n[crm.columns]\nlegal_name = \"Firma\"\npostcode = \"PLZ\"\ncity = \"Ort\"\n\
         [register.columns]\nlegal_name = \"Firma\"\npostcode = \"PLZ\"\ncity = \"Ort\"\n\
         [thresholds]\nauto_apply_min = 0.9\nreview_min = 0.5\nambiguity_margin = 0.03\n",
    )
    .unwrap();
    let mut args = MATCH_FILES.to_vec();
    args.extend(["--mapping", "mapping.toml"]);
    sb.ok(&args);
    assert_eq!(links(&sb).get("3").map(|l| l.0.as_str()), Some("R3"));

    let mut bad = MATCH_FILES.to_vec();
    bad.extend(["--crm-id", "crm_no", "--map", "name=Firma"]);
    let out = sb.run(&bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("legal_name"), "{}", stderr(&out));

    let mut missing = MATCH_FILES.to_vec();
    missing.extend(["--crm-id", "crm_no", "--map", "legal_name=Name"]);
    let out = sb.run(&missing);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no column `Name`") && stderr(&out).contains("Firma"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_prints_every_candidate_with_its_breakdown() {
    let sb = Sandbox::new();
    let out = sb.ok(&["explain", "--job", "organisations", "--record", "1"]);
    assert!(
        out.starts_with("record 1 (job organisations): matched:"),
        "{out}"
    );
    for needle in [
        "candidate R",
        "probability",
        "bits",
        "legal_name",
        "postcode",
        "exact",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{out}");
    }
    let json = sb.json(&["explain", "--job", "organisations", "--record", "1"]);
    let first = &json["candidates"][0];
    assert!(
        first["comparisons"]
            .as_array()
            .is_some_and(|c| c.len() == 12),
        "{first}"
    );
    assert!(json["model"]["lambda"]
        .as_f64()
        .is_some_and(|l| l > 0.0 && l < 1.0));

    let out = sb.run(&[
        "explain",
        "--job",
        "organisations",
        "--record",
        "no-such-id",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no record `no-such-id`"),
        "{}",
        stderr(&out)
    );
}

#[derive(diesel::QueryableByName)]
struct Status {
    #[diesel(sql_type = diesel::sql_types::Text)]
    record_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
}

/// What a pass decided, per record, in explain's words.
fn stored_decisions(sb: &Sandbox, job: &str) -> Vec<(String, &'static str)> {
    use diesel::{Connection, RunQueryDsl};
    let mut store =
        diesel::SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy()).unwrap();
    let rows: Vec<Status> = diesel::sql_query(format!(
        "SELECT record_id, status FROM record_status WHERE job = '{job}' ORDER BY record_id"
    ))
    .load(&mut store)
    .unwrap();
    rows.into_iter()
        .filter_map(|r| {
            let decision = match r.status.as_str() {
                "in_sync" | "different" | "inactive" => "matched",
                "not_found" => "not_found",
                "ambiguous" => "ambiguous",
                _ => return None,
            };
            Some((r.record_id, decision))
        })
        .collect()
}

#[test]
fn explain_repeats_the_decision_the_pass_stored() {
    let sb = Sandbox::new();
    let report = sb.json(&["run", "--once", "--job", "organisations"]);
    let pass = report[0]["pass_id"].as_i64().unwrap();
    let stored = stored_decisions(&sb, "organisations");
    let kinds: std::collections::BTreeSet<&str> = stored.iter().map(|(_, d)| *d).collect();
    assert!(
        kinds.contains("matched") && kinds.contains("not_found"),
        "the demo has both: {kinds:?}"
    );
    // Every not-found record and a spread of the matched ones.
    let sample = stored
        .iter()
        .enumerate()
        .filter(|(i, (_, d))| *d != "matched" || i % 8 == 0);
    let mut checked = 0;
    for (_, (record, want)) in sample {
        let json = sb.json(&["explain", "--job", "organisations", "--record", record]);
        let got = json["decision"].as_str().unwrap();
        assert!(
            got.starts_with(want),
            "record {record}: stored {want}, explain {got}"
        );
        assert_eq!(json["model_pass"], pass, "scored with the pass's model");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} records checked");
}
