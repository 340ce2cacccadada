//! Stewards' decisions on changes: the one path the CLI (and later the HTTP API) use.

use diesel::Connection;
use serde::Serialize;

use crate::domain::lifecycle::{allowed, Verdict};
use crate::domain::model::ChangeStatus;
use crate::store::audit::{self, NewAudit};
use crate::store::changes::{self, ChangeFilter};
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
    let decided = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let selected = changes::list(conn, &filter)?;
                let mut out = Vec::with_capacity(selected.len());
                for change in selected {
                    let from: ChangeStatus =
                        change.status.parse().unwrap_or(ChangeStatus::Superseded);
                    if let Err(why) = allowed(from, &verdict) {
                        out.push(Decided {
                            id: change.id,
                            status: change.status.clone(),
                            refused: Some(why),
                        });
                        continue;
                    }
                    let mut new_value = change.new_value.clone();
                    if let Verdict::Approve {
                        edited: Some(value),
                    } = &verdict
                    {
                        changes::set_new_value(conn, change.id, value)?;
                        new_value = value.clone();
                    }
                    let target = verdict.target();
                    changes::set_status(conn, change.id, target, Some(&actor), None)?;
                    audit::append(
                        conn,
                        &NewAudit {
                            at: now(),
                            actor: actor.clone(),
                            action: if new_value != change.new_value {
                                "edited_and_approved"
                            } else {
                                target.as_str()
                            }
                            .to_string(),
                            job: change.job.clone(),
                            pass_id: Some(change.pass_id),
                            change_id: Some(change.id),
                            entity: change.entity.clone(),
                            record_id: change.record_id.clone(),
                            field: Some(change.field.clone()),
                            old_value: change.old_value.clone(),
                            new_value: Some(new_value),
                            source: Some(format!(
                                "register {} record {}",
                                change.source, change.register_id
                            )),
                            score: Some(change.score),
                            detail: None,
                        },
                    )?;
                    out.push(Decided {
                        id: change.id,
                        status: target.as_str().to_string(),
                        refused: None,
                    });
                }
                diesel::QueryResult::Ok(out)
            })
        })
        .await?;
    Ok(decided)
}
