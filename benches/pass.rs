//! The pass benchmark: figures, not a timed test. It generates organisations with the
//! synthetic generator, puts the CRM's copy into a SQLite CRM and the register into a CSV
//! file, and times `refsync run --once` (a whole first pass, then an unchanged second
//! pass) against `refsync match` on the same data, each a fresh process of the release
//! binary. Per pass it prints the stages (read, lookup, score, store, apply), records/s and
//! peak memory; medians over the runs. Each run times `refsync match` just before its
//! passes, and `x_match` is the median of each pass's multiple of its own run's `match`.
//! Before them it measures the register's in-memory index: resident bytes per record after
//! loading the register file and building its organisation index, each run in a fresh
//! process of the bench itself. After them one more
//! first pass runs, untimed, while `refsync serve` on the same store is asked for the first
//! page of changes every 20 ms: its latencies are printed.
//!
//!   cargo bench --bench pass -- [--crm 5000] [--register 52500] [--runs 3] [--seed 42]
//!       [--profile medium] [--no-api] [--duplicates] [--stores sqlite,postgres]
//!
//! `--duplicates` enables the job's duplicates stage (`[job.organisations.duplicates]`):
//! its time and how many records it compared are the last two columns.
//!
//! With `REFSYNC_TEST_POSTGRES_URL` set the same passes also run with a PostgreSQL store
//! (a fresh database per run, dropped afterwards). `--stores` names the stores to run (a
//! million records take a quarter of an hour per store).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use refsync::config::{Config, RegisterConfig};
use refsync::demo::{self, ORGANISATION_COLUMNS};
use refsync::domain::model::EntityKind;
use refsync::register::file::FileRegister;
use refsync::register::Register;
use refsync::synth::Profile;
use serde_json::Value;

mod common;
use common::{create_crm, median, organisations, serve, user_token, write_config};

