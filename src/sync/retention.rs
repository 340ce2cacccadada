//! Retention: audit and change values older than `[privacy] retention_days` are replaced by
//! pseudonyms (the audit chain keeps verifying), and telephone consent proofs of erased
//! contacts go five years after the erasure.

use diesel::Connection;
use serde::Serialize;
use tracing::info;

use super::erase::PrivacyKey;
use super::SyncError;
use crate::config::Config;
use crate::store::audit::{self, redaction, NewAudit, Redaction, PSEUDONYM_PREFIX, SYSTEM};
use crate::store::{changes, consents, Store};

#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// Values older than this were pseudonymised; none when no retention period is set.
    pub cutoff: Option<chrono::NaiveDateTime>,
    pub audit_entries_pseudonymised: usize,
    pub changes_pseudonymised: usize,
    pub phone_proofs_removed: usize,
}

pub async fn run(config: &Config, store: &Store) -> Result<RetentionReport, SyncError> {
    let now = crate::store::now();
    let key = match config.privacy.retention_days {
        Some(_) => Some(PrivacyKey::require(config)?),
        None => None,
    };
    let cutoff = config
        .privacy
        .retention_days
        .map(|days| now - chrono::Duration::days(i64::from(days)));
    let audit_key = store.seal.key.clone();
    let report = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let mut report = RetentionReport {
                    cutoff,
                    phone_proofs_removed: consents::remove_expired_phone_proofs(conn, now)?,
                    ..Default::default()
                };
                if let (Some(cutoff), Some(key)) = (cutoff, &key) {
                    let pseudonym = |v: &str| key.pseudonym(v);
                    let ids = audit::unredacted_before(conn, cutoff)?;
                    report.audit_entries_pseudonymised = audit::redact(
                        conn,
                        &ids,
                        &Redaction {
                            kind: redaction::RETENTION,
                            replace: &pseudonym,
                        },
                    )?;
                    for (id, old, new) in changes::settled_before(conn, cutoff, PSEUDONYM_PREFIX)? {
                        changes::set_values(
                            conn,
                            id,
                            old.as_deref().map(pseudonym).as_deref(),
                            new.as_deref().map(pseudonym).as_deref(),
                        )?;
                        report.changes_pseudonymised += 1;
                    }
                }
                audit::append(
                    conn,
                    &audit_key,
                    &NewAudit {
                        at: now,
                        actor: SYSTEM.into(),
                        action: audit::AuditAction::Retention,
                        job: String::new(),
                        pass_id: None,
                        change_id: None,
                        entity: String::new(),
                        record_id: String::new(),
                        field: None,
                        old_value: None,
                        new_value: None,
                        // The cutoff is what `audit verify` checks the `retention` marks
                        // against; the source, unlike the detail, is never redacted.
                        source: cutoff.map(audit::retention_source),
                        score: None,
                        detail: Some(format!(
                            "{} audit entries and {} changes pseudonymised, {} telephone proofs removed",
                            report.audit_entries_pseudonymised,
                            report.changes_pseudonymised,
                            report.phone_proofs_removed
                        )),
                    },
                )?;
                Ok::<_, diesel::result::Error>(report)
            })
        })
        .await?;
    store.checkpoint().await?;
    info!(
        audit_entries = report.audit_entries_pseudonymised,
        changes = report.changes_pseudonymised,
        phone_proofs_removed = report.phone_proofs_removed,
        "retention run"
    );
    Ok(report)
}
