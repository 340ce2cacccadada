//! Writing approved changes to the CRM behind the expected-old-value guard. A batch's
//! changes are marked as "applying" before their CRM writes (one CRM transaction) and
//! settled (status, audit entry, provenance) in one store transaction right after it, so a
//! crash in between is found and reconciled on the next start: the guard tells whether
//! each write happened.

use std::collections::BTreeMap;

use diesel::Connection;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::Config;
use crate::crm::{CrmSource, FieldWrite, WriteOutcome};
use crate::domain::model::{ChangeStatus, EntityKind, Field};
use crate::domain::normalise::comparable;
use crate::store::audit::{self, AuditAction, NewAudit, SYSTEM};
use crate::store::changes::{self, ChangeFilter, ChangeRow};
use crate::store::passes::PassCounts;
use crate::store::provenance::{self, ProvenanceRow};
use crate::store::seal::AuditKey;
use crate::store::{now, Store};

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

    pub fn add(&mut self, other: &ApplyCounts) {
        self.applied += other.applied;
        self.conflicts += other.conflicts;
        self.failed += other.failed;
    }
}

/// Settles the changes of `job` whose apply was cut short. Returns what they became.
pub async fn reconcile(
    store: &Store,
    crm: &dyn CrmSource,
    job: &str,
    kind: EntityKind,
) -> Result<ApplyCounts, SyncError> {
    let owned = job.to_string();
    let ids = store
        .db
        .run(move |conn| changes::interrupted(conn, &owned))
        .await?;
    if ids.is_empty() {
        return Ok(ApplyCounts::default());
    }
    warn!(
        job,
        changes = ids.len(),
        "found changes whose apply was interrupted; reconciling them with the CRM"
    );
    apply_changes(store, crm, job, kind, &ids, SYSTEM, None).await
}

fn same(field: Option<Field>, a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => field.map_or(x == y, |f| comparable(f, x) == comparable(f, y)),
        (Some(x), None) | (None, Some(x)) => x.trim().is_empty(),
    }
}

/// Applies the approved (or failed, for a retry) changes among `ids` for `job`.
/// `stored_by` is the pass applying the changes it stored marked as applying (see
/// `NewChange::applying_since`): their mark is not an interruption to reconcile.
pub async fn apply_changes(
    store: &Store,
    crm: &dyn CrmSource,
    job: &str,
    kind: EntityKind,
    ids: &[i64],
    actor: &str,
    stored_by: Option<i64>,
) -> Result<ApplyCounts, SyncError> {
    let selected = approved(store, job, ids).await?;
    apply_rows(store, crm, kind, selected, actor, stored_by).await
}

/// The approved (or failed, for a retry) changes among `ids` for `job`, as stored now.
pub(crate) async fn approved(
    store: &Store,
    job: &str,
    ids: &[i64],
) -> Result<Vec<ChangeRow>, SyncError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filter = ChangeFilter {
        job: Some(job.to_string()),
        statuses: vec![ChangeStatus::Approved, ChangeStatus::Failed],
        ids: ids.to_vec(),
        ..Default::default()
    };
    Ok(store
        .db
        .run(move |conn| changes::list(conn, &filter))
        .await?)
}

