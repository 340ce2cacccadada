use std::process::ExitCode;

use crate::config::Config;
use crate::store::Store;

pub async fn run(config: &Config, store: &Store) -> anyhow::Result<ExitCode> {
    crate::daemon::run(config, store).await?;
    Ok(ExitCode::SUCCESS)
}
