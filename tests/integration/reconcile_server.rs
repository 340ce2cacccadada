//! Recall against a real W3C reconciliation server: datasette-reconcile, started by
//! `scripts/reconcile-server.sh` from a venv that `.ci/run` installs
//! (`REFSYNC_TEST_RECONCILE_VENV`). It matches with SQLite FTS5: every query word must
//! occur in the name, ö and o are one letter but `oe` is not, and query properties are
//! exact filters. CRMs write names their own way (`Mueller`, `Gesellschaft mit
//! beschränkter Haftung`), so one query with the name as typed finds too little; this
//! test measures how much refsync finds all the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use refsync::domain::model::{EntityKind, Field, Record};
use refsync::synth::{generate, Profile};

use crate::common::{Sandbox, MANIFEST};

const VENV_VAR: &str = "REFSYNC_TEST_RECONCILE_VENV";
const REGISTER_SIZE: usize = 600;
/// CRM records per group; the unchanged ones are the control.
const RESPELLED: usize = 80;
const LONG_FORM: usize = 80;
const UNCHANGED: usize = 40;
const MIN_RECALL: f64 = 0.98;

/// The server's venv; in CI a missing one fails the test, elsewhere it is skipped.
fn venv() -> Option<PathBuf> {
    match std::env::var_os(VENV_VAR) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "{VENV_VAR} is not set, and in CI this test must run: .ci/run installs the \
                 server with `bash scripts/reconcile-server.sh install VENV` and exports it"
            );
            eprintln!(
                "skipped: {VENV_VAR} is not set; run `bash scripts/reconcile-server.sh install \
                 target/reconcile-venv` and set {VENV_VAR}=$PWD/target/reconcile-venv"
            );
            None
        }
    }
}

/// A running `reconcile-server.sh serve`, killed when dropped.
struct ReconcileServer {
    child: Child,
    endpoint: String,
}

