//! Stewards' decisions on merge proposals: the one path the CLI (and later the HTTP API)
//! use, each decision in the same transaction as its audit entry.

use diesel::Connection;

use crate::domain::model::MergeStatus;
use crate::store::audit::{self, AuditAction, NewAudit};
use crate::store::clusters::{self, MergeRow, Split};
use crate::store::{now, Store};

use super::SyncError;

/// What a steward says of a proposed merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeVerdict {
    Approve,
    Reject,
    /// These records are not the others' entity: the merge is rejected and no pass puts
    /// any of them in one cluster with any of the others again.
    Split(Vec<String>),
}

impl MergeVerdict {
    fn target(&self) -> MergeStatus {
        match self {
            MergeVerdict::Approve => MergeStatus::Approved,
            MergeVerdict::Reject | MergeVerdict::Split(_) => MergeStatus::Rejected,
        }
    }

    fn action(&self) -> AuditAction {
        match self {
            MergeVerdict::Approve => AuditAction::MergeApproved,
            MergeVerdict::Reject => AuditAction::MergeRejected,
            MergeVerdict::Split(_) => AuditAction::MergeSplit,
        }
    }
}

/// The pairs a split keeps apart: each record split out with each record that stays.
fn split_pairs(members: &[String], out: &[String]) -> Result<Vec<(String, String)>, String> {
    if let Some(stranger) = out.iter().find(|r| !members.contains(r)) {
        return Err(format!(
            "record {stranger} is not in this cluster; it holds {}",
            members.join(", ")
        ));
    }
    let stay: Vec<&String> = members.iter().filter(|m| !out.contains(m)).collect();
    if stay.is_empty() || out.is_empty() {
        return Err("name the records to split out (--record), not all of them".into());
    }
    Ok(out
        .iter()
        .flat_map(|o| {
            stay.iter().map(move |s| {
                let (a, b) = if o.as_str() <= s.as_str() {
                    (o, *s)
                } else {
                    (*s, o)
                };
                (a.clone(), b.clone())
            })
        })
        .collect())
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
                if merge.status == target && !matches!(verdict, MergeVerdict::Split(_)) {
                    return Ok(Ok(merge));
                }
                let members: Vec<String> = serde_json::from_str(&merge.members).unwrap_or_default();
                let pairs = match &verdict {
                    MergeVerdict::Split(out) => match split_pairs(&members, out) {
                        Ok(pairs) => pairs,
                        Err(why) => return Ok(Err(format!("merge {id}: {why}"))),
                    },
                    _ => Vec::new(),
                };
                if !clusters::decide(conn, id, &[MergeStatus::Proposed], target, &actor, at)? {
                    return Ok(Err(format!(
                        "merge {id} is {}, not proposed; only a proposed merge is approved or rejected",
                        merge.status
                    )));
                }
                let splits: Vec<Split> = pairs
                    .into_iter()
                    .map(|(record_a, record_b)| Split {
                        job: merge.job.clone(),
                        record_a,
                        record_b,
                        merge_id: id,
                        decided_by: actor.clone(),
                        decided_at: at,
                    })
                    .collect();
                clusters::add_splits(conn, &splits)?;
                let split_out = match &verdict {
                    MergeVerdict::Split(out) => format!("; split out {}", out.join(", ")),
                    _ => String::new(),
                };
                audit::append(
                    conn,
                    &key,
                    &NewAudit {
                        at,
                        actor: actor.clone(),
                        action: verdict.action(),
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
                            "merge {id} of cluster {}: records {}{split_out}",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_split_keeps_each_record_split_out_apart_from_each_that_stays() {
        let members = ids(&["1", "2", "3", "4"]);
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            split_pairs(&members, &ids(&["3"])),
            Ok(vec![pair("1", "3"), pair("2", "3"), pair("3", "4")])
        );
        assert_eq!(
            split_pairs(&members, &ids(&["1", "4"])),
            Ok(vec![
                pair("1", "2"),
                pair("1", "3"),
                pair("2", "4"),
                pair("3", "4")
            ])
        );
        for bad in [&["9"][..], &["1", "2", "3", "4"], &[]] {
            assert!(split_pairs(&members, &ids(bad)).is_err(), "{bad:?}");
        }
    }
}
