//! Storing one batch's outcomes: record status, match links and changes, with the rules
//! that keep reruns idempotent and the review queue free of repeats.

use std::collections::BTreeSet;

use diesel::QueryResult;
use serde_json::json;

use super::Outcome;
use crate::db::AnyConnection;
use crate::domain::decide::Decision;
use crate::domain::model::{Band, ChangeStatus, EntityKind, Field, MatchStatus, Record};
use crate::domain::normalise::comparable;
use crate::domain::policy::Action;
use crate::domain::score::Scored;
use crate::store::audit::SYSTEM;
use crate::store::changes::{self, NewChange, OPEN};
use crate::store::now;
use crate::store::passes::PassCounts;
use crate::store::status::{self, MatchRow, StatusRow};

#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub job: String,
    pub entity: EntityKind,
    pub pass_id: i64,
    pub register: String,
}

/// What storing a batch produced.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub counts: PassCounts,
    /// Approved changes of this batch's records, to apply now.
    pub to_apply: Vec<i64>,
    /// Records matched in this pass, whose in-sync/different status is settled after apply.
    pub matched_records: Vec<(String, bool)>,
}

impl Stored {
    pub fn add_to(&self, total: &mut PassCounts) {
        let c = &self.counts;
        total.records_read += c.records_read;
        total.matched_auto += c.matched_auto;
        total.matched_review += c.matched_review;
        total.not_found += c.not_found;
        total.ambiguous += c.ambiguous;
        total.lookup_failed += c.lookup_failed;
        total.inactive += c.inactive;
        total.changes_proposed += c.changes_proposed;
        total.pending_review += c.pending_review;
    }
}

fn candidate_summary(s: &Scored) -> serde_json::Value {
    json!({ "register_id": s.register_id, "score": s.score, "method": s.method, "grade": s.grade() })
}

pub(crate) fn store_batch(
    conn: &mut AnyConnection,
    ctx: &Context,
    outcomes: &[(Record, Outcome)],
) -> QueryResult<Stored> {
    let mut stored = Stored::default();
    let at = now();
    for (record, outcome) in outcomes {
        stored.counts.records_read += 1;
        let (status, detail, verified) = match outcome {
            Outcome::Failed(reason) => {
                stored.counts.lookup_failed += 1;
                // The last known match and its changes stay as they are; the next pass retries.
                (
                    MatchStatus::LookupFailed,
                    json!({ "decision": "lookup_failed", "reason": reason }),
                    false,
                )
            }
            Outcome::Decided {
                decision: Decision::NotFound { best },
                ..
            } => {
                stored.counts.not_found += 1;
                status::remove_match(conn, &ctx.job, &record.id)?;
                let best = best.as_ref().map(
                    |b| json!({ "candidate": candidate_summary(b), "comparisons": b.comparisons }),
                );
                (
                    MatchStatus::NotFound,
                    json!({ "decision": "not_found", "best": best }),
                    false,
                )
            }
            Outcome::Decided {
                decision: Decision::Ambiguous { candidates },
                ..
            } => {
                stored.counts.ambiguous += 1;
                status::remove_match(conn, &ctx.job, &record.id)?;
                let list: Vec<_> = candidates.iter().map(candidate_summary).collect();
                (
                    MatchStatus::Ambiguous,
                    json!({ "decision": "ambiguous", "candidates": list }),
                    false,
                )
            }
            Outcome::Decided {
                decision: Decision::Matched { best, band },
                planned,
                inactive,
            } => {
                match band {
                    Band::Auto => stored.counts.matched_auto += 1,
                    _ => stored.counts.matched_review += 1,
                }
                if *inactive {
                    stored.counts.inactive += 1;
                }
                status::upsert_match(
                    conn,
                    &MatchRow {
                        job: ctx.job.clone(),
                        record_id: record.id.clone(),
                        register_id: best.register_id.clone(),
                        score: best.score,
                        method: serde_json::to_value(best.method)
                            .map(|v| v.as_str().unwrap_or_default().to_string())
                            .unwrap_or_default(),
                        grade: best.grade(),
                        pass_id: ctx.pass_id,
                        matched_at: at,
                    },
                )?;
                store_changes(conn, ctx, record, best, *band, planned, &mut stored)?;
                stored.matched_records.push((record.id.clone(), *inactive));
                let detail = json!({
                    "decision": "matched",
                    "band": band,
                    "candidate": candidate_summary(best),
                    "comparisons": best.comparisons,
                });
                // Provisional: settled once approved changes have been applied.
                let status = if *inactive {
                    MatchStatus::Inactive
                } else {
                    MatchStatus::Different
                };
                (status, detail, true)
            }
        };
        status::upsert_status(
            conn,
            &StatusRow {
                job: ctx.job.clone(),
                record_id: record.id.clone(),
                entity: ctx.entity.as_str().to_string(),
                status: status.as_str().to_string(),
                detail: detail.to_string(),
                pass_id: ctx.pass_id,
                checked_at: at,
                verified_at: verified.then_some(at),
            },
        )?;
    }
    Ok(stored)
}

