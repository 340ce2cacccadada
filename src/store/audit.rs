//! The audit log: append-only (database triggers refuse UPDATE, DELETE and, on
//! PostgreSQL, TRUNCATE) and tamper-evident: each entry carries a keyed hash (HMAC-SHA256,
//! the key kept outside the store, see [`super::seal`]) of its content and of the hash of
//! the one before it, and a checkpoint file remembers the head, so that verify finds a
//! rewritten entry, a removed tail and an emptied table.
//!
//! An entry chains a digest of its values (old, new, detail) rather than the values, so
//! that erasure (Art. 17) can replace them with a tombstone and retention with pseudonyms
//! while the chain still verifies; the triggers allow exactly that change and nothing else,
//! and verify asks for the erasure or retention run behind every such mark.
//! Entries written before digests existed chain their values and cannot be redacted;
//! entries written before the key existed carry a plain SHA-256 and verify by that rule.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::schema::{audit_log, erasures};
use super::seal::{AuditKey, Checkpoint, Head, Seal, KEYED_PREFIX};
use crate::db::AnyConnection;
use crate::domain::model::snake_names;
use crate::on_store_backend;

/// Who acts when no person does.
pub const SYSTEM: &str = "system";

/// The `prev_hash` of the first entry.
const GENESIS: &str = "genesis";

/// What replaced an entry's values, in its `redacted` column.
pub mod redaction {
    /// The person was erased: values are [`super::TOMBSTONE`].
    pub const ERASED: &str = "erased";
    /// Past the retention period: values are pseudonyms ([`super::PSEUDONYM_PREFIX`]).
    pub const RETENTION: &str = "retention";
}

/// The value an erased entry shows instead of a personal value.
pub const TOMBSTONE: &str = "[erased]";
/// The start of a pseudonym: a keyed hash that still tells equal values apart.
pub const PSEUDONYM_PREFIX: &str = "pseudonym:";

/// What an audit entry records. The names are part of each entry's hash: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A change written to the CRM.
    Applied,
    /// A change not written: the CRM value had changed since the proposal.
    Conflict,
    ApplyFailed,
    /// A change undone by a revert.
    Reverted,
    Approved,
    Rejected,
    EditedAndApproved,
    /// Rejected, and never proposed again for this record.
    FlaggedWrong,
    MatchConfirmed,
    MatchRejected,
    ConsentRecorded,
    Erased,
    /// A retention run's own entry.
    Retention,
    /// A steward approved merging a cluster of duplicates.
    MergeApproved,
    /// A steward rejected merging a cluster of duplicates.
    MergeRejected,
    /// A steward split records out of a cluster of duplicates.
    MergeSplit,
    /// An approved merge written to the CRM: one entry per value and per merged record.
    MergeApplied,
    /// An approved merge not written; every record stays as it was.
    MergeFailed,
}

snake_names!(AuditAction {
    Applied => "applied",
    Conflict => "conflict",
    ApplyFailed => "apply_failed",
    Reverted => "reverted",
    Approved => "approved",
    Rejected => "rejected",
    EditedAndApproved => "edited_and_approved",
    FlaggedWrong => "flagged_wrong",
    MatchConfirmed => "match_confirmed",
    MatchRejected => "match_rejected",
    ConsentRecorded => "consent_recorded",
    Erased => "erased",
    Retention => "retention",
    MergeApproved => "merge_approved",
    MergeRejected => "merge_rejected",
    MergeSplit => "merge_split",
    MergeApplied => "merge_applied",
    MergeFailed => "merge_failed",
});

#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    #[diesel(deserialize_as = String)]
    pub action: AuditAction,
    pub job: String,
    pub pass_id: Option<i64>,
    pub change_id: Option<i64>,
    pub entity: String,
    pub record_id: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub source: Option<String>,
    pub score: Option<f64>,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub values_digest: Option<String>,
    /// Why the values were replaced (see [`redaction`]), if they were.
    pub redacted: Option<String>,
}

/// An entry to append; the chain hashes are added by [`append`].
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: AuditAction,
    pub job: String,
    pub pass_id: Option<i64>,
    pub change_id: Option<i64>,
    pub entity: String,
    pub record_id: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub source: Option<String>,
    pub score: Option<f64>,
    pub detail: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
