//! The review UI's pages over a full store: figures, not a timed test. It generates N
//! organisations with the synthetic generator into a SQLite CRM (and as many register
//! records into a CSV file), runs one pass so the store holds their proposed changes, starts
//! `refsync serve` and times each page as a steward's browser asks for it (one HTTP GET
//! over loopback, the body read to the end): median, 90th percentile and slowest of the runs.
//!
//!   cargo bench --bench pages -- [--crm 60000] [--runs 20] [--seed 42]
//!
//! The target: every page under 200 ms with 100,000 proposed changes in the store.

use std::time::Instant;

use refsync::synth::Profile;

mod common;
use common::{create_crm, median, organisations, run_ok, serve, user_token, write_config};

struct Args {
    crm: usize,
    runs: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        crm: 60_000,
        runs: 20,
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--crm" => args.crm = number(value()?)?.max(1),
            "--runs" => args.runs = number(value()?)?.max(1),
            "--seed" => args.seed = number(value()?)? as u64,
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
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    let started = Instant::now();
    let register = work.join("register.csv");
    let crm = organisations(Profile::Medium, args.seed, args.crm, args.crm, &register);
    create_crm(&work.join("crm.db"), crm);
    write_config(
        work,
        &register,
        &format!("sqlite://{}", work.join("store.db").display()),
    );
    let pass_started = Instant::now();
    run_ok(work, &["run", "--once", "--job", "organisations"], None);
    let pass_s = pass_started.elapsed().as_secs_f64();
    let token = user_token(work, "stefan", "steward");

    let (mut server, base) = serve(work);
    let base = base.trim_end_matches('/').to_string();

    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let client = reqwest::Client::new();
    let get = |path: String| {
        let (client, token, base) = (client.clone(), token.clone(), base.clone());
        runtime.block_on(async move {
            let started = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("GET");
            let status = response.status();
            let body = response.text().await.expect("body");
            assert!(status.is_success(), "GET {path}: {status}: {body}");
            (started.elapsed().as_secs_f64() * 1000.0, body)
        })
    };
    let changes: serde_json::Value =
        serde_json::from_str(&get("/api/v1/changes?status=proposed&limit=1".into()).1)
            .expect("JSON");
    let proposed = changes["total"].as_i64().unwrap_or(0);
    // A record from the queue's first card, for the record page.
    let queue = get("/queue".into()).1;
    let record = queue
        .split("class=\"record\" href=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a card on the queue")
        .to_string();
    println!(
        "crm={} proposed_changes={proposed} runs={} (data and one pass in {:.1} s, the pass {pass_s:.1} s)",
        args.crm,
        args.runs,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9}",
        "page", "median_ms", "p90_ms", "max_ms", "kB"
    );
    for path in [
        "/queue".to_string(),
        "/queue?order=doubt".into(),
        "/queue?order=oldest".into(),
        "/queue?field=city".into(),
        "/queue?text=gmbh".into(),
        "/queue?offset=10000".into(),
        record,
        "/passes".into(),
        "/audit".into(),
        "/duplicates".into(),
    ] {
        let mut times = Vec::with_capacity(args.runs);
        let mut bytes = 0;
        for _ in 0..args.runs {
            let (ms, body) = get(path.clone());
            times.push(ms);
            bytes = body.len();
        }
        times.sort_by(f64::total_cmp);
        let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
        let max = times[times.len() - 1];
        println!(
            "{path:<34} {:>9.1} {p90:>9.1} {max:>9.1} {:>9.1}",
            median(times),
            bytes as f64 / 1000.0
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
