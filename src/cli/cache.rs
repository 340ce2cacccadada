//! `refsync cache clear`: forget the registers' cached answers, e.g. after a register was
//! fixed or its data corrected, so the next pass asks it afresh.

use std::process::ExitCode;

use clap::Subcommand;

use super::UsageError;
use crate::config::Config;
use crate::store::{cache, Store};

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Remove cached register answers: all, or those of one register.
    Clear {
        /// Only this register's answers (a name from the config's [register.NAME]).
        #[arg(long)]
        register: Option<String>,
    },
}

pub async fn run(config: &Config, store: &Store, cmd: CacheCommand) -> anyhow::Result<ExitCode> {
    let CacheCommand::Clear { register } = cmd;
    if let Some(name) = register
        .as_deref()
        .filter(|n| !config.register.contains_key(*n))
    {
        let known: Vec<&str> = config.register.keys().map(String::as_str).collect();
        return Err(UsageError(format!(
            "no register `{name}` in the config; name one of: {}",
            if known.is_empty() {
                "(none defined)".to_string()
            } else {
                known.join(", ")
            }
        ))
        .into());
    }
    let which = register.clone();
    let removed = store
        .db
        .run(move |conn| cache::clear(conn, which.as_deref()))
        .await?;
    match register {
        Some(name) => println!("removed {removed} cached answers of register `{name}`"),
        None => println!("removed {removed} cached answers"),
    }
    Ok(ExitCode::SUCCESS)
}
