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
        after_id -> Nullable<Text>,
    }
}

/// Where an unfinished sweep of `job` stood: the records it had gone through and the id
/// of the last one; `None` for a fresh sweep (or a row of an older version, which kept
/// only a count: that sweep starts over).
pub fn get(conn: &mut AnyConnection, job: &str) -> QueryResult<Option<(i64, String)>> {
    let row: Option<(i64, Option<String>)> = job_resume::table
        .find(job)
        .select((job_resume::next_offset, job_resume::after_id))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(done, after)| Some((done, after?))))
}

pub fn save(
    conn: &mut AnyConnection,
    job: &str,
    (done, after): (i64, &str),
    pass_id: i64,
) -> QueryResult<()> {
    let at = now();
    crate::on_store_backend!(conn, c => diesel::insert_into(job_resume::table)
        .values((
            job_resume::job.eq(job),
            job_resume::next_offset.eq(done),
            job_resume::after_id.eq(after),
            job_resume::pass_id.eq(pass_id),
            job_resume::updated_at.eq(at),
        ))
        .on_conflict(job_resume::job)
        .do_update()
        .set((
            job_resume::next_offset.eq(done),
            job_resume::after_id.eq(after),
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