struct Chained<'a> {
    at: NaiveDateTime,
    actor: &'a str,
    action: &'a str,
    job: &'a str,
    pass_id: Option<i64>,
    change_id: Option<i64>,
    entity: &'a str,
    record_id: &'a str,
    field: Option<&'a str>,
    old_value: Option<&'a str>,
    new_value: Option<&'a str>,
    source: Option<&'a str>,
    score: Option<f64>,
    detail: Option<&'a str>,
    prev_hash: &'a str,
    hash: &'a str,
    values_digest: &'a str,
}

fn sha256_hex(parts: impl IntoIterator<Item = String>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "\u{0}".into())
}

/// The digest of the values an entry may later lose to a tombstone or a pseudonym.
fn values_digest(e: &NewAudit) -> String {
    sha256_hex([opt(&e.old_value), opt(&e.new_value), opt(&e.detail)])
}

/// How an entry's hash is made.
#[derive(Clone, Copy)]
enum Rule<'a> {
    /// Plain SHA-256: entries written before the audit key existed, verified as they were.
    Unkeyed,
    /// HMAC-SHA256 under the audit key, with [`KEYED_PREFIX`]: every entry written now.
    Keyed(&'a AuditKey),
}

/// The entry's hash over its content and the previous hash: over `digest` in place of the
/// values, or over the values themselves for entries that have no digest (written before
/// digests existed). Timestamps are stored with microsecond precision (see `store::now`),
/// so the text form is the same on both backends.
fn chain_hash(prev: &str, e: &NewAudit, digest: Option<&str>, rule: Rule<'_>) -> String {
    let mut parts = vec![
        prev.to_string(),
        e.at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        e.actor.clone(),
        e.action.as_str().to_string(),
        e.job.clone(),
        e.pass_id.map_or("\u{0}".into(), |v| v.to_string()),
        e.change_id.map_or("\u{0}".into(), |v| v.to_string()),
        e.entity.clone(),
        e.record_id.clone(),
        opt(&e.field),
    ];
    let score = e.score.map_or("\u{0}".into(), |v| format!("{v:?}"));
    match digest {
        None => parts.extend([
            opt(&e.old_value),
            opt(&e.new_value),
            opt(&e.source),
            score,
            opt(&e.detail),
        ]),
        Some(d) => parts.extend([opt(&e.source), score, format!("values:{d}")]),
    }
    match rule {
        Rule::Unkeyed => sha256_hex(parts),
        Rule::Keyed(key) => key.mac(parts.iter().map(String::as_str)),
    }
}

/// The PostgreSQL advisory lock that writers of the chain take, one at a time.
pub const CHAIN_LOCK: i64 = 7_427_310_001;

/// Appends an entry to the chain, keyed under `key`. Call it inside a transaction: on
/// PostgreSQL a transaction-scoped advisory lock keeps concurrent writers from forking the
/// chain; SQLite serialises writers itself.
pub fn append(conn: &mut AnyConnection, key: &AuditKey, entry: &NewAudit) -> QueryResult<()> {
    append_all(conn, key, std::slice::from_ref(entry))
}

