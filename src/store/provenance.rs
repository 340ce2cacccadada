//! What refsync last wrote into each CRM field, from which register record, when and in
//! which pass. A CRM value that differs from it was edited by a person.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::provenance;
use crate::db::AnyConnection;

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = provenance, treat_none_as_null = true)]
pub struct ProvenanceRow {
    pub crm: String,
    pub entity: String,
    pub record_id: String,
    pub field: String,
    /// The value written; `None` when refsync wrote NULL (a revert to an empty field).
    pub value: Option<String>,
    pub source: String,
    pub register_id: String,
    pub change_id: i64,
    pub pass_id: i64,
    pub written_at: NaiveDateTime,
}

pub fn record(conn: &mut AnyConnection, row: &ProvenanceRow) -> QueryResult<()> {
    let key = provenance::table.find((&row.crm, &row.entity, &row.record_id, &row.field));
    if diesel::update(key).set(row).execute(conn)? == 0 {
        diesel::insert_into(provenance::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Provenance of every field refsync wrote for each of `record_ids`, by record id.
pub fn for_records(
    conn: &mut AnyConnection,
    crm: &str,
    entity: &str,
    record_ids: &[String],
) -> QueryResult<BTreeMap<String, Vec<ProvenanceRow>>> {
    let mut by_record: BTreeMap<String, Vec<ProvenanceRow>> = BTreeMap::new();
    // Bounded IN lists: a batch is at most a few thousand ids.
    for chunk in record_ids.chunks(500) {
        let rows: Vec<ProvenanceRow> = provenance::table
            .filter(provenance::crm.eq(crm))
            .filter(provenance::entity.eq(entity))
            .filter(provenance::record_id.eq_any(chunk))
            .select(ProvenanceRow::as_select())
            .load(conn)?;
        for row in rows {
            by_record
                .entry(row.record_id.clone())
                .or_default()
                .push(row);
        }
    }
    Ok(by_record)
}
