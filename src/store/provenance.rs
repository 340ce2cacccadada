//! What refsync last wrote into each CRM field, from which register record, when and in
//! which pass. A CRM value that differs from it was edited by a person.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::provenance;
use super::unnest::Unnest;
use crate::db::AnyConnection;

#[derive(Debug, Clone, Serialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = provenance, treat_none_as_default_value = false)]
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

/// Records what was written, in write order: where two rows name one field, the later
/// wins, as it did in the CRM.
pub fn record_all(conn: &mut AnyConnection, rows: &[ProvenanceRow]) -> QueryResult<()> {
    use diesel::upsert::excluded;
    let mut last: BTreeMap<(&str, &str, &str, &str), &ProvenanceRow> = BTreeMap::new();
    for row in rows {
        last.insert((&row.crm, &row.entity, &row.record_id, &row.field), row);
    }
    let rows: Vec<&ProvenanceRow> = last.into_values().collect();
    let set = || {
        (
            provenance::value.eq(excluded(provenance::value)),
            provenance::source.eq(excluded(provenance::source)),
            provenance::register_id.eq(excluded(provenance::register_id)),
            provenance::change_id.eq(excluded(provenance::change_id)),
            provenance::pass_id.eq(excluded(provenance::pass_id)),
            provenance::written_at.eq(excluded(provenance::written_at)),
        )
    };
    let key = (
        provenance::crm,
        provenance::entity,
        provenance::record_id,
        provenance::field,
    );
    let unnest = |pg| {
        use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
        Unnest::new(&rows)
            .column::<Text, _>("crm", "text", |r| &r.crm)
            .column::<Text, _>("entity", "text", |r| &r.entity)
            .column::<Text, _>("record_id", "text", |r| &r.record_id)
            .column::<Text, _>("field", "text", |r| &r.field)
            .column::<Nullable<Text>, _>("value", "text", |r| r.value.as_deref())
            .column::<Text, _>("source", "text", |r| &r.source)
            .column::<Text, _>("register_id", "text", |r| &r.register_id)
            .column::<BigInt, _>("change_id", "int8", |r| r.change_id)
            .column::<BigInt, _>("pass_id", "int8", |r| r.pass_id)
            .column::<Timestamp, _>("written_at", "timestamp", |r| r.written_at)
            .upsert(
                pg,
                "provenance",
                &["crm", "entity", "record_id", "field"],
                &[],
            )
    };
    upsert_rows!(conn, provenance::table, rows, key, set, unnest);
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
