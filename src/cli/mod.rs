//! The command line: one file per subcommand. Exit codes: 0 ok, 1 the work failed,
//! 2 bad usage or bad config.

mod audit;
mod cache;
mod check;
mod check_config;
mod consent;
mod daemon;
mod dedupe;
mod duplicates;
mod erase;
mod explain;
mod import;
mod match_files;
mod migrate;
mod output;
mod report;
mod retention;
mod revert;
mod review;
mod review_match;
mod run;
mod serve;
mod status;
mod subject_access;
mod tune;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use crate::store::seal::Seal;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "refsync",
    version,
    about = "Keeps CRM organisations and contacts true to a reference register"
)]
pub struct Cli {
    /// The configuration file; `REFSYNC__SECTION__KEY` environment variables override it.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG_PATH, env = "REFSYNC_CONFIG")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one pass of every job (or of one job) now.
    Run(run::RunArgs),
    /// Run the jobs on their cron schedules until SIGTERM or SIGINT.
    Daemon,
    /// Bring the state store's schema up to date.
    Migrate,
    /// Print the effective configuration (secrets redacted), or what is wrong with it;
    /// `--deep` also checks the CRMs and registers it names.
    CheckConfig(check_config::CheckArgs),
    /// Show the jobs, their next run, their last pass and the review queue.
    Status(status::StatusArgs),
    /// Review proposed changes: list, show, approve, reject, apply.
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Merges of duplicates inside the CRM: list, show, approve, reject, split.
    #[command(subcommand)]
    Duplicates(duplicates::DuplicatesCommand),
    /// Read, export and verify the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Undo applied changes: one change or a whole pass, guarded like any write.
    Revert(revert::RevertArgs),
    /// Match a CSV list against the CRM and the register; store proposals (new, update, duplicate).
    Import(import::ListArgs),
    /// Match a CSV list the same way and write the corrected file.
    Export {
        #[command(flatten)]
        list: import::ListArgs,
        /// Where the corrected file goes (UTF-8 with BOM, the input's delimiter).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Check one record on entry: problems, CRM duplicates, register match, channels (JSON).
    Check(check::CheckArgs),
    /// Show how one CRM record is matched: every candidate with its per-field breakdown.
    Explain(explain::ExplainArgs),
    /// Advertising consent per contact and channel (UWG §7): show, record, import, export.
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// Erase a contact (Art. 17): from refsync's store, in the CRM as configured, and for good.
    Erase(erase::EraseArgs),
    /// Everything refsync holds about a contact (Art. 15), as JSON or HTML.
    SubjectAccess(subject_access::SubjectAccessArgs),
    /// Pseudonymise values past [privacy] retention_days.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Precision and recall of a job's match thresholds on the stewards' decisions, and
    /// suggested thresholds.
    Tune(tune::TuneArgs),
    /// The data-quality report (Datenaudit) of a job: completeness, validity, consistency,
    /// currency, match status, reachability and correction cost, from the store and the CRM.
    Report(report::ReportArgs),
    /// Link two CSV files with the matching engine (no store, no CRM; --config is not read).
    Match(match_files::MatchArgs),
    /// Find the duplicates in one CSV file and write their clusters (no store, no CRM;
    /// --config is not read).
    Dedupe(dedupe::DedupeArgs),
    /// Serve the review UI and JSON API (default 127.0.0.1:8080; TLS from a reverse proxy).
    Serve(serve::ServeArgs),
    /// Users of the review UI and API: add, list, disable, API tokens.
    #[command(subcommand)]
    User(user::UserCommand),
    /// The registers' response cache: clear it so the next pass asks them afresh.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for scripts.
    Json,
}

/// An error that means "bad usage": exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A workflow's refusal (bad input, unknown job) is bad usage; anything else failed work.
pub(crate) fn sync_error(e: crate::sync::SyncError) -> anyhow::Error {
    match e {
        crate::sync::SyncError::Refused(why) => UsageError(why).into(),
        e @ crate::sync::SyncError::NoSuchJob(_) => UsageError(e.to_string()).into(),
        other => other.into(),
    }
}

/// The job named on the command line, or a usage error that names the way to the list.
fn job<'a>(config: &'a Config, name: &str) -> Result<&'a crate::config::JobConfig, UsageError> {
    config
        .job
        .get(name)
        .ok_or_else(|| UsageError(crate::sync::SyncError::NoSuchJob(name.to_string()).to_string()))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `match` and `dedupe` work on files alone: they need neither the config nor a store.
    let cli = match cli.command {
        Command::Match(args) => return on_files(|| match_files::run(args)),
        Command::Dedupe(args) => return on_files(|| dedupe::run(args)),
        _ => cli,
    };
    let config = match Config::load(&cli.config, crate::config::environment()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("refsync: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = crate::telemetry::init(&config.logging) {
        eprintln!("refsync: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("refsync: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    finish(runtime.block_on(dispatch(cli.command, &cli.config, config)))
}

/// Runs a command that reads and writes files only, with the default logging.
fn on_files(run: impl FnOnce() -> anyhow::Result<ExitCode>) -> ExitCode {
    if let Err(e) = crate::telemetry::init(&crate::config::LoggingConfig::default()) {
        eprintln!("refsync: {e}");
        return ExitCode::from(2);
    }
    finish(run())
}

/// Exit code and message for a command's result.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("refsync: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() || e.downcast_ref::<ConfigError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The audit log's key and checkpoint; a key that cannot be had is bad config (exit 2).
fn seal(config_path: &std::path::Path, config: &Config) -> Result<Seal, ConfigError> {
    Seal::open(&config.audit, &|var| std::env::var(var).ok()).map_err(|e| ConfigError {
        file: config_path.to_path_buf(),
        key: Some(format!("audit.{}", e.key)),
        problem: e.problem,
    })
}

async fn dispatch(
    command: Command,
    config_path: &std::path::Path,
    config: Config,
) -> anyhow::Result<ExitCode> {
    let command = match command {
        Command::CheckConfig(args) => return check_config::run(&config, args).await,
        // Explain reads the CRM, the register and the last pass's model; without a store
        // (no pass yet) it fits a model as a pass would.
        Command::Explain(args) => {
            let store = match seal(config_path, &config) {
                Ok(seal) => Store::open(&config.store.url, seal).await.ok(),
                Err(_) => None,
            };
            return explain::run(&config, store.as_ref(), args).await;
        }
        other => other,
    };
    let store = Store::open(&config.store.url, seal(config_path, &config)?).await?;
    match command {
        Command::Run(args) => run::run(&config, &store, args).await,
        Command::Daemon => daemon::run(config_path, config, store).await,
        Command::Status(args) => status::run(&config, &store, args).await,
        Command::Migrate => migrate::run(&store).await,
        Command::Review(cmd) => review::run(&config, &store, cmd).await,
        Command::Audit(cmd) => audit::run(&store, cmd).await,
        Command::Duplicates(cmd) => duplicates::run(&config, &store, cmd).await,
        Command::Revert(args) => revert::run(&config, &store, args).await,
        Command::Import(args) => import::import(&config, &store, args).await,
        Command::Check(args) => check::run(&config, &store, args).await,
        Command::Export { list, out } => import::export(&config, &store, list, out).await,
        Command::Serve(args) => serve::run(config, store, args).await,
        Command::User(cmd) => user::run(&store, cmd).await,
        Command::Cache(cmd) => cache::run(&config, &store, cmd).await,
        Command::Consent(cmd) => consent::run(&config, &store, cmd).await,
        Command::Erase(args) => erase::run(&config, &store, args).await,
        Command::SubjectAccess(args) => subject_access::run(&config, &store, args).await,
        Command::Retention(cmd) => retention::run(&config, &store, cmd).await,
        Command::Tune(args) => tune::run(&config, &store, args).await,
        Command::Report(args) => report::run(&config, &store, args).await,
        Command::CheckConfig(_) | Command::Explain(_) | Command::Match(_) | Command::Dedupe(_) => {
            unreachable!("handled before the store is opened")
        }
    }
}
