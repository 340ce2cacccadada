//! Stewards' decisions on merge proposals: the one path the CLI (and later the HTTP API)
//! use, each decision in the same transaction as its audit entry.

use diesel::Connection;
use tracing::info;

use crate::config::{Config, DuplicatesConfig};
use crate::crm::{FieldWrite, MergeOutcome, MergeUndo, MergeWrite};
use crate::domain::model::{MergeStatus, Record};
use crate::domain::survivorship::Golden;
use crate::store::audit::{self, AuditAction, NewAudit};
use crate::store::clusters::{self, MergeRow, Split};
use crate::store::{now, Store};
use crate::sync::pass::dedupe::fingerprint;

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
                let members: Vec<String> = serde_json::from_str(&merge.members).unwrap_or_default();
                // Said twice (a retry, two stewards agreeing): it stands, audited once. A
                // split stands when each of its pairs is split already.
                if merge.status == target {
                    let said = match &verdict {
                        MergeVerdict::Split(out) => {
                            let known = clusters::splits(conn, &merge.job)?;
                            split_pairs(&members, out)
                                .is_ok_and(|pairs| pairs.iter().all(|p| known.contains(p)))
                        }
                        _ => true,
                    };
                    if said {
                        return Ok(Ok(merge));
                    }
                }
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
                if !splits.is_empty() {
                    // Compared anew by the next pass, which then keeps the pairs apart.
                    clusters::remember_seen(conn, &merge.job, &[], &members)?;
                }
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

/// The writes of an approved merge, given its records as the CRM holds them now; or why
/// it cannot be written (a record gone, a value edited since the proposal).
fn plan(
    merge: &MergeView,
    fingerprint_then: &str,
    current: &[Record],
    duplicates: &DuplicatesConfig,
) -> Result<MergeWrite, String> {
    let record = |id: &str| current.iter().find(|r| r.id == id);
    if let Some(gone) = merge.members.iter().find(|m| record(m).is_none()) {
        return Err(format!("record {gone} is gone from the CRM"));
    }
    let Golden { survivor, values } = &merge.golden;
    let Some(survivor_now) = record(survivor) else {
        return Err(format!("survivor {survivor} is gone from the CRM"));
    };
    // Name the field when a value the golden record took was edited ...
    for (field, kept) in values {
        let now = record(&kept.from).and_then(|r| r.values.get(field));
        if now != Some(&kept.value) {
            return Err(format!(
                "`{field}` of record {} was edited since the proposal",
                kept.from
            ));
        }
    }
    // ... and refuse any other edit in the cluster too: the steward approved what they saw.
    let members: Vec<&Record> = current.iter().collect();
    if fingerprint(&members) != fingerprint_then {
        return Err("a value of the cluster's records was edited since the proposal".into());
    }
    let Some(deactivate) = duplicates.deactivate.clone() else {
        return Err(format!(
            "job `{}` says no `deactivate` in [job.{}.duplicates]; add one to write merges",
            merge.job, merge.job
        ));
    };
    let fields = values
        .iter()
        .filter(|(field, kept)| survivor_now.values.get(field) != Some(&kept.value))
        .map(|(field, kept)| FieldWrite {
            id: survivor.clone(),
            field: *field,
            expected: survivor_now.values.get(field).cloned(),
            new: Some(kept.value.clone()),
        })
        .collect();
    Ok(MergeWrite {
        survivor: survivor.clone(),
        fields,
        merged: merge
            .members
            .iter()
            .filter(|m| *m != survivor)
            .cloned()
            .collect(),
        deactivate,
        repoint: duplicates.repoint.clone(),
    })
}

/// What became of one approved merge.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeApplied {
    pub id: i64,
    pub job: String,
    pub cluster_id: String,
    /// `applied` or `failed` after an apply; `reverted`, or still `applied` with `error`
    /// after a revert.
    pub status: MergeStatus,
    pub error: Option<String>,
}

