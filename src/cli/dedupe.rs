use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::match_files::{describe_em, FileArgs};
use super::UsageError;
use crate::matching::{self, DedupeReport};

#[derive(Debug, Args)]
pub struct DedupeArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// Pairs at least this likely one entity are linked into clusters (default: the
    /// mapping file's [thresholds] review_min, else 0.75).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// A clusters file of an earlier run: its clusters keep their ids while their records
    /// stay.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// Records new to the --crm file (a list to import, records added since --previous),
    /// with the same columns: only pairs with one of them are scored, against the --crm
    /// file's records and each other; the --previous clusters hold the rest together.
    #[arg(long)]
    pub new: Option<PathBuf>,
}

/// Finds the duplicates in one CSV file without a store or a CRM: a cluster per entity
/// that has two or more records.
pub fn run(args: DedupeArgs) -> anyhow::Result<ExitCode> {
    let files = &args.files;
    let usage = |e: matching::MatchError| UsageError(e.to_string());
    let config = files.config()?;
    config.validate_crm(files.kind).map_err(usage)?;
    let threshold = args.threshold.unwrap_or(config.thresholds.review_min);
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(UsageError(format!(
            "--threshold {threshold} is not a probability between 0 and 1 (exclusive); e.g. --threshold 0.9"
        ))
        .into());
    }
    files.warn_unused(&config);
    let previous = match &args.previous {
        Some(path) => matching::read_clusters(path).map_err(usage)?,
        None => Default::default(),
    };

    let started = Instant::now();
    let mut records = matching::load(files.kind, &files.crm, &config.crm).map_err(usage)?;
    let new = match &args.new {
        Some(path) => matching::load(files.kind, path, &config.crm).map_err(usage)?,
        None => Vec::new(),
    };
    // Without `--new` every pair is scored (a `--previous` file then only keeps ids).
    let new_records = args.new.is_some().then_some(new.len());
    records.extend(new);
    let mut report = DedupeReport {
        load_seconds: started.elapsed().as_secs_f64(),
        ..DedupeReport::default()
    };
    let (linker, clusters) = matching::dedupe_all(
        files.kind,
        &config,
        records,
        new_records,
        threshold,
        &previous,
        &mut report,
    )?;
    // Said because it changes what an agreeing address weighs.
    if let Some(line) = report.addresses.and_then(|a| a.describe()) {
        println!("{line}");
    }
    if let Some(h) = report.households.filter(|h| h.present()) {
        // Said because it changes what a shared address and family name weigh.
        println!(
            "households: {} of {} pairs at one address under one family name differ in the first name; the family name counts with the address",
            h.other_first_name, h.shared
        );
    }
    let rows = matching::cluster_rows(&linker, &clusters);
    matching::write_rows(&files.out, &rows)?;
    println!(
        "{} records: {} clusters of two or more holding {} records, {} to review; {} of {} candidate pairs at or above {threshold}",
        report.records,
        clusters.len(),
        rows.len(),
        clusters.iter().filter(|c| c.review).count(),
        report.links,
        report.candidate_pairs,
    );
    println!(
        "EM {}; {:.2} s (load {:.2}, index {:.2}, EM {:.2}, score {:.2}, cluster {:.2}); clusters in {}",
        describe_em(
            report.em.as_ref(),
            "records estimated to have a duplicate"
        ),
        started.elapsed().as_secs_f64(),
        report.load_seconds,
        report.index_seconds,
        report.em_seconds,
        report.score_seconds,
        report.cluster_seconds,
        files.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
