//! The check-on-entry benchmark: figures, not a timed test. It generates organisations with
//! the synthetic generator (the CRM's copy in a SQLite CRM, the register as a CSV file),
//! starts `refsync serve` (which builds the warm indexes before it listens: that time is
//! printed), and sends `POST /api/v1/check` at fixed rates from an open loop to 127.0.0.1:
//! request i leaves at start + i/rate whether or not the ones before were answered, and its
//! latency counts from then. Per rate it prints p50, p99 and the worst latency, the errors,
//! and the server's resident memory before and after (flat is the goal).
//!
//!   cargo bench --bench check -- [--crm 10000] [--register 100000] [--requests 2000]
//!       [--rates 50,200] [--seed 42]
//!
//! The records checked are the CRM's own (so each finds its duplicate and its register
//! match), every third with its name cut short and its city dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use refsync::domain::model::{Field, Record};
use refsync::synth::Profile;
use serde_json::{json, Value};

mod common;
use common::{create_crm, median, organisations, run_ok, serve, user_token, write_config};

struct Args {
    crm: usize,
    register: usize,
    requests: usize,
    rates: Vec<u32>,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        crm: 10_000,
        register: 100_000,
        requests: 2_000,
        rates: vec![50, 200],
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--crm" => args.crm = number(value()?)?,
            "--register" => args.register = number(value()?)?,
            "--requests" => args.requests = number(value()?)?.max(1),
            "--seed" => args.seed = number(value()?)? as u64,
            "--rates" => {
                args.rates = value()?
                    .split(',')
                    .map(|r| r.trim().parse::<u32>().map_err(|e| format!("--rates: {e}")))
                    .collect::<Result<_, _>>()?
            }
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// The JSON body checking `record`.
fn body(record: &Record, shorten: bool) -> Vec<u8> {
    let mut values = serde_json::Map::new();
    for (field, value) in &record.values {
        let value = match field {
            Field::LegalName if shorten => value
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
            Field::City if shorten => continue,
            _ => value.clone(),
        };
        values.insert(field.as_str().to_string(), json!(value));
    }
    json!({ "job": "organisations", "record": values })
        .to_string()
        .into_bytes()
}

/// The resident memory of process `pid` in MiB (Linux).
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    let register_csv = work.join("register.csv");
    let crm = organisations(
        Profile::Medium,
        args.seed,
        args.register,
        args.crm,
        &register_csv,
    );
    let bodies: Vec<Vec<u8>> = crm
        .iter()
        .enumerate()
        .map(|(i, r)| body(r, i % 3 == 2))
        .collect();
    create_crm(&work.join("crm.db"), crm);
    write_config(
        work,
        &register_csv,
        &format!("sqlite://{}", work.join("store.db").display()),
    );
    // The bench measures the rates it asks for, not the per-token limit.
    let config = std::fs::read_to_string(work.join("refsync.toml")).expect("config");
    std::fs::write(
        work.join("refsync.toml"),
        config.replace("check_per_second = 50", "check_per_second = 100000"),
    )
    .expect("config");
    run_ok(work, &["migrate"], None);
    let token = user_token(work, "bench", "intake");

    let started = Instant::now();
    let (mut child, url) = serve(work);
    let warm_secs = started.elapsed().as_secs_f64();
    println!(
        "crm={} register={} requests per rate={} threads={}",
        args.crm,
        args.register,
        args.requests,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "indexes warm after {warm_secs:.1} s (serve start to listening), server RSS {:.0} MiB",
        rss_mib(child.id())
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let endpoint = Arc::new(format!("{url}api/v1/check"));
    let token = Arc::new(token);
    let bodies = Arc::new(bodies);
    for rate in &args.rates {
        let before = rss_mib(child.id());
        let (mut ms, errors) = runtime.block_on(async {
            let start = tokio::time::Instant::now();
            let mut tasks = Vec::with_capacity(args.requests);
            for i in 0..args.requests {
                let due = start + Duration::from_secs_f64(i as f64 / f64::from(*rate));
                let (client, endpoint, token, bodies) = (
                    client.clone(),
                    endpoint.clone(),
                    token.clone(),
                    bodies.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep_until(due).await;
                    let answer = client
                        .post(endpoint.as_str())
                        .bearer_auth(token.as_str())
                        .header("content-type", "application/json")
                        .body(bodies[i % bodies.len()].clone())
                        .send()
                        .await;
                    let ok = match answer {
                        Ok(a) if a.status().is_success() => a
                            .json::<Value>()
                            .await
                            .is_ok_and(|v| v["register"].is_object()),
                        _ => false,
                    };
                    (due.elapsed().as_secs_f64() * 1000.0, ok)
                }));
            }
            let mut ms = Vec::with_capacity(tasks.len());
            let mut errors = 0;
            for t in tasks {
                let (latency, ok) = t.await.expect("request task");
                ms.push(latency);
                errors += usize::from(!ok);
            }
            (ms, errors)
        });
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{rate:>4} requests/s: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {errors} errors; server RSS {before:.0} → {:.0} MiB",
            ms.len(),
            median(ms.clone()),
            at(0.99),
            at(1.0),
            rss_mib(child.id())
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
