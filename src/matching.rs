//! Linking two CSV files with the matching engine: for `refsync match` (admins tuning
//! thresholds on samples) and for the benchmark. Reads and prepares records on all cores,
//! fits m/u by EM on a sample of candidate pairs, then decides every CRM record. The same
//! for one file's duplicates (`refsync dedupe`): its records linked with each other, then
//! clustered.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::domain::blocking::BlockingSettings;
use crate::domain::cluster::{earlier_links, weight_of_probability, Cluster, Earlier};
use crate::domain::decide::{Decision, Thresholds};
use crate::domain::dedupe::{self, Pair, Scope};
use crate::domain::em::EmReport;
use crate::domain::link::{Linked, Linker, MatchSettings, Sample};
use crate::domain::model::{EntityKind, Field};
use crate::domain::score::{gamma, Gamma, Model, Prepared};
use crate::domain::sharing::{Households, SharedAddresses};

#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("{0}")]
    Settings(String),
}

/// Where one side's records are and which column holds which canonical field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    #[serde(default = "default_id_column")]
    pub id_column: String,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    #[serde(default)]
    pub columns: BTreeMap<Field, String>,
}

impl Default for CsvMapping {
    fn default() -> Self {
        CsvMapping {
            id_column: default_id_column(),
            delimiter: default_delimiter(),
            columns: BTreeMap::new(),
        }
    }
}

fn default_id_column() -> String {
    "id".into()
}

fn default_delimiter() -> char {
    ','
}

/// A mapping file for `refsync match --mapping`: both sides and the engine's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    #[serde(default)]
    pub crm: CsvMapping,
    #[serde(default)]
    pub register: CsvMapping,
    #[serde(default)]
    pub blocking: BlockingSettings,
    #[serde(default)]
    pub matching: MatchSettings,
    #[serde(default)]
    pub thresholds: Thresholds,
}

