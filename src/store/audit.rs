//! The audit log: append-only (database triggers refuse UPDATE and DELETE).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::audit_log;
use crate::db::AnyConnection;

/// Who acts when no person does.
pub const SYSTEM: &str = "system";

#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub job: String,
    pub pass_id: Option<i64>,
    pub change_id: Option<i64>,
    pub entity: String,
    pub record_id: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub source: Option<String>,
    pub score: Option<f64>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAudit {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub job: String,
    pub pass_id: Option<i64>,
    pub change_id: Option<i64>,
    pub entity: String,
    pub record_id: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub source: Option<String>,
    pub score: Option<f64>,
    pub detail: Option<String>,
}

pub fn append(conn: &mut AnyConnection, entry: &NewAudit) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub job: Option<String>,
    pub record_id: Option<String>,
    pub change_id: Option<i64>,
    pub limit: Option<i64>,
}

/// Newest first.
pub fn list(conn: &mut AnyConnection, filter: &AuditFilter) -> QueryResult<Vec<AuditRow>> {
    let mut q = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .into_boxed();
    if let Some(job) = &filter.job {
        q = q.filter(audit_log::job.eq(job.clone()));
    }
    if let Some(record) = &filter.record_id {
        q = q.filter(audit_log::record_id.eq(record.clone()));
    }
    if let Some(change) = filter.change_id {
        q = q.filter(audit_log::change_id.eq(change));
    }
    if let Some(limit) = filter.limit {
        q = q.limit(limit);
    }
    q.load(conn)
}
