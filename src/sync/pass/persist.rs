//! Storing one batch's outcomes: record status, match links and changes, with the rules
//! that keep reruns idempotent and the review queue free of repeats.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use diesel::{Connection, QueryResult};
use serde::Serialize;

use crate::db::AnyConnection;
use crate::domain::contact;
use crate::domain::decide::Decision;
use crate::domain::diff::{Hold, PlannedChange};
use crate::domain::evaluate::Outcome;
use crate::domain::inputs::Inputs;
use crate::domain::model::{
    Band, ChangeKind, ChangeStatus, EntityKind, Field, MatchStatus, Policy, Record,
};
use crate::domain::normalise::comparable;
use crate::domain::policy::{Action, FieldRule};
use crate::domain::score::{Comparison, Method, Scored};
use crate::store::audit::SYSTEM;
use crate::store::changes::{self, ChangeRow, NewChange, OPEN};
use crate::store::now;
use crate::store::passes::PassCounts;
use crate::store::status::{self, MatchRow, StatusRow};
use crate::store::Store;
use crate::sync::SyncError;

#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub job: String,
    /// Jobs that keep this CRM's organisations, for contacts whose organisation went inactive.
    pub organisation_jobs: Vec<String>,
    pub crm: String,
    pub entity: EntityKind,
    pub pass_id: i64,
    pub register: String,
}

/// What storing a batch produced.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub counts: PassCounts,
    /// Approved changes of this batch's records stored before (a steward's, a retry's),
    /// to apply now as they stand then.
    pub found: Vec<i64>,
    /// Changes this batch inserted on their way to the CRM (approved, marked applying), as
    /// stored: applied as they are, not read back.
    pub applying: Vec<ChangeRow>,
    /// Records matched in this pass, whose in-sync/different status is settled after apply.
    pub matched_records: Vec<(String, bool)>,
    /// Of those, how many are in sync and how many different once every approved change
    /// is written: their statuses are stored so (see [`settled_status`]).
    pub settled: (i64, i64),
    /// Why lookups failed, with how many records each.
    pub failures: BTreeMap<String, i64>,
    /// Changes [`propose`] decided on, inserted at once by [`insert_proposed`].
    proposed: Vec<NewChange>,
}

/// A batch as the front of the pass hands it to the writer.
pub(crate) struct Decided {
    pub outcomes: Vec<(Record, Outcome)>,
    /// Records left as they stood (see `unchanged`).
    pub unchanged: Vec<Unchanged>,
    /// The inputs of the batch's records, where the pass has a basis.
    pub inputs: HashMap<String, Inputs>,
}

/// A record left as it stood: the status it keeps, how many of its proposed changes still
/// wait for review and whether it holds a value that cannot be read as its field.
pub(crate) struct Unchanged {
    pub id: String,
    pub status: MatchStatus,
    pub pending: i64,
    pub unreadable: bool,
}

/// A candidate as stored and shown: register id, probability, method and grade string.
#[derive(Serialize)]
pub(crate) struct CandidateSummary<'a> {
    grade: String,
    method: Method,
    register_id: &'a str,
    score: f64,
}

pub(crate) fn candidate_summary(s: &Scored) -> CandidateSummary<'_> {
    CandidateSummary {
        grade: s.grade(),
        method: s.method,
        register_id: &s.register_id,
        score: s.score,
    }
}

/// A record status's detail: the decision and what explains it. Serialised straight from
/// the outcome: a batch's details were a quarter of the writer's time as JSON trees.
#[derive(Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
enum Detail<'a> {
    Skipped {
        reason: &'a str,
    },
    LookupFailed {
        reason: &'a str,
    },
    NotFound {
        best: Option<Best<'a>>,
    },
    Ambiguous {
        candidates: Vec<CandidateSummary<'a>>,
    },
    Matched {
        band: Band,
        candidate: CandidateSummary<'a>,
        comparisons: &'a [Comparison],
        fields: Option<BTreeMap<&'static str, FieldState<'a>>>,
        /// A remote service's own score, shown to stewards, never used to decide.
        register_score: Option<&'a str>,
    },
}

