//! Erasure (Art. 17): remove a contact's personal data from refsync's store, ask the CRM to
//! delete or anonymise the record, and keep only keyed hashes of what identified the person,
//! so that no later pass, import or enrichment brings them back.

use std::collections::BTreeSet;

use diesel::Connection;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tracing::info;

use super::SyncError;
use crate::config::{Config, EraseMode, JobConfig};
use crate::crm::WriteOutcome;
use crate::domain::erasure::{identifying_values, keyed_hash, record_key};
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::normalise::comparable;
use crate::store::audit::{self, redaction, AuditAction, NewAudit, Redaction, TOMBSTONE};
use crate::store::erasure::{self, Erasure, Purged};
use crate::store::{consents, Store};

/// The reason a record of an erased person is `skipped`.
pub const SUPPRESSED: &str = "suppressed";

/// Shorter keys are refused: the hashes must not be guessable by trying values.
const MIN_KEY_BYTES: usize = 16;

/// The secret key of the suppression list's keyed hashes and of pseudonyms.
pub struct PrivacyKey(SecretString);

impl PrivacyKey {
    /// The configured key; an error that says how to configure one when there is none.
    pub fn require(config: &Config) -> Result<PrivacyKey, SyncError> {
        let key = config
            .privacy
            .key(&|var| std::env::var(var).ok())
            .map_err(|e| SyncError::Refused(format!("[privacy]: {e}")))?
            .ok_or_else(|| {
                SyncError::Refused(
                    "no [privacy] key_env or key_file is configured; erasure and retention need a secret key for the keyed hashes".into(),
                )
            })?;
        if key.expose_secret().len() < MIN_KEY_BYTES {
            return Err(SyncError::Refused(format!(
                "the [privacy] key is shorter than {MIN_KEY_BYTES} bytes; use a long random secret (e.g. `openssl rand -hex 32`)"
            )));
        }
        Ok(PrivacyKey(key))
    }

    fn hash(&self, value: &str) -> String {
        keyed_hash(self.0.expose_secret().as_bytes(), value)
    }

    /// The keyed hashes a record is recognised by: its identifying values and, for a
    /// record of a CRM (not a row of a list), its id there.
    pub fn subject_hashes(&self, crm: Option<&str>, record: &Record) -> Vec<String> {
        crm.map(|crm| record_key(crm, &record.id))
            .into_iter()
            .chain(identifying_values(record))
            .map(|v| self.hash(&v))
            .collect()
    }

    /// A stable stand-in for `value` that tells equal values apart and reveals nothing.
    pub fn pseudonym(&self, value: &str) -> String {
        format!("{}{}", audit::PSEUDONYM_PREFIX, &self.hash(value)[..32])
    }
}

/// Checks records against the suppression list. Without anybody erased it needs no key.
pub enum SuppressionCheck {
    Nobody,
    Keyed(PrivacyKey),
}

impl SuppressionCheck {
    /// The check for records of `entity`: only contacts are people who can be erased.
    pub async fn open(
        config: &Config,
        store: &Store,
        entity: EntityKind,
    ) -> Result<SuppressionCheck, SyncError> {
        if entity != EntityKind::Contact || !store.db.run(erasure::any_suppressed).await? {
            return Ok(SuppressionCheck::Nobody);
        }
        PrivacyKey::require(config)
            .map(SuppressionCheck::Keyed)
            .map_err(|e| {
                SyncError::Refused(format!(
                    "people were erased, so every record must be checked against the suppression list: {e}"
                ))
            })
    }

    /// Ids of the records whose identifying values (or id in `crm`) belong to an erased
    /// person.
    pub async fn suppressed(
        &self,
        store: &Store,
        crm: Option<&str>,
        records: &[Record],
    ) -> Result<BTreeSet<String>, SyncError> {
        let SuppressionCheck::Keyed(key) = self else {
            return Ok(BTreeSet::new());
        };
        let hashed: Vec<(String, Vec<String>)> = records
            .iter()
            .map(|r| (r.id.clone(), key.subject_hashes(crm, r)))
            .collect();
        let all: Vec<String> = hashed.iter().flat_map(|(_, h)| h.clone()).collect();
        let known = store
            .db
            .run(move |conn| erasure::suppressed(conn, &all))
            .await?;
        Ok(hashed
            .into_iter()
            .filter(|(_, hashes)| hashes.iter().any(|h| known.contains(h)))
            .map(|(id, _)| id)
            .collect())
    }
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct EraseReport {
    pub job: String,
    pub record_id: String,
    /// What the CRM was asked to do, and what came of it.
    pub crm_action: EraseMode,
    pub crm_outcome: String,
    pub purged: Purged,
    pub audit_entries_tombstoned: usize,
    /// Entries written before value digests existed: their values stay (see README).
    pub audit_entries_kept: i64,
    pub consents_removed: usize,
    /// Telephone consent proofs kept for five years (UWG §7a).
    pub phone_proofs_kept: usize,
    pub suppression_hashes: usize,
}

/// The contact jobs on `crm`: a person's traces in any of them go together.
fn contact_jobs(config: &Config, crm: &str) -> Vec<String> {
    config
        .job
        .iter()
        .filter(|(_, j)| j.crm == crm && j.entity == EntityKind::Contact)
        .map(|(name, _)| name.clone())
        .collect()
}

/// The contact job `name`, or a refusal naming what is wrong.
pub fn contact_job<'a>(config: &'a Config, name: &str) -> Result<&'a JobConfig, SyncError> {
    let job = config
        .job
        .get(name)
        .ok_or_else(|| SyncError::NoSuchJob(name.to_string()))?;
    if job.entity != EntityKind::Contact {
        return Err(SyncError::Refused(format!(
            "job `{name}` syncs organisations; name a contact job (people's data)"
        )));
    }
    Ok(job)
}

