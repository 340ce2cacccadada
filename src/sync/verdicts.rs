//! Stewards' verdicts on matches: the one path the CLI (and the HTTP API) take to say "this
//! register record is (not) the same entity". A verdict is evidence for `refsync tune`; it
//! does not change what a pass does (reject or flag the changes for that).

use diesel::Connection;

use crate::domain::tune::MatchVerdict;
use crate::store::audit::{self, AuditAction, NewAudit};
use crate::store::status::{self, StatusRow};
use crate::store::verdicts::{self, VerdictRow};
use crate::store::{now, Store};

use super::SyncError;

/// The pair a verdict is about.
#[derive(Debug, Clone)]
pub struct Pair {
    pub job: String,
    pub record_id: String,
    /// The register record; `None`: the record's current match.
    pub register_id: Option<String>,
}

/// Stores `verdict` on the pair with its match probability, in one transaction with its
/// audit entry. The register record must be the record's match or one of the candidates
/// its last pass kept (the best of a `not_found`, those of an `ambiguous`).
pub async fn judge(
    store: &Store,
    pair: Pair,
    verdict: MatchVerdict,
    actor: &str,
) -> Result<VerdictRow, SyncError> {
    let actor = actor.to_string();
    let key = store.seal.key.clone();
    let row = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let linked = status::get_match(conn, &pair.job, &pair.record_id)?;
                let record = status::get_status(conn, &pair.job, &pair.record_id)?;
                let wanted = pair
                    .register_id
                    .clone()
                    .or_else(|| linked.as_ref().map(|m| m.register_id.clone()));
                let found = match (&wanted, &linked, &record) {
                    (Some(id), Some(m), Some(r)) if *id == m.register_id => {
                        Some((id.clone(), m.score, Some(m.pass_id), r.entity.to_string()))
                    }
                    (Some(id), _, Some(r)) => candidate_score(r, id)
                        .map(|score| (id.clone(), score, Some(r.pass_id), r.entity.to_string())),
                    _ => None,
                };
                let Some((register_id, score, pass_id, entity)) = found else {
                    return Err(SyncError::Refused(not_judgeable(&pair, wanted.as_deref())));
                };
                let row = VerdictRow {
                    job: pair.job.clone(),
                    record_id: pair.record_id.clone(),
                    register_id,
                    entity,
                    verdict: verdict.as_str().to_string(),
                    score,
                    pass_id,
                    decided_by: actor.clone(),
                    decided_at: now(),
                };
                verdicts::upsert(conn, &row)?;
                audit::append(
                    conn,
                    &key,
                    &NewAudit {
                        at: row.decided_at,
                        actor: actor.clone(),
                        action: match verdict {
                            MatchVerdict::Confirmed => AuditAction::MatchConfirmed,
                            MatchVerdict::Rejected => AuditAction::MatchRejected,
                        },
                        job: row.job.clone(),
                        pass_id,
                        change_id: None,
                        entity: row.entity.clone(),
                        record_id: row.record_id.clone(),
                        field: None,
                        old_value: None,
                        new_value: None,
                        source: Some(format!("register record {}", row.register_id)),
                        score: Some(score),
                        detail: None,
                    },
                )?;
                Ok(row)
            })
        })
        .await?;
    store.checkpoint().await?;
    Ok(row)
}

/// The score the record's last pass gave `register_id` as a candidate, if it kept one.
fn candidate_score(record: &StatusRow, register_id: &str) -> Option<f64> {
    let detail: serde_json::Value = serde_json::from_str(&record.detail).ok()?;
    let kept = [
        detail.get("candidate"),
        detail.get("best").and_then(|b| b.get("candidate")),
    ];
    let listed = detail.get("candidates").and_then(|c| c.as_array());
    let score = kept
        .into_iter()
        .flatten()
        .chain(listed.into_iter().flatten())
        .find(|c| c.get("register_id").and_then(|r| r.as_str()) == Some(register_id))
        .and_then(|c| c.get("score").and_then(|s| s.as_f64()));
    score
}

fn not_judgeable(pair: &Pair, register_id: Option<&str>) -> String {
    let (job, record) = (&pair.job, &pair.record_id);
    let what = match register_id {
        Some(id) => format!("has no match or candidate `{id}`"),
        None => "has no match".to_string(),
    };
    format!(
        "record `{record}` of job `{job}` {what}; `refsync explain --job {job} --record {record}` \
         shows its candidates, name one with --register"
    )
}
