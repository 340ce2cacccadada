//! Erased people: the erasures (CRM id only), the suppression list of keyed hashes, and
//! removing what refsync's own tables hold about a record.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{
    changes, duplicate_clusters, duplicate_seen, duplicate_splits, erased_subjects, erasures,
    matches, merges, provenance, record_status, register_cache, suppressions,
};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = erasures)]
pub struct Erasure {
    pub crm: String,
    pub record_id: String,
    pub job: String,
    /// What the CRM was asked to do: `delete`, `anonymise` or `none`.
    pub crm_action: String,
    pub erased_by: String,
    pub erased_at: NaiveDateTime,
}

/// Records an erasure (again: the first one stays).
pub fn record(conn: &mut AnyConnection, erasure: &Erasure) -> QueryResult<()> {
    let exists: i64 = erasures::table
        .find((&erasure.crm, &erasure.record_id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(erasures::table)
            .values(erasure)
            .execute(conn)?;
    }
    Ok(())
}

/// The erasure of a record, if it was erased.
pub fn get(conn: &mut AnyConnection, crm: &str, record_id: &str) -> QueryResult<Option<Erasure>> {
    erasures::table
        .find((crm, record_id))
        .select(Erasure::as_select())
        .first(conn)
        .optional()
}

/// Ids of the records of `crm` that were erased.
pub fn erased_ids(conn: &mut AnyConnection, crm: &str) -> QueryResult<Vec<String>> {
    erasures::table
        .filter(erasures::crm.eq(crm))
        .select(erasures::record_id)
        .load(conn)
}

/// Adds keyed hashes to the suppression list (known ones are kept as they are).
pub fn suppress(conn: &mut AnyConnection, hashes: &[String], at: NaiveDateTime) -> QueryResult<()> {
    let known = suppressed(conn, hashes)?;
    for hash in hashes.iter().filter(|h| !known.contains(*h)) {
        diesel::insert_into(erased_subjects::table)
            .values((
                erased_subjects::key_hash.eq(hash),
                erased_subjects::erased_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Which of `hashes` are on the suppression list.
pub fn suppressed(conn: &mut AnyConnection, hashes: &[String]) -> QueryResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for chunk in hashes.chunks(500) {
        let found: Vec<String> = erased_subjects::table
            .filter(erased_subjects::key_hash.eq_any(chunk))
            .select(erased_subjects::key_hash)
            .load(conn)?;
        out.extend(found);
    }
    Ok(out)
}

/// Whether anybody was erased yet: without, a pass needs no key to check against the list.
pub fn any_suppressed(conn: &mut AnyConnection) -> QueryResult<bool> {
    let n: i64 = erased_subjects::table.count().get_result(conn)?;
    Ok(n > 0)
}

/// What was removed from refsync's tables.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Purged {
    pub changes: usize,
    pub record_status: usize,
    pub matches: usize,
    pub provenance: usize,
    pub value_suppressions: usize,
    pub register_cache: usize,
    /// Merges of a cluster the record was in: their golden values and undo data hold its
    /// values.
    pub merges: usize,
    /// Its place in a cluster of duplicates and the pairs a steward split it from.
    pub duplicates: usize,
}

/// Removes the record's changes, status, match, provenance, value suppressions, cluster
/// places, splits and the merges of its clusters in `jobs`, and the changes of those jobs (imports included) whose values contain one of
/// `needles`; returns the counts and the ids of the removed changes (their audit entries
/// are redacted by the caller).
pub fn purge_record(
    conn: &mut AnyConnection,
    jobs: &[String],
    crm: &str,
    entity: &str,
    record_id: &str,
    needles: &[String],
) -> QueryResult<(Purged, Vec<i64>)> {
    let mut purged = Purged::default();
    let mut change_ids: Vec<i64> = changes::table
        .filter(changes::job.eq_any(jobs))
        .filter(changes::record_id.eq(record_id))
        .select(changes::id)
        .load(conn)?;
    for needle in needles.iter().filter(|n| !n.is_empty()) {
        let pattern = format!("%{needle}%");
        let mentioned: Vec<i64> = changes::table
            .filter(changes::job.eq_any(jobs))
            .filter(
                changes::new_value
                    .like(pattern.clone())
                    .or(changes::old_value.like(pattern.clone())),
            )
            .select(changes::id)
            .load(conn)?;
        change_ids.extend(mentioned);
        purged.register_cache += diesel::delete(
            register_cache::table.filter(
                register_cache::request
                    .like(pattern.clone())
                    .or(register_cache::body.like(pattern)),
            ),
        )
        .execute(conn)?;
    }
    change_ids.sort_unstable();
    change_ids.dedup();
    for chunk in change_ids.chunks(500) {
        purged.changes +=
            diesel::delete(changes::table.filter(changes::id.eq_any(chunk))).execute(conn)?;
    }
    purged.record_status += diesel::delete(
        record_status::table
            .filter(record_status::job.eq_any(jobs))
            .filter(record_status::record_id.eq(record_id)),
    )
    .execute(conn)?;
    purged.matches += diesel::delete(
        matches::table
            .filter(matches::job.eq_any(jobs))
            .filter(matches::record_id.eq(record_id)),
    )
    .execute(conn)?;
    purged.provenance += diesel::delete(
        provenance::table
            .filter(provenance::crm.eq(crm))
            .filter(provenance::entity.eq(entity))
            .filter(provenance::record_id.eq(record_id)),
    )
    .execute(conn)?;
    purged.value_suppressions += diesel::delete(
        suppressions::table
            .filter(suppressions::job.eq_any(jobs))
            .filter(suppressions::record_id.eq(record_id)),
    )
    .execute(conn)?;
    purged.merges += purge_merges(conn, jobs, record_id)?;
    purged.duplicates += diesel::delete(
        duplicate_clusters::table
            .filter(duplicate_clusters::job.eq_any(jobs))
            .filter(duplicate_clusters::record_id.eq(record_id)),
    )
    .execute(conn)?;
    // The digest of its values the duplicates stage kept: not a value, yet derived from them.
    diesel::delete(
        duplicate_seen::table
            .filter(duplicate_seen::job.eq_any(jobs))
            .filter(duplicate_seen::record_id.eq(record_id)),
    )
    .execute(conn)?;
    purged.duplicates += diesel::delete(
        duplicate_splits::table
            .filter(duplicate_splits::job.eq_any(jobs))
            .filter(
                duplicate_splits::record_a
                    .eq(record_id)
                    .or(duplicate_splits::record_b.eq(record_id)),
            ),
    )
    .execute(conn)?;
    Ok((purged, change_ids))
}

/// Deletes the merges in `jobs` whose members include `record_id`, whatever their status:
/// an applied one cannot be undone for an erased person anyway.
fn purge_merges(conn: &mut AnyConnection, jobs: &[String], record_id: &str) -> QueryResult<usize> {
    // LIKE narrows the rows (its wildcards may match more); the members list decides.
    let quoted = serde_json::to_string(record_id).unwrap_or_default();
    let rows: Vec<(i64, String)> = merges::table
        .filter(merges::job.eq_any(jobs))
        .filter(merges::members.like(format!("%{quoted}%")))
        .select((merges::id, merges::members))
        .load(conn)?;
    let ids: Vec<i64> = rows
        .into_iter()
        .filter(|(_, members)| {
            serde_json::from_str::<Vec<String>>(members)
                .map_or(true, |m| m.iter().any(|id| id == record_id))
        })
        .map(|(id, _)| id)
        .collect();
    let mut purged = 0;
    for chunk in ids.chunks(500) {
        purged += diesel::delete(merges::table.filter(merges::id.eq_any(chunk))).execute(conn)?;
    }
    Ok(purged)
}
