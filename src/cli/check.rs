//! `refsync check`: one record checked as the API checks it, for scripts and mail filters.
//! The record comes as `--field k=v` or as a JSON object on stdin; the answer is the JSON
//! of `POST /api/v1/check`.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;

use clap::Args;

use super::UsageError;
use crate::config::Config;
use crate::store::Store;
use crate::sync::check::{check, record_of, WarmJob};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The job whose CRM, register and rules to check against.
    #[arg(long)]
    pub job: String,
    /// One value, `field=value` (repeatable); without any, a JSON object is read from stdin.
    #[arg(long = "field", value_parser = parse_field)]
    pub fields: Vec<(String, String)>,
    /// A form mapping of `[job.NAME.check.mappings]`: the fields have the form's names.
    #[arg(long)]
    pub mapping: Option<String>,
    /// Store what the record means for the CRM as proposals for review.
    #[arg(long)]
    pub store: bool,
    /// Who stores the proposals (the audit log's actor).
    #[arg(long, env = "USER", default_value = "cli")]
    pub by: String,
}

fn parse_field(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not `field=value`")),
    }
}

/// The record's values: from `--field`, else a JSON object of strings on stdin.
fn values(args: &CheckArgs) -> Result<BTreeMap<String, String>, UsageError> {
    if !args.fields.is_empty() {
        let mut out = BTreeMap::new();
        for (k, v) in &args.fields {
            if out.insert(k.clone(), v.clone()).is_some() {
                return Err(UsageError(format!("--field {k} is given twice")));
            }
        }
        return Ok(out);
    }
    let mut text = String::new();
    std::io::stdin()
        .take(crate::web::check::MAX_CHECK_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| UsageError(format!("cannot read the record from stdin: {e}")))?;
    if text.len() > crate::web::check::MAX_CHECK_BYTES {
        return Err(UsageError(format!(
            "the record on stdin is over {} KiB; send one record",
            crate::web::check::MAX_CHECK_BYTES / 1024
        )));
    }
    serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "stdin is not a JSON object of field names and string values ({e}); or give --field field=value"
        ))
    })
}

pub async fn run(config: &Config, store: &Store, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let job = super::job(config, &args.job)?;
    let values = values(&args)?;
    let record = record_of(&args.job, job, args.mapping.as_deref(), &values).map_err(UsageError)?;
    let warm = WarmJob::open(config, store, &args.job).await?;
    let store_as = args.store.then_some(args.by.as_str());
    let answer = check(&warm, config, store, record, store_as).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}
