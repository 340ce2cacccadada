//! `refsync import` and `refsync export`: a CSV list matched against the CRM and the register.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{Format, UsageError};
use crate::config::Config;
use crate::crm::csv::{CsvOptions, Encoding};
use crate::domain::model::Field;
use crate::store::Store;
use crate::sync::import::{run as run_import, ImportReport, Mode};
use crate::sync::SyncError;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EncodingArg {
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "windows-1252")]
    Windows1252,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The CSV file (UTF-8 or Windows-1252; `,` `;` tab or `|`, detected).
    file: PathBuf,
    /// The job whose CRM, register, thresholds and field rules apply.
    #[arg(long)]
    job: String,
    /// FIELD=COLUMN, where the header names are not ones refsync knows (repeatable).
    #[arg(long = "map", value_parser = parse_map)]
    map: Vec<(Field, String)>,
    /// The column with the rows' own ids (default: the line number).
    #[arg(long)]
    id_column: Option<String>,
    #[arg(long, value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// The file's encoding; by default each line is read as UTF-8 where it is valid
    /// UTF-8, else as Windows-1252 (and a file that mixes them is reported).
    #[arg(long, value_enum)]
    encoding: Option<EncodingArg>,
    /// A row with a cell over this many bytes is reported by line and skipped.
    #[arg(long, default_value_t = crate::domain::excerpt::MAX_FIELD_BYTES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_field_bytes: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_map(s: &str) -> Result<(Field, String), String> {
    let (field, column) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not FIELD=COLUMN"))?;
    Ok((
        field.trim().parse().map_err(|e| format!("{e}"))?,
        column.trim().to_string(),
    ))
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "\\t" | "tab" => Ok(b'\t'),
        _ if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err(format!("`{s}` is not a one-character delimiter")),
    }
}

impl ListArgs {
    fn options(&self) -> CsvOptions {
        CsvOptions {
            encoding: self.encoding.map(|e| match e {
                EncodingArg::Utf8 => Encoding::Utf8,
                EncodingArg::Windows1252 => Encoding::Windows1252,
            }),
            delimiter: self.delimiter,
            map: self.map.iter().cloned().collect::<BTreeMap<_, _>>(),
            id_column: self.id_column.clone(),
            cells_only: false,
            max_field_bytes: Some(self.max_field_bytes),
        }
    }
}

pub async fn import(config: &Config, store: &Store, args: ListArgs) -> anyhow::Result<ExitCode> {
    let report = execute(config, store, &args, Mode::Propose).await?;
    print(
        &report,
        args.format,
        "proposals stored; see `refsync review list --pass`",
    )
}

pub async fn export(
    config: &Config,
    store: &Store,
    args: ListArgs,
    out: PathBuf,
) -> anyhow::Result<ExitCode> {
    let report = execute(config, store, &args, Mode::Export(out.clone())).await?;
    print(
        &report,
        args.format,
        &format!("corrected file written to {}", out.display()),
    )
}

async fn execute(
    config: &Config,
    store: &Store,
    args: &ListArgs,
    mode: Mode,
) -> anyhow::Result<ImportReport> {
    if !config.job.contains_key(&args.job) {
        return Err(UsageError(format!("no job `{}` in the config", args.job)).into());
    }
    match run_import(config, store, &args.job, &args.file, &args.options(), mode).await {
        Err(SyncError::Refused(why)) => Err(UsageError(why).into()),
        other => Ok(other?),
    }
}

fn print(report: &ImportReport, format: Format, done: &str) -> anyhow::Result<ExitCode> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Format::Table => {
            if let Some(layout) = &report.layout {
                println!(
                    "read as {:?}, delimiter {:?}; mapped: {}",
                    layout.encoding,
                    layout.delimiter,
                    layout
                        .fields
                        .iter()
                        .map(|(f, i)| format!("{f}={}", layout.headers[*i]))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if let Some(mixed) = &report.mixed_encodings {
                println!(
                    "warning: the file mixes encodings: {} lines read as UTF-8, {} as Windows-1252, each line as what it is; check those lines",
                    mixed.utf8_lines, mixed.windows_1252_lines
                );
            }
            println!(
                "  rows             {} ({} invalid)",
                report.rows, report.invalid_rows
            );
            println!("  suppressed       {}", report.suppressed);
            println!("  new              {}", report.new);
            println!("  updates          {}", report.updates);
            println!("  duplicates       {}", report.duplicates);
            println!("  register matches {}", report.register_matched);
            if let Some(pass) = report.pass_id {
                println!(
                    "  {} changes proposed in pass {pass}",
                    report.changes_proposed
                );
            }
            for e in &report.errors {
                println!("  line {}: {}", e.line, e.problem);
            }
            if report.invalid_rows as usize > report.errors.len() {
                println!(
                    "  … and {} more invalid rows",
                    report.invalid_rows as usize - report.errors.len()
                );
            }
            println!("{done}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