/// Appends entries in order: the chain is computed in memory from the head read once, and
/// the rows go in as multi-row inserts. Call it inside a transaction, as [`append`].
pub fn append_all(
    conn: &mut AnyConnection,
    key: &AuditKey,
    entries: &[NewAudit],
) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})")).execute(pg)?;
    }
    let mut prev: String = audit_log::table
        .order(audit_log::id.desc())
        .select(audit_log::hash)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let mut links = Vec::with_capacity(entries.len());
    for entry in entries {
        let digest = values_digest(entry);
        let hash = chain_hash(&prev, entry, Some(&digest), Rule::Keyed(key));
        links.push((std::mem::replace(&mut prev, hash.clone()), hash, digest));
    }
    let rows: Vec<Chained> = entries
        .iter()
        .zip(&links)
        .map(|(entry, (prev, hash, digest))| Chained {
            at: entry.at,
            actor: &entry.actor,
            action: entry.action.as_str(),
            job: &entry.job,
            pass_id: entry.pass_id,
            change_id: entry.change_id,
            entity: &entry.entity,
            record_id: &entry.record_id,
            field: entry.field.as_deref(),
            old_value: entry.old_value.as_deref(),
            new_value: entry.new_value.as_deref(),
            source: entry.source.as_deref(),
            score: entry.score,
            detail: entry.detail.as_deref(),
            prev_hash: prev,
            hash,
            values_digest: digest,
        })
        .collect();
    if let AnyConnection::Postgresql(pg) = conn {
        // PostgreSQL takes the rows as one binary COPY: no statement of 8,500 parameters to
        // plan per 500 entries (a third of their insert's server time went to that).
        diesel::copy_from(audit_log::table)
            .from_insertable(&rows)
            .execute(pg)?;
        return Ok(());
    }
    // 17 values a row: 500 rows stay far below every backend's limit of bound parameters.
    for chunk in rows.chunks(500) {
        // Multi-row inserts are per backend: the generic connection has no batch form.
        on_store_backend!(conn, c => diesel::insert_into(audit_log::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// The head of the chain as committed now, for the checkpoint. Counted up to the last
/// entry read: writers append under a lock and commit in id order, so every entry before
/// a visible one is visible too, and the count matches the hash.
pub fn head(conn: &mut AnyConnection) -> QueryResult<Head> {
    let last: Option<(i64, String)> = audit_log::table
        .order(audit_log::id.desc())
        .select((audit_log::id, audit_log::hash))
        .first(conn)
        .optional()?;
    let Some((last_id, hash)) = last else {
        return Ok(Head {
            entries: 0,
            hash: GENESIS.to_string(),
        });
    };
    let entries = audit_log::table
        .filter(audit_log::id.le(last_id))
        .count()
        .get_result(conn)?;
    Ok(Head { entries, hash })
}

/// The hash of the entry at `place` (1 for the first) in id order, if the log is that long.
pub fn hash_at(conn: &mut AnyConnection, place: i64) -> QueryResult<Option<String>> {
    audit_log::table
        .order(audit_log::id)
        .offset(place - 1)
        .select(audit_log::hash)
        .first(conn)
        .optional()
}

/// What `source` a retention entry carries: its cutoff, which no redaction touches, so
/// verify can tell which entries the run pseudonymised.
pub fn retention_source(cutoff: NaiveDateTime) -> String {
    format!(
        "{RETENTION_CUTOFF}{}",
        cutoff.format("%Y-%m-%dT%H:%M:%S%.6f")
    )
}

const RETENTION_CUTOFF: &str = "cutoff ";

/// An entry where something is wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Break {
    pub id: i64,
    pub problem: String,
}

/// How the log compares with its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum CheckpointCheck {
    /// No checkpoint yet: a new install (it is written after the first pass or command
    /// that adds entries).
    Missing,
    /// The log holds the checkpoint's head at its place (and perhaps newer entries).
    Reached { entries: i64, at: NaiveDateTime },
    /// The table is empty, but the checkpoint counted entries.
    Emptied { entries: i64, at: NaiveDateTime },
    /// Fewer entries than the checkpoint counted: its tail was removed.
    TailRemoved {
        entries: i64,
        found: i64,
        at: NaiveDateTime,
    },
    /// The entry at the checkpoint's place is not its head: the tail was replaced, or the
    /// whole chain recomputed.
    HeadDiffers { entries: i64, at: NaiveDateTime },
    /// The checkpoint file cannot be trusted (unreadable, edited, another key).
    Unusable(String),
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Entries read, in id order.
    pub entries: i64,
    /// Of them, the entries hashed without the key before the first keyed one (written
    /// before the key existed).
    pub unkeyed: i64,
    /// The first entry where the chain breaks, if any.
    pub broken: Option<Break>,
    /// Entries marked redacted without the erasure or retention run that would explain it.
    pub unexplained_redactions: Vec<Break>,
    pub checkpoint: CheckpointCheck,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.broken.is_none()
            && self.unexplained_redactions.is_empty()
            && matches!(
                self.checkpoint,
                CheckpointCheck::Missing | CheckpointCheck::Reached { .. }
            )
    }
}