/// The best candidate of a record found in no register record.
#[derive(Serialize)]
struct Best<'a> {
    candidate: CandidateSummary<'a>,
    comparisons: &'a [Comparison],
}

/// One field of a matched record: both values and how they stand (see [`field_states`]).
#[derive(Serialize)]
struct FieldState<'a> {
    crm: Option<&'a str>,
    register: Option<&'a str>,
    state: &'static str,
}

/// Stores a batch's outcomes in one store transaction.
pub(super) async fn store(
    store: &Store,
    ctx: &Context,
    rules: &BTreeMap<Field, FieldRule>,
    decided: Decided,
) -> Result<Stored, SyncError> {
    let (ctx, rules) = (ctx.clone(), rules.clone());
    Ok(store
        .db
        .run(move |conn| conn.transaction(|conn| store_batch(conn, &ctx, &rules, &decided)))
        .await?)
}

/// Proposes merges of the job's records that share a register record, at the pass's end.
pub(super) async fn merge(store: &Store, ctx: &Context) -> Result<PassCounts, SyncError> {
    let ctx = ctx.clone();
    Ok(store
        .db
        .run(move |conn| conn.transaction(|conn| merge_candidates(conn, &ctx)))
        .await?)
}

fn store_batch(
    conn: &mut AnyConnection,
    ctx: &Context,
    rules: &BTreeMap<Field, FieldRule>,
    decided: &Decided,
) -> QueryResult<Stored> {
    let mut stored = Stored::default();
    let at = now();
    store_unchanged(conn, ctx, &decided.unchanged, at, &mut stored)?;
    let outcomes = &decided.outcomes;
    // What the store knows of the batch's records is read at once, and their statuses
    // and links are written at once: a few statements per batch, not per record.
    let ids: Vec<&str> = outcomes.iter().map(|(r, _)| r.id.as_str()).collect();
    let mut known = remembered_for(conn, &ctx.job, &ids)?;
    let (mut statuses, mut links, mut unlinked) = (Vec::new(), Vec::new(), Vec::new());
    for (record, outcome) in outcomes {
        stored.counts.records_read += 1;
        if contact::unreadable_birth_date(record).is_some() {
            stored.counts.unreadable_values += 1;
        }
        let known = known.remove(&record.id).unwrap_or_default();
        if let Outcome::Decided { picklists, .. } = outcome {
            store_picklists(conn, ctx, record, picklists, &known, &mut stored)?;
        }
        let (status, detail, verified) = match outcome {
            Outcome::Skipped(reason) => {
                stored.counts.skipped += 1;
                (MatchStatus::Skipped, Detail::Skipped { reason }, false)
            }
            Outcome::Failed(reason) => {
                stored.counts.lookup_failed += 1;
                *stored.failures.entry(reason.clone()).or_default() += 1;
                // The last known match and its changes stay as they are; the next pass retries.
                (
                    MatchStatus::LookupFailed,
                    Detail::LookupFailed { reason },
                    false,
                )
            }
            Outcome::Decided {
                decision: Decision::NotFound { best },
                ..
            } => {
                stored.counts.not_found += 1;
                unlinked.push(record.id.as_str());
                let best = best.as_ref().map(|b| Best {
                    candidate: candidate_summary(b),
                    comparisons: &b.comparisons,
                });
                (MatchStatus::NotFound, Detail::NotFound { best }, false)
            }
            Outcome::Decided {
                decision: Decision::Ambiguous { candidates },
                ..
            } => {
                stored.counts.ambiguous += 1;
                unlinked.push(record.id.as_str());
                let candidates = candidates.iter().map(candidate_summary).collect();
                (
                    MatchStatus::Ambiguous,
                    Detail::Ambiguous { candidates },
                    false,
                )
            }
            Outcome::Decided {
                decision: Decision::Matched { best, band },
                planned,
                register,
                inactive,
                flagged,
                ..
            } => {
                match band {
                    Band::Auto => stored.counts.matched_auto += 1,
                    _ => stored.counts.matched_review += 1,
                }
                if *inactive {
                    stored.counts.inactive += 1;
                }
                links.push(MatchRow {
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
                });
                let existing = store_changes(
                    conn,
                    ctx,
                    record,
                    (best, *band),
                    planned,
                    &known,
                    &mut stored,
                )?;
                stored.matched_records.push((record.id.clone(), *inactive));
                let detail = Detail::Matched {
                    band: *band,
                    candidate: candidate_summary(best),
                    comparisons: &best.comparisons,
                    fields: field_states(
                        rules,
                        record,
                        register.as_ref(),
                        planned,
                        &existing,
                        flagged,
                    ),
                    register_score: register.as_ref().and_then(|r| r.get(Field::RegisterScore)),
                };
                // Settled below, once the batch's changes are inserted.
                let status = if *inactive {
                    MatchStatus::Inactive
                } else {
                    MatchStatus::Different
                };
                (status, detail, true)
            }
        };
        statuses.push(StatusRow {
            job: ctx.job.clone(),
            record_id: record.id.clone(),
            entity: ctx.entity,
            status,
            // Serialising plain data into a string cannot fail.
            detail: serde_json::to_string(&detail).unwrap_or_default(),
            pass_id: ctx.pass_id,
            checked_at: at,
            verified_at: verified.then_some(at),
            inputs: None,
        });
    }
    insert_proposed(conn, &mut stored)?;
    // What the batch's records hold now, for the inputs the next pass will find and the
    // status each has once the approved changes are written.
    let after = changes::remembered_briefly(conn, &ctx.job, &ids)?;
    let to_apply: HashSet<i64> = (stored.found.iter().copied())
        .chain(stored.applying.iter().map(|c| c.id))
        .collect();
    for ((record, outcome), row) in outcomes.iter().zip(statuses.iter_mut()) {
        let Outcome::Decided {
            decision, inactive, ..
        } = outcome
        else {
            continue;
        };
        let known = after.get(&record.id).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(inputs) = decided.inputs.get(&record.id) {
            row.inputs = Some(inputs_after(inputs, record, known, &to_apply));
        }
        if matches!(decision, Decision::Matched { .. }) {
            let status = settled_status(known, &to_apply);
            match status {
                MatchStatus::InSync => stored.settled.0 += 1,
                _ => stored.settled.1 += 1,
            }
            // An inactive record keeps its status `inactive`.
            if !inactive {
                row.status = status;
            }
        }
    }
    status::remove_matches(conn, &ctx.job, &unlinked)?;
    status::upsert_matches(conn, &links)?;
    status::upsert_statuses(conn, &statuses)?;
    Ok(stored)
}

