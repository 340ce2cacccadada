use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::store::Store;

/// `path` is read again on SIGHUP.
pub async fn run(path: &Path, config: Config, store: Store) -> anyhow::Result<ExitCode> {
    crate::daemon::run(path, config, store).await?;
    Ok(ExitCode::SUCCESS)
}