/// Recomputes the whole chain in id order, a page at a time; checks every redaction mark
/// against the erasures and retention runs, and the log against its checkpoint.
pub fn verify(conn: &mut AnyConnection, seal: &Seal) -> QueryResult<Verification> {
    const PAGE: i64 = 5_000;
    let checkpoint = seal.read_checkpoint();
    let behind = Redactions::load(conn)?;
    let mut found = Verification {
        entries: 0,
        unkeyed: 0,
        broken: None,
        unexplained_redactions: Vec::new(),
        checkpoint: CheckpointCheck::Missing,
    };
    let mut at_checkpoint: Option<String> = None;
    let wanted_place = checkpoint
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map(|c| c.entries);
    let mut prev = GENESIS.to_string();
    let mut keyed_seen = false;
    let mut after = 0i64;
    loop {
        let page: Vec<AuditRow> = audit_log::table
            .filter(audit_log::id.gt(after))
            .order(audit_log::id)
            .limit(PAGE)
            .select(AuditRow::as_select())
            .load(conn)?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for row in page {
            found.entries += 1;
            let keyed = row.hash.starts_with(KEYED_PREFIX);
            // Unkeyed entries after keyed ones are no old entries but a break (below).
            found.unkeyed += i64::from(!keyed && !keyed_seen);
            if found.broken.is_none() {
                let problem = if row.prev_hash != prev {
                    Some("its link to the entry before does not match: an entry was removed or inserted")
                } else if keyed_seen && !keyed {
                    Some("it has no keyed hash, though entries before it do: the chain from here on was recomputed by someone without the audit key")
                } else {
                    content_problem(&prev, &row, keyed.then_some(&seal.key))
                };
                found.broken = problem.map(|p| Break {
                    id: row.id,
                    problem: p.into(),
                });
            }
            if let Some(problem) = behind.unexplained(&row) {
                found.unexplained_redactions.push(Break {
                    id: row.id,
                    problem,
                });
            }
            if wanted_place == Some(found.entries) {
                at_checkpoint = Some(row.hash.clone());
            }
            keyed_seen |= keyed;
            prev = row.hash;
        }
    }
    found.checkpoint = match checkpoint {
        Err(problem) => CheckpointCheck::Unusable(problem),
        Ok(None) => CheckpointCheck::Missing,
        Ok(Some(c)) => compare(&c, found.entries, at_checkpoint.as_deref()),
    };
    Ok(found)
}

/// The log (`entries` long, `at_place` the hash at the checkpoint's place) against `c`.
pub(crate) fn compare(c: &Checkpoint, entries: i64, at_place: Option<&str>) -> CheckpointCheck {
    let at = c.at;
    if entries == 0 && c.entries > 0 {
        return CheckpointCheck::Emptied {
            entries: c.entries,
            at,
        };
    }
    if entries < c.entries {
        return CheckpointCheck::TailRemoved {
            entries: c.entries,
            found: entries,
            at,
        };
    }
    // An empty checkpoint has no place in the log: any log has its (empty) beginning.
    if c.entries > 0 && at_place != Some(c.head.as_str()) {
        return CheckpointCheck::HeadDiffers {
            entries: c.entries,
            at,
        };
    }
    CheckpointCheck::Reached {
        entries: c.entries,
        at,
    }
}

/// Why an entry's content does not match its hash, if it does not; keyed entries are
/// checked under `key`, the others by the plain rule of their time.
fn content_problem(prev: &str, row: &AuditRow, key: Option<&AuditKey>) -> Option<&'static str> {
    let entry = row.as_new();
    let (rule, edited) = match key {
        Some(key) => (Rule::Keyed(key), "its content does not match its hash: the entry was edited (or the audit key is not the one it was written under)"),
        None => (Rule::Unkeyed, "its content does not match its hash: the entry was edited"),
    };
    let Some(digest) = &row.values_digest else {
        return (chain_hash(prev, &entry, None, rule) != row.hash).then_some(edited);
    };
    let values = [&row.old_value, &row.new_value, &row.detail];
    let well_formed =
        |ok: &dyn Fn(&str) -> bool| values.iter().all(|v| v.as_deref().is_none_or(ok));
    let values_ok = match row.redacted.as_deref() {
        None => values_digest(&entry) == *digest,
        Some(redaction::ERASED) => well_formed(&|v| v == TOMBSTONE),
        Some(redaction::RETENTION) => well_formed(&|v| v.starts_with(PSEUDONYM_PREFIX)),
        Some(_) => false,
    };
    if !values_ok {
        return Some(edited);
    }
    (chain_hash(prev, &entry, Some(digest), rule) != row.hash).then_some(edited)
}

