//! Record status per CRM record and job, and the link to the matched register record.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{matches, record_status};
use super::unnest::Unnest;
use crate::db::AnyConnection;
use crate::domain::model::{EntityKind, MatchStatus};

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = record_status, treat_none_as_default_value = false)]
pub struct StatusRow {
    pub job: String,
    pub record_id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub entity: EntityKind,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: MatchStatus,
    /// JSON: the decision and the explanation of its scores.
    pub detail: String,
    pub pass_id: i64,
    pub checked_at: NaiveDateTime,
    /// Last time the record was found in the register.
    pub verified_at: Option<NaiveDateTime>,
    /// The digest of what decided the outcome, as the next pass will find it
    /// (`domain::inputs`); `None`: the next pass scores the record again.
    pub inputs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = matches, treat_none_as_default_value = false)]
pub struct MatchRow {
    pub job: String,
    pub record_id: String,
    pub register_id: String,
    pub score: f64,
    pub method: String,
    pub grade: String,
    pub pass_id: i64,
    pub matched_at: NaiveDateTime,
}

/// A record not found this time keeps when it was last found.
const VERIFIED_KEPT: &str = "COALESCE(excluded.verified_at, record_status.verified_at)";

/// Writes the statuses of a batch (keys unique among `rows`). `verified_at` is kept from
/// before where a record was not found this time, so "last verified" stays truthful.
pub fn upsert_statuses(conn: &mut AnyConnection, rows: &[StatusRow]) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
    use diesel::upsert::excluded;
    let set = || {
        (
            record_status::entity.eq(excluded(record_status::entity)),
            record_status::status.eq(excluded(record_status::status)),
            record_status::detail.eq(excluded(record_status::detail)),
            record_status::pass_id.eq(excluded(record_status::pass_id)),
            record_status::checked_at.eq(excluded(record_status::checked_at)),
            record_status::verified_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
            >(VERIFIED_KEPT)),
            record_status::inputs.eq(excluded(record_status::inputs)),
        )
    };
    let key = (record_status::job, record_status::record_id);
    let unnest = |pg| {
        Unnest::new(rows)
            .column::<Text, _>("job", "text", |r| &r.job)
            .column::<Text, _>("record_id", "text", |r| &r.record_id)
            .column::<Text, _>("entity", "text", |r| r.entity.as_str())
            .column::<Text, _>("status", "text", |r| r.status.as_str())
            .column::<Text, _>("detail", "text", |r| &r.detail)
            .column::<BigInt, _>("pass_id", "int8", |r| r.pass_id)
            .column::<Timestamp, _>("checked_at", "timestamp", |r| r.checked_at)
            .column::<Nullable<Timestamp>, _>("verified_at", "timestamp", |r| r.verified_at)
            .column::<Nullable<BigInt>, _>("inputs", "int8", |r| r.inputs)
            .upsert(
                pg,
                "record_status",
                &["job", "record_id"],
                &[("verified_at", VERIFIED_KEPT)],
            )
    };
    upsert_rows!(conn, record_status::table, rows, key, set, unnest);
    Ok(())
}

/// The status and inputs digest each of `record_ids` was left with, where it has a digest.
pub fn last_inputs(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, (MatchStatus, i64)>> {
    let mut out = std::collections::HashMap::new();
    for chunk in record_ids.chunks(500) {
        let rows: Vec<(String, String, Option<i64>)> = record_status::table
            .filter(record_status::job.eq(job))
            .filter(record_status::record_id.eq_any(chunk))
            .filter(record_status::inputs.is_not_null())
            .select((
                record_status::record_id,
                record_status::status,
                record_status::inputs,
            ))
            .load(conn)?;
        for (record, status, inputs) in rows {
            if let (Ok(status), Some(inputs)) = (status.parse::<MatchStatus>(), inputs) {
                out.insert(record, (status, inputs));
            }
        }
    }
    Ok(out)
}

/// Records pass `pass_id` checked and left as they stood: checked now, and where they are
/// matched (`verified`), found in the register now. Their decision and detail stay.
pub fn checked_unchanged(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[&str],
    verified: bool,
    (pass_id, at): (i64, NaiveDateTime),
) -> QueryResult<()> {
    for chunk in record_ids.chunks(500) {
        let rows = record_status::table
            .filter(record_status::job.eq(job))
            .filter(record_status::record_id.eq_any(chunk));
        let checked = (
            record_status::pass_id.eq(pass_id),
            record_status::checked_at.eq(at),
        );
        if verified {
            diesel::update(rows)
                .set((checked, record_status::verified_at.eq(Some(at))))
                .execute(conn)?;
        } else {
            diesel::update(rows).set(checked).execute(conn)?;
        }
    }
    Ok(())
}

/// Links records to their register records (keys unique among `rows`), replacing earlier
/// links.
pub fn upsert_matches(conn: &mut AnyConnection, rows: &[MatchRow]) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Double, Text, Timestamp};
    use diesel::upsert::excluded;
    let set = || {
        (
            matches::register_id.eq(excluded(matches::register_id)),
            matches::score.eq(excluded(matches::score)),
            matches::method.eq(excluded(matches::method)),
            matches::grade.eq(excluded(matches::grade)),
            matches::pass_id.eq(excluded(matches::pass_id)),
            matches::matched_at.eq(excluded(matches::matched_at)),
        )
    };
    let key = (matches::job, matches::record_id);
    let unnest = |pg| {
        Unnest::new(rows)
            .column::<Text, _>("job", "text", |r| &r.job)
            .column::<Text, _>("record_id", "text", |r| &r.record_id)
            .column::<Text, _>("register_id", "text", |r| &r.register_id)
            .column::<Double, _>("score", "float8", |r| r.score)
            .column::<Text, _>("method", "text", |r| &r.method)
            .column::<Text, _>("grade", "text", |r| &r.grade)
            .column::<BigInt, _>("pass_id", "int8", |r| r.pass_id)
            .column::<Timestamp, _>("matched_at", "timestamp", |r| r.matched_at)
            .upsert(pg, "matches", &["job", "record_id"], &[])
    };
    upsert_rows!(conn, matches::table, rows, key, set, unnest);
    Ok(())
}