impl MatchConfig {
    pub fn load(path: &Path) -> Result<MatchConfig, MatchError> {
        let bad = |problem: String| MatchError::File {
            path: path.to_path_buf(),
            problem,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let value: toml::Value = text
            .parse()
            .map_err(|e: toml::de::Error| bad(format!("not valid TOML: {e}")))?;
        serde_path_to_error::deserialize(value)
            .map_err(|e| bad(format!("key `{}`: {}", e.path(), e.inner())))
    }

    /// Checks thresholds, blocking, pins and both files' mappings; the error names the key.
    pub fn validate(&self, kind: EntityKind) -> Result<(), MatchError> {
        self.validate_sides(kind, &[("crm", &self.crm), ("register", &self.register)])
    }

    /// As [`MatchConfig::validate`] for a run on the CRM file alone (`refsync dedupe`).
    pub fn validate_crm(&self, kind: EntityKind) -> Result<(), MatchError> {
        self.validate_sides(kind, &[("crm", &self.crm)])
    }

    fn validate_sides(
        &self,
        kind: EntityKind,
        sides: &[(&str, &CsvMapping)],
    ) -> Result<(), MatchError> {
        let err = |section: &str, (key, problem): (String, String)| {
            MatchError::Settings(format!("[{section}] {key}: {problem}"))
        };
        self.thresholds
            .validate()
            .map_err(|e| err("thresholds", e))?;
        self.blocking.validate().map_err(|e| err("blocking", e))?;
        self.matching
            .validate(kind)
            .map_err(|e| err("matching", e))?;
        for (side, mapping) in sides {
            if mapping.columns.is_empty() {
                return Err(MatchError::Settings(format!(
                    "no columns mapped for the {side} file; give --map FIELD=COLUMN or [{side}.columns] in --mapping"
                )));
            }
        }
        Ok(())
    }
}

impl MatchConfig {
    /// CRM fields mapped for matching that no comparison and no blocking rule uses.
    pub fn unused_fields(&self, kind: EntityKind) -> Vec<Field> {
        let blocked: Vec<Field> = self
            .blocking
            .rules(kind)
            .iter()
            .flat_map(|r| r.fields())
            .collect();
        crate::domain::comparison::unused_fields(
            self.crm.columns.keys().copied(),
            self.matching.comparisons(kind),
            &blocked,
        )
    }
}

/// Records this many at a time are read, then prepared on all cores.
const CHUNK: usize = 65_536;

/// Reads a CSV file and prepares every row for matching.
pub fn load(
    kind: EntityKind,
    path: &Path,
    mapping: &CsvMapping,
) -> Result<Vec<Prepared>, MatchError> {
    let bad = |problem: String| MatchError::File {
        path: path.to_path_buf(),
        problem,
    };
    let (mut reader, id_at, mapped) = crate::register::file::open_mapped(
        path,
        mapping.delimiter,
        &mapping.id_column,
        &mapping.columns,
    )
    .map_err(bad)?;
    // Column of each canonical field, by the field's position in `Field::ALL`.
    let mut column_of: Vec<Option<usize>> = vec![None; Field::ALL.len()];
    for (field, at) in &mapped {
        if let Some(i) = Field::ALL.iter().position(|f| f == field) {
            column_of[i] = Some(*at);
        }
    }
    let prepare = |row: &csv::StringRecord| {
        let id = row.get(id_at).unwrap_or_default().trim();
        Prepared::from_fields(kind, id, |field| {
            let at = column_of[Field::ALL.iter().position(|f| *f == field)?]?;
            row.get(at).map(str::trim).filter(|v| !v.is_empty())
        })
    };
    let mut out = Vec::new();
    let mut chunk: Vec<csv::StringRecord> = Vec::with_capacity(CHUNK);
    loop {
        let mut row = csv::StringRecord::new();
        let more = reader.read_record(&mut row).map_err(|e| {
            let line = e
                .position()
                .map_or(String::from("?"), |p| p.line().to_string());
            bad(format!("line {line}: {e}; fix or remove that row"))
        })?;
        if more {
            if row.get(id_at).unwrap_or_default().trim().is_empty() {
                let line = row.position().map_or(0, |p| p.line());
                return Err(bad(format!(
                    "line {line}: empty `{}`; every row needs an id",
                    mapping.id_column
                )));
            }
            chunk.push(row);
        }
        if chunk.len() == CHUNK || (!more && !chunk.is_empty()) {
            out.extend(parallel_map(&chunk, prepare));
            chunk.clear();
        }
        if !more {
            break;
        }
    }
    Ok(out)
}

/// `f` over `items` on every core, results in order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// What a linking run did, with timings.
#[derive(Debug, Clone, Serialize)]
pub struct LinkReport {
    pub crm_records: usize,
    pub register_records: usize,
    pub candidate_pairs: usize,
    pub em: Option<EmReport>,
    /// Pairs at one address in EM's sample: where most are one person or firm held twice,
    /// each comparison of the address counted.
    pub addresses: Option<SharedAddresses>,
    pub load_seconds: f64,
    pub index_seconds: f64,
    pub em_seconds: f64,
    pub link_seconds: f64,
}

/// Builds the engine over `register`, fits it by EM on `crm` (if the settings say so) and
/// decides every CRM record.
pub fn link_all(
    kind: EntityKind,
    config: &MatchConfig,
    crm: &[Prepared],
    register: Vec<Prepared>,
    report: &mut LinkReport,
) -> Result<(Linker, Vec<Linked>), MatchError> {
    let started = Instant::now();
    let mut linker = Linker::new(kind, &config.blocking, &config.matching, register)
        .map_err(MatchError::Settings)?;
    report.register_records = linker.records.len();
    report.crm_records = crm.len();
    report.index_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let compared = fit(
        &mut linker,
        &config.matching,
        crm,
        |linker, c| linker.record_gammas(c),
        |linker, n| {
            let pairs = crate::domain::link::random_pairs(crm.len(), linker.records.len(), n);
            parallel_map(&pairs, |&(c, r)| {
                gamma(&linker.scorer.model, &crm[c], &linker.records[r])
            })
        },
        |model, pairs| report.addresses = SharedAddresses::weigh(model, pairs),
        &mut report.em,
    );
    report.em_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let numbered: Vec<(usize, &Prepared)> = crm.iter().enumerate().collect();
    let linked = parallel_map(&numbered, |&(i, c)| {
        let levels = compared.as_ref().map(|s| s.levels(i));
        linker.link(c, levels, &config.thresholds)
    });
    report.candidate_pairs = linked.iter().map(|l| l.candidates).sum();
    report.link_seconds = started.elapsed().as_secs_f64();
    Ok((linker, linked))
}

/// Fits the linker's model by EM if `settings` say so (its report into `em`): m and the
/// prior on the candidate pairs of `items`, each compared by `candidate_gammas` on every
/// core, u on `random_gammas(linker, n)` (n pairs of records drawn at random). Where EM's
/// sample holds every item's candidate pairs, returns them: scoring then weighs those
/// comparison vectors instead of comparing every pair once more.
fn fit<T: Sync>(
    linker: &mut Linker,
    settings: &MatchSettings,
    items: &[T],
    candidate_gammas: impl Fn(&Linker, &T) -> Vec<(Gamma, u64)> + Sync,
    random_gammas: impl Fn(&Linker, usize) -> Vec<Gamma>,
    adapt: impl FnOnce(&mut Model, &[Gamma]),
    em: &mut Option<EmReport>,
) -> Option<Sample> {
    if !settings.estimate {
        return None;
    }
    let sample = linker.candidate_gammas(items, settings.em_sample_pairs, |chunk| {
        parallel_map(chunk, |item| candidate_gammas(linker, item))
    });
    adapt(&mut linker.scorer.model, &sample.gammas);
    let random = random_gammas(linker, sample.gammas.len());
    *em = Some(linker.estimate(&random, &sample, settings.em_max_iterations));
    (sample.ends.len() == items.len()).then_some(sample)
}

/// What a dedupe run did, with timings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DedupeReport {
    pub records: usize,
    /// Pairs that share a block, each once.
    pub candidate_pairs: usize,
    /// Pairs at or above the threshold.
    pub links: usize,
    pub em: Option<EmReport>,
    /// Pairs at one address in EM's sample: where most are one person held twice, each
    /// comparison of the address counted.
    pub addresses: Option<SharedAddresses>,
    /// Pairs at one address under one family name, counted in EM's sample: where most of
    /// them are two people, the family name counted with the address.
    pub households: Option<Households>,
    pub load_seconds: f64,
    pub index_seconds: f64,
    pub em_seconds: f64,
    pub score_seconds: f64,
    pub cluster_seconds: f64,
}