/// What stands behind redaction marks: when each erased contact was erased, and the
/// cutoffs of the retention runs.
struct Redactions {
    /// CRM record id → the latest erasure of a contact with that id.
    erased: std::collections::BTreeMap<String, NaiveDateTime>,
    /// Retention runs in id order, and the latest cutoff of each run and those after it.
    runs: Vec<i64>,
    latest_cutoff_from: Vec<NaiveDateTime>,
}

impl Redactions {
    fn load(conn: &mut AnyConnection) -> QueryResult<Redactions> {
        let mut erased = std::collections::BTreeMap::new();
        let rows: Vec<(String, NaiveDateTime)> = erasures::table
            .select((erasures::record_id, erasures::erased_at))
            .load(conn)?;
        for (record, at) in rows {
            let latest = erased.entry(record).or_insert(at);
            *latest = (*latest).max(at);
        }
        let retention: Vec<(i64, NaiveDateTime, Option<String>, String)> = audit_log::table
            .filter(audit_log::action.eq(AuditAction::Retention.as_str()))
            .order(audit_log::id)
            .select((
                audit_log::id,
                audit_log::at,
                audit_log::source,
                audit_log::hash,
            ))
            .load(conn)?;
        let cutoffs: Vec<(i64, Option<NaiveDateTime>)> = retention
            .into_iter()
            .map(|(id, at, source, hash)| {
                let recorded = source
                    .as_deref()
                    .and_then(|s| s.strip_prefix(RETENTION_CUTOFF))
                    .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok());
                // Runs from before the key recorded no cutoff; theirs was before the run.
                let legacy = !hash.starts_with(KEYED_PREFIX);
                (id, recorded.or(legacy.then_some(at)))
            })
            .collect();
        let mut latest_cutoff_from = vec![NaiveDateTime::MIN; cutoffs.len()];
        let mut latest = NaiveDateTime::MIN;
        for (i, (_, cutoff)) in cutoffs.iter().enumerate().rev() {
            latest = latest.max(cutoff.unwrap_or(NaiveDateTime::MIN));
            latest_cutoff_from[i] = latest;
        }
        Ok(Redactions {
            erased,
            runs: cutoffs.into_iter().map(|(id, _)| id).collect(),
            latest_cutoff_from,
        })
    }

    /// Why `row`'s redaction mark is not explained, if it is not.
    fn unexplained(&self, row: &AuditRow) -> Option<String> {
        match row.redacted.as_deref()? {
            redaction::ERASED => {
                let erased = self
                    .erased
                    .get(&row.record_id)
                    .filter(|at| row.entity == "contact" && **at >= row.at);
                erased.is_none().then(|| format!(
                    "marked `erased`, but no erasure of {} {} after it is recorded (only contacts are erased): the mark was forged and the values destroyed",
                    row.entity, row.record_id
                ))
            }
            redaction::RETENTION => {
                let first_after = self.runs.partition_point(|id| *id <= row.id);
                let covered = self
                    .latest_cutoff_from
                    .get(first_after)
                    .is_some_and(|cutoff| row.at < *cutoff);
                (!covered).then(|| "marked `retention`, but no retention run after it had a cutoff past its time: the mark was forged and the values replaced".to_string())
            }
            other => Some(format!("marked `{other}`, which no redaction writes")),
        }
    }
}

/// The replacement values of a redaction, given the entry's current ones.
pub struct Redaction<'a> {
    pub kind: &'static str,
    pub replace: &'a dyn Fn(&str) -> String,
}

