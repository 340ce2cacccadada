//! Reference registers: where refsync looks records up. One file per connector.

pub mod file;
pub mod index;

use std::sync::Arc;

use crate::config::RegisterConfig;
use crate::crm::BoxFuture;
use crate::domain::model::{EntityKind, Record};
use crate::domain::score::TermFrequencies;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegisterError {
    /// The register could not answer (down, timed out, refused): the record is
    /// `lookup_failed`, never `not_found`, and the next pass asks again.
    #[error("register `{register}` unavailable: {reason}")]
    Unavailable { register: String, reason: String },
    /// The register's data cannot be used as it is; the pass stops and says where.
    #[error("register `{register}`: {problem}")]
    BadData { register: String, problem: String },
}

/// The outcome of looking up one CRM record.
pub type Lookup = Result<Vec<Record>, RegisterError>;

pub trait Register: Send + Sync {
    fn name(&self) -> &str;

    /// Candidate register records for each of `records`, in the same order.
    fn candidates<'a>(
        &'a self,
        kind: EntityKind,
        records: &'a [Record],
    ) -> BoxFuture<'a, Vec<Lookup>>;

    /// How often values occur in the register, for term-frequency weighting; registers
    /// that cannot tell (remote services) leave it to the model's averages.
    fn term_frequencies(&self, _kind: EntityKind) -> Option<Arc<TermFrequencies>> {
        None
    }
}

/// Opens the register a job names; file registers are read here, once per pass.
pub async fn open(name: &str, config: &RegisterConfig) -> Result<Box<dyn Register>, RegisterError> {
    match config {
        RegisterConfig::File(file) => {
            let (name, file) = (name.to_string(), file.clone());
            let loaded =
                tokio::task::spawn_blocking(move || file::FileRegister::load(&name, &file))
                    .await
                    .map_err(|e| RegisterError::BadData {
                        register: "file".into(),
                        problem: e.to_string(),
                    })??;
            Ok(Box::new(loaded))
        }
    }
}
