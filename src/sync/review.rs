//! Stewards' decisions on changes: the one path the CLI (and later the HTTP API) use.

use diesel::Connection;
use serde::Serialize;

use crate::domain::lifecycle::{allowed, Verdict};
use crate::domain::model::{ChangeKind, ChangeStatus, Field};
use crate::domain::normalise::comparable;
use crate::store::audit::{self, AuditAction, NewAudit};
use crate::store::changes::{self, ChangeFilter};
use crate::store::suppressions::{self, Suppression};
use crate::store::{now, Store};

use super::SyncError;

/// What happened to one change a decision was asked for.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub id: i64,
    pub status: String,
    /// Why the change was left as it was, if it was.
    pub refused: Option<String>,
}

/// Applies `verdict` to every change `filter` selects, each in the same transaction as its
/// audit entry. Changes whose status does not allow the verdict are reported, not touched.
pub async fn decide(
    store: &Store,
    filter: ChangeFilter,
    verdict: Verdict,
    actor: &str,
) -> Result<Vec<Decided>, SyncError> {
    let actor = actor.to_string();
    let key = store.seal.key.clone();
    let decided = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let selected = changes::list(conn, &filter)?;
                let mut out = Vec::with_capacity(selected.len());
                for change in selected {
                    let from: ChangeStatus = change.status;
                    let mut check = allowed(from, &verdict);
                    if verdict == Verdict::Wrong && change.kind == ChangeKind::Revert {
                        check = Err("a revert restores a CRM value; there is no register value to mark wrong".into());
                    }
                    // Its apply holds the row as it read it and settles it as written.
                    if change.applying_since.is_some() {
                        check = Err("it is being written to the CRM; decide once that is settled (an interrupted write is settled by the next pass or `refsync apply`)".into());
                    }
                    if let Err(why) = check {
                        out.push(Decided { id: change.id, status: change.status.to_string(), refused: Some(why) });
                        continue;
                    }
                    let mut new_value = change.new_value.clone();
                    if let Verdict::Approve { edited: Some(value) } = &verdict {
                        changes::set_new_value(conn, change.id, value)?;
                        new_value = Some(value.clone());
                    }
                    let target = verdict.target();
                    changes::set_status(conn, change.id, target, Some(&actor), (verdict == Verdict::Wrong).then_some("register value marked wrong for this record"))?;
                    if let (Verdict::Wrong, Some(value)) = (&verdict, &change.new_value) {
                        let key = change.field.parse::<Field>().map_or_else(|_| value.clone(), |f| comparable(f, value));
                        suppressions::add(
                            conn,
                            &Suppression {
                                job: change.job.clone(),
                                record_id: change.record_id.clone(),
                                field: change.field.clone(),
                                value_key: key,
                                value: value.clone(),
                                decided_by: actor.clone(),
                                decided_at: now(),
                                change_id: Some(change.id),
                            },
                        )?;
                    }
                    let action = match &verdict {
                        Verdict::Wrong => AuditAction::FlaggedWrong,
                        Verdict::Reject => AuditAction::Rejected,
                        _ if new_value != change.new_value => AuditAction::EditedAndApproved,
                        Verdict::Approve { .. } => AuditAction::Approved,
                    };
                    audit::append(
                        conn,
                        &key,
                        &NewAudit {
                            at: now(),
                            actor: actor.clone(),
                            action,
                            job: change.job.clone(),
                            pass_id: Some(change.pass_id),
                            change_id: Some(change.id),
                            entity: change.entity.as_str().to_string(),
                            record_id: change.record_id.clone(),
                            field: Some(change.field.clone()),
                            old_value: change.old_value.clone(),
                            new_value,
                            source: Some(format!("register {} record {}", change.source, change.register_id)),
                            score: Some(change.score),
                            detail: None,
                        },
                    )?;
                    out.push(Decided { id: change.id, status: target.as_str().to_string(), refused: None });
                }
                diesel::QueryResult::Ok(out)
            })
        })
        .await?;
    store.checkpoint().await?;
    Ok(decided)
}