/// Applies `selected`, approved or failed changes as stored (see [`approved`]; a pass
/// passes those it inserted on their way to the CRM as it inserted them).
pub(crate) async fn apply_rows(
    store: &Store,
    crm: &dyn CrmSource,
    kind: EntityKind,
    selected: Vec<ChangeRow>,
    actor: &str,
    stored_by: Option<i64>,
) -> Result<ApplyCounts, SyncError> {
    let mut counts = ApplyCounts::default();
    let selected: Vec<ChangeRow> = selected
        .into_iter()
        .filter(|c| c.kind.writes_crm())
        .collect();
    if selected.is_empty() {
        return Ok(counts);
    }
    let marked: Vec<i64> = selected
        .iter()
        .filter(|c| c.applying_since.is_none())
        .map(|c| c.id)
        .collect();
    store
        .db
        .run(move |conn| changes::mark_applying(conn, &marked))
        .await?;

    // One CRM transaction for the batch's writes, then one store transaction that settles
    // them all: a crash between the two leaves them `applying`, and the next start's
    // reconciliation asks the CRM (the guard tells whether each write happened).
    let fields: Vec<Option<Field>> = selected.iter().map(|c| c.field.parse().ok()).collect();
    let writes: Vec<FieldWrite> = selected
        .iter()
        .zip(&fields)
        .filter_map(|(c, f)| {
            Some(FieldWrite {
                id: c.record_id.clone(),
                field: (*f)?,
                expected: c.old_value.clone(),
                new: c.new_value.clone(),
            })
        })
        .collect();
    let mut written = crm.write_fields(kind, &writes).await.into_iter();
    let mut settled = Vec::with_capacity(selected.len());
    for (change, field) in selected.into_iter().zip(fields) {
        let outcome = match field {
            Some(_) => written.next().unwrap_or(Ok(WriteOutcome::Missing)),
            None => Ok(WriteOutcome::Missing),
        };
        let interrupted = change.applying_since.is_some() && Some(change.pass_id) != stored_by;
        let (status, note) = settlement(&change, field, outcome, interrupted);
        match status {
            ChangeStatus::Applied => counts.applied += 1,
            ChangeStatus::Conflict => counts.conflicts += 1,
            _ => counts.failed += 1,
        }
        settled.push((change, status, note));
    }
    let (actor, crm_name) = (actor.to_string(), crm.name().to_string());
    let key = store.seal.key.clone();
    store
        .db
        .run(move |conn| conn.transaction(|conn| settle(conn, &key, &settled, &actor, &crm_name)))
        .await?;
    Ok(counts)
}

/// What a change becomes after its CRM write, and the note that says why.
fn settlement(
    change: &ChangeRow,
    field: Option<Field>,
    outcome: Result<WriteOutcome, crate::crm::CrmError>,
    interrupted: bool,
) -> (ChangeStatus, Option<String>) {
    let (status, note) = match outcome {
        Ok(WriteOutcome::Written) => (ChangeStatus::Applied, None),
        // Written before an interruption, not yet recorded: the CRM holds the new value.
        Ok(WriteOutcome::Conflict { current })
            if same(field, current.as_deref(), change.new_value.as_deref()) =>
        {
            (
                ChangeStatus::Applied,
                Some("the CRM already held the new value".to_string()),
            )
        }
        Ok(WriteOutcome::Conflict { current }) => (
            ChangeStatus::Conflict,
            Some(format!(
                "CRM value changed since the proposal (now {}); not overwritten",
                current
                    .as_deref()
                    .map_or("empty".to_string(), |v| format!("{v:?}"))
            )),
        ),
        Ok(WriteOutcome::Missing) if field.is_none() => (
            ChangeStatus::Failed,
            Some(format!(
                "`{}` is not a field refsync can write",
                change.field
            )),
        ),
        Ok(WriteOutcome::Missing) => (
            ChangeStatus::Failed,
            Some("the record no longer exists in the CRM".to_string()),
        ),
        Ok(WriteOutcome::Refused { reason }) => (
            ChangeStatus::Failed,
            Some(format!("the CRM cannot take the value: {reason}")),
        ),
        Err(e) => (
            ChangeStatus::Failed,
            Some(format!("{e}; retried by the next apply")),
        ),
    };
    if !interrupted {
        return (status, note);
    }
    info!(
        change = change.id,
        status = status.as_str(),
        "reconciled an interrupted apply"
    );
    let note = format!(
        "reconciled after an interrupted apply: {}",
        note.as_deref().unwrap_or("written now")
    );
    (status, Some(note))
}

