//! `refsync report`: the data-quality report (Datenaudit) of a job as HTML, JSON or CSV.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::domain::report::Report;
use crate::store::Store;
use crate::sync::report::{build, html, json};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The job whose CRM records are reported on (its entity kind, CRM and passes).
    #[arg(long)]
    job: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    format: ReportFormat,
    /// Where the report goes; default: standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Language of the HTML labels.
    #[arg(long, value_enum, default_value_t = Lang::De)]
    lang: Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// One self-contained page with charts, printable on A4.
    Html,
    /// The same figures for scripts.
    Json,
    /// One row per figure and segment: section, figure, segment, value, of.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    De,
    En,
}

pub async fn run(config: &Config, store: &Store, args: ReportArgs) -> anyhow::Result<ExitCode> {
    super::job(config, &args.job)?;
    let report = build(config, store, &args.job)
        .await
        .map_err(super::sync_error)?;
    let lang = match args.lang {
        Lang::De => html::Lang::De,
        Lang::En => html::Lang::En,
    };
    let text = match args.format {
        ReportFormat::Html => html::page(&report, &args.job, lang),
        ReportFormat::Json => json(&report),
        ReportFormat::Csv => csv(&report)?,
    };
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    if report.crm_only {
        eprintln!(
            "refsync: job `{}` has no pass yet: the report shows the CRM side only; \
             `refsync run --once --job {}` adds the register's side",
            args.job, args.job
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn csv(report: &Report) -> anyhow::Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    for row in report.rows() {
        w.serialize(row)?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}