/// Records left as they stood: counted, and marked checked (and where matched, verified)
/// by this pass.
fn store_unchanged(
    conn: &mut AnyConnection,
    ctx: &Context,
    unchanged: &[Unchanged],
    at: chrono::NaiveDateTime,
    stored: &mut Stored,
) -> QueryResult<()> {
    let matched = |s: MatchStatus| {
        matches!(
            s,
            MatchStatus::InSync | MatchStatus::Different | MatchStatus::Inactive
        )
    };
    for verified in [true, false] {
        let ids: Vec<&str> = unchanged
            .iter()
            .filter(|u| matched(u.status) == verified)
            .map(|u| u.id.as_str())
            .collect();
        status::checked_unchanged(conn, &ctx.job, &ids, verified, (ctx.pass_id, at))?;
    }
    let n = unchanged.len() as i64;
    stored.counts.records_read += n;
    stored.counts.unchanged += n;
    stored.counts.pending_review += unchanged.iter().map(|u| u.pending).sum::<i64>();
    stored.counts.unreadable_values += unchanged.iter().filter(|u| u.unreadable).count() as i64;
    Ok(())
}

/// The digest the next pass will find for `record`: the approved changes about to be
/// applied are then in the CRM and among the values refsync wrote, and no longer open; the
/// rest of `known` (the record's remembered changes, this batch's included) as they are.
fn inputs_after(
    inputs: &Inputs,
    record: &Record,
    known: &[changes::Brief],
    to_apply: &HashSet<i64>,
) -> i64 {
    let mut applied = Vec::new();
    let mut states = Vec::new();
    for change in known {
        match change.field.parse::<Field>() {
            Ok(field) if change.kind.writes_crm() && to_apply.contains(&change.id) => {
                applied.push((field, change.new_value.as_deref()));
            }
            _ => states.push(change.state()),
        }
    }
    inputs.digest_after(record, &applied, &states)
}

