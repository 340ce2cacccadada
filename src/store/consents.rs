//! Consent records per contact and channel. Append-only (triggers refuse UPDATE, and DELETE
//! except for contacts that were erased: telephone proofs only five years after erasure).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{consents, erasures};
use crate::db::AnyConnection;
use crate::on_store_backend;

/// How long telephone consent proofs outlive an erasure (UWG §7a).
pub const PHONE_PROOF_YEARS: i64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub id: i64,
    pub crm: String,
    pub contact_id: String,
    pub channel: String,
    pub status: String,
    pub source: String,
    /// When the person gave or revoked it.
    pub given_at: NaiveDateTime,
    /// JSON: the double opt-in proof of an e-mail opt-in.
    pub evidence: Option<String>,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = consents)]
pub struct NewConsentRow {
    pub crm: String,
    pub contact_id: String,
    pub channel: String,
    pub status: String,
    pub source: String,
    pub given_at: NaiveDateTime,
    pub evidence: Option<String>,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

/// Appends a record; returns its id.
pub fn insert(conn: &mut AnyConnection, row: &NewConsentRow) -> QueryResult<i64> {
    on_store_backend!(conn, c => diesel::insert_into(consents::table)
        .values(row)
        .returning(consents::id)
        .get_result(c))
}

/// A contact's records, oldest first.
pub fn for_contact(
    conn: &mut AnyConnection,
    crm: &str,
    contact_id: &str,
) -> QueryResult<Vec<ConsentRow>> {
    consents::table
        .filter(consents::crm.eq(crm))
        .filter(consents::contact_id.eq(contact_id))
        .order((consents::given_at, consents::id))
        .select(ConsentRow::as_select())
        .load(conn)
}

/// Every record (of one CRM), in id order.
pub fn all(conn: &mut AnyConnection, crm: Option<&str>) -> QueryResult<Vec<ConsentRow>> {
    let mut q = consents::table
        .select(ConsentRow::as_select())
        .order(consents::id)
        .into_boxed();
    if let Some(crm) = crm {
        q = q.filter(consents::crm.eq(crm.to_string()));
    }
    q.load(conn)
}

/// Removes an erased contact's records except the telephone proofs; call after the erasure
/// is recorded (the trigger refuses it before).
pub fn remove_erased(conn: &mut AnyConnection, crm: &str, contact_id: &str) -> QueryResult<usize> {
    diesel::delete(
        consents::table
            .filter(consents::crm.eq(crm))
            .filter(consents::contact_id.eq(contact_id))
            .filter(consents::channel.ne("phone")),
    )
    .execute(conn)
}

/// Removes the telephone proofs of contacts erased more than five years before `now`.
pub fn remove_expired_phone_proofs(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let cutoff = now - chrono::Duration::days(365 * PHONE_PROOF_YEARS + 2);
    let expired: Vec<(String, String)> = erasures::table
        .filter(erasures::erased_at.lt(cutoff))
        .select((erasures::crm, erasures::record_id))
        .load(conn)?;
    let mut removed = 0;
    for (crm, contact_id) in expired {
        removed += diesel::delete(
            consents::table
                .filter(consents::crm.eq(crm))
                .filter(consents::contact_id.eq(contact_id)),
        )
        .execute(conn)?;
    }
    Ok(removed)
}
