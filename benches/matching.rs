//! The matching benchmark: figures, not a timed test. For each entity kind and generator
//! profile it writes a synthetic CRM and register as CSV, then times loading, indexing,
//! EM and linking (as `refsync match` does) and scores the links against the ground truth.
//!
//!   cargo bench --bench matching -- [--kinds organisation,contact] [--profiles easy,medium,hard]
//!       [--crm 10000] [--register 100000] [--runs 3] [--seed 42] [--kernels] [--misses N]
//!
//! Peak memory is VmHWM from /proc/self/status, reset before each run (clear_refs 5), so it
//! covers loading and matching but not generating the files.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use refsync::domain::model::{EntityKind, Field, Record};
use refsync::matching::{self, CsvMapping, LinkReport, MatchConfig};
use refsync::synth::{self, Profile};

struct Args {
    kinds: Vec<EntityKind>,
    profiles: Vec<Profile>,
    crm: usize,
    register: usize,
    runs: usize,
    seed: u64,
    kernels: bool,
    /// Print this many true pairs the engine missed, with why.
    misses: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        kinds: vec![EntityKind::Organisation, EntityKind::Contact],
        profiles: Profile::ALL.to_vec(),
        crm: 10_000,
        register: 100_000,
        runs: 3,
        seed: 42,
        kernels: false,
        misses: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--kinds" => {
                args.kinds = value()?
                    .split(',')
                    .map(|k| match k {
                        "organisation" => Ok(EntityKind::Organisation),
                        "contact" => Ok(EntityKind::Contact),
                        other => Err(format!("unknown kind `{other}`")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--profiles" => {
                args.profiles = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--crm" => args.crm = value()?.parse().map_err(|e| format!("--crm: {e}"))?,
            "--register" => {
                args.register = value()?.parse().map_err(|e| format!("--register: {e}"))?
            }
            "--runs" => args.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--kernels" => args.kernels = true,
            "--misses" => args.misses = value()?.parse().map_err(|e| format!("--misses: {e}"))?,
            "--bench" => {}
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

fn write_csv(path: &Path, records: &[Record]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(std::iter::once("id").chain(Field::ALL.iter().map(|f| f.as_str())))?;
    for r in records {
        w.write_record(
            std::iter::once(r.id.as_str())
                .chain(Field::ALL.iter().map(|f| r.raw(*f).unwrap_or(""))),
        )?;
    }
    w.flush()
}

fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn reset_peak_memory() {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/clear_refs")
    {
        let _ = f.write_all(b"5");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("matching bench: {e}");
            std::process::exit(2);
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "crm={} register={} runs={} seed={} threads={}",
        args.crm,
        args.register,
        args.runs,
        args.seed,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<12} {:<7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>10} {:>9} {:>8} {:>8} {:>9}",
        "kind",
        "profile",
        "precision",
        "recall",
        "F1",
        "pair_comp",
        "reduction",
        "cand_pairs",
        "records/s",
        "wall_s",
        "load_s",
        "link_s",
        "peak_MiB"
    );
    for kind in &args.kinds {
        for profile in &args.profiles {
            let data = synth::generate(*kind, *profile, args.seed, args.register, args.crm);
            let (crm_path, reg_path) =
                (dir.path().join("crm.csv"), dir.path().join("register.csv"));
            write_csv(&crm_path, &data.crm).expect("write crm");
            write_csv(&reg_path, &data.register).expect("write register");
            let truth: HashMap<String, String> = data.truth.into_iter().collect();
            let raw: HashMap<String, Record> = if args.misses > 0 {
                data.crm
                    .into_iter()
                    .chain(data.register)
                    .map(|r| (r.id.clone(), r))
                    .collect()
            } else {
                HashMap::new()
            };
            let mapping = CsvMapping {
                columns: Field::ALL
                    .iter()
                    .map(|f| (*f, f.as_str().to_string()))
                    .collect(),
                ..CsvMapping::default()
            };
            let config = MatchConfig {
                crm: mapping.clone(),
                register: mapping.clone(),
                ..MatchConfig::default()
            };
            let (mut walls, mut loads, mut links, mut peaks) = (vec![], vec![], vec![], vec![]);
            let mut quality = None;
            let mut pairs = 0;
            for _ in 0..args.runs.max(1) {
                reset_peak_memory();
                let started = Instant::now();
                let crm = matching::load(*kind, &crm_path, &mapping).expect("load crm");
                let register = matching::load(*kind, &reg_path, &mapping).expect("load register");
                let load = started.elapsed().as_secs_f64();
                let mut report = LinkReport {
                    crm_records: 0,
                    register_records: 0,
                    candidate_pairs: 0,
                    em: None,
                    load_seconds: load,
                    index_seconds: 0.0,
                    em_seconds: 0.0,
                    link_seconds: 0.0,
                };
                let (linker, linked) =
                    matching::link_all(*kind, &config, &crm, register, &mut report).expect("link");
                walls.push(started.elapsed().as_secs_f64());
                peaks.push(peak_memory_mib());
                loads.push(load);
                links.push(report.index_seconds + report.em_seconds + report.link_seconds);
                pairs = report.candidate_pairs;
                if quality.is_none() && args.misses > 0 {
                    print_misses(&linker, &crm, &linked, &truth, &raw, args.misses);
                }
                if quality.is_none() {
                    quality = Some(matching::evaluate(
                        &linker,
                        &crm,
                        &linked,
                        &truth,
                        report.candidate_pairs,
                    ));
                    if let Some(em) = &report.em {
                        eprintln!("  {kind} {profile}: EM {} pairs, {} iterations, converged {}, lambda {:.4}", em.pairs, em.iterations, em.converged, linker.scorer.model.lambda);
                    }
                }
            }
            let q = quality.expect("one run");
            let wall = median(walls);
            println!(
                "{:<12} {:<7} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.6} {:>11} {:>10.0} {:>9.2} {:>8.2} {:>8.2} {:>9.0}",
                kind.as_str(),
                profile.as_str(),
                q.precision,
                q.recall,
                q.f1,
                q.pair_completeness,
                q.reduction_ratio,
                pairs,
                args.crm as f64 / wall,
                wall,
                median(loads),
                median(links),
                median(peaks)
            );
        }
    }
    if args.kernels {
        kernels(args.seed);
    }
}

/// The first `limit` true pairs that were not linked, with the reason.
fn print_misses(
    linker: &refsync::domain::link::Linker,
    crm: &[refsync::domain::score::Prepared],
    linked: &[refsync::domain::link::Linked],
    truth: &HashMap<String, String>,
    raw: &HashMap<String, Record>,
    limit: usize,
) {
    use refsync::domain::decide::Decision;
    let show = |id: &str| {
        raw.get(id).map_or(String::new(), |r| {
            r.values
                .iter()
                .map(|(f, v)| format!("{f}={v}"))
                .collect::<Vec<_>>()
                .join(" | ")
        })
    };
    let mut shown = 0;
    for (c, l) in crm.iter().zip(linked) {
        let Some(want) = truth.get(&*c.id) else {
            continue;
        };
        let outcome = match &l.decision {
            Decision::Matched { best, .. } if &best.register_id == want => continue,
            Decision::Matched { best, band } => {
                format!("matched {} ({band}, {})", best.register_id, best.grade())
            }
            Decision::Ambiguous { candidates } => format!(
                "ambiguous: {}",
                candidates
                    .iter()
                    .map(|s| format!("{} {:.1} bits {}", s.register_id, s.weight, s.grade()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Decision::NotFound { best } => format!(
                "not found (best {})",
                best.as_ref().map_or("none".into(), |s| format!(
                    "{} {:.1} bits {}",
                    s.register_id,
                    s.weight,
                    s.grade()
                ))
            ),
        };
        let blocked = linker.candidates(c).any(|cand| &*cand.id == want.as_str());
        eprintln!(
            "MISS {} -> {want} (blocked: {blocked}): {outcome}
  crm: {}
  reg: {}",
            c.id,
            show(&c.id),
            show(want)
        );
        shown += 1;
        if shown >= limit {
            break;
        }
    }
}

/// Jaro–Winkler from strsim against rapidfuzz on the name pairs blocking produces.
fn kernels(seed: u64) {
    let data = synth::generate(
        EntityKind::Organisation,
        Profile::Hard,
        seed,
        20_000,
        20_000,
    );
    let names: Vec<String> = data
        .register
        .iter()
        .chain(&data.crm)
        .filter_map(|r| r.get(Field::LegalName))
        .map(refsync::domain::normalise::name_core)
        .collect();
    let pairs: Vec<(&str, &str)> = (0..2_000_000)
        .map(|i| {
            (
                names[i % names.len()].as_str(),
                names[(i * 7 + 13) % names.len()].as_str(),
            )
        })
        .collect();
    let time = |f: &dyn Fn(&str, &str) -> f64| {
        let mut runs = Vec::new();
        let mut sum = 0.0;
        for _ in 0..5 {
            let started = Instant::now();
            sum = pairs.iter().map(|(a, b)| f(a, b)).sum::<f64>();
            runs.push(started.elapsed().as_secs_f64());
        }
        (median(runs), sum)
    };
    let (strsim_s, strsim_sum) = time(&|a, b| strsim::jaro_winkler(a, b));
    let (rapid_s, rapid_sum) =
        time(&|a, b| rapidfuzz::distance::jaro_winkler::similarity(a.chars(), b.chars()));
    println!(
        "kernel jaro_winkler over {} name pairs (median of 5): strsim {:.3} s, rapidfuzz {:.3} s ({:.2}x); mean similarity {:.5} vs {:.5}",
        pairs.len(),
        strsim_s,
        rapid_s,
        strsim_s / rapid_s,
        strsim_sum / pairs.len() as f64,
        rapid_sum / pairs.len() as f64
    );
}