/// Finds the duplicates among `records` (one file): indexes them, fits m/u by EM on their
/// pairs with each other (if the settings say so; u from random pairs of the same file),
/// scores every pair that shares a block once and clusters the pairs at or above
/// `threshold`, keeping the ids of `earlier`. With `new` = `Some(n)` only the last `n`
/// records are new (a list against the CRM, records added or changed since `earlier`; none
/// where records only went away): only pairs with one of them are scored, and the earlier
/// clusters hold the rest together. `None` scores every pair.
pub fn dedupe_all(
    kind: EntityKind,
    config: &MatchConfig,
    records: Vec<Prepared>,
    new: Option<usize>,
    threshold: f64,
    earlier: &Earlier,
    report: &mut DedupeReport,
) -> Result<(Linker, Vec<Cluster>), MatchError> {
    let started = Instant::now();
    let mut linker = Linker::new(kind, &config.blocking, &config.matching, records)
        .map_err(MatchError::Settings)?;
    report.records = linker.records.len();
    report.index_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let numbers: Vec<u32> = (0..u32::try_from(linker.records.len()).unwrap_or(u32::MAX)).collect();
    let compared = fit(
        &mut linker,
        &config.matching,
        &numbers,
        |linker, &i| dedupe::record_gammas(linker, i),
        |linker, n| {
            let pairs = dedupe::random_record_pairs(linker.records.len(), n);
            parallel_map(&pairs, |&(a, b)| {
                let at = |i: u32| &linker.records[i as usize];
                gamma(&linker.scorer.model, at(a), at(b))
            })
        },
        |model, pairs| {
            report.addresses = SharedAddresses::weigh(model, pairs);
            report.households = Households::count(model, pairs);
            if let Some(households) = &report.households {
                households.apply(model);
            }
        },
        &mut report.em,
    );
    report.em_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let min_weight = weight_of_probability(threshold);
    let old = linker.records.len().saturating_sub(new.unwrap_or(0));
    let marked: Vec<bool> = (0..linker.records.len()).map(|i| i >= old).collect();
    let scope = match new {
        None => Scope::All,
        Some(_) => Scope::Changed(&marked),
    };
    let scored = parallel_map(&numbers, |&i| {
        let levels = compared.as_ref().map(|s| s.levels(i as usize));
        dedupe::score_record(&linker, i, scope, levels, min_weight)
    });
    report.candidate_pairs = scored.iter().map(|(_, owned)| owned).sum();
    let mut pairs: Vec<Pair> = scored.into_iter().flat_map(|(p, _)| p).collect();
    report.links = pairs.len();
    if new.is_some() {
        let position: HashMap<&str, u32> = (0u32..)
            .zip(&linker.records[..old])
            .map(|(i, r)| (&*r.id, i))
            .collect();
        pairs.extend(earlier_links(earlier, |id| position.get(id).copied()));
    }
    report.score_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let clusters = crate::domain::cluster::cluster(
        linker.records.len(),
        &pairs,
        threshold,
        linker.scorer.model.prior_weight(),
        |a, b| {
            // A pair split apart by a steward is evidence no link outweighs (the guard).
            let id = |i: u32| &*linker.records[i as usize].id;
            if earlier.kept_apart(id(a), id(b)) {
                f64::NEG_INFINITY
            } else {
                dedupe::evidence(&linker, a, b)
            }
        },
        |i| &linker.records[i as usize].id,
        &earlier.cluster_of,
    );
    report.cluster_seconds = started.elapsed().as_secs_f64();
    Ok((linker, clusters))
}