/// Writes the approved merges (of job `only`, where given) to their CRMs, each in one CRM
/// transaction of its own: a merge that cannot be written fails alone, and its records stay
/// as they were.
pub async fn apply_approved(
    config: &Config,
    store: &Store,
    only: Option<&str>,
    actor: &str,
) -> Result<Vec<MergeApplied>, SyncError> {
    let mut out = Vec::new();
    for (name, job) in super::selected_jobs(config, only)? {
        let of = name.clone();
        let approved = store
            .db
            .run(move |conn| clusters::list(conn, Some(&of), Some(MergeStatus::Approved)))
            .await?;
        if approved.is_empty() {
            continue;
        }
        // Config validation guarantees the job's CRM exists.
        let crm = crate::crm::open(&job.crm, &config.crm[&job.crm]).await?;
        // Oldest first: merges are written in the order they were proposed.
        for row in approved.into_iter().rev() {
            let then = row.fingerprint.clone();
            let merge = MergeView::try_from(row)?;
            let current = crm.read_by_ids(job.entity, &merge.members).await?;
            let outcome = match plan(&merge, &then, &current, &job.duplicates) {
                Ok(write) => match crm.write_merge(job.entity, &write).await? {
                    MergeOutcome::Written(undo) => Ok(undo),
                    MergeOutcome::Refused(reason) => Err(reason),
                },
                Err(why) => Err(why),
            };
            out.push(settle_applied(store, &merge, outcome, actor).await?);
        }
    }
    store.checkpoint().await?;
    Ok(out)
}

/// The audit entries of a merge written (`action` applied) or undone (reverted): one per
/// survivor value, with the values, and one per merged record, with ids and columns only.
fn written_entries(
    base: &NewAudit,
    about: &str,
    undo: &MergeUndo,
    reverted: bool,
) -> Vec<NewAudit> {
    let mut entries: Vec<NewAudit> = undo
        .fields
        .iter()
        .map(|w| {
            let (old, new) = if reverted {
                (w.new.clone(), w.expected.clone())
            } else {
                (w.expected.clone(), w.new.clone())
            };
            NewAudit {
                field: Some(w.field.as_str().to_string()),
                old_value: old,
                new_value: new,
                detail: Some(format!("{about}: a value of the survivor")),
                ..base.clone()
            }
        })
        .collect();
    entries.extend(undo.deactivated.iter().map(|(id, _)| {
        let moved: Vec<String> = undo
            .repointed
            .iter()
            .filter(|r| &r.from == id && !r.rows.is_empty())
            .map(|r| format!("{} row(s) of {}.{}", r.rows.len(), r.fk.table, r.fk.column))
            .collect();
        let moved = if moved.is_empty() {
            "none".to_string()
        } else {
            moved.join(", ")
        };
        let what = if reverted {
            format!(
                "reactivated ({}); moved back from {}: {moved}",
                undo.deactivate.column, undo.survivor
            )
        } else {
            format!(
                "merged into {}; {} set to `{}`; repointed: {moved}",
                undo.survivor, undo.deactivate.column, undo.deactivate.value
            )
        };
        NewAudit {
            record_id: id.clone(),
            detail: Some(format!("{about}: {what}")),
            ..base.clone()
        }
    }));
    entries
}

/// Records what became of a merge (`from` → `to`), with its audit entries, in one store
/// transaction.
async fn settle(
    store: &Store,
    merge: &MergeView,
    (from, to): (MergeStatus, MergeStatus),
    outcome: Result<Option<MergeUndo>, String>,
    entries: Vec<NewAudit>,
) -> Result<MergeApplied, SyncError> {
    let key = store.seal.key.clone();
    let error = outcome.as_ref().err().cloned();
    let undo = match &outcome {
        Ok(Some(undo)) => {
            Some(serde_json::to_string(undo).map_err(|e| SyncError::Refused(e.to_string()))?)
        }
        _ => None,
    };
    let (id, why) = (merge.id, error.clone());
    let settled = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let settled =
                    clusters::settle(conn, id, (from, to), why.as_deref(), undo.as_deref())?;
                if settled {
                    for entry in &entries {
                        audit::append(conn, &key, entry)?;
                    }
                }
                diesel::QueryResult::Ok(settled)
            })
        })
        .await?;
    if !settled {
        return Err(SyncError::Refused(format!(
            "merge {id} was settled by another run meanwhile; `refsync duplicates show {id}`"
        )));
    }
    info!(merge = id, status = %to, "merge settled");
    Ok(MergeApplied {
        id,
        job: merge.job.clone(),
        cluster_id: merge.cluster_id.clone(),
        status: to,
        error,
    })
}