struct Args {
    crm: usize,
    register: usize,
    runs: usize,
    seed: u64,
    profile: Profile,
    /// Set in the child process that measures the register index: the config to load.
    child_index: Option<PathBuf>,
    /// Whether to run the untimed pass that the API is asked during.
    api: bool,
    /// Whether the job looks for duplicates inside the CRM after each pass.
    duplicates: bool,
    /// The stores to run the passes with (`sqlite`, `postgres`).
    stores: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        crm: 5_000,
        register: 52_500,
        runs: 3,
        seed: 42,
        profile: Profile::Medium,
        child_index: None,
        api: true,
        duplicates: false,
        stores: vec!["sqlite".into(), "postgres".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--crm" => args.crm = number(value()?)?,
            "--register" => args.register = number(value()?)?,
            "--runs" => args.runs = number(value()?)?.max(1),
            "--seed" => args.seed = number(value()?)? as u64,
            "--no-api" => args.api = false,
            "--duplicates" => args.duplicates = true,
            "--stores" => {
                args.stores = value()?.split(',').map(str::to_string).collect();
                if let Some(s) = args
                    .stores
                    .iter()
                    .find(|s| !["sqlite", "postgres"].contains(&s.as_str()))
                {
                    return Err(format!("--stores: sqlite and/or postgres, not {s}"));
                }
            }
            "--profile" => {
                let v = value()?;
                args.profile = *Profile::ALL
                    .iter()
                    .find(|p| p.as_str() == v)
                    .ok_or_else(|| format!("--profile: easy, medium or hard, not {v}"))?;
            }
            "--child-index" => args.child_index = Some(value()?.into()),
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    if let Some(config) = &args.child_index {
        measure_index(config);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let register_csv = dir.path().join("register.csv");
    let crm = organisations(
        args.profile,
        args.seed,
        args.register,
        args.crm,
        &register_csv,
    );
    let crm_csv = dir.path().join("crm.csv");
    std::fs::write(
        &crm_csv,
        demo::reference_csv(&crm, ORGANISATION_COLUMNS).expect("crm csv"),
    )
    .expect("write crm csv");
    let crm_db = dir.path().join("crm-template.db");
    create_crm(&crm_db, crm);
    println!(
        "crm={} register={} profile={} runs={} threads={}",
        args.crm,
        args.register,
        args.profile.as_str(),
        args.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let index_work = dir.path().join("index");
    std::fs::create_dir_all(&index_work).expect("index work dir");
    write_config(&index_work, &register_csv, "sqlite://unused.db");
    let indexed: Vec<Value> = (0..args.runs)
        .map(|_| index_once(&index_work.join("refsync.toml")))
        .collect();
    let col = |key: &str| median(indexed.iter().map(|r| ms(&r[key])).collect());
    println!(
        "register index: {:.0} B/record resident ({:.0} the records), load {:.2} s, organisation index {:.2} s (median)",
        col("bytes_per_record"),
        col("records_bytes_per_record"),
        col("load_s"),
        col("index_s")
    );

    let wanted = |store: &str| args.stores.iter().any(|s| s == store);
    let mut stores = Vec::new();
    if wanted("sqlite") {
        stores.push(("sqlite", None));
    }
    match std::env::var("REFSYNC_TEST_POSTGRES_URL") {
        Ok(url) if wanted("postgres") => stores.push(("postgres", Some(url))),
        Err(_) if args.stores == ["postgres"] => {
            eprintln!("--stores postgres: set REFSYNC_TEST_POSTGRES_URL to a server's database");
            std::process::exit(2);
        }
        _ => {}
    }
    println!(
        "{:<9} {:<7} {:>8} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>8}",
        "store",
        "pass",
        "wall_s",
        "records/s",
        "read",
        "lookup",
        "score",
        "store",
        "apply",
        "applied",
        "proposed",
        "peak_MiB",
        "match_s",
        "x_match",
        "dupes_s",
        "compared"
    );
    let mut api = Vec::new();
    for (name, admin) in stores {
        // Each run times `refsync match` right before its passes, and a pass is compared
        // with its own run's: the machine's speed drifts by a third within an hour, which
        // moves a ratio of medians taken minutes apart more than the code does.
        let runs: Vec<(f64, [Value; 2])> = (0..args.runs)
            .map(|run| {
                let work = dir.path().join(format!("{name}-{run}"));
                std::fs::create_dir_all(&work).expect("work dir");
                std::fs::copy(&crm_db, work.join("crm.db")).expect("copy the CRM");
                let pg = admin.as_deref().map(|url| PgStore::create(url, run));
                let store_url = pg.as_ref().map_or_else(
                    || format!("sqlite://{}", work.join("store.db").display()),
                    |p| p.url.clone(),
                );
                write_config(&work, &register_csv, &store_url);
                if args.duplicates {
                    let path = work.join("refsync.toml");
                    let config = std::fs::read_to_string(&path).expect("config");
                    let enabled = config.replace(
                        "[job.organisations.duplicates]\nenabled = false",
                        "[job.organisations.duplicates]\nenabled = true",
                    );
                    assert_ne!(config, enabled, "the shipped config names duplicates");
                    std::fs::write(&path, enabled).expect("write config");
                }
                let match_s = time_match(&work, &crm_csv, &register_csv);
                (match_s, [pass(&work), pass(&work)])
            })
            .collect();
        for (i, label) in ["first", "second"].iter().enumerate() {
            let col =
                |f: &dyn Fn(&Value) -> f64| median(runs.iter().map(|(_, r)| f(&r[i])).collect());
            let wall_of = |r: &Value| r["wall_s"].as_f64().unwrap_or(f64::NAN);
            let wall = col(&wall_of);
            let match_s = median(runs.iter().map(|(m, _)| *m).collect());
            let x_match = median(runs.iter().map(|(m, r)| wall_of(&r[i]) / m).collect());
            let stage = |s: &'static str| col(&move |r| ms(&r["stages"][s]) / 1000.0);
            println!(
                "{:<9} {:<7} {:>8.2} {:>9.0} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>8.0} {:>8.0} {:>9.0} {:>8.2} {:>8.1} {:>7.2} {:>8.0}",
                name,
                label,
                wall,
                args.crm as f64 / wall,
                stage("read"),
                stage("lookup"),
                stage("score"),
                stage("persist"),
                stage("apply"),
                col(&|r| ms(&r["counts"]["changes_applied"])),
                col(&|r| ms(&r["counts"]["changes_proposed"])),
                col(&|r| ms(&r["peak_memory_mib"])),
                match_s,
                x_match,
                col(&|r| ms(&r["duplicates"]["time"]) / 1000.0),
                col(&|r| ms(&r["duplicates"]["compared"]))
            );
        }
        if args.api {
            let work = dir.path().join(format!("{name}-api"));
            api.push((
                name,
                api_latencies(&work, &crm_db, &register_csv, admin.as_deref()),
            ));
        }
    }
    if api.is_empty() {
        return;
    }
    // The review API shares the store with the pass: what a steward waits while one runs.
    println!(
        "GET /api/v1/changes?limit=50 while a first pass runs (refsync serve on the same store):"
    );
    for (name, mut ms) in api {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "{name:<9} {} requests: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            ms.len(),
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
}

/// The API's answer times during one more first pass, untimed: the asking takes CPU from
/// the pass, so it stays out of the passes timed above.
fn api_latencies(work: &Path, crm_db: &Path, register_csv: &Path, admin: Option<&str>) -> Vec<f64> {
    std::fs::create_dir_all(work).expect("work dir");
    std::fs::copy(crm_db, work.join("crm.db")).expect("copy the CRM");
    let pg = admin.map(|url| PgStore::create(url, usize::MAX));
    let store_url = pg.as_ref().map_or_else(
        || format!("sqlite://{}", work.join("store.db").display()),
        |p| p.url.clone(),
    );
    write_config(work, register_csv, &store_url);
    let probe = Server::start(work).probe();
    pass(work);
    probe.finish()
}

/// `refsync serve` on a pass's store, with a viewer's API token.
struct Server {
    child: std::process::Child,
    url: String,
    token: String,
}

impl Server {
    fn start(work: &Path) -> Server {
        let token = user_token(work, "bench", "viewer");
        let (child, url) = serve(work);
        Server { child, url, token }
    }

    /// Asks for the first page of changes every 20 ms until [`Probe::finish`].
    fn probe(self) -> Probe {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let asker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let client = reqwest::Client::new();
            let url = format!("{}api/v1/changes?limit=50", self.url);
            let mut ms = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let at = Instant::now();
                let answer = runtime.block_on(client.get(&url).bearer_auth(&self.token).send());
                let status = answer.as_ref().map(|a| a.status().as_u16());
                assert_eq!(status.ok(), Some(200), "the API answered {answer:?}");
                ms.push(at.elapsed().as_secs_f64() * 1000.0);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let mut child = self.child;
            let _ = child.kill();
            let _ = child.wait();
            ms
        });
        Probe { done, asker }
    }
}

struct Probe {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    asker: std::thread::JoinHandle<Vec<f64>>,
}

impl Probe {
    fn finish(self) -> Vec<f64> {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.asker.join().expect("the API probe")
    }
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// One `run --once` of the organisations job: its JSON report with the wall time added.
fn pass(work: &Path) -> Value {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_refsync"))
        .current_dir(work)
        .args(["--config", "refsync.toml", "run", "--once"])
        .args(["--job", "organisations", "--format", "json"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run refsync");
    let wall = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "run --once failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reports: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let mut report = reports[0].take();
    report["wall_s"] = wall.into();
    report
}

/// One measurement of the register index in a fresh process of this bench.
fn index_once(config: &Path) -> Value {
    let out = Command::new(std::env::current_exe().expect("the bench's own path"))
        .arg("--child-index")
        .arg(config)
        .output()
        .expect("run the index measurement");
    assert!(
        out.status.success(),
        "index measurement failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON measurement")
}

/// In the child: resident memory before and after loading the shipped config's organisation
/// register, and after building its organisation index (what a pass's first lookup does),
/// as JSON.
fn measure_index(config: &Path) {
    let config = Config::load(config, std::iter::empty()).expect("the bench config");
    let name = "demo_organisations";
    let Some(RegisterConfig::File(file)) = config.register.get(name) else {
        panic!("the shipped config has no file register {name}");
    };
    let resident = || refsync::metrics::resident_memory_bytes().expect("VmRSS") as f64;
    let before = resident();
    let started = Instant::now();
    let register = FileRegister::load(name, file).expect("load the register");
    let load_s = started.elapsed().as_secs_f64();
    let loaded = resident();
    let started = Instant::now();
    register.term_frequencies(EntityKind::Organisation);
    let index_s = started.elapsed().as_secs_f64();
    let after = resident();
    let records = register.sample(0).map_or(0, |(_, n)| n);
    println!(
        "{}",
        serde_json::json!({
            "records": records,
            "bytes_per_record": (after - before) / records.max(1) as f64,
            "records_bytes_per_record": (loaded - before) / records.max(1) as f64,
            "load_s": load_s,
            "index_s": index_s,
        })
    );
}

fn time_match(dir: &Path, crm: &Path, register: &Path) -> f64 {
    let mut command = Command::new(env!("CARGO_BIN_EXE_refsync"));
    command
        .args(["match", "--kind", "organisation", "--crm"])
        .arg(crm)
        .arg("--register")
        .arg(register)
        .arg("--out")
        .arg(dir.join("links.csv"))
        .args(["--crm-id", "register_id", "--register-id", "register_id"]);
    for (field, column) in ORGANISATION_COLUMNS {
        command.args(["--map", &format!("{field}={column}")]);
    }
    let started = Instant::now();
    let out = command.output().expect("run refsync match");
    assert!(
        out.status.success(),
        "match failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

/// A PostgreSQL database of its own for one run's store.
struct PgStore {
    admin: String,
    name: String,
    url: String,
}

impl PgStore {
    fn create(admin: &str, run: usize) -> PgStore {
        let name = format!("refsync_bench_{}_{run}", std::process::id());
        let mut conn = PgConnection::establish(admin).expect("PostgreSQL");
        // Apart: PostgreSQL runs a multi-statement batch as one transaction, which DROP
        // DATABASE refuses.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            conn.batch_execute(&sql).expect("create the bench database");
        }
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        PgStore {
            admin: admin.to_string(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}