/// Replaces the values of the entries with `ids` (those that carry a digest and are not
/// already redacted as far) by `redaction`; returns how many changed. The chain still
/// verifies: it covers the digest, which stays.
pub fn redact(
    conn: &mut AnyConnection,
    ids: &[i64],
    redaction: &Redaction<'_>,
) -> QueryResult<usize> {
    let mut changed = 0;
    for chunk in ids.chunks(500) {
        let rows: Vec<AuditRow> = audit_log::table
            .filter(audit_log::id.eq_any(chunk))
            .filter(audit_log::values_digest.is_not_null())
            .select(AuditRow::as_select())
            .load(conn)?;
        for row in rows {
            let allowed = match row.redacted.as_deref() {
                None => true,
                Some(redaction::RETENTION) => redaction.kind == redaction::ERASED,
                Some(_) => false,
            };
            if !allowed {
                continue;
            }
            let swap = |v: &Option<String>| v.as_deref().map(redaction.replace);
            changed += diesel::update(audit_log::table.find(row.id))
                .set((
                    audit_log::old_value.eq(swap(&row.old_value)),
                    audit_log::new_value.eq(swap(&row.new_value)),
                    audit_log::detail.eq(swap(&row.detail)),
                    audit_log::redacted.eq(redaction.kind),
                ))
                .execute(conn)?;
        }
    }
    Ok(changed)
}

/// Ids of the entries about `record_id` in any of `jobs` that still hold their values, and
/// how many of them cannot be redacted (written before digests existed).
pub fn unredacted_for_record(
    conn: &mut AnyConnection,
    jobs: &[String],
    record_id: &str,
) -> QueryResult<(Vec<i64>, i64)> {
    let rows: Vec<(i64, Option<String>)> = audit_log::table
        .filter(audit_log::job.eq_any(jobs))
        .filter(audit_log::record_id.eq(record_id))
        .filter(
            audit_log::redacted
                .is_null()
                .or(audit_log::redacted.ne(redaction::ERASED)),
        )
        .select((audit_log::id, audit_log::values_digest))
        .load(conn)?;
    let legacy = rows.iter().filter(|(_, d)| d.is_none()).count() as i64;
    Ok((rows.into_iter().map(|(id, _)| id).collect(), legacy))
}

/// Actions that are a person's decision in review.
pub const DECISIONS: &[AuditAction] = &[
    AuditAction::Approved,
    AuditAction::Rejected,
    AuditAction::EditedAndApproved,
    AuditAction::FlaggedWrong,
    AuditAction::MatchConfirmed,
    AuditAction::MatchRejected,
];

/// When people decided in review for `job`, oldest first: the steward's pace.
pub fn decision_times(conn: &mut AnyConnection, job: &str) -> QueryResult<Vec<NaiveDateTime>> {
    let actions: Vec<&str> = DECISIONS.iter().map(|a| a.as_str()).collect();
    audit_log::table
        .filter(audit_log::job.eq(job))
        .filter(audit_log::action.eq_any(actions))
        .filter(audit_log::actor.ne(SYSTEM))
        .order(audit_log::at)
        .select(audit_log::at)
        .load(conn)
}

/// Ids of the entries about the changes with `change_ids`.
pub fn for_changes(conn: &mut AnyConnection, change_ids: &[i64]) -> QueryResult<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in change_ids.chunks(500) {
        let ids: Vec<i64> = audit_log::table
            .filter(audit_log::change_id.eq_any(chunk))
            .select(audit_log::id)
            .load(conn)?;
        out.extend(ids);
    }
    Ok(out)
}

/// Ids of the entries written before `cutoff` whose values were never replaced.
pub fn unredacted_before(conn: &mut AnyConnection, cutoff: NaiveDateTime) -> QueryResult<Vec<i64>> {
    audit_log::table
        .filter(audit_log::at.lt(cutoff))
        .filter(audit_log::redacted.is_null())
        .filter(audit_log::values_digest.is_not_null())
        .select(audit_log::id)
        .order(audit_log::id)
        .load(conn)
}

