//! The jobs refsync runs against a CRM: a pass (`pass`: read CRM records in batches, look
//! each up in the register, decide, store, apply), imports, reviews, reverts, erasure and
//! retention, consent.

pub mod apply;
pub mod check;
pub mod consent;
pub mod duplicates;
pub mod erase;
mod model;
pub(crate) use model::{fit, save_model, scorer_for, stored_model, REMOTE_EM_RECORDS};
pub mod explain;
pub mod import;
pub mod pass;
pub mod reconcile;
pub(crate) use pass::persist;
pub use pass::{run_pass, PassReport, StageTimes};
pub mod report;
pub mod retention;
pub mod revert;
pub mod review;
pub mod subject_access;
pub mod tune;
pub mod verdicts;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::crm::CrmError;
use crate::register::RegisterError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no job `{0}` in the config; see `refsync check-config` for the defined jobs")]
    NoSuchJob(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crm(#[from] CrmError),
    #[error("{0}")]
    Register(#[from] RegisterError),
    #[error("{0}")]
    Refused(String),
    #[error("job `{job}`: {problem}; fix [job.{job}.matching]")]
    Matching { job: String, problem: String },
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Store(e.into())
    }
}

impl From<crate::db::DbError> for SyncError {
    fn from(e: crate::db::DbError) -> Self {
        SyncError::Store(e.into())
    }
}

/// Set by SIGTERM/SIGINT: the pass finishes the batch it is in and stops.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

/// The jobs a command works on: all, or the one named (which must exist).
pub(crate) fn selected_jobs<'a>(
    config: &'a crate::config::Config,
    only: Option<&'a str>,
) -> Result<impl Iterator<Item = (&'a String, &'a crate::config::JobConfig)>, SyncError> {
    if let Some(job) = only.filter(|j| !config.job.contains_key(*j)) {
        return Err(SyncError::NoSuchJob(job.to_string()));
    }
    Ok(config
        .job
        .iter()
        .filter(move |(name, _)| only.is_none_or(|o| o == name.as_str())))
}

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