/// One line of the clusters file: a record in a cluster of two or more.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRow<'a> {
    pub cluster_id: &'a str,
    pub record_id: &'a str,
    pub size: usize,
    /// The probability of the weakest link that holds the cluster together.
    pub weakest_link: f64,
    /// A link to another record was refused by the chaining guard: a person should look.
    pub review: bool,
}

/// The clusters file's rows, cluster by cluster.
pub fn cluster_rows<'a>(linker: &'a Linker, clusters: &'a [Cluster]) -> Vec<ClusterRow<'a>> {
    clusters
        .iter()
        .flat_map(|c| {
            c.members.iter().map(move |&m| ClusterRow {
                cluster_id: &c.id,
                record_id: &linker.records[m as usize].id,
                size: c.members.len(),
                weakest_link: c.weakest_probability(),
                review: c.review,
            })
        })
        .collect()
}

/// A clusters file written before (`cluster_id` and `record_id` columns, `weakest_link`
/// where it has one; others are ignored): for ids that stay from run to run, and for the
/// earlier clusters a run that scores only new records builds on.
pub fn read_clusters(path: &Path) -> Result<Earlier, MatchError> {
    let bad = |problem: String| MatchError::File {
        path: path.to_path_buf(),
        problem,
    };
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("cannot read its header: {e}")))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            bad(format!(
                "no column `{name}`; a clusters file written by `refsync dedupe` has cluster_id and record_id"
            ))
        })
    };
    let (cluster_at, record_at) = (column("cluster_id")?, column("record_id")?);
    let weakest_at = column("weakest_link").ok();
    let mut out = Earlier::default();
    for row in reader.records() {
        let row = row.map_err(|e| bad(format!("{e}; fix or remove that row")))?;
        let (Some(cluster), Some(record)) = (row.get(cluster_at), row.get(record_at)) else {
            continue;
        };
        let weakest = weakest_at.and_then(|at| row.get(at)?.parse::<f64>().ok());
        if let Some(p) = weakest.filter(|p| (0.0..=1.0).contains(p)) {
            out.weakest.insert(cluster.to_string(), p);
        }
        out.cluster_of
            .insert(record.to_string(), cluster.to_string());
    }
    Ok(out)
}

/// One line of the links file.
#[derive(Debug, Clone, Serialize)]
pub struct LinkRow<'a> {
    pub crm_id: &'a str,
    pub register_id: &'a str,
    pub probability: f64,
    pub weight: f64,
    /// `auto`, `review`, or `ambiguous` (a runner-up was too close; never auto-applied).
    pub band: &'static str,
    pub grade: String,
}

/// The links file's rows: each CRM record's best candidate at or above `review_min`.
pub fn link_rows<'a>(crm: &'a [Prepared], linked: &'a [Linked]) -> Vec<LinkRow<'a>> {
    crm.iter()
        .zip(linked)
        .filter_map(|(c, l)| {
            let (best, band) = match &l.decision {
                Decision::Matched { best, band } => (best, band.as_str()),
                Decision::Ambiguous { candidates } => (candidates.first()?, "ambiguous"),
                Decision::NotFound { .. } => return None,
            };
            Some(LinkRow {
                crm_id: &c.id,
                register_id: &best.register_id,
                probability: best.score,
                weight: best.weight,
                band,
                grade: best.grade(),
            })
        })
        .collect()
}

/// A row type of an output file, and its header.
pub trait Columns: Serialize {
    /// The names of the fields in order, as serde writes them.
    const COLUMNS: &'static [&'static str];
}