impl AuditRow {
    fn as_new(&self) -> NewAudit {
        NewAudit {
            at: self.at,
            actor: self.actor.clone(),
            action: self.action,
            job: self.job.clone(),
            pass_id: self.pass_id,
            change_id: self.change_id,
            entity: self.entity.clone(),
            record_id: self.record_id.clone(),
            field: self.field.clone(),
            old_value: self.old_value.clone(),
            new_value: self.new_value.clone(),
            source: self.source.clone(),
            score: self.score,
            detail: self.detail.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub job: Option<String>,
    pub record_id: Option<String>,
    pub change_id: Option<i64>,
    pub pass_id: Option<i64>,
    /// Entries by this user (or `system`).
    pub actor: Option<String>,
    pub limit: Option<i64>,
}

/// Newest first.
pub fn list(conn: &mut AnyConnection, filter: &AuditFilter) -> QueryResult<Vec<AuditRow>> {
    let mut q = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .into_boxed();
    if let Some(job) = &filter.job {
        q = q.filter(audit_log::job.eq(job.clone()));
    }
    if let Some(record) = &filter.record_id {
        q = q.filter(audit_log::record_id.eq(record.clone()));
    }
    if let Some(change) = filter.change_id {
        q = q.filter(audit_log::change_id.eq(change));
    }
    if let Some(pass) = filter.pass_id {
        q = q.filter(audit_log::pass_id.eq(pass));
    }
    if let Some(actor) = &filter.actor {
        q = q.filter(audit_log::actor.eq(actor.clone()));
    }
    if let Some(limit) = filter.limit {
        q = q.limit(limit);
    }
    q.load(conn)
}

/// Writes entries as CSV with a header row: the export format of the CLI and the API.
pub fn write_csv(rows: &[AuditRow], sink: impl std::io::Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(sink);
    for row in rows {
        w.serialize(row)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> AuditKey {
        AuditKey::new(text.to_string().into()).unwrap()
    }

    fn entry_hash(prev: &str, e: &NewAudit) -> String {
        chain_hash(
            prev,
            e,
            Some(&values_digest(e)),
            Rule::Keyed(&key("0123456789abcdef")),
        )
    }

    fn entry() -> NewAudit {
        NewAudit {
            at: chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000)
                .unwrap()
                .naive_utc(),
            actor: "system".into(),
            action: AuditAction::Applied,
            job: "organisations".into(),
            pass_id: Some(1),
            change_id: Some(2),
            entity: "organisation".into(),
            record_id: "17".into(),
            field: Some("city".into()),
            old_value: None,
            new_value: Some("Köln".into()),
            source: Some("register demo R1".into()),
            score: Some(0.97),
            detail: None,
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = entry_hash(GENESIS, &entry());
        assert_eq!(base.len(), KEYED_PREFIX.len() + 64);
        assert_eq!(base, entry_hash(GENESIS, &entry()), "deterministic");
        assert_ne!(base, entry_hash("other", &entry()));
        let variants: Vec<NewAudit> = vec![
            NewAudit {
                actor: "anna".into(),
                ..entry()
            },
            NewAudit {
                action: AuditAction::Conflict,
                ..entry()
            },
            NewAudit {
                old_value: Some(String::new()),
                ..entry()
            },
            NewAudit {
                new_value: Some("Koeln".into()),
                ..entry()
            },
            NewAudit {
                score: Some(0.96),
                ..entry()
            },
            NewAudit {
                change_id: None,
                ..entry()
            },
            NewAudit {
                at: entry().at + chrono::Duration::microseconds(1),
                ..entry()
            },
        ];
        for v in variants {
            assert_ne!(entry_hash(GENESIS, &v), base, "{v:?}");
        }
    }

    #[test]
    fn every_audit_action_reads_back_as_itself_and_is_spelled_as_in_json() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(*action));
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
        assert!("approve".parse::<AuditAction>().is_err());
    }

    #[test]
    fn without_the_key_nobody_makes_the_same_hash() {
        let digest = values_digest(&entry());
        let keyed = entry_hash(GENESIS, &entry());
        let other_key = chain_hash(
            GENESIS,
            &entry(),
            Some(&digest),
            Rule::Keyed(&key("fedcba9876543210")),
        );
        let unkeyed = chain_hash(GENESIS, &entry(), Some(&digest), Rule::Unkeyed);
        assert_ne!(keyed, other_key);
        assert!(!unkeyed.starts_with(KEYED_PREFIX));
        assert_ne!(keyed[KEYED_PREFIX.len()..], unkeyed);
    }
}
