//! Where a job's incremental passes resume.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::now;
use super::schema::job_cursors;
use crate::db::AnyConnection;

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = job_cursors, treat_none_as_null = true)]
pub struct Cursor {
    pub job: String,
    /// The newest CRM "modified" value the last successful pass saw, as the CRM spells it.
    pub cursor: Option<String>,
    pub full_pass_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

pub fn get(conn: &mut AnyConnection, job: &str) -> QueryResult<Option<Cursor>> {
    job_cursors::table
        .find(job)
        .select(Cursor::as_select())
        .first(conn)
        .optional()
}

/// Saves a successful pass's cursor; a full pass also records when it ran.
pub fn save(
    conn: &mut AnyConnection,
    job: &str,
    cursor: Option<String>,
    full: bool,
) -> QueryResult<()> {
    let before = get(conn, job)?;
    let row = Cursor {
        job: job.to_string(),
        cursor: match (cursor, before.as_ref().and_then(|b| b.cursor.clone())) {
            (Some(new), Some(old)) => Some(new.max(old)),
            (new, old) => new.or(old),
        },
        full_pass_at: if full {
            Some(now())
        } else {
            before.as_ref().and_then(|b| b.full_pass_at)
        },
        updated_at: now(),
    };
    if diesel::update(job_cursors::table.find(job))
        .set(&row)
        .execute(conn)?
        == 0
    {
        diesel::insert_into(job_cursors::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}
