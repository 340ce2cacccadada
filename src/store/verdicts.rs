//! Stewards' verdicts on matches: is this register record the same entity as the CRM record?

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::match_verdicts;
use crate::db::AnyConnection;

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = match_verdicts)]
pub struct VerdictRow {
    pub job: String,
    pub record_id: String,
    pub register_id: String,
    pub entity: String,
    /// `confirmed` or `rejected`.
    pub verdict: String,
    /// The match probability when the verdict was given.
    pub score: f64,
    /// The pass that produced the match, where one did.
    pub pass_id: Option<i64>,
    pub decided_by: String,
    pub decided_at: NaiveDateTime,
}

/// Stores a verdict; a later verdict on the same pair replaces the earlier one.
pub fn upsert(conn: &mut AnyConnection, row: &VerdictRow) -> QueryResult<()> {
    let key = match_verdicts::table.find((&row.job, &row.record_id, &row.register_id));
    if diesel::update(key).set(row).execute(conn)? == 0 {
        diesel::insert_into(match_verdicts::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Every verdict of a job.
pub fn for_job(conn: &mut AnyConnection, job: &str) -> QueryResult<Vec<VerdictRow>> {
    match_verdicts::table
        .filter(match_verdicts::job.eq(job))
        .order((match_verdicts::record_id, match_verdicts::register_id))
        .select(VerdictRow::as_select())
        .load(conn)
}

/// The verdicts on one record's pairs, newest first.
pub fn of_record(
    conn: &mut AnyConnection,
    job: &str,
    record_id: &str,
) -> QueryResult<Vec<VerdictRow>> {
    match_verdicts::table
        .filter(match_verdicts::job.eq(job))
        .filter(match_verdicts::record_id.eq(record_id))
        .order(match_verdicts::decided_at.desc())
        .select(VerdictRow::as_select())
        .load(conn)
}

/// Matches of a job that no steward has judged yet, the least certain first (where a
/// verdict tells `tune` the most): the tune page sends stewards to them.
pub fn unjudged(
    conn: &mut AnyConnection,
    job: &str,
    limit: i64,
) -> QueryResult<Vec<super::status::MatchRow>> {
    use super::schema::matches;
    use diesel::dsl::{exists, not};
    matches::table
        .filter(matches::job.eq(job))
        .filter(not(exists(
            match_verdicts::table
                .filter(match_verdicts::job.eq(matches::job))
                .filter(match_verdicts::record_id.eq(matches::record_id)),
        )))
        .order((matches::score, matches::record_id))
        .limit(limit)
        .select(super::status::MatchRow::as_select())
        .load(conn)
}
