//! Register values a steward marked "wrong for this record".

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::suppressions;
use crate::db::AnyConnection;

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = suppressions)]
pub struct Suppression {
    pub job: String,
    pub record_id: String,
    pub field: String,
    /// The value in comparable form, so `Hauptstr.` also suppresses `Hauptstraße`.
    pub value_key: String,
    pub value: String,
    pub decided_by: String,
    pub decided_at: NaiveDateTime,
    pub change_id: Option<i64>,
}

pub fn add(conn: &mut AnyConnection, s: &Suppression) -> QueryResult<()> {
    let exists = suppressions::table
        .find((&s.job, &s.record_id, &s.field, &s.value_key))
        .count()
        .get_result::<i64>(conn)?;
    if exists == 0 {
        diesel::insert_into(suppressions::table)
            .values(s)
            .execute(conn)?;
    }
    Ok(())
}

/// Suppressions of each of `record_ids` in a job, by record id.
pub fn for_records(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[String],
) -> QueryResult<std::collections::BTreeMap<String, Vec<Suppression>>> {
    let mut out: std::collections::BTreeMap<String, Vec<Suppression>> = Default::default();
    for chunk in record_ids.chunks(500) {
        let rows: Vec<Suppression> = suppressions::table
            .filter(suppressions::job.eq(job))
            .filter(suppressions::record_id.eq_any(chunk))
            .select(Suppression::as_select())
            .load(conn)?;
        for row in rows {
            out.entry(row.record_id.clone()).or_default().push(row);
        }
    }
    Ok(out)
}
