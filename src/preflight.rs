//! The deep check of a config (`check-config --deep`, and the daemon at start): what the
//! config names must exist where it points — the CRM's tables and mapped columns, register
//! files and their columns, a remote register's manifest and the property ids asked of it.
//! Loading the config checked its shape; this checks it against the world.

use std::fmt;

use serde::Serialize;

use crate::config::Config;
use crate::register::RegisterError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    /// It could not be reached now; a pass may still find it up.
    Warning,
    /// The config does not fit what is there: every pass would fail.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `crm NAME` or `register NAME`.
    pub subject: String,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.severity {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "ERROR",
        };
        match self.severity {
            Severity::Ok => write!(f, "{mark:<7} {}: {}", self.subject, self.message),
            // An error's message names its CRM or register already.
            _ => write!(f, "{mark:<7} {}", self.message),
        }
    }
}

/// Every CRM and register the config names, checked one after the other.
pub async fn check(config: &Config) -> Vec<Finding> {
    let mut found = Vec::new();
    // A CRM found wanting is said once: its jobs' extra columns are checked only in a CRM
    // that passed.
    let mut fit = std::collections::BTreeSet::new();
    for (name, crm) in &config.crm {
        let subject = format!("crm {name}");
        let result = crate::crm::check(name, crm).await;
        if result.is_ok() {
            fit.insert(name.as_str());
        }
        found.push(match result {
            Ok(message) => finding(subject, Severity::Ok, message),
            Err(e) if crate::crm::unreachable(&e) => finding(subject, Severity::Warning, e),
            Err(e) => finding(subject, Severity::Error, e),
        });
    }
    for (name, job) in &config.job {
        let (Some(crm), Some(mapping)) = (
            config.crm.get(&job.crm),
            config.crm.get(&job.crm).and_then(|c| c.mapping(job.entity)),
        ) else {
            continue;
        };
        if !fit.contains(job.crm.as_str()) {
            continue;
        }
        let columns = job.duplicates.columns(mapping);
        if columns.is_empty() {
            continue;
        }
        let subject = format!("job {name}");
        let section = format!("[job.{name}.duplicates]");
        found.push(
            match crate::crm::check_columns(&job.crm, crm, &columns, &section).await {
                Ok(message) => finding(subject, Severity::Ok, message),
                Err(e) if crate::crm::unreachable(&e) => finding(subject, Severity::Warning, e),
                Err(e) => finding(subject, Severity::Error, e),
            },
        );
    }
    for (name, register) in &config.register {
        let subject = format!("register {name}");
        match crate::register::check(name, register).await {
            Ok(lines) => found.extend(
                lines
                    .into_iter()
                    .map(|line| finding(subject.clone(), Severity::Ok, line)),
            ),
            Err(e @ RegisterError::Unavailable { .. }) => {
                found.push(finding(subject, Severity::Warning, e))
            }
            Err(e @ RegisterError::BadData { .. }) => {
                found.push(finding(subject, Severity::Error, e))
            }
        }
    }
    found
}

fn finding(subject: String, severity: Severity, message: impl ToString) -> Finding {
    Finding {
        subject,
        severity,
        message: message.to_string(),
    }
}

/// How many findings are errors.
pub fn errors(found: &[Finding]) -> usize {
    found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
}