/// A matched record's status once the approved changes about to be applied (`to_apply`)
/// are written: `different` while any other of its `known` changes stays open (merge
/// candidates are not among them), else `in_sync`. Where one of them is not written (a
/// conflict, a failure) the apply stage settles the batch's statuses again from what is
/// open then ([`refresh_statuses`]).
fn settled_status(known: &[changes::Brief], to_apply: &HashSet<i64>) -> MatchStatus {
    let open = known
        .iter()
        .any(|c| OPEN.contains(&c.status) && !(c.kind.writes_crm() && to_apply.contains(&c.id)));
    if open {
        MatchStatus::Different
    } else {
        MatchStatus::InSync
    }
}

/// Per field of the rules: both values and one of `in_sync`, `different` (a change is
/// open), `flagged_wrong` (a steward marked the register value wrong), `reviewed` (a
/// steward decided against the register value) or `left_alone` (the policy keeps the CRM
/// value, e.g. `fill_empty` on a filled field).
fn field_states<'a>(
    rules: &BTreeMap<Field, FieldRule>,
    crm: &'a Record,
    register: Option<&'a Record>,
    planned: &[PlannedChange],
    existing: &[ChangeRow],
    flagged: &BTreeSet<Field>,
) -> Option<BTreeMap<&'static str, FieldState<'a>>> {
    let reg = register?;
    let mut out = BTreeMap::new();
    for field in rules.keys() {
        let (c, r) = (crm.get(*field), reg.get(*field));
        let state = match (c, r) {
            (_, None) => continue,
            (Some(a), Some(b)) if comparable(*field, a) == comparable(*field, b) => "in_sync",
            _ if flagged.contains(field) => "flagged_wrong",
            _ if planned.iter().any(|p| p.field == *field) => "different",
            _ if existing
                .iter()
                .any(|e| e.field == field.as_str() && e.status == ChangeStatus::Rejected) =>
            {
                "reviewed"
            }
            _ => "left_alone",
        };
        out.insert(
            field.as_str(),
            FieldState {
                crm: c,
                register: r,
                state,
            },
        );
    }
    Some(out)
}

/// Same field (and kind), same new value and same old value, compared in substance.
fn same_change(c: &ChangeRow, kind: ChangeKind, field: &str, old: Option<&str>, new: &str) -> bool {
    let f = field.parse::<Field>().ok();
    let eq = |a: &str, b: &str| f.map_or(a == b, |f| comparable(f, a) == comparable(f, b));
    c.kind == kind
        && c.field == field
        && c.new_value.as_deref().is_some_and(|v| eq(v, new))
        && match (c.old_value.as_deref(), old) {
            (None, None) => true,
            (Some(a), Some(b)) => eq(a, b),
            _ => false,
        }
}

/// The changes of `kinds` that `propose` must know of for a record: those still open, and
/// those a steward rejected or reverted (not proposed again for the same values).
pub(crate) fn remembered(
    conn: &mut AnyConnection,
    job: &str,
    record_id: &str,
    kinds: &[ChangeKind],
) -> QueryResult<Vec<ChangeRow>> {
    let known = changes::for_record(conn, job, record_id, changes::REMEMBERED)?;
    Ok(of_kinds(&known, kinds))
}

