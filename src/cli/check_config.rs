use std::process::ExitCode;

use crate::config::Config;

/// Loading already validated the config; print what is in effect.
pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    print!("{}", config.to_redacted_toml());
    Ok(ExitCode::SUCCESS)
}