pub async fn erase(
    config: &Config,
    store: &Store,
    job_name: &str,
    record_id: &str,
    actor: &str,
) -> Result<EraseReport, SyncError> {
    let job = contact_job(config, job_name)?;
    let key = PrivacyKey::require(config)?;
    let crm = crate::crm::open(&job.crm, &config.crm[&job.crm]).await?;
    let ids = [record_id.to_string()];
    let current = crm.read_by_ids(EntityKind::Contact, &ids).await?.pop();
    let record = current
        .clone()
        .unwrap_or_else(|| Record::new(record_id.to_string()));
    let hashes = key.subject_hashes(Some(&job.crm), &record);
    // Values by which changes and cached register answers mention the person.
    let needles: Vec<String> = [Field::Email, Field::Phone]
        .iter()
        .filter_map(|f| record.get(*f).map(|v| (*f, v)))
        .flat_map(|(f, v)| [v.to_string(), comparable(f, v)])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let jobs = contact_jobs(config, &job.crm);
    let (crm_name, id, by, job_owned) = (
        job.crm.clone(),
        record_id.to_string(),
        actor.to_string(),
        job_name.to_string(),
    );
    let mode = job.erase;
    let stored = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let at = crate::store::now();
                erasure::record(
                    conn,
                    &Erasure {
                        crm: crm_name.clone(),
                        record_id: id.clone(),
                        job: job_owned.clone(),
                        crm_action: mode.as_str().into(),
                        erased_by: by.clone(),
                        erased_at: at,
                    },
                )?;
                let (purged, change_ids) =
                    erasure::purge_record(conn, &jobs, &crm_name, "contact", &id, &needles)?;
                let (mut audit_ids, legacy) = audit::unredacted_for_record(conn, &jobs, &id)?;
                audit_ids.extend(audit::for_changes(conn, &change_ids)?);
                let tombstone = |_: &str| TOMBSTONE.to_string();
                let tombstoned = audit::redact(
                    conn,
                    &audit_ids,
                    &Redaction {
                        kind: redaction::ERASED,
                        replace: &tombstone,
                    },
                )?;
                let removed = consents::remove_erased(conn, &crm_name, &id)?;
                let kept = consents::for_contact(conn, &crm_name, &id)?.len();
                erasure::suppress(conn, &hashes, at)?;
                Ok::<_, diesel::result::Error>((
                    purged,
                    tombstoned,
                    legacy,
                    removed,
                    kept,
                    hashes.len(),
                ))
            })
        })
        .await?;
    let (purged, tombstoned, legacy, removed, kept, hash_count) = stored;
    let crm_outcome = match (&current, mode) {
        (None, _) => "not in the CRM (already gone)".to_string(),
        (Some(_), EraseMode::None) => {
            "left as it is (erase = \"none\"): erase it in the CRM".to_string()
        }
        (Some(_), mode) => match crm.erase(EntityKind::Contact, record_id, mode).await? {
            WriteOutcome::Written if mode == EraseMode::Delete => "deleted".into(),
            WriteOutcome::Written => "anonymised".into(),
            WriteOutcome::Missing => "not in the CRM (already gone)".into(),
            WriteOutcome::Refused { reason } => format!("refused: {reason}"),
            WriteOutcome::Conflict { .. } => "changed meanwhile; run erase again".into(),
        },
    };
    let entry = NewAudit {
        at: crate::store::now(),
        actor: actor.to_string(),
        action: AuditAction::Erased,
        job: job_name.to_string(),
        pass_id: None,
        change_id: None,
        entity: "contact".into(),
        record_id: record_id.to_string(),
        field: None,
        old_value: None,
        new_value: None,
        source: None,
        score: None,
        detail: Some(format!("Art. 17 erasure; CRM: {crm_outcome}")),
    };
    let key = store.seal.key.clone();
    store
        .db
        .run(move |conn| conn.transaction(|conn| audit::append(conn, &key, &entry)))
        .await?;
    store.checkpoint().await?;
    info!(job = job_name, "contact erased");
    Ok(EraseReport {
        job: job_name.to_string(),
        record_id: record_id.to_string(),
        crm_action: mode,
        crm_outcome,
        purged,
        audit_entries_tombstoned: tombstoned,
        audit_entries_kept: legacy,
        consents_removed: removed,
        phone_proofs_kept: kept,
        suppression_hashes: hash_count,
    })
}
