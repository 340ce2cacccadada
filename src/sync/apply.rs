//! Writing approved changes to the CRM behind the expected-old-value guard, and auditing
//! every outcome. Idempotent per change: a change already written is recognised.

use diesel::Connection;
use serde::Serialize;

use crate::crm::{CrmSource, WriteOutcome};
use crate::domain::model::{ChangeStatus, EntityKind};
use crate::domain::normalise::comparable;
use crate::store::audit::{self, NewAudit};
use crate::store::changes::{self, ChangeRow};
use crate::store::passes::PassCounts;
use crate::store::{now, Store};

use super::persist::field_of;
use super::SyncError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyCounts {
    pub applied: i64,
    pub conflicts: i64,
    pub failed: i64,
}

impl ApplyCounts {
    pub fn add_to(&self, counts: &mut PassCounts) {
        counts.changes_applied += self.applied;
        counts.conflicts += self.conflicts;
        counts.changes_failed += self.failed;
    }
}

/// Applies the approved changes among `ids` (others are skipped) for `job` and audits each.
pub async fn apply_changes(
    store: &Store,
    crm: &dyn CrmSource,
    job: &str,
    kind: EntityKind,
    ids: &[i64],
    actor: &str,
) -> Result<ApplyCounts, SyncError> {
    let mut counts = ApplyCounts::default();
    if ids.is_empty() {
        return Ok(counts);
    }
    let filter = changes::ChangeFilter {
        job: Some(job.to_string()),
        statuses: vec![ChangeStatus::Approved],
        ids: ids.to_vec(),
        ..Default::default()
    };
    let approved = store
        .db
        .run(move |conn| changes::list(conn, &filter))
        .await?;
    let mut results = Vec::with_capacity(approved.len());
    for change in approved {
        let Some(field) = field_of(&change.field) else {
            results.push((
                change,
                ChangeStatus::Failed,
                Some("unknown field in stored change".to_string()),
            ));
            continue;
        };
        let outcome = crm
            .write_field(
                kind,
                &change.record_id,
                field,
                change.old_value.as_deref(),
                &change.new_value,
            )
            .await;
        let (status, note) = match outcome {
            Ok(WriteOutcome::Written) => (ChangeStatus::Applied, None),
            // Written before a crash, not yet recorded: the CRM already holds the new value.
            Ok(WriteOutcome::Conflict {
                current: Some(current),
            }) if comparable(field, &current) == comparable(field, &change.new_value) => (
                ChangeStatus::Applied,
                Some("the CRM already held the new value".to_string()),
            ),
            Ok(WriteOutcome::Conflict { current }) => (
                ChangeStatus::Conflict,
                Some(format!(
                    "CRM value changed since the proposal (now {}); not overwritten",
                    current
                        .as_deref()
                        .map_or("empty".to_string(), |v| format!("{v:?}"))
                )),
            ),
            Ok(WriteOutcome::Missing) => (
                ChangeStatus::Failed,
                Some("the record no longer exists in the CRM".to_string()),
            ),
            Err(e) => (ChangeStatus::Failed, Some(e.to_string())),
        };
        match status {
            ChangeStatus::Applied => counts.applied += 1,
            ChangeStatus::Conflict => counts.conflicts += 1,
            _ => counts.failed += 1,
        }
        results.push((change, status, note));
    }
    let (actor, crm_name) = (actor.to_string(), crm.name().to_string());
    store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                for (change, status, note) in &results {
                    changes::set_status(conn, change.id, *status, None, note.as_deref())?;
                    audit::append(
                        conn,
                        &audit_entry(change, *status, note.clone(), &actor, &crm_name),
                    )?;
                }
                diesel::QueryResult::Ok(())
            })
        })
        .await?;
    Ok(counts)
}

fn audit_entry(
    change: &ChangeRow,
    status: ChangeStatus,
    note: Option<String>,
    actor: &str,
    crm: &str,
) -> NewAudit {
    let action = match status {
        ChangeStatus::Applied => "applied",
        ChangeStatus::Conflict => "conflict",
        _ => "apply_failed",
    };
    NewAudit {
        at: now(),
        actor: actor.to_string(),
        action: action.to_string(),
        job: change.job.clone(),
        pass_id: Some(change.pass_id),
        change_id: Some(change.id),
        entity: change.entity.clone(),
        record_id: change.record_id.clone(),
        field: Some(change.field.clone()),
        old_value: change.old_value.clone(),
        new_value: Some(change.new_value.clone()),
        source: Some(format!(
            "register {} record {} → CRM {crm}",
            change.source, change.register_id
        )),
        score: Some(change.score),
        detail: note,
    }
}
