//! Passes: one row per execution of a job, with its counts.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::now;
use super::schema::passes;
use crate::db::AnyConnection;
use crate::on_store_backend;

/// How a pass ended.
pub use crate::domain::model::PassOutcome;

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
    /// Records left as they stood: nothing that decides their outcome changed since their
    /// last check (not counted among the matched, not found, … of this pass).
    pub unchanged: i64,
}

/// Counts of parts of a pass (a batch, the settling of cut-short applies) add up to its own.
impl std::ops::AddAssign<&PassCounts> for PassCounts {
    fn add_assign(&mut self, other: &PassCounts) {
        let PassCounts {
            records_read,
            matched_auto,
            matched_review,
            in_sync,
            different,
            not_found,
            ambiguous,
            lookup_failed,
            inactive,
            skipped,
            changes_proposed,
            changes_applied,
            conflicts,
            changes_failed,
            pending_review,
            unreadable_values,
            unchanged,
        } = other;
        self.records_read += records_read;
        self.matched_auto += matched_auto;
        self.matched_review += matched_review;
        self.in_sync += in_sync;
        self.different += different;
        self.not_found += not_found;
        self.ambiguous += ambiguous;
        self.lookup_failed += lookup_failed;
        self.inactive += inactive;
        self.skipped += skipped;
        self.changes_proposed += changes_proposed;
        self.changes_applied += changes_applied;
        self.conflicts += conflicts;
        self.changes_failed += changes_failed;
        self.pending_review += pending_review;
        self.unreadable_values += unreadable_values;
        self.unchanged += unchanged;
    }
}

#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = passes)]
pub struct PassRow {
    pub id: i64,
    pub job: String,
    pub entity: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = String)]
    pub status: PassOutcome,
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
    pub unchanged: i64,
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
        status: PassOutcome::Running.as_str(),
    };
    on_store_backend!(conn, c => diesel::insert_into(passes::table).values(&row).returning(passes::id).get_result(c))
}

pub fn finish(
    conn: &mut AnyConnection,
    id: i64,
    status: PassOutcome,
    counts: &PassCounts,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(passes::table.find(id))
        .set((
            counts,
            passes::status.eq(status.as_str()),
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
