//! `refsync dedupe` on a small CSV file with planted duplicates.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{stderr, Sandbox};

const CRM: &str = "\
id,Firma,Strasse,PLZ,Ort
1,Müller Maschinenbau GmbH,Hauptstr. 12,80331,München
2,MUELLER MASCHINENBAU G.m.b.H.,Hauptstraße 12,80331,Muenchen
3,Bäckerei Krause e. K.,Kantstr. 5 a,10623,Berlin
4,Bäckerei Krause e.K.,Kantstraße 5a,10623,Berlin
5,Hofmann Logistik GmbH & Co. KG,Hafenstraße 3,20457,Hamburg
6,Nordlicht Software UG (haftungsbeschränkt),Am Markt 1,24103,Kiel
7,Müller Maschinenbau GmbH,Hauptstraße 12,80331,München
8,Weber Metallbau KG,Industriestr. 7,50667,Köln
9,Weber Holzbau GmbH,Bahnhofstraße 1,01067,Dresden
10,Schulz & Partner Steuerberatung GbR,Schillerstr. 44,60313,Frankfurt a. M.
11,Zeppelin Ballonfahrten GmbH,Seestr. 1,88045,Friedrichshafen
12,Schmidt Elektrotechnik GmbH,Ringstr. 2,70173,Stuttgart
";

const MAPS: &[&str] = &[
    "legal_name=Firma",
    "street=Strasse",
    "postcode=PLZ",
    "city=Ort",
];

fn dedupe_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "dedupe",
        "--kind",
        "organisation",
        "--crm",
        "crm.csv",
        "--out",
        out,
    ];
    for m in MAPS {
        args.extend(["--map", m]);
    }
    args.extend(extra);
    args
}

/// Cluster id → its record ids, and each cluster's size, weakest link and review flag
/// as the file states them.
fn clusters(sb: &Sandbox, file: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut reader = csv::Reader::from_path(sb.path(file)).expect("clusters file");
    let headers = reader.headers().expect("header").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["cluster_id", "record_id", "size", "weakest_link", "review"]
    );
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    for row in reader.records() {
        let row = row.expect("row");
        let weakest: f64 = row[3].parse().expect("probability");
        assert!((0.75..=1.0).contains(&weakest), "{row:?}");
        assert!(row[4] == *"true" || row[4] == *"false", "{row:?}");
        sizes.insert(row[0].to_string(), row[2].parse::<usize>().expect("size"));
        out.entry(row[0].to_string())
            .or_default()
            .insert(row[1].to_string());
    }
    for (id, members) in &out {
        assert_eq!(sizes[id], members.len(), "size of {id}");
    }
    out
}