/// Removes the links of records that no longer match anything.
pub fn remove_matches(conn: &mut AnyConnection, job: &str, record_ids: &[&str]) -> QueryResult<()> {
    for chunk in record_ids.chunks(500) {
        diesel::delete(
            matches::table
                .filter(matches::job.eq(job))
                .filter(matches::record_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Sets the status of these records at once.
pub fn set_statuses(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[&str],
    status: MatchStatus,
) -> QueryResult<()> {
    for chunk in record_ids.chunks(500) {
        diesel::update(
            record_status::table
                .filter(record_status::job.eq(job))
                .filter(record_status::record_id.eq_any(chunk)),
        )
        .set(record_status::status.eq(status.as_str()))
        .execute(conn)?;
    }
    Ok(())
}

pub fn get_status(
    conn: &mut AnyConnection,
    job: &str,
    record_id: &str,
) -> QueryResult<Option<StatusRow>> {
    record_status::table
        .find((job, record_id))
        .select(StatusRow::as_select())
        .first(conn)
        .optional()
}

pub fn get_match(
    conn: &mut AnyConnection,
    job: &str,
    record_id: &str,
) -> QueryResult<Option<MatchRow>> {
    matches::table
        .find((job, record_id))
        .select(MatchRow::as_select())
        .first(conn)
        .optional()
}

/// The statuses and matches of some records of a job (the review queue's page of cards).
pub fn of_records(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[&str],
) -> QueryResult<(Vec<StatusRow>, Vec<MatchRow>)> {
    let statuses = record_status::table
        .filter(record_status::job.eq(job))
        .filter(record_status::record_id.eq_any(record_ids))
        .select(StatusRow::as_select())
        .load(conn)?;
    let found = matches::table
        .filter(matches::job.eq(job))
        .filter(matches::record_id.eq_any(record_ids))
        .select(MatchRow::as_select())
        .load(conn)?;
    Ok((statuses, found))
}

/// Records per status, for summaries.
pub fn count_by_status(
    conn: &mut AnyConnection,
    job: Option<&str>,
) -> QueryResult<Vec<(String, i64)>> {
    let mut q = record_status::table
        .group_by(record_status::status)
        .select((record_status::status, diesel::dsl::count_star()))
        .order(record_status::status)
        .into_boxed();
    if let Some(job) = job {
        q = q.filter(record_status::job.eq(job.to_string()));
    }
    q.load(conn)
}

/// Every record's status in `job`.
/// A record's status without the decision's detail, which takes kilobytes a record: what
/// the report reads for every record of a job.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = record_status)]
pub struct StatusBrief {
    pub record_id: String,
    #[diesel(deserialize_as = String)]
    pub status: MatchStatus,
    pub verified_at: Option<NaiveDateTime>,
}

pub fn for_job(conn: &mut AnyConnection, job: &str) -> QueryResult<Vec<StatusBrief>> {
    record_status::table
        .filter(record_status::job.eq(job))
        .select(StatusBrief::as_select())
        .load(conn)
}

/// Register records matched by two or more CRM records of a job, with those record ids.
pub fn shared_matches(
    conn: &mut AnyConnection,
    job: &str,
) -> QueryResult<Vec<(String, Vec<String>)>> {
    let shared: Vec<String> = matches::table
        .filter(matches::job.eq(job))
        .group_by(matches::register_id)
        .having(diesel::dsl::count_star().gt(1))
        .select(matches::register_id)
        .load(conn)?;
    // Their members a chunk of register records at a time, not one query each: at a million
    // records a pass ended with hundreds of thousands of them, each a round trip.
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in shared.chunks(500) {
        let rows: Vec<(String, String)> = matches::table
            .filter(matches::job.eq(job))
            .filter(matches::register_id.eq_any(chunk))
            .select((matches::register_id, matches::record_id))
            .load(conn)?;
        for (register_id, record_id) in rows {
            members.entry(register_id).or_default().push(record_id);
        }
    }
    // Members in byte order whatever the database's collation, as the proposals name them.
    let mut out: Vec<(String, Vec<String>)> = members.into_iter().collect();
    for (_, members) in &mut out {
        members.sort();
    }
    Ok(out)
}

/// Which of `record_ids` have `status` in any of `jobs`.
pub fn with_status(
    conn: &mut AnyConnection,
    jobs: &[String],
    record_ids: &[String],
    status: MatchStatus,
) -> QueryResult<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    if jobs.is_empty() {
        return Ok(out);
    }
    for chunk in record_ids.chunks(500) {
        let found: Vec<String> = record_status::table
            .filter(record_status::job.eq_any(jobs))
            .filter(record_status::record_id.eq_any(chunk))
            .filter(record_status::status.eq(status.as_str()))
            .select(record_status::record_id)
            .load(conn)?;
        out.extend(found);
    }
    Ok(out)
}