impl ReconcileServer {
    fn start(venv: &Path, csv: &Path) -> ReconcileServer {
        // A free port: the OS picks one, the listener goes, datasette takes it.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log_path = csv.with_extension("log");
        let log = std::fs::File::create(&log_path).expect("server log");
        let child = Command::new("bash")
            .arg(Path::new(MANIFEST).join("scripts/reconcile-server.sh"))
            .arg("serve")
            .arg(venv)
            .arg(csv)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log)
            .spawn()
            .expect("spawn scripts/reconcile-server.sh");
        let stem = csv.file_stem().unwrap().to_string_lossy();
        let path = format!("/{stem}/register/-/reconcile");
        let mut server = ReconcileServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}{path}"),
        };
        let started = Instant::now();
        loop {
            let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(status) = server.child.try_wait().expect("server status") {
                panic!("the reconciliation server exited ({status}):\n{}", log());
            }
            if http_get(port, &path).is_some_and(|body| body.contains("\"versions\"")) {
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no manifest at {} within 20 s:\n{}",
                server.endpoint,
                log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ReconcileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a 200 answer to `GET path`, or `None` (not up yet, or another status).
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?;
    (status == "200").then(|| body.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// `Müller` written `Mueller`, `Weiß` written `Weiss`.
    Respelled,
    /// `GmbH` written `Gesellschaft mit beschränkter Haftung`, and so on.
    LongForm,
    /// The register's spelling: the control.
    Unchanged,
}

const LONG_FORMS: &[(&str, &str)] = &[
    ("GmbH", "Gesellschaft mit beschränkter Haftung"),
    ("e.V.", "eingetragener Verein"),
    ("AG", "Aktiengesellschaft"),
];

fn has_umlaut(s: &str) -> bool {
    s.contains(['ä', 'ö', 'ü', 'Ä', 'Ö', 'Ü', 'ß'])
}

/// Umlauts spelled out, as keyboards without them and old systems write them.
fn spelled_out(s: &str) -> String {
    s.replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('Ä', "Ae")
        .replace('Ö', "Oe")
        .replace('Ü', "Ue")
        .replace('ß', "ss")
}

/// The name with its legal form written out in full, if it has one of [`LONG_FORMS`].
fn long_form(record: &Record) -> Option<String> {
    let name = record.get(Field::LegalName)?;
    let form = record.get(Field::LegalForm)?;
    let (_, long) = LONG_FORMS.iter().find(|(short, _)| *short == form)?;
    let core = name.strip_suffix(form)?.trim_end();
    Some(format!("{core} {long}"))
}

/// CRM copies of register records, each in one group: (CRM id, name as the CRM has it,
/// register record, group). Deterministic: the register's order decides, except that the
/// rare cases (e.V. and AG, names with ß) are taken first so that the groups hold them.
fn crm_copies(register: &[Record]) -> Vec<(String, String, &Record, Group)> {
    let mut out: Vec<(String, String, &Record, Group)> = Vec::new();
    let mut taken = vec![false; register.len()];
    for rare_first in [true, false] {
        for (i, reg) in register.iter().enumerate() {
            if taken[i] {
                continue;
            }
            let name = reg.get(Field::LegalName).unwrap_or_default();
            let form = reg.get(Field::LegalForm).unwrap_or_default();
            let room = |g, max| out.iter().filter(|c| c.3 == g).count() < max;
            let (respelled, long, unchanged) = (
                room(Group::Respelled, RESPELLED),
                room(Group::LongForm, LONG_FORM),
                room(Group::Unchanged, UNCHANGED),
            );
            let rare_form = form == "e.V." || form == "AG";
            let copy = match long_form(reg) {
                Some(written) if long && (rare_form || !rare_first) => {
                    Some((written, Group::LongForm))
                }
                _ if respelled && has_umlaut(name) && (name.contains('ß') || !rare_first) => {
                    Some((spelled_out(name), Group::Respelled))
                }
                _ if unchanged && !rare_first => Some((name.to_string(), Group::Unchanged)),
                _ => None,
            };
            if let Some((written, group)) = copy {
                taken[i] = true;
                out.push((format!("C{:04}", out.len() + 1), written, reg, group));
            }
        }
    }
    out
}

fn street_line(r: &Record) -> String {
    format!(
        "{} {}",
        r.get(Field::Street).unwrap_or_default(),
        r.get(Field::HouseNumber).unwrap_or_default()
    )
    .trim()
    .to_string()
}

fn write_register(register: &[Record], path: &Path) {
    let mut w = csv::Writer::from_path(path).expect("register CSV");
    w.write_record(["id", "name", "street", "postcode", "city", "vat_id"])
        .unwrap();
    for r in register {
        let get = |f| r.get(f).unwrap_or_default();
        w.write_record([
            r.id.as_str(),
            get(Field::LegalName),
            &street_line(r),
            get(Field::Postcode),
            get(Field::City),
            get(Field::VatId),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

/// The CRM: a SQLite table with the register's address and no VAT id, so the name is
/// what finds a record.
fn write_crm(copies: &[(String, String, &Record, Group)], path: &Path) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut sql = String::from(
        "CREATE TABLE organisations (id TEXT PRIMARY KEY, name TEXT, street TEXT, \
         zip TEXT, city TEXT, vat_id TEXT);\n",
    );
    for (id, name, reg, _) in copies {
        sql.push_str(&format!(
            "INSERT INTO organisations VALUES ({}, {}, {}, {}, {}, NULL);\n",
            quote(id),
            quote(name),
            quote(&street_line(reg)),
            quote(reg.get(Field::Postcode).unwrap_or_default()),
            quote(reg.get(Field::City).unwrap_or_default()),
        ));
    }
    SqliteConnection::establish(&path.to_string_lossy())
        .expect("CRM database")
        .batch_execute(&sql)
        .expect("fill the CRM");
}

/// An organisation job from the CRM to the server; every change is only proposed.
fn config(endpoint: &str) -> String {
    format!(
        r#"[store]
url = "sqlite://var/refsync.db"

[crm.crm]
kind = "sql"
url = "sqlite://crm.db"

[crm.crm.organisations]
table = "organisations"
id_column = "id"

[crm.crm.organisations.columns]
legal_name = "name"
street = "street"
postcode = "zip"
city = "city"
vat_id = "vat_id"

[register.server]
kind = "reconciliation"
endpoint = "{endpoint}"
type = "Organisation"

# Exact filters at this server: they must never cost a record that the name finds.
[register.server.properties]
city = "city"
postcode = "postcode"

[register.server.extend]
street = "street"
postcode = "postcode"
city = "city"
vat_id = "vat_id"

[register.server.http]
requests_per_minute = 60000
retries = 0

[job.organisations]
entity = "organisation"
crm = "crm"
register = "server"
schedule = "0 30 2 * * *"

[job.organisations.fields]
legal_name = "propose"
street = "propose"
postcode = "propose"
city = "propose"
vat_id = "propose"
"#
    )
}

#[derive(QueryableByName)]
struct Matched {
    #[diesel(sql_type = diesel::sql_types::Text)]
    record_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    register_id: String,
}

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[test]
fn a_real_reconciliation_server_finds_respelled_names_and_long_legal_forms() {
    let Some(venv) = venv() else { return };
    let started = Instant::now();

    // The synthetic register's clean records; its look-alike twins are left out, so every
    // miss below is a lookup that found nothing, not a twin taken for the original.
    let mut register =
        generate(EntityKind::Organisation, Profile::Easy, 7, REGISTER_SIZE, 0).register;
    register.truncate(REGISTER_SIZE);
    let copies = crm_copies(&register);
    let size = |g| copies.iter().filter(|c| c.3 == g).count();
    assert_eq!(
        (
            size(Group::Respelled),
            size(Group::LongForm),
            size(Group::Unchanged)
        ),
        (RESPELLED, LONG_FORM, UNCHANGED),
        "the register has too few names of a kind; change the seed or the size"
    );

    // The server's folder outlives the server: `data` is declared first, dropped last.
    let data = tempfile::tempdir().expect("temp dir");
    let csv = data.path().join("organisations.csv");
    write_register(&register, &csv);
    let server = ReconcileServer::start(&venv, &csv);

    let sb = Sandbox::with_config(|_| config(&server.endpoint));
    write_crm(&copies, &sb.path("crm.db"));
    let summary = sb.ok(&["run", "--once", "--job", "organisations"]);

    let mut store =
        SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy()).expect("store");
    let matched: BTreeMap<String, String> =
        diesel::sql_query("SELECT record_id, register_id FROM matches WHERE job = 'organisations'")
            .load::<Matched>(&mut store)
            .expect("matches")
            .into_iter()
            .map(|m| (m.record_id, m.register_id))
            .collect();
    let statuses: Vec<String> = diesel::sql_query(
        "SELECT status, COUNT(*) AS n FROM record_status WHERE job = 'organisations' \
         GROUP BY status ORDER BY status",
    )
    .load::<StatusCount>(&mut store)
    .expect("record status")
    .into_iter()
    .map(|s| format!("{} {}", s.status, s.n))
    .collect();

    let mut wrong = Vec::new();
    let mut missed: BTreeMap<Group, Vec<String>> = BTreeMap::new();
    for (id, name, reg, group) in &copies {
        match matched.get(id) {
            Some(found) if *found == reg.id => {}
            Some(found) => wrong.push(format!("{id} {name:?} → {found}, not {}", reg.id)),
            None => missed.entry(*group).or_default().push(name.clone()),
        }
    }
    let recall = |g: Group| {
        let n = size(g);
        (n - missed.get(&g).map_or(0, Vec::len)) as f64 / n as f64
    };

    // For the CI log: what refsync found, group by group. Written to the process's stderr
    // directly, as the test harness captures print! of a passing test.
    let mut report = String::new();
    writeln!(
        report,
        "reconciliation server recall ({} register records):",
        register.len()
    )
    .unwrap();
    for (g, label) in [
        (Group::Respelled, "respelled umlauts"),
        (Group::LongForm, "long legal forms"),
        (Group::Unchanged, "unchanged (control)"),
    ] {
        let misses = missed.get(&g).map_or(&[][..], Vec::as_slice);
        writeln!(
            report,
            "  {label:<20} {:>3} records, recall {:.3}, missed {}{}",
            size(g),
            recall(g),
            misses.len(),
            if misses.is_empty() {
                String::new()
            } else {
                format!(", e.g. {:?}", &misses[..misses.len().min(5)])
            }
        )
        .unwrap();
    }
    let forms: Vec<String> = LONG_FORMS
        .iter()
        .map(|(short, _)| {
            let n = copies
                .iter()
                .filter(|c| c.3 == Group::LongForm)
                .filter(|c| c.2.get(Field::LegalForm) == Some(short))
                .count();
            format!("{short} {n}")
        })
        .collect();
    let sharp_s = copies
        .iter()
        .filter(|c| {
            c.3 == Group::Respelled && c.2.get(Field::LegalName).is_some_and(|n| n.contains('ß'))
        })
        .count();
    writeln!(
        report,
        "  long forms written out: {}; respelled names with ß: {sharp_s}",
        forms.join(", ")
    )
    .unwrap();
    writeln!(report, "  wrong matches        {}", wrong.len()).unwrap();
    writeln!(report, "  record status        {}", statuses.join(", ")).unwrap();
    writeln!(report, "refsync's pass:\n{summary}").unwrap();
    writeln!(report, "took {:.1} s", started.elapsed().as_secs_f64()).unwrap();

    std::io::stderr()
        .write_all(report.as_bytes())
        .expect("write the figures");

    assert!(wrong.is_empty(), "wrong matches: {wrong:#?}");
    for g in [Group::Respelled, Group::LongForm, Group::Unchanged] {
        assert!(
            recall(g) >= MIN_RECALL,
            "{g:?}: recall {:.3} < {MIN_RECALL}; missed {:?}",
            recall(g),
            missed.get(&g)
        );
    }
    drop(server);
}