fn audit_base(merge: &MergeView, actor: &str, action: AuditAction) -> (NewAudit, String) {
    let base = NewAudit {
        at: now(),
        actor: actor.to_string(),
        action,
        job: merge.job.clone(),
        pass_id: Some(merge.pass_id),
        change_id: None,
        entity: merge.entity.as_str().to_string(),
        record_id: merge.golden.survivor.clone(),
        field: None,
        old_value: None,
        new_value: None,
        source: None,
        score: Some(merge.weakest_link),
        detail: None,
    };
    (
        base,
        format!("merge {} of cluster {}", merge.id, merge.cluster_id),
    )
}

/// Settles an approved merge as applied (with what it wrote) or failed (with why).
async fn settle_applied(
    store: &Store,
    merge: &MergeView,
    outcome: Result<MergeUndo, String>,
    actor: &str,
) -> Result<MergeApplied, SyncError> {
    let (base, about) = audit_base(merge, actor, AuditAction::MergeApplied);
    let (to, entries) = match &outcome {
        Ok(undo) => (
            MergeStatus::Applied,
            written_entries(&base, &about, undo, false),
        ),
        Err(why) => (
            MergeStatus::Failed,
            vec![NewAudit {
                action: AuditAction::MergeFailed,
                detail: Some(format!(
                    "{about}: not written, every record as it was: {why}"
                )),
                ..base.clone()
            }],
        ),
    };
    settle(
        store,
        merge,
        (MergeStatus::Approved, to),
        outcome.map(Some),
        entries,
    )
    .await
}

