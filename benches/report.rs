//! The report benchmark: figures, not a timed test. It generates N organisations with the
//! synthetic generator into a SQLite CRM (and as many register records into a CSV file),
//! runs one pass so the store holds a status per record and a review queue, then times
//! `refsync report --format json` and `--format html`, each a fresh process of the release
//! binary: wall time, records/s and peak memory (the process's high-water mark, VmHWM, as
//! GNU time's `%M` reads it); medians over the runs.
//!
//!   cargo bench --bench report -- [--crm 100000] [--runs 3] [--seed 42] [--dir DIR]
//!
//! With `--dir` the CRM, register and store are made in DIR and kept; a later run with the
//! same DIR times the reports again without generating the data or running the pass.
//!
//! The target: 1,000,000 records (`--crm 1000000`) in under 30 s.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use refsync::synth::Profile;

mod common;
use common::{create_crm, median, organisations, write_config};

const TIME: &str = "/usr/bin/time";

struct Args {
    crm: usize,
    runs: usize,
    seed: u64,
    dir: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        crm: 100_000,
        runs: 3,
        seed: 42,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--crm" => args.crm = number(value()?)?.max(1),
            "--runs" => args.runs = number(value()?)?.max(1),
            "--seed" => args.seed = number(value()?)? as u64,
            "--dir" => args.dir = Some(value()?.into()),
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
    if !Path::new(TIME).exists() {
        eprintln!("{TIME} is missing; install GNU time (Debian: time) to measure peak memory");
        std::process::exit(2);
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let work = args.dir.as_deref().unwrap_or(temp.path());
    std::fs::create_dir_all(work).expect("the bench's folder");
    if work.join("store.db").exists() {
        println!(
            "crm and store kept in {} from an earlier run",
            work.display()
        );
    } else {
        prepare(work, &args);
    }

    println!(
        "{:<6} {:>8} {:>10} {:>9} {:>10}",
        "format", "wall_s", "records/s", "peak_MiB", "bytes"
    );
    for format in ["json", "html"] {
        let out = work.join(format!("report.{format}"));
        let runs: Vec<(f64, f64)> = (0..args.runs)
            .map(|_| {
                timed(
                    work,
                    &[
                        "report",
                        "--job",
                        "organisations",
                        "--format",
                        format,
                        "--out",
                        out.to_str().expect("a UTF-8 path"),
                    ],
                )
            })
            .collect();
        let wall = median(runs.iter().map(|r| r.0).collect());
        let peak = median(runs.iter().map(|r| r.1).collect());
        let bytes = std::fs::metadata(&out).expect("the report").len();
        println!(
            "{format:<6} {wall:>8.2} {:>10.0} {peak:>9.0} {bytes:>10}",
            args.crm as f64 / wall
        );
    }
}

/// Generates the CRM and register into `work` and runs one pass over them.
fn prepare(work: &Path, args: &Args) {
    let started = Instant::now();
    let register = work.join("register.csv");
    let crm = organisations(Profile::Medium, args.seed, args.crm, args.crm, &register);
    create_crm(&work.join("crm.db"), crm);
    write_config(
        work,
        &register,
        &format!("sqlite://{}", work.join("store.db").display()),
    );
    println!(
        "crm={} runs={} (data generated in {:.1} s)",
        args.crm,
        args.runs,
        started.elapsed().as_secs_f64()
    );
    let (pass_s, pass_mib) = timed(work, &["run", "--once", "--job", "organisations"]);
    println!("one pass first: {pass_s:.1} s, peak {pass_mib:.0} MiB");
}

/// Runs refsync with `args` in `work` under GNU time: wall seconds and peak MiB.
fn timed(work: &Path, args: &[&str]) -> (f64, f64) {
    let peak_file = work.join("peak.txt");
    let started = Instant::now();
    let out = Command::new(TIME)
        .current_dir(work)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&peak_file)
        .arg(env!("CARGO_BIN_EXE_refsync"))
        .args(["--config", "refsync.toml"])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run refsync");
    let wall = started.elapsed().as_secs_f64();
    // A pass that proposes changes exits 0; anything else is a failed run.
    assert!(
        out.status.success(),
        "refsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kib: f64 = std::fs::read_to_string(&peak_file)
        .expect("GNU time's output")
        .trim()
        .parse()
        .expect("peak KiB");
    (wall, kib / 1024.0)
}
