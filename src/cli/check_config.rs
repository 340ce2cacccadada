use std::process::ExitCode;

use crate::config::Config;
use crate::preflight;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Also connect to each CRM and register: tables and mapped columns, register files,
    /// a service's manifest and the property ids the config names.
    #[arg(long)]
    pub deep: bool,
}

/// Loading already validated the config; print what is in effect, and with `--deep` what
/// its references find. An error found is exit 2, like a config that does not load;
/// something unreachable is a warning.
pub async fn run(config: &Config, args: CheckArgs) -> anyhow::Result<ExitCode> {
    print!("{}", config.to_redacted_toml());
    if !args.deep {
        return Ok(ExitCode::SUCCESS);
    }
    let found = preflight::check(config).await;
    println!();
    for f in &found {
        println!("{f}");
    }
    let errors = preflight::errors(&found);
    if errors > 0 {
        eprintln!(
            "refsync: the deep check found {errors} problem{} in the config; fix {} before the first pass",
            if errors == 1 { "" } else { "s" },
            if errors == 1 { "it" } else { "them" }
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