/// Records the changes' outcomes: status, audit entries, provenance, and for a revert the
/// reverted change. The caller runs it in one transaction.
fn settle(
    conn: &mut crate::db::AnyConnection,
    key: &AuditKey,
    settled: &[(ChangeRow, ChangeStatus, Option<String>)],
    actor: &str,
    crm: &str,
) -> diesel::QueryResult<()> {
    // A failed change keeps waiting as failed; it is retried by the next apply. Changes
    // that end alike are settled by one statement.
    let mut alike: BTreeMap<(ChangeStatus, Option<&str>), Vec<i64>> = BTreeMap::new();
    for (change, status, note) in settled {
        alike
            .entry((*status, note.as_deref()))
            .or_default()
            .push(change.id);
    }
    for ((status, note), ids) in alike {
        changes::set_status_of_all(conn, &ids, status, note)?;
    }
    let mut entries = Vec::with_capacity(settled.len());
    let mut written = Vec::new();
    for (change, status, note) in settled {
        let action = match status {
            ChangeStatus::Applied => AuditAction::Applied,
            ChangeStatus::Conflict => AuditAction::Conflict,
            _ => AuditAction::ApplyFailed,
        };
        entries.push(audit_entry(change, action, note.clone(), actor, crm));
        if *status != ChangeStatus::Applied {
            continue;
        }
        written.push(ProvenanceRow {
            crm: crm.to_string(),
            entity: change.entity.as_str().to_string(),
            record_id: change.record_id.clone(),
            field: change.field.clone(),
            value: change.new_value.clone(),
            source: change.source.clone(),
            register_id: change.register_id.clone(),
            change_id: change.id,
            pass_id: change.pass_id,
            written_at: now(),
        });
        if let Some(original) = change
            .reverts_change_id
            .and_then(|id| changes::get(conn, id).transpose())
        {
            let original = original?;
            changes::set_status(
                conn,
                original.id,
                ChangeStatus::Reverted,
                Some(actor),
                Some(&format!("reverted by change {}", change.id)),
            )?;
            entries.push(audit_entry(
                &original,
                AuditAction::Reverted,
                Some(format!("by change {}", change.id)),
                actor,
                crm,
            ));
        }
    }
    provenance::record_all(conn, &written)?;
    audit::append_all(conn, key, &entries)
}

pub(crate) fn audit_entry(
    change: &ChangeRow,
    action: AuditAction,
    note: Option<String>,
    actor: &str,
    crm: &str,
) -> NewAudit {
    NewAudit {
        at: now(),
        actor: actor.to_string(),
        action,
        job: change.job.clone(),
        pass_id: Some(change.pass_id),
        change_id: Some(change.id),
        entity: change.entity.as_str().to_string(),
        record_id: change.record_id.clone(),
        field: Some(change.field.clone()),
        old_value: change.old_value.clone(),
        new_value: change.new_value.clone(),
        source: Some(format!(
            "register {} record {} → CRM {crm}",
            change.source, change.register_id
        )),
        score: Some(change.score),
        detail: note,
    }
}

/// What `apply_approved` did for one job.
#[derive(Debug, Clone, Serialize)]
pub struct JobApplied {
    pub job: String,
    pub entity: String,
    pub counts: ApplyCounts,
}

/// Writes every approved (and retries every failed) change of every job, or of job `only`,
/// to its CRM, after settling applies that were cut short. Jobs with nothing to apply are
/// left out of the result.
pub async fn apply_approved(
    config: &Config,
    store: &Store,
    only: Option<&str>,
    actor: &str,
) -> Result<Vec<JobApplied>, SyncError> {
    let mut out = Vec::new();
    for (name, job) in super::selected_jobs(config, only)? {
        let filter = ChangeFilter {
            job: Some(name.clone()),
            statuses: vec![ChangeStatus::Approved, ChangeStatus::Failed],
            ..Default::default()
        };
        let ids: Vec<i64> = store
            .db
            .run(move |conn| changes::list(conn, &filter))
            .await?
            .iter()
            .map(|c| c.id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        // Config validation guarantees the job's CRM exists.
        let crm_config = &config.crm[&job.crm];
        let crm = crate::crm::open(&job.crm, crm_config).await?;
        let mut counts = reconcile(store, crm.as_ref(), name, job.entity).await?;
        counts.add(&apply_changes(store, crm.as_ref(), name, job.entity, &ids, actor, None).await?);
        out.push(JobApplied {
            job: name.clone(),
            entity: job.entity.as_str().to_string(),
            counts,
        });
    }
    store.checkpoint().await?;
    Ok(out)
}
