//! Record status per CRM record and job, and the link to the matched register record.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{matches, record_status};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = record_status)]
pub struct StatusRow {
    pub job: String,
    pub record_id: String,
    pub entity: String,
    pub status: String,
    /// JSON: the decision and the explanation of its scores.
    pub detail: String,
    pub pass_id: i64,
    pub checked_at: NaiveDateTime,
    /// Last time the record was found in the register.
    pub verified_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = matches)]
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

/// Writes the record's status; `verified_at` is kept from before when the record was not
/// found this time, so "last verified" stays truthful.
pub fn upsert_status(conn: &mut AnyConnection, row: &StatusRow) -> QueryResult<()> {
    let key = record_status::table.find((&row.job, &row.record_id));
    let mut row = row.clone();
    if row.verified_at.is_none() {
        row.verified_at = key
            .select(record_status::verified_at)
            .first(conn)
            .optional()?
            .flatten();
    }
    if diesel::update(key).set(&row).execute(conn)? == 0 {
        diesel::insert_into(record_status::table)
            .values(&row)
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

/// Links the record to its register record (replacing an earlier link).
pub fn upsert_match(conn: &mut AnyConnection, row: &MatchRow) -> QueryResult<()> {
    if diesel::update(matches::table.find((&row.job, &row.record_id)))
        .set(row)
        .execute(conn)?
        == 0
    {
        diesel::insert_into(matches::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Removes a record's link when it no longer matches anything.
pub fn remove_match(conn: &mut AnyConnection, job: &str, record_id: &str) -> QueryResult<()> {
    diesel::delete(matches::table.find((job, record_id))).execute(conn)?;
    Ok(())
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
    let mut out = Vec::with_capacity(shared.len());
    for register_id in shared {
        let mut members: Vec<String> = matches::table
            .filter(matches::job.eq(job))
            .filter(matches::register_id.eq(&register_id))
            .select(matches::record_id)
            .load(conn)?;
        members.sort();
        out.push((register_id, members));
    }
    Ok(out)
}

/// Which of `record_ids` have `status` in any of `jobs`.
pub fn with_status(
    conn: &mut AnyConnection,
    jobs: &[String],
    record_ids: &[String],
    status: crate::domain::model::MatchStatus,
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
