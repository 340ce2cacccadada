//! Logging: human text on a terminal, JSON lines for services and pipes. Logs go to stderr;
//! stdout is for command output. Nothing above debug level carries secrets or personal data.
//!
//! Under systemd (stderr is the journal, `JOURNAL_STREAM` says so) lines carry no
//! timestamp: the journal stamps every line itself.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{log_filter, LogFormat, LoggingConfig};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over the config's level; a
/// filter that does not parse is refused, not replaced.
pub fn init(logging: &LoggingConfig) -> Result<(), String> {
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(text) => log_filter(&text)
            .map_err(|p| format!("environment variable {}: {p}", EnvFilter::DEFAULT_ENV))?,
        Err(_) => log_filter(&logging.level).map_err(|p| format!("logging.level: {p}"))?,
    };
    let terminal = std::io::stderr().is_terminal();
    let journal = stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref());
    let json = match logging.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        // The journal reads text well and keeps `key=value` fields searchable by grep.
        LogFormat::Auto => !terminal && !journal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    // A second init (tests, reload) keeps the first subscriber; that is fine.
    let _ = match (json, journal) {
        (true, false) => builder.json().flatten_event(true).try_init(),
        (true, true) => builder.json().flatten_event(true).without_time().try_init(),
        (false, false) => builder.with_target(false).try_init(),
        (false, true) => builder.with_target(false).without_time().try_init(),
    };
    Ok(())
}

/// Whether stderr is the journal stream systemd set up (`JOURNAL_STREAM=DEVICE:INODE`),
/// not a pipe or file a child process inherited along with the variable.
fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_name_our_stderr() {
        use std::os::unix::fs::MetadataExt;
        assert!(!stderr_is_journal(None));
        assert!(!stderr_is_journal(Some("garbage")));
        let meta = std::fs::metadata("/proc/self/fd/2").unwrap();
        assert!(stderr_is_journal(Some(&format!(
            "{}:{}",
            meta.dev(),
            meta.ino()
        ))));
        assert!(!stderr_is_journal(Some(&format!(
            "{}:{}",
            meta.dev(),
            meta.ino() + 1
        ))));
    }
}
