//! Resume points: how far the current sweep over a job's CRM records got. Saved after each
//! committed batch and removed when a sweep completes, so a pass stopped by SIGTERM, a
//! failure or a crash is continued by the next pass instead of started over.

use diesel::prelude::*;

use super::now;
use crate::db::AnyConnection;

diesel::table! {
    job_resume (job) {
        job -> Text,
        next_offset -> BigInt,
        pass_id -> BigInt,
        updated_at -> Timestamp,
    }
}

/// The record offset the next pass of `job` starts at; 0 for a fresh sweep.
pub fn get(conn: &mut AnyConnection, job: &str) -> QueryResult<i64> {
    Ok(job_resume::table
        .find(job)
        .select(job_resume::next_offset)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

pub fn save(
    conn: &mut AnyConnection,
    job: &str,
    next_offset: i64,
    pass_id: i64,
) -> QueryResult<()> {
    let at = now();
    crate::on_store_backend!(conn, c => diesel::insert_into(job_resume::table)
        .values((
            job_resume::job.eq(job),
            job_resume::next_offset.eq(next_offset),
            job_resume::pass_id.eq(pass_id),
            job_resume::updated_at.eq(at),
        ))
        .on_conflict(job_resume::job)
        .do_update()
        .set((
            job_resume::next_offset.eq(next_offset),
            job_resume::pass_id.eq(pass_id),
            job_resume::updated_at.eq(at),
        ))
        .execute(c))?;
    Ok(())
}

pub fn clear(conn: &mut AnyConnection, job: &str) -> QueryResult<()> {
    diesel::delete(job_resume::table.find(job)).execute(conn)?;
    Ok(())
}