/// Turns planned changes into stored ones without repeating what is already waiting or
/// what a steward rejected, and retires proposals that no longer apply.
fn store_changes(
    conn: &mut AnyConnection,
    ctx: &Context,
    record: &Record,
    best: &Scored,
    band: Band,
    planned: &[crate::domain::diff::PlannedChange],
    stored: &mut Stored,
) -> QueryResult<()> {
    let mut watched = OPEN.to_vec();
    watched.push(ChangeStatus::Rejected);
    let existing = changes::for_record(conn, &ctx.job, &record.id, &watched)?;
    let planned_fields: BTreeSet<&str> = planned.iter().map(|p| p.field.as_str()).collect();

    // Open changes for fields that no longer differ are moot: someone fixed the CRM.
    for old in existing
        .iter()
        .filter(|c| c.status != "rejected" && !planned_fields.contains(c.field.as_str()))
    {
        changes::set_status(
            conn,
            old.id,
            ChangeStatus::Superseded,
            None,
            Some("the CRM value no longer differs from the register"),
        )?;
    }

    for p in planned {
        let same_new = |c: &&changes::ChangeRow| {
            c.field == p.field.as_str()
                && comparable(p.field, &c.new_value) == comparable(p.field, &p.new)
        };
        if existing
            .iter()
            .filter(same_new)
            .any(|c| c.status == "rejected")
        {
            continue;
        }
        let waiting = existing
            .iter()
            .filter(same_new)
            .find(|c| (c.status == "proposed" || c.status == "approved") && c.old_value == p.old);
        if let Some(w) = waiting {
            if w.status == "approved" {
                stored.to_apply.push(w.id);
            } else {
                stored.counts.pending_review += 1;
            }
            continue;
        }
        for old in existing
            .iter()
            .filter(|c| c.field == p.field.as_str() && c.status != "rejected")
        {
            changes::set_status(
                conn,
                old.id,
                ChangeStatus::Superseded,
                None,
                Some("a newer pass proposes another value"),
            )?;
        }
        let auto = p.action == Action::Apply;
        let id = changes::insert(
            conn,
            &NewChange {
                pass_id: ctx.pass_id,
                job: ctx.job.clone(),
                entity: ctx.entity.as_str().to_string(),
                record_id: record.id.clone(),
                source: ctx.register.clone(),
                register_id: best.register_id.clone(),
                field: p.field.as_str().to_string(),
                old_value: p.old.clone(),
                new_value: p.new.clone(),
                policy: p.policy.as_str().to_string(),
                status: if auto {
                    ChangeStatus::Approved
                } else {
                    ChangeStatus::Proposed
                }
                .as_str()
                .to_string(),
                score: best.score,
                reason: reason(p, band, best),
                created_at: now(),
                decided_at: auto.then(now),
                decided_by: auto.then(|| SYSTEM.to_string()),
            },
        )?;
        if auto {
            stored.to_apply.push(id);
        } else {
            stored.counts.changes_proposed += 1;
        }
    }
    Ok(())
}

fn reason(p: &crate::domain::diff::PlannedChange, band: Band, best: &Scored) -> String {
    if let Some(note) = &p.note {
        return format!("{} {note}; {}", p.field.as_str(), best.grade());
    }
    let what = if p.old.as_deref().is_none_or(|v| v.trim().is_empty()) {
        "empty in CRM"
    } else {
        "differs from register"
    };
    let how = match p.action {
        Action::Apply => "applied automatically".to_string(),
        Action::Propose if band == Band::Review => {
            format!("match in review band ({:.2}), needs review", best.score)
        }
        Action::Propose => format!("policy {} needs review", p.policy),
    };
    format!("{} {what}; {how}; {}", p.field.as_str(), best.grade())
}

/// After apply: a matched record with nothing left open is in sync, else different.
/// Returns (in_sync, different) counts.
pub(crate) fn refresh_statuses(
    conn: &mut AnyConnection,
    ctx: &Context,
    records: &[(String, bool)],
) -> QueryResult<(i64, i64)> {
    let (mut in_sync, mut different) = (0, 0);
    for (record_id, inactive) in records {
        let open = !changes::for_record(conn, &ctx.job, record_id, OPEN)?.is_empty();
        if open {
            different += 1;
        } else {
            in_sync += 1;
        }
        if *inactive {
            continue;
        }
        if let Some(mut row) = status::get_status(conn, &ctx.job, record_id)? {
            row.status = if open {
                MatchStatus::Different
            } else {
                MatchStatus::InSync
            }
            .as_str()
            .to_string();
            status::upsert_status(conn, &row)?;
        }
    }
    Ok((in_sync, different))
}

/// Field names are stored as text; this reads one back.
pub(crate) fn field_of(name: &str) -> Option<Field> {
    name.parse().ok()
}
