use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::UsageError;
use crate::domain::em::EmReport;
use crate::domain::model::{EntityKind, Field};
use crate::matching::{self, LinkReport, MatchConfig};

/// What `match` and `dedupe` share: the kind, the CRM file, its mapping and the output.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// `organisation` or `contact`.
    #[arg(long, value_parser = parse_kind)]
    pub kind: EntityKind,
    /// The CRM's records (CSV).
    #[arg(long)]
    pub crm: PathBuf,
    /// Where to write the result (CSV).
    #[arg(long)]
    pub out: PathBuf,
    /// A TOML file with [crm] (and for `match` [register]): id_column, delimiter,
    /// [.columns]; and optional [blocking], [matching] and [thresholds] sections.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// FIELD=COLUMN (for both files in `match`, when they share column names); repeatable.
    #[arg(long = "map", value_parser = parse_map)]
    pub map: Vec<(Field, String)>,
    /// The CRM file's id column (default `id`, or the mapping file's).
    #[arg(long)]
    pub crm_id: Option<String>,
}

impl FileArgs {
    /// The mapping file (or the defaults) with `--map` and `--crm-id` applied to the CRM
    /// side.
    pub fn config(&self) -> Result<MatchConfig, UsageError> {
        let mut config = match &self.mapping {
            Some(path) => MatchConfig::load(path).map_err(|e| UsageError(e.to_string()))?,
            None => MatchConfig::default(),
        };
        config.crm.columns.extend(self.map.iter().cloned());
        if let Some(id) = &self.crm_id {
            config.crm.id_column = id.clone();
        }
        Ok(config)
    }

    /// Warns of mapped CRM fields that nothing uses.
    pub fn warn_unused(&self, config: &MatchConfig) {
        for field in config.unused_fields(self.kind) {
            eprintln!(
                "refsync: warning: `{field}` is mapped but no comparison and no blocking rule uses it; add it to [matching] comparisons or [blocking] rules (e.g. {{ on = [\"{field}\"] }}), or leave it unmapped"
            );
        }
    }
}

#[derive(Debug, Args)]
pub struct MatchArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// The CSV file to look the CRM's records up in.
    #[arg(long)]
    pub register: PathBuf,
    /// The register file's id column (default `id`, or the mapping file's).
    #[arg(long)]
    pub register_id: Option<String>,
}

fn parse_kind(s: &str) -> Result<EntityKind, String> {
    match s {
        "organisation" => Ok(EntityKind::Organisation),
        "contact" => Ok(EntityKind::Contact),
        other => Err(format!(
            "`{other}` is not a kind; use organisation or contact"
        )),
    }
}

fn parse_map(s: &str) -> Result<(Field, String), String> {
    let (field, column) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not FIELD=COLUMN, e.g. legal_name=Firma"))?;
    let field: Field = field
        .trim()
        .parse()
        .map_err(|e: crate::domain::model::UnknownField| e.to_string())?;
    Ok((field, column.trim().to_string()))
}

/// Links two CSV files without a store or a CRM: for tuning thresholds on samples.
pub fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    let files = &args.files;
    let mut config = files.config()?;
    config.register.columns.extend(files.map.iter().cloned());
    if let Some(id) = &args.register_id {
        config.register.id_column = id.clone();
    }
    config
        .validate(files.kind)
        .map_err(|e| UsageError(e.to_string()))?;
    files.warn_unused(&config);

    let started = Instant::now();
    let crm = matching::load(files.kind, &files.crm, &config.crm)?;
    let register = matching::load(files.kind, &args.register, &config.register)?;
    let mut report = LinkReport {
        crm_records: 0,
        register_records: 0,
        candidate_pairs: 0,
        em: None,
        addresses: None,
        load_seconds: started.elapsed().as_secs_f64(),
        index_seconds: 0.0,
        em_seconds: 0.0,
        link_seconds: 0.0,
    };
    let (_, linked) = matching::link_all(files.kind, &config, &crm, register, &mut report)?;
    // Said because it changes what an agreeing address weighs.
    if let Some(line) = report.addresses.and_then(|a| a.describe()) {
        println!("{line}");
    }
    let rows = matching::link_rows(&crm, &linked);
    matching::write_rows(&files.out, &rows)?;
    let count = |band: &str| rows.iter().filter(|r| r.band == band).count();
    println!(
        "{} CRM records against {} register records: {} auto, {} review, {} ambiguous, {} not found",
        report.crm_records,
        report.register_records,
        count("auto"),
        count("review"),
        count("ambiguous"),
        report.crm_records - rows.len()
    );
    println!(
        "{} candidate pairs; EM {}; {:.2} s (load {:.2}, index {:.2}, EM {:.2}, link {:.2}); links in {}",
        report.candidate_pairs,
        describe_em(
            report.em.as_ref(),
            "CRM records estimated to have a match"
        ),
        started.elapsed().as_secs_f64(),
        report.load_seconds,
        report.index_seconds,
        report.em_seconds,
        report.link_seconds,
        files.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// How EM went, for the summary line; `share_of` says whose share EM fitted.
pub fn describe_em(em: Option<&EmReport>, share_of: &str) -> String {
    em.map_or("off".to_string(), |e| match e.iterations {
        0 => format!("skipped ({} pairs are too few; built-in m/u)", e.pairs),
        n => format!(
            "{} pairs{}, {n} iterations{}{}",
            e.pairs,
            match e.sessions {
                0 => String::new(),
                s => format!(" (m learnt per blocking rule: {s} rules)"),
            },
            if e.converged { "" } else { ", not converged" },
            e.matched_share.map_or(String::new(), |s| format!(
                ", {:.0} % of {share_of}",
                s * 100.0
            ))
        ),
    })
}
