//! Stewards' decisions on merge proposals: the one path the CLI (and later the HTTP API)
//! use, each decision in the same transaction as its audit entry.

use diesel::Connection;

use crate::domain::model::MergeStatus;
use crate::store::audit::{self, AuditAction, NewAudit};
use crate::store::clusters::{self, MergeRow};
use crate::store::{now, Store};

use super::SyncError;

/// What a steward says of a proposed merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeVerdict {
    Approve,
    Reject,
}

impl MergeVerdict {
    fn target(self) -> MergeStatus {
        match self {
            MergeVerdict::Approve => MergeStatus::Approved,
            MergeVerdict::Reject => MergeStatus::Rejected,
        }
    }
}

/// Decides merge `id`, which must wait for a decision (or have been decided the same way);
/// returns it as decided.
pub async fn decide(
    store: &Store,
    id: i64,
    verdict: MergeVerdict,
    actor: &str,
) -> Result<MergeRow, SyncError> {
    let actor = actor.to_string();
    let key = store.seal.key.clone();
    let decided = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let Some(merge) = clusters::get(conn, id)? else {
                    return Ok(Err(format!(
                        "no merge {id}; `refsync duplicates list --all` shows the ids"
                    )));
                };
                let at = now();
                let target = verdict.target();
                // Said twice (a retry, two stewards agreeing): it stands, audited once.
                if merge.status == target {
                    return Ok(Ok(merge));
                }
                if !clusters::decide(conn, id, &[MergeStatus::Proposed], target, &actor, at)? {
                    return Ok(Err(format!(
                        "merge {id} is {}, not proposed; only a proposed merge is approved or rejected",
                        merge.status
                    )));
                }
                audit::append(
                    conn,
                    &key,
                    &NewAudit {
                        at,
                        actor: actor.clone(),
                        action: match verdict {
                            MergeVerdict::Approve => AuditAction::MergeApproved,
                            MergeVerdict::Reject => AuditAction::MergeRejected,
                        },
                        job: merge.job.clone(),
                        pass_id: Some(merge.pass_id),
                        change_id: None,
                        entity: merge.entity.as_str().to_string(),
                        record_id: merge.survivor.clone(),
                        field: None,
                        old_value: None,
                        new_value: None,
                        source: None,
                        score: Some(merge.weakest_link),
                        // Ids only: the members' values stay in the CRM and the store.
                        detail: Some(format!(
                            "merge {id} of cluster {}: records {}",
                            merge.cluster_id, merge.members
                        )),
                    },
                )?;
                let decided = clusters::get(conn, id)?.unwrap_or(merge);
                diesel::QueryResult::Ok(Ok(decided))
            })
        })
        .await?;
    store.checkpoint().await?;
    decided.map_err(SyncError::Refused)
}

/// A merge as stewards see it (CLI, API): the store row with its JSON read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeView {
    pub id: i64,
    pub job: String,
    pub entity: crate::domain::model::EntityKind,
    pub cluster_id: String,
    pub pass_id: i64,
    pub status: MergeStatus,
    pub members: Vec<String>,
    /// The surviving record and each value the merged record keeps, with where it came from.
    pub golden: crate::domain::survivorship::Golden,
    /// The probability of the cluster's weakest link.
    pub weakest_link: f64,
    /// The chaining guard kept a record out of the cluster: look closer.
    pub review: bool,
    pub created_at: chrono::NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<chrono::NaiveDateTime>,
    pub error: Option<String>,
}

impl TryFrom<MergeRow> for MergeView {
    type Error = SyncError;

    fn try_from(row: MergeRow) -> Result<MergeView, SyncError> {
        let unreadable = |what: &str, e: serde_json::Error| {
            SyncError::Refused(format!(
                "merge {}: its stored {what} cannot be read ({e}); reject it and let the next pass propose it again",
                row.id
            ))
        };
        Ok(MergeView {
            members: serde_json::from_str(&row.members).map_err(|e| unreadable("members", e))?,
            golden: serde_json::from_str(&row.golden)
                .map_err(|e| unreadable("golden record", e))?,
            id: row.id,
            job: row.job,
            entity: row.entity,
            cluster_id: row.cluster_id,
            pass_id: row.pass_id,
            status: row.status,
            weakest_link: row.weakest_link,
            review: row.review,
            created_at: row.created_at,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
            error: row.error,
        })
    }
}

/// Merges as stewards see them, newest first: of one job, in one status where given.
pub async fn list(
    store: &Store,
    job: Option<String>,
    status: Option<MergeStatus>,
) -> Result<Vec<MergeView>, SyncError> {
    let rows = store
        .db
        .run(move |conn| clusters::list(conn, job.as_deref(), status))
        .await?;
    rows.into_iter().map(MergeView::try_from).collect()
}

/// One merge as stewards see it.
pub async fn show(store: &Store, id: i64) -> Result<Option<MergeView>, SyncError> {
    let row = store.db.run(move |conn| clusters::get(conn, id)).await?;
    row.map(MergeView::try_from).transpose()
}
