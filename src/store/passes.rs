//! Passes: one row per execution of a job, with its counts.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::now;
use super::schema::passes;
use crate::db::AnyConnection;
use crate::on_store_backend;

/// How a pass ended.
pub mod outcome {
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    /// Ran to the end, but more lookups failed than the job's `max_failed_share` allows.
    pub const DEGRADED: &str = "degraded";
    /// Stopped by an error, or every lookup failed: nothing was checked.
    pub const FAILED: &str = "failed";
    /// Stopped by a signal after a committed batch; the next pass picks up the rest.
    pub const INTERRUPTED: &str = "interrupted";
}

/// The counts a pass reports; also the columns of `passes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, AsChangeset)]
#[diesel(table_name = passes)]
pub struct PassCounts {
    pub records_read: i64,
    pub matched_auto: i64,
    pub matched_review: i64,
    pub in_sync: i64,
    pub different: i64,
    pub not_found: i64,
    pub ambiguous: i64,
    pub lookup_failed: i64,
    pub inactive: i64,
    pub skipped: i64,
    pub changes_proposed: i64,
    pub changes_applied: i64,
    pub conflicts: i64,
    pub changes_failed: i64,
    pub pending_review: i64,
    /// CRM values that could not be read as their field (a birth date that is no date).
    pub unreadable_values: i64,
}

#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = passes)]
pub struct PassRow {
    pub id: i64,
    pub job: String,
    pub entity: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub status: String,
    pub records_read: i64,
    pub matched_auto: i64,
    pub matched_review: i64,
    pub in_sync: i64,
    pub different: i64,
    pub not_found: i64,
    pub ambiguous: i64,
    pub lookup_failed: i64,
    pub inactive: i64,
    pub skipped: i64,
    pub changes_proposed: i64,
    pub changes_applied: i64,
    pub conflicts: i64,
    pub changes_failed: i64,
    pub pending_review: i64,
    pub error: Option<String>,
    pub unreadable_values: i64,
}

#[derive(Insertable)]
#[diesel(table_name = passes)]
struct NewPass<'a> {
    job: &'a str,
    entity: &'a str,
    started_at: NaiveDateTime,
    status: &'a str,
}

pub fn begin(conn: &mut AnyConnection, job: &str, entity: &str) -> QueryResult<i64> {
    let row = NewPass {
        job,
        entity,
        started_at: now(),
        status: outcome::RUNNING,
    };
    on_store_backend!(conn, c => diesel::insert_into(passes::table).values(&row).returning(passes::id).get_result(c))
}

pub fn finish(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    counts: &PassCounts,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(passes::table.find(id))
        .set((
            counts,
            passes::status.eq(status),
            passes::finished_at.eq(Some(now())),
            passes::error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<PassRow>> {
    passes::table
        .find(id)
        .select(PassRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut AnyConnection, job: Option<&str>, limit: i64) -> QueryResult<Vec<PassRow>> {
    let mut q = passes::table
        .select(PassRow::as_select())
        .order(passes::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(job) = job {
        q = q.filter(passes::job.eq(job.to_string()));
    }
    q.load(conn)
}