/// [`remembered`] for a batch of records, of every kind, by record id.
fn remembered_for(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, Vec<ChangeRow>>> {
    changes::for_records(conn, job, record_ids, changes::REMEMBERED)
}

/// The changes among `known` of one of `kinds`.
fn of_kinds(known: &[ChangeRow], kinds: &[ChangeKind]) -> Vec<ChangeRow> {
    known
        .iter()
        .filter(|c| kinds.contains(&c.kind))
        .cloned()
        .collect()
}

/// A change to store, from a planned field change or a pass-level finding.
pub(crate) struct Proposal<'a> {
    pub kind: ChangeKind,
    pub field: &'a str,
    pub old: Option<&'a str>,
    pub new: &'a str,
    pub policy: Policy,
    pub action: Action,
    pub register_id: &'a str,
    pub score: f64,
    pub reason: String,
}

impl<'a> Proposal<'a> {
    /// A planned change as a proposal from `register_id` at `score`.
    fn of(p: &'a PlannedChange, register_id: &'a str, score: f64, reason: String) -> Self {
        Proposal {
            kind: p.kind,
            field: p.field.as_str(),
            old: p.old.as_deref(),
            new: &p.new,
            policy: p.policy,
            action: p.action,
            register_id,
            score,
            reason,
        }
    }
}

/// Proposes `p` unless the same change already waits, or was rejected or reverted for the
/// same CRM value; the record's open change for the field is superseded by it. The new
/// change is inserted by [`insert_proposed`].
pub(crate) fn propose(
    conn: &mut AnyConnection,
    ctx: &Context,
    record_id: &str,
    existing: &[ChangeRow],
    p: &Proposal<'_>,
    stored: &mut Stored,
) -> QueryResult<()> {
    let same: Vec<&ChangeRow> = existing
        .iter()
        .filter(|c| same_change(c, p.kind, p.field, p.old, p.new))
        .collect();
    if same
        .iter()
        .any(|c| c.status == ChangeStatus::Rejected || c.status == ChangeStatus::Reverted)
    {
        return Ok(());
    }
    if let Some(w) = same.iter().find(|c| {
        matches!(
            c.status,
            ChangeStatus::Proposed | ChangeStatus::Approved | ChangeStatus::Failed
        )
    }) {
        if w.status == ChangeStatus::Proposed {
            stored.counts.pending_review += 1;
        } else {
            stored.found.push(w.id);
        }
        return Ok(());
    }
    for old in existing
        .iter()
        .filter(|c| c.field == p.field && c.kind == p.kind && OPEN.contains(&c.status))
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
    stored.proposed.push(NewChange {
        pass_id: ctx.pass_id,
        job: ctx.job.clone(),
        entity: ctx.entity,
        record_id: record_id.to_string(),
        source: ctx.register.clone(),
        register_id: p.register_id.to_string(),
        field: p.field.to_string(),
        kind: p.kind,
        old_value: p.old.map(str::to_string),
        new_value: Some(p.new.to_string()),
        policy: p.policy,
        status: if auto {
            ChangeStatus::Approved
        } else {
            ChangeStatus::Proposed
        },
        score: p.score,
        reason: p.reason.clone(),
        created_at: now(),
        decided_at: auto.then(now),
        decided_by: auto.then(|| SYSTEM.to_string()),
        // Committed before its CRM write, so a crash in between leaves it to the next
        // start's reconciliation, as `mark_applying` would (one write of the row fewer).
        applying_since: (auto && p.kind.writes_crm()).then(now),
        reverts_change_id: None,
    });
    if !auto {
        stored.counts.changes_proposed += 1;
    }
    Ok(())
}

