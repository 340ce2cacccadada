//! Undo: restore the old values of applied changes, one change or a whole pass, each as a
//! new audited change behind the same compare-and-set guard.

use diesel::Connection;
use serde::Serialize;

use crate::config::Config;
use crate::db::AnyConnection;
use crate::domain::model::{ChangeKind, ChangeStatus, EntityKind};
use crate::store::changes::{self, ChangeFilter, ChangeRow, NewChange};
use crate::store::{now, Store};

use super::apply::{apply_changes, ApplyCounts};
use super::SyncError;

/// What to undo.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Change(i64),
    Pass(i64),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RevertReport {
    /// The revert changes created, one per applied change undone.
    pub reverts: Vec<i64>,
    pub counts: ApplyCounts,
}

/// What reverting pass `pass` undoes: its applied changes, not the reverts made since
/// (they carry the pass's id too).
pub fn undoable(conn: &mut AnyConnection, pass: i64) -> diesel::QueryResult<Vec<ChangeRow>> {
    let filter = ChangeFilter {
        pass_id: Some(pass),
        statuses: vec![ChangeStatus::Applied],
        ..Default::default()
    };
    let mut rows = changes::list(conn, &filter)?;
    rows.retain(|c| c.kind != ChangeKind::Revert);
    Ok(rows)
}

/// Reverts `target` as `actor`. Changes that were not applied are refused with a reason
/// when named one by one, and passed over when a whole pass is reverted.
pub async fn revert(
    config: &Config,
    store: &Store,
    target: Target,
    actor: &str,
) -> Result<RevertReport, SyncError> {
    let mut selected: Vec<ChangeRow> = store
        .db
        .run(move |conn| match target {
            Target::Change(id) => {
                let filter = ChangeFilter {
                    ids: vec![id],
                    ..Default::default()
                };
                changes::list(conn, &filter)
            }
            Target::Pass(pass) => undoable(conn, pass),
        })
        .await?;
    match target {
        Target::Change(id) => match selected.first() {
            None => return Err(SyncError::Refused(format!("no change {id}"))),
            Some(c) if c.status != ChangeStatus::Applied => {
                return Err(SyncError::Refused(format!(
                    "change {id} is {}, only applied changes can be reverted",
                    c.status
                )));
            }
            Some(c) if !c.kind.writes_crm() => {
                return Err(SyncError::Refused(format!(
                    "change {id} is a {}; it wrote nothing to the CRM",
                    c.kind
                )));
            }
            _ => {}
        },
        Target::Pass(pass) if selected.is_empty() => {
            return Err(SyncError::Refused(format!(
                "pass {pass} has no applied changes to revert"
            )))
        }
        Target::Pass(_) => {}
    }
    // Past retention the values are pseudonyms: writing one back would corrupt the CRM.
    let prefix = crate::store::audit::PSEUDONYM_PREFIX;
    if let Some(c) = selected.iter().find(|c| {
        [&c.old_value, &c.new_value]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| v.starts_with(prefix)))
    }) {
        return Err(SyncError::Refused(format!(
            "change {} is past the retention period (its values were pseudonymised); it cannot be reverted",
            c.id
        )));
    }
    // Newest first, so a field changed twice in a pass ends at its value before the pass.
    selected.sort_by_key(|c| std::cmp::Reverse(c.id));
    let mut report = RevertReport::default();
    let mut crms: std::collections::BTreeMap<String, Box<dyn crate::crm::CrmSource>> =
        Default::default();
    for original in selected {
        let job = config.job.get(&original.job).ok_or_else(|| {
            SyncError::Refused(format!(
                "change {} belongs to job `{}`, which is no longer configured",
                original.id, original.job
            ))
        })?;
        let entity: EntityKind = original.entity;
        let (actor_owned, o) = (actor.to_string(), original.clone());
        let id = store
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    changes::insert(
                        conn,
                        &NewChange {
                            pass_id: o.pass_id,
                            job: o.job.clone(),
                            entity: o.entity,
                            record_id: o.record_id.clone(),
                            source: o.source.clone(),
                            register_id: o.register_id.clone(),
                            field: o.field.clone(),
                            kind: ChangeKind::Revert,
                            old_value: o.new_value.clone(),
                            new_value: o.old_value.clone(),
                            policy: o.policy,
                            status: ChangeStatus::Approved,
                            score: o.score,
                            reason: format!("revert of change {} requested by {actor_owned}", o.id),
                            created_at: now(),
                            decided_at: Some(now()),
                            decided_by: Some(actor_owned.clone()),
                            applying_since: None,
                            reverts_change_id: Some(o.id),
                        },
                    )
                })
            })
            .await?;
        report.reverts.push(id);
        if !crms.contains_key(&job.crm) {
            crms.insert(
                job.crm.clone(),
                crate::crm::open(&job.crm, &config.crm[&job.crm]).await?,
            );
        }
        let crm = crms[&job.crm].as_ref();
        let counts = apply_changes(store, crm, &original.job, entity, &[id], actor, None).await?;
        report.counts.add(&counts);
    }
    store.checkpoint().await?;
    Ok(report)
}