fn members(found: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<&str>> {
    found
        .values()
        .map(|m| m.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn dedupe_clusters_a_files_duplicates_and_their_ids_stay_from_run_to_run() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("crm.csv"), CRM).unwrap();
    let out = sb.ok(&dedupe_args("clusters.csv", &[]));
    assert!(
        out.contains("12 records: 2 clusters of two or more holding 5 records"),
        "{out}"
    );
    let first = clusters(&sb, "clusters.csv");
    assert_eq!(
        members(&first),
        BTreeSet::from([vec!["1", "2", "7"], vec!["3", "4"]]),
        "{first:?}"
    );

    // A new record of the bakery, the Kiel firm entered twice: with the first file as the
    // previous one, the existing clusters keep their ids and the new one gets its own.
    let more = format!(
        "{CRM}13,Baeckerei Krause e.K.,Kantstrasse 5a,10623,Berlin\n\
         14,Nordlicht Software UG (haftungsbeschraenkt),Am Markt 1,24103,Kiel\n"
    );
    std::fs::write(sb.path("crm.csv"), more).unwrap();
    sb.ok(&dedupe_args("again.csv", &["--previous", "clusters.csv"]));
    let again = clusters(&sb, "again.csv");
    assert_eq!(
        members(&again),
        BTreeSet::from([vec!["1", "2", "7"], vec!["13", "3", "4"], vec!["14", "6"]]),
        "{again:?}"
    );
    for (id, old) in &first {
        let now = again
            .get(id)
            .unwrap_or_else(|| panic!("{id} lost: {again:?}"));
        assert!(now.is_superset(old), "{id}: {old:?} -> {now:?}");
    }

    // The same two records given as new to the first file: only their pairs are scored,
    // and the clusters are those of the whole file.
    std::fs::write(sb.path("first.csv"), CRM).unwrap();
    std::fs::write(
        sb.path("new.csv"),
        "id,Firma,Strasse,PLZ,Ort\n\
         13,Baeckerei Krause e.K.,Kantstrasse 5a,10623,Berlin\n\
         14,Nordlicht Software UG (haftungsbeschraenkt),Am Markt 1,24103,Kiel\n",
    )
    .unwrap();
    let mut incremental = dedupe_args("incremental.csv", &["--new", "new.csv"]);
    incremental[4] = "first.csv";
    incremental.extend(["--previous", "clusters.csv"]);
    let out = sb.ok(&incremental);
    assert!(out.contains("14 records: 3 clusters"), "{out}");
    assert_eq!(clusters(&sb, "incremental.csv"), again);
    let scored = |out: &str| -> usize {
        let (before, _) = out.split_once(" candidate pairs").expect("candidate pairs");
        before.rsplit(' ').next().unwrap().parse().expect("a count")
    };
    let full = sb.ok(&dedupe_args("full.csv", &[]));
    assert!(scored(&out) < scored(&full), "{out}\n{full}");

    // Without the previous file the same records get the same ids all the same: new ids
    // come from the records, not from the order of the run.
    sb.ok(&dedupe_args("fresh.csv", &[]));
    let fresh = clusters(&sb, "fresh.csv");
    let kiel = |c: &BTreeMap<String, BTreeSet<String>>| {
        c.iter()
            .find(|(_, m)| m.contains("6"))
            .map(|(id, _)| id.clone())
    };
    assert_eq!(kiel(&fresh), kiel(&again));

    // A threshold no pair reaches leaves no cluster.
    let out = sb.ok(&dedupe_args("none.csv", &["--threshold", "0.999999999999"]));
    assert!(out.contains("0 clusters"), "{out}");
    assert!(clusters(&sb, "none.csv").is_empty());
}

#[test]
fn dedupe_reads_the_mapping_file_match_reads() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("crm.csv"), CRM.replace("id,", "Kundennummer,")).unwrap();
    std::fs::write(
        sb.path("mapping.toml"),
        "[crm]\nid_column = \"Kundennummer\"\n[crm.columns]\nlegal_name = \"Firma\"\n\
         street = \"Strasse\"\npostcode = \"PLZ\"\ncity = \"Ort\"\n\
         [thresholds]\nauto_apply_min = 0.99\nreview_min = 0.9\nambiguity_margin = 0.03\n",
    )
    .unwrap();
    let out = sb.ok(&[
        "dedupe",
        "--kind",
        "organisation",
        "--crm",
        "crm.csv",
        "--out",
        "clusters.csv",
        "--mapping",
        "mapping.toml",
    ]);
    // The mapping file's review_min is the default threshold.
    assert!(out.contains("at or above 0.9"), "{out}");
    assert_eq!(
        members(&clusters(&sb, "clusters.csv")),
        BTreeSet::from([vec!["1", "2", "7"], vec!["3", "4"]])
    );
}

#[test]
fn dedupe_refuses_bad_input_with_exit_code_2_and_says_what_is_wrong() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("crm.csv"), CRM).unwrap();
    std::fs::write(sb.path("wrong.csv"), "cluster,id\nc1,1\n").unwrap();
    let cases: Vec<(&str, Vec<&str>, &[&str])> = vec![
        (
            "a missing file",
            ["dedupe", "--kind", "organisation", "--crm", "nowhere.csv"]
                .into_iter()
                .chain(["--out", "x.csv", "--map", "legal_name=Firma"])
                .collect(),
            &["nowhere.csv", "cannot read it"],
        ),
        (
            "an unknown column",
            dedupe_args("x.csv", &["--map", "phone=Telefon"]),
            &["no column `Telefon`", "Firma"],
        ),
        (
            "an unknown field",
            dedupe_args("x.csv", &["--map", "name=Firma"]),
            &["legal_name"],
        ),
        (
            "no columns mapped",
            vec![
                "dedupe",
                "--kind",
                "organisation",
                "--crm",
                "crm.csv",
                "--out",
                "x.csv",
            ],
            &["no columns mapped", "--map"],
        ),
        (
            "a threshold that is no probability",
            dedupe_args("x.csv", &["--threshold", "1.5"]),
            &["--threshold 1.5", "between 0 and 1"],
        ),
        (
            "a missing file of new records",
            dedupe_args("x.csv", &["--new", "later.csv"]),
            &["later.csv", "cannot read it"],
        ),
        (
            "a previous file that is no clusters file",
            dedupe_args("x.csv", &["--previous", "wrong.csv"]),
            &["wrong.csv", "no column `cluster_id`"],
        ),
    ];
    for (label, args, needles) in cases {
        let out = sb.run(&args);
        assert_eq!(out.status.code(), Some(2), "{label}: {}", stderr(&out));
        for needle in needles {
            assert!(stderr(&out).contains(needle), "{label}: {}", stderr(&out));
        }
        assert!(!sb.path("x.csv").exists(), "{label}: wrote a file");
    }
}
