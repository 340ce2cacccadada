//! `refsync subject-access`: an Art. 15 access request answered as JSON or HTML.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::sync_error;
use crate::config::Config;
use crate::store::Store;
use crate::sync::subject_access::{collect, html};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DocumentFormat {
    Json,
    Html,
}

#[derive(Debug, Args)]
pub struct SubjectAccessArgs {
    /// The contact's id in the CRM.
    contact: String,
    #[arg(long)]
    job: String,
    #[arg(long, value_enum, default_value_t = DocumentFormat::Html)]
    format: DocumentFormat,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run(
    config: &Config,
    store: &Store,
    args: SubjectAccessArgs,
) -> anyhow::Result<ExitCode> {
    let doc = collect(config, store, &args.job, &args.contact)
        .await
        .map_err(sync_error)?;
    let text = match args.format {
        DocumentFormat::Json => serde_json::to_string_pretty(&doc)? + "\n",
        DocumentFormat::Html => html(&doc),
    };
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