/// Inserts the changes [`propose`] decided on, at once; those on their way to the CRM are
/// to apply.
/// Every caller of `propose` ends with this, in the same transaction.
pub(crate) fn insert_proposed(conn: &mut AnyConnection, stored: &mut Stored) -> QueryResult<()> {
    let rows = std::mem::take(&mut stored.proposed);
    // Only an approved change that writes the CRM is marked applying (see `propose`); an
    // approved one that does not has nothing to apply.
    let inserted = changes::insert_all(conn, rows)?;
    (stored.applying).extend(inserted.into_iter().filter(|c| c.applying_since.is_some()));
    Ok(())
}

/// Turns planned changes into stored ones and retires proposals that no longer apply.
/// Returns the record's changes as they were before, for the per-field status.
fn store_changes(
    conn: &mut AnyConnection,
    ctx: &Context,
    record: &Record,
    (best, band): (&Scored, Band),
    planned: &[PlannedChange],
    known: &[ChangeRow],
    stored: &mut Stored,
) -> QueryResult<Vec<ChangeRow>> {
    // Only the register-derived kinds are this function's to keep or retire.
    let existing = of_kinds(
        known,
        &[
            ChangeKind::Field,
            ChangeKind::Deactivate,
            ChangeKind::Relink,
        ],
    );
    let planned_fields: BTreeSet<&str> = planned.iter().map(|p| p.field.as_str()).collect();

    // Open changes for fields that no longer differ are moot: someone fixed the CRM.
    for old in existing
        .iter()
        .filter(|c| OPEN.contains(&c.status) && !planned_fields.contains(c.field.as_str()))
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
        let reason = reason(p, band, best, record);
        let proposal = Proposal::of(p, &best.register_id, best.score, reason);
        propose(conn, ctx, &record.id, &existing, &proposal, stored)?;
    }
    Ok(existing)
}

/// Controlled-list mappings of one record: proposed once, kept while they still apply.
fn store_picklists(
    conn: &mut AnyConnection,
    ctx: &Context,
    record: &Record,
    picklists: &[PlannedChange],
    known: &[ChangeRow],
    stored: &mut Stored,
) -> QueryResult<()> {
    let existing = of_kinds(known, &[ChangeKind::Picklist, ChangeKind::Flag]);
    for old in existing.iter().filter(|c| {
        OPEN.contains(&c.status)
            && !picklists
                .iter()
                .any(|p| p.field.as_str() == c.field && p.kind == c.kind)
    }) {
        changes::set_status(
            conn,
            old.id,
            ChangeStatus::Superseded,
            None,
            Some("the CRM value no longer needs mapping"),
        )?;
    }
    for p in picklists {
        let (confidence, via) = p.confidence.clone().unwrap_or((1.0, String::new()));
        let reason = match (p.kind, p.action) {
            (ChangeKind::Flag, _) => format!(
                "{} {:?}: {}; a person must look",
                p.field,
                p.old.as_deref().unwrap_or(""),
                p.new
            ),
            (_, Action::Apply) => format!(
                "{} {:?} written in its {via}: {:?}",
                p.field,
                p.old.as_deref().unwrap_or(""),
                p.new
            ),
            _ => format!(
                "{} {:?} maps to {:?} via {via} (confidence {confidence:.2}); needs review",
                p.field,
                p.old.as_deref().unwrap_or(""),
                p.new
            ),
        };
        let proposal = Proposal::of(p, "controlled list", confidence, reason);
        propose(conn, ctx, &record.id, &existing, &proposal, stored)?;
    }
    Ok(())
}