impl Columns for LinkRow<'_> {
    const COLUMNS: &'static [&'static str] = &[
        "crm_id",
        "register_id",
        "probability",
        "weight",
        "band",
        "grade",
    ];
}

impl Columns for ClusterRow<'_> {
    const COLUMNS: &'static [&'static str] =
        &["cluster_id", "record_id", "size", "weakest_link", "review"];
}

/// Writes the rows as CSV with a header, which is there without rows too (a script reading
/// the file finds its columns).
pub fn write_rows<T: Columns>(path: &Path, rows: &[T]) -> Result<(), MatchError> {
    let bad = |e: csv::Error| MatchError::File {
        path: path.to_path_buf(),
        problem: format!("cannot write it: {e}"),
    };
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(bad)?;
    writer.write_record(T::COLUMNS).map_err(bad)?;
    for row in rows {
        writer.serialize(row).map_err(bad)?;
    }
    writer.flush().map_err(|e| bad(e.into()))
}

/// Precision, recall and F1 of predicted links against the truth, and how many true pairs
/// blocking let through (pair completeness).
#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub pair_completeness: f64,
    pub reduction_ratio: f64,
}

/// Scores the decisions for `crm` against `truth` (CRM id → register id).
pub fn evaluate(
    linker: &Linker,
    crm: &[Prepared],
    linked: &[Linked],
    truth: &std::collections::HashMap<String, String>,
    candidate_pairs: usize,
) -> Quality {
    let (mut tp, mut fp) = (0, 0);
    for (c, l) in crm.iter().zip(linked) {
        if let Decision::Matched { best, .. } = &l.decision {
            if truth.get(&*c.id) == Some(&best.register_id) {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    let fn_ = truth.len().saturating_sub(tp);
    let by_id: std::collections::HashMap<&str, &Prepared> =
        crm.iter().map(|c| (&*c.id, c)).collect();
    let blocked = parallel_map(&truth.iter().collect::<Vec<_>>(), |(c, r)| {
        by_id
            .get(c.as_str())
            .is_some_and(|p| linker.candidates(p).any(|cand| &*cand.id == r.as_str()))
    });
    let found = blocked.into_iter().filter(|b| *b).count();
    let all_pairs = crm.len() as f64 * linker.records.len() as f64;
    Quality::new(
        tp,
        fp,
        fn_,
        ratio(found, truth.len()),
        candidate_pairs,
        all_pairs,
    )
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl Quality {
    /// From the counts of true and false positives and false negatives, the share of true
    /// pairs blocking let through, and the candidate pairs out of all possible ones.
    fn new(
        tp: usize,
        fp: usize,
        fn_: usize,
        pair_completeness: f64,
        candidate_pairs: usize,
        all_pairs: f64,
    ) -> Quality {
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Quality {
            true_positives: tp,
            false_positives: fp,
            false_negatives: fn_,
            precision,
            recall,
            f1,
            pair_completeness,
            reduction_ratio: if all_pairs > 0.0 {
                1.0 - candidate_pairs as f64 / all_pairs
            } else {
                0.0
            },
        }
    }
}

/// Pairwise precision, recall and F1 of `clusters` (every two records in one cluster are a
/// predicted pair) against `truth` (the true duplicate pairs, each once), and how many of
/// the true pairs share a block.
pub fn evaluate_clusters(
    linker: &Linker,
    clusters: &[Cluster],
    truth: &[(String, String)],
    candidate_pairs: usize,
) -> Quality {
    let position: HashMap<&str, u32> = linker
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((&*r.id, u32::try_from(i).ok()?)))
        .collect();
    let mut cluster_of: HashMap<u32, usize> = HashMap::new();
    for (at, c) in clusters.iter().enumerate() {
        cluster_of.extend(c.members.iter().map(|&m| (m, at)));
    }
    let (mut tp, mut blocked) = (0, 0);
    for (a, b) in truth {
        let (Some(&a), Some(&b)) = (position.get(a.as_str()), position.get(b.as_str())) else {
            continue;
        };
        if cluster_of
            .get(&a)
            .is_some_and(|c| cluster_of.get(&b) == Some(c))
        {
            tp += 1;
        }
        if dedupe::others(linker, a).contains(&b) {
            blocked += 1;
        }
    }
    let predicted: usize = clusters
        .iter()
        .map(|c| c.members.len() * (c.members.len() - 1) / 2)
        .sum();
    let n = linker.records.len() as f64;
    Quality::new(
        tp,
        predicted.saturating_sub(tp),
        truth.len() - tp,
        ratio(blocked, truth.len()),
        candidate_pairs,
        n * (n - 1.0) / 2.0,
    )
}

/// What one blocking rule contributes: the candidate pairs it makes and how many of the
/// true pairs it finds on its own (rules overlap, so these do not add up).
#[derive(Debug, Clone, Serialize)]
pub struct RuleCoverage {
    pub rule: String,
    pub pairs: usize,
    pub true_pairs: usize,
}

/// Candidate pairs and true pairs found per blocking rule of `linker`, for `crm` against
/// `truth` (CRM id → register id).
pub fn rule_coverage(
    linker: &Linker,
    crm: &[Prepared],
    truth: &std::collections::HashMap<String, String>,
) -> Vec<RuleCoverage> {
    let position: std::collections::HashMap<&str, u32> = linker
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((&*r.id, u32::try_from(i).ok()?)))
        .collect();
    parallel_map(&linker.rules, |rule| {
        let (mut pairs, mut true_pairs) = (0, 0);
        for c in crm {
            let block = linker.index.rule_block(rule, c, linker.max_block_size);
            pairs += block.len();
            let wanted = truth.get(&*c.id).and_then(|r| position.get(r.as_str()));
            if wanted.is_some_and(|w| block.iter().any(|(_, i)| i == w)) {
                true_pairs += 1;
            }
        }
        RuleCoverage {
            rule: rule.to_string(),
            pairs,
            true_pairs,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::model::Field;
    use crate::synth::{self, Profile};

    /// A generated register and its CRM copies as one file of `kind`, and every two records
    /// of a register record and its copies: the duplicates planted in it.
    fn planted_file(kind: EntityKind) -> (Vec<Prepared>, Vec<(String, String)>) {
        let data = synth::generate(kind, Profile::Medium, 7, 3000, 600);
        let records: Vec<Prepared> = data
            .register
            .iter()
            .chain(&data.crm)
            .map(|r| Prepared::new(kind, r))
            .collect();
        let mut copies: HashMap<&str, Vec<&str>> = HashMap::new();
        for (crm, register) in &data.truth {
            copies.entry(register).or_default().push(crm);
        }
        let mut truth = Vec::new();
        for (register, crm) in &copies {
            let ids: Vec<&str> = std::iter::once(*register)
                .chain(crm.iter().copied())
                .collect();
            for (i, a) in ids.iter().enumerate() {
                truth.extend(ids[i + 1..].iter().map(|b| (a.to_string(), b.to_string())));
            }
        }
        (records, truth)
    }

    /// A generated register and its CRM copies in one file: the copies are found as
    /// duplicates of their register records, and a second run with the first run's
    /// clusters as the previous ones gives the same clusters with the same ids.
    #[test]
    fn dedupe_on_generated_organisations_finds_the_planted_duplicates() {
        let kind = EntityKind::Organisation;
        let (records, truth) = planted_file(kind);
        let config = MatchConfig::default();
        let threshold = config.thresholds.review_min;
        let mut report = DedupeReport::default();
        let (linker, clusters) = dedupe_all(
            kind,
            &config,
            records.clone(),
            None,
            threshold,
            &Earlier::default(),
            &mut report,
        )
        .unwrap();
        assert!(
            report.em.as_ref().is_some_and(|em| em.converged),
            "{report:?}"
        );
        let q = evaluate_clusters(&linker, &clusters, &truth, report.candidate_pairs);
        assert!(q.precision > 0.97 && q.recall > 0.9, "{q:?}");
        assert!(
            q.pair_completeness >= q.recall && q.reduction_ratio > 0.99,
            "{q:?}"
        );
        let previous = Earlier {
            cluster_of: cluster_rows(&linker, &clusters)
                .into_iter()
                .map(|r| (r.record_id.to_string(), r.cluster_id.to_string()))
                .collect(),
            ..Earlier::default()
        };
        let mut again = DedupeReport::default();
        let (_, second) = dedupe_all(
            kind, &config, records, None, threshold, &previous, &mut again,
        )
        .unwrap();
        // Term frequencies are summed in a hash map's order: weights may differ in the
        // last bits from run to run.
        let shape = |c: &[Cluster]| {
            c.iter()
                .map(|c| (c.id.clone(), c.members.clone(), c.review))
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&second), shape(&clusters));
        for (a, b) in second.iter().zip(&clusters) {
            assert!(
                (a.weakest_link - b.weakest_link).abs() < 1e-9,
                "{a:?} {b:?}"
            );
        }
    }

    /// Private customers who live with their families: a shared address and family name
    /// are mostly two people, so they count as one piece of evidence and the first name
    /// and birth date tell a duplicate from a family member.
    #[test]
    fn family_members_at_one_address_are_not_taken_for_duplicates() {
        let kind = EntityKind::Contact;
        let (records, truth) = planted_file(kind);
        let config = MatchConfig::default();
        let mut report = DedupeReport::default();
        let (linker, clusters) = dedupe_all(
            kind,
            &config,
            records,
            None,
            config.thresholds.review_min,
            &Earlier::default(),
            &mut report,
        )
        .unwrap();
        let households = report
            .households
            .expect("contacts compare family name and street");
        assert!(households.present(), "{households:?}");
        let last = linker
            .scorer
            .model
            .comparisons
            .iter()
            .find(|c| c.field == Field::LastName);
        assert_eq!(
            last.unwrap().group,
            Some(crate::domain::comparison::Group::Address)
        );
        let q = evaluate_clusters(&linker, &clusters, &truth, report.candidate_pairs);
        assert!(q.precision > 0.9 && q.recall > 0.8, "{q:?}");
    }

    /// EM on generated data (no labels) converges to a model that separates matches from
    /// non-matches: an exact name (organisations) or e-mail (contacts, whose candidates
    /// mostly share the last name by blocking) is far likelier among matches, and the
    /// links are good.
    #[test]
    fn em_on_generated_data_converges_and_links_well() {
        for kind in [EntityKind::Organisation, EntityKind::Contact] {
            let data = synth::generate(kind, Profile::Medium, 11, 3000, 600);
            let crm: Vec<Prepared> = data.crm.iter().map(|r| Prepared::new(kind, r)).collect();
            let register: Vec<Prepared> = data
                .register
                .iter()
                .map(|r| Prepared::new(kind, r))
                .collect();
            let mut report = LinkReport {
                crm_records: 0,
                register_records: 0,
                candidate_pairs: 0,
                em: None,
                addresses: None,
                load_seconds: 0.0,
                index_seconds: 0.0,
                em_seconds: 0.0,
                link_seconds: 0.0,
            };
            let (linker, linked) =
                link_all(kind, &MatchConfig::default(), &crm, register, &mut report).unwrap();
            let em = report.em.expect("EM ran");
            assert!(em.converged && em.iterations > 1, "{kind}: {em:?}");
            let name = if kind == EntityKind::Organisation {
                Field::LegalName
            } else {
                Field::Email
            };
            let params = linker.scorer.model.params(name).unwrap();
            assert!(params.m[0] > 5.0 * params.u[0], "{kind} {name}: {params:?}");
            // Ranking by EM's comparison vectors decides as comparing every pair anew does.
            for (c, l) in crm.iter().zip(&linked) {
                let anew = linker.link(c, None, &MatchConfig::default().thresholds);
                assert_eq!(
                    format!("{:?}", anew.decision),
                    format!("{:?}", l.decision),
                    "{kind} {}",
                    c.id
                );
            }
            let truth: HashMap<String, String> = data.truth.into_iter().collect();
            let q = evaluate(&linker, &crm, &linked, &truth, report.candidate_pairs);
            assert!(q.f1 > 0.93 && q.precision > 0.97, "{kind}: {q:?}");
            assert!(
                q.pair_completeness > 0.97 && q.reduction_ratio > 0.95,
                "{kind}: {q:?}"
            );
            // Rules overlap: each finds at most what their union finds, and their pairs
            // add up to at least the union's.
            let coverage = rule_coverage(&linker, &crm, &truth);
            assert_eq!(coverage.len(), linker.rules.len());
            let found = (q.pair_completeness * truth.len() as f64).round() as usize;
            assert!(
                coverage.iter().all(|r| r.true_pairs <= found),
                "{coverage:?}"
            );
            assert!(coverage.iter().map(|r| r.pairs).sum::<usize>() >= report.candidate_pairs);
            assert!(
                coverage.iter().any(|r| r.true_pairs * 2 > truth.len()),
                "{kind}: no rule finds half the true pairs: {coverage:?}"
            );
        }
    }
}