/// Undoes applied merge `id`: the survivor's values as they were, the merged records
/// active again, the rows it repointed back; all of it or, when anything was edited since,
/// none (the merge stays applied, `error` naming what).
pub async fn revert(
    config: &Config,
    store: &Store,
    id: i64,
    actor: &str,
) -> Result<MergeApplied, SyncError> {
    let Some(merge) = show(store, id).await? else {
        return Err(SyncError::Refused(format!(
            "no merge {id}; `refsync duplicates list --all` shows the ids"
        )));
    };
    let undo: Option<MergeUndo> = store
        .db
        .run(move |conn| clusters::get(conn, id))
        .await?
        .and_then(|row| row.undo)
        .and_then(|u| serde_json::from_str(&u).ok());
    let (MergeStatus::Applied, Some(undo)) = (merge.status, undo) else {
        return Err(SyncError::Refused(format!(
            "merge {id} is {}, not applied; only an applied merge is reverted",
            merge.status
        )));
    };
    let Some(job) = config.job.get(&merge.job) else {
        return Err(SyncError::NoSuchJob(merge.job.clone()));
    };
    let crm = crate::crm::open(&job.crm, &config.crm[&job.crm]).await?;
    let (base, about) = audit_base(&merge, actor, AuditAction::Reverted);
    match crm.revert_merge(job.entity, &undo).await? {
        MergeOutcome::Written(undo) => {
            let entries = written_entries(&base, &about, &undo, true);
            let done = settle(
                store,
                &merge,
                (MergeStatus::Applied, MergeStatus::Reverted),
                Ok(None),
                entries,
            )
            .await?;
            store.checkpoint().await?;
            Ok(done)
        }
        MergeOutcome::Refused(why) => {
            let entry = NewAudit {
                action: AuditAction::Conflict,
                detail: Some(format!(
                    "{about}: not reverted, every record as it was: {why}"
                )),
                ..base
            };
            let key = store.seal.key.clone();
            store
                .db
                .run(move |conn| audit::append(conn, &key, &entry))
                .await?;
            Ok(MergeApplied {
                id,
                job: merge.job.clone(),
                cluster_id: merge.cluster_id.clone(),
                status: merge.status,
                error: Some(format!(
                    "not reverted, nothing changed: {why}; undo that edit first or leave the merge"
                )),
            })
        }
    }
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

/// The records of a merge as the CRM holds them now, survivor first, then in the order the
/// merge names them; a record the CRM no longer has is left out.
pub async fn members(config: &Config, merge: &MergeView) -> Result<Vec<Record>, SyncError> {
    let Some(job) = config.job.get(&merge.job) else {
        return Err(SyncError::NoSuchJob(merge.job.clone()));
    };
    let crm = crate::crm::open(&job.crm, &config.crm[&job.crm]).await?;
    let mut records = crm.read_by_ids(job.entity, &merge.members).await?;
    let position = |id: &str| {
        (
            id != merge.golden.survivor,
            merge.members.iter().position(|m| m == id),
        )
    };
    records.sort_by_key(|r| position(&r.id));
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{EntityKind, Field};
    use crate::domain::survivorship::Kept;

    /// Records 1 (the survivor, without a phone) and 2 as proposed, and their merge, whose
    /// golden record takes 1's name and 2's phone.
    fn proposed() -> (Vec<Record>, MergeView, String) {
        let records = vec![
            Record::new("1").with(Field::LegalName, "Muster GmbH"),
            Record::new("2")
                .with(Field::LegalName, "Muster GmbH")
                .with(Field::Phone, "+49 30 1"),
        ];
        let kept = |value: &str, from: &str| Kept {
            value: value.into(),
            from: from.into(),
            rule: None,
        };
        let merge = MergeView {
            id: 7,
            job: "orgs".into(),
            entity: EntityKind::Organisation,
            cluster_id: "c1".into(),
            pass_id: 1,
            status: MergeStatus::Approved,
            members: ids(&["1", "2"]),
            golden: Golden {
                survivor: "1".into(),
                values: [
                    (Field::LegalName, kept("Muster GmbH", "1")),
                    (Field::Phone, kept("+49 30 1", "2")),
                ]
                .into(),
            },
            weakest_link: 0.99,
            review: false,
            created_at: now(),
            decided_by: None,
            decided_at: None,
            error: None,
        };
        let then = fingerprint(&records.iter().collect::<Vec<_>>());
        (records, merge, then)
    }

    #[test]
    fn a_merge_is_written_only_onto_records_as_they_were_proposed() {
        let config: DuplicatesConfig =
            toml::from_str("deactivate = { column = \"status\", value = \"merged\" }").unwrap();
        let (records, merge, then) = proposed();
        let write = plan(&merge, &then, &records, &config).unwrap();
        assert_eq!(
            write.fields,
            vec![FieldWrite {
                id: "1".into(),
                field: Field::Phone,
                expected: None,
                new: Some("+49 30 1".into()),
            }],
            "only the value the survivor lacks is written, guarded by what it holds"
        );
        assert_eq!(write.merged, ids(&["2"]));

        let edit = |id: &str, field: Field, value: &str| {
            let mut now = records.clone();
            now.iter_mut()
                .find(|r| r.id == id)
                .unwrap()
                .values
                .insert(field, value.into());
            now
        };
        let none = DuplicatesConfig::default();
        let cases: Vec<(&str, Vec<Record>, &DuplicatesConfig, &str)> =
            vec![
            ("a record deleted", records[..1].to_vec(), &config, "record 2 is gone from the CRM"),
            (
                "a value the merge takes",
                edit("2", Field::Phone, "+49 30 2"),
                &config,
                "`phone` of record 2 was edited since the proposal",
            ),
            (
                "any other value",
                edit("2", Field::City, "Berlin"),
                &config,
                "a value of the cluster's records was edited since the proposal",
            ),
            (
                "no deactivation configured",
                records.clone(),
                &none,
                "job `orgs` says no `deactivate` in [job.orgs.duplicates]; add one to write merges",
            ),
        ];
        for (case, now, config, why) in cases {
            assert_eq!(
                plan(&merge, &then, &now, config).err().as_deref(),
                Some(why),
                "{case}"
            );
        }
    }

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
