//! The match model each pass scored with, so that `explain` repeats the pass's decision.

use chrono::Utc;
use diesel::prelude::*;

use super::schema::pass_models;
use crate::db::AnyConnection;

/// Stores the model (JSON) of `pass_id`; a second call for the same pass replaces it.
pub fn save(conn: &mut AnyConnection, pass_id: i64, job: &str, model: &str) -> QueryResult<()> {
    diesel::delete(pass_models::table.find(pass_id)).execute(conn)?;
    diesel::insert_into(pass_models::table)
        .values((
            pass_models::pass_id.eq(pass_id),
            pass_models::job.eq(job),
            pass_models::model.eq(model),
            pass_models::created_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The model of the newest pass of `job` that stored one, with that pass's id.
pub fn latest(conn: &mut AnyConnection, job: &str) -> QueryResult<Option<(i64, String)>> {
    pass_models::table
        .filter(pass_models::job.eq(job))
        .order(pass_models::pass_id.desc())
        .select((pass_models::pass_id, pass_models::model))
        .first(conn)
        .optional()
}