fn reason(p: &PlannedChange, band: Band, best: &Scored, record: &Record) -> String {
    if let Some(note) = &p.note {
        return format!("{} {note}; {}", p.field.as_str(), best.grade());
    }
    let what = match p.kind {
        ChangeKind::Deactivate => "the register says the entity is no longer active".to_string(),
        ChangeKind::Relink => "the register names a successor entity".to_string(),
        _ if p.old.as_deref().is_none_or(|v| v.trim().is_empty()) => "empty in CRM".to_string(),
        _ => "differs from register".to_string(),
    };
    let how = match (&p.hold, p.action) {
        (Some(Hold::EditedSinceWritten { written }), _) => {
            let by = record
                .modified
                .as_ref()
                .map(|m| {
                    format!(
                        " (record last modified{}{})",
                        m.by.as_deref()
                            .map(|b| format!(" by {b}"))
                            .unwrap_or_default(),
                        m.at.as_deref()
                            .map(|a| format!(" at {a}"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            format!(
                "edited in CRM since refsync wrote it (refsync wrote {}){by}; needs review",
                written
                    .as_deref()
                    .map_or("an empty value".to_string(), |w| format!("{w:?}"))
            )
        }
        (Some(Hold::BelowFieldMinimum), _) => format!(
            "match probability {:.3} is below this field's minimum; needs review",
            best.score
        ),
        (None, Action::Apply) => "applied automatically".to_string(),
        (None, Action::Propose) if band == Band::Review => {
            format!("match in review band ({:.2}), needs review", best.score)
        }
        (None, Action::Propose) => format!("policy {} needs review", p.policy),
    };
    format!("{} {what}; {how}; {}", p.field.as_str(), best.grade())
}

/// CRM records sharing one register record are likely duplicates: each gets a
/// `merge_candidate` change naming the others, for review. Nothing is merged.
fn merge_candidates(conn: &mut AnyConnection, ctx: &Context) -> QueryResult<PassCounts> {
    let mut stored = Stored::default();
    let shared = status::shared_matches(conn, &ctx.job)?;
    let ids: Vec<&str> = shared
        .iter()
        .flat_map(|(_, members)| members.iter().map(String::as_str))
        .collect();
    let mut known = remembered_for(conn, &ctx.job, &ids)?;
    for (register_id, members) in &shared {
        for member in members {
            let others: Vec<&str> = members
                .iter()
                .filter(|m| *m != member)
                .map(String::as_str)
                .collect();
            let new = format!("duplicate of {}", others.join(", "));
            let existing = of_kinds(
                &known.remove(member).unwrap_or_default(),
                &[ChangeKind::MergeCandidate],
            );
            let proposal = Proposal {
                kind: ChangeKind::MergeCandidate,
                field: "record",
                old: None,
                new: &new,
                policy: Policy::Propose,
                action: Action::Propose,
                register_id,
                score: 1.0,
                reason: format!("{} CRM records match register record {register_id}; merge them in the CRM if they are one", members.len()),
            };
            propose(conn, ctx, member, &existing, &proposal, &mut stored)?;
        }
    }
    insert_proposed(conn, &mut stored)?;
    Ok(stored.counts)
}

/// After apply, where a write conflicted or failed: each matched record's status from what
/// is open now (see [`settled_status`]). Returns (in_sync, different) counts.
pub(super) fn refresh_statuses(
    conn: &mut AnyConnection,
    ctx: &Context,
    records: &[(String, bool)],
) -> QueryResult<(i64, i64)> {
    let ids: Vec<&str> = records.iter().map(|(id, _)| id.as_str()).collect();
    let known = changes::remembered_briefly(conn, &ctx.job, &ids)?;
    let (mut in_sync, mut different) = (Vec::new(), Vec::new());
    let mut counts = (0, 0);
    for (record_id, inactive) in records {
        let known = known.get(record_id).map(Vec::as_slice).unwrap_or(&[]);
        let status = settled_status(known, &HashSet::new());
        match status {
            MatchStatus::InSync => counts.0 += 1,
            _ => counts.1 += 1,
        }
        // An inactive record keeps its status `inactive`.
        match (*inactive, status) {
            (true, _) => {}
            (false, MatchStatus::InSync) => in_sync.push(record_id.as_str()),
            (false, _) => different.push(record_id.as_str()),
        }
    }
    status::set_statuses(conn, &ctx.job, &in_sync, MatchStatus::InSync)?;
    status::set_statuses(conn, &ctx.job, &different, MatchStatus::Different)?;
    Ok(counts)
}
