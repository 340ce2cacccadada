//! Changes: one field of one record, stored before anything is written to the CRM.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::now;
use super::schema::changes;
use crate::db::{AnyConnection, Backend};
use crate::domain::inputs::ChangeState;
use crate::domain::model::{ChangeKind, ChangeStatus, EntityKind, Policy};
use crate::on_store_backend;

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    pub id: i64,
    pub pass_id: i64,
    pub job: String,
    #[diesel(deserialize_as = String)]
    pub entity: EntityKind,
    pub record_id: String,
    /// The register the new value comes from.
    pub source: String,
    pub register_id: String,
    pub field: String,
    /// What the change does.
    #[diesel(deserialize_as = String)]
    pub kind: ChangeKind,
    pub old_value: Option<String>,
    /// `None` only for a revert to an empty (NULL) field.
    pub new_value: Option<String>,
    #[diesel(deserialize_as = String)]
    pub policy: Policy,
    #[diesel(deserialize_as = String)]
    pub status: ChangeStatus,
    pub score: f64,
    pub reason: String,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    pub applied_at: Option<NaiveDateTime>,
    /// Set while its CRM write is in flight: still set at start means the apply was cut short.
    pub applying_since: Option<NaiveDateTime>,
    pub reverts_change_id: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = changes, treat_none_as_default_value = false)]
pub struct NewChange {
    pub pass_id: i64,
    pub job: String,
    #[diesel(serialize_as = String)]
    pub entity: EntityKind,
    pub record_id: String,
    /// The register the new value comes from.
    pub source: String,
    pub register_id: String,
    pub field: String,
    #[diesel(serialize_as = String)]
    pub kind: ChangeKind,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    #[diesel(serialize_as = String)]
    pub policy: Policy,
    #[diesel(serialize_as = String)]
    pub status: ChangeStatus,
    pub score: f64,
    pub reason: String,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    /// Set for a change inserted on its way to the CRM (a pass's auto-applied change): its
    /// insert marks it as [`mark_applying`] would, in the transaction that stores it.
    pub applying_since: Option<NaiveDateTime>,
    pub reverts_change_id: Option<i64>,
}

impl NewChange {
    /// The change as inserted with `id`: what reading it back would give.
    pub fn stored(self, id: i64) -> ChangeRow {
        ChangeRow {
            id,
            pass_id: self.pass_id,
            job: self.job,
            entity: self.entity,
            record_id: self.record_id,
            source: self.source,
            register_id: self.register_id,
            field: self.field,
            kind: self.kind,
            old_value: self.old_value,
            new_value: self.new_value,
            policy: self.policy,
            status: self.status,
            score: self.score,
            reason: self.reason,
            created_at: self.created_at,
            decided_at: self.decided_at,
            decided_by: self.decided_by,
            applied_at: None,
            applying_since: self.applying_since,
            reverts_change_id: self.reverts_change_id,
            error: None,
        }
    }
}

/// Statuses in which a change still waits for something to happen.
pub const OPEN: &[ChangeStatus] = &[
    ChangeStatus::Proposed,
    ChangeStatus::Approved,
    ChangeStatus::Conflict,
    ChangeStatus::Failed,
];

/// What a pass must know of: open changes, and those a steward rejected or reverted.
pub const REMEMBERED: &[ChangeStatus] = &[
    ChangeStatus::Proposed,
    ChangeStatus::Approved,
    ChangeStatus::Conflict,
    ChangeStatus::Failed,
    ChangeStatus::Rejected,
    ChangeStatus::Reverted,
];

fn names(statuses: &[ChangeStatus]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

pub fn insert(conn: &mut AnyConnection, change: &NewChange) -> QueryResult<i64> {
    on_store_backend!(conn, c => diesel::insert_into(changes::table).values(change.clone()).returning(changes::id).get_result(c))
}

/// A change with the id [`reserve_ids`] gave it, as PostgreSQL's COPY takes it: borrowed,
/// its values are not copied first.
#[derive(Insertable)]
#[diesel(table_name = changes, treat_none_as_default_value = false)]
struct Numbered<'a> {
    id: i64,
    pass_id: i64,
    job: &'a str,
    entity: &'static str,
    record_id: &'a str,
    source: &'a str,
    register_id: &'a str,
    field: &'a str,
    kind: &'static str,
    old_value: Option<&'a str>,
    new_value: Option<&'a str>,
    policy: &'static str,
    status: &'static str,
    score: f64,
    reason: &'a str,
    created_at: NaiveDateTime,
    decided_at: Option<NaiveDateTime>,
    decided_by: Option<&'a str>,
    applying_since: Option<NaiveDateTime>,
    reverts_change_id: Option<i64>,
}

impl<'a> Numbered<'a> {
    fn new(id: i64, c: &'a NewChange) -> Self {
        Numbered {
            id,
            pass_id: c.pass_id,
            job: &c.job,
            entity: c.entity.as_str(),
            record_id: &c.record_id,
            source: &c.source,
            register_id: &c.register_id,
            field: &c.field,
            kind: c.kind.as_str(),
            old_value: c.old_value.as_deref(),
            new_value: c.new_value.as_deref(),
            policy: c.policy.as_str(),
            status: c.status.as_str(),
            score: c.score,
            reason: &c.reason,
            created_at: c.created_at,
            decided_at: c.decided_at,
            decided_by: c.decided_by.as_deref(),
            applying_since: c.applying_since,
            reverts_change_id: c.reverts_change_id,
        }
    }
}

/// Inserts `rows` and returns them as stored. Their ids are taken first (see
/// [`reserve_ids`]), so no row is read back to learn which is which.
pub fn insert_all(conn: &mut AnyConnection, rows: Vec<NewChange>) -> QueryResult<Vec<ChangeRow>> {
    let ids = reserve_ids(conn, rows.len())?;
    if let AnyConnection::Postgresql(pg) = conn {
        // One binary COPY: no statement of 10,000 parameters to plan per 500 changes (that
        // and binding them were a third of their insert's server time).
        let numbered: Vec<Numbered> = (ids.iter().zip(&rows))
            .map(|(&id, change)| Numbered::new(id, change))
            .collect();
        diesel::copy_from(changes::table)
            .from_insertable(&numbered)
            .execute(pg)?;
        return Ok(ids
            .into_iter()
            .zip(rows)
            .map(|(id, row)| row.stored(id))
            .collect());
    }
    // Owned rows: diesel keeps a statement prepared only for a row type without borrows.
    let numbered: Vec<_> = (ids.iter().zip(rows))
        .map(|(&id, change)| (changes::id.eq(id), change))
        .collect();
    // 20 values a row: 500 rows stay far below every backend's limit of bound parameters.
    in_runs!(numbered, 500, |run| {
        on_store_backend!(conn, c => diesel::insert_into(changes::table)
            .values(run.to_owned())
            .execute(c))?
    });
    let stored = ids.into_iter().zip(numbered);
    Ok(stored.map(|(id, (_, row))| row.stored(id)).collect())
}

/// Takes `n` ids for new changes from the table's own counter, as an insert without an id
/// would (call it in the transaction that inserts them): PostgreSQL's sequence, SQLite's
/// `AUTOINCREMENT` row in `sqlite_sequence`, whose update holds the write lock to the end.
fn reserve_ids(conn: &mut AnyConnection, n: usize) -> QueryResult<Vec<i64>> {
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = i64::try_from(n).map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
    match conn {
        AnyConnection::Postgresql(c) => {
            // The sequence named as a constant: `pg_get_serial_sequence` in the select list
            // was looked up again for every id, ten times the cost of taking the id.
            let ids: Vec<Id> = diesel::sql_query(
                "SELECT nextval('changes_id_seq'::regclass) AS id FROM generate_series(1, $1)",
            )
            .bind::<BigInt, _>(n)
            .load(c)?;
            Ok(ids.into_iter().map(|i| i.id).collect())
        }
        AnyConnection::Sqlite(c) => {
            // The row exists once the table has held a row; until then the counter starts
            // after the largest id, as SQLite's own would.
            diesel::sql_query(
                "INSERT INTO sqlite_sequence (name, seq) \
                 SELECT 'changes', COALESCE((SELECT MAX(id) FROM changes), 0) \
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'changes')",
            )
            .execute(c)?;
            let last: Id = diesel::sql_query(
                "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'changes' RETURNING seq AS id",
            )
            .bind::<BigInt, _>(n)
            .get_result(c)?;
            Ok((last.id - n + 1..=last.id).collect())
        }
        #[cfg(feature = "mysql")]
        AnyConnection::Mysql(_) => Err(diesel::result::Error::QueryBuilderError(
            "the state store runs on SQLite or PostgreSQL, not MySQL".into(),
        )),
    }
}

pub fn get(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<ChangeRow>> {
    changes::table
        .find(id)
        .select(ChangeRow::as_select())
        .first(conn)
        .optional()
}

/// Every change of one record in a job whose status is one of `statuses`.
pub fn for_record(
    conn: &mut AnyConnection,
    job: &str,
    record_id: &str,
    statuses: &[ChangeStatus],
) -> QueryResult<Vec<ChangeRow>> {
    changes::table
        .filter(changes::job.eq(job))
        .filter(changes::record_id.eq(record_id))
        .filter(changes::status.eq_any(names(statuses)))
        .order(changes::id)
        .select(ChangeRow::as_select())
        .load(conn)
}

/// The changes of several records in a job whose status is one of `statuses`, by record
/// id, each record's in id order: one query per 500 records instead of one per record.
pub fn for_records(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[&str],
    statuses: &[ChangeStatus],
) -> QueryResult<std::collections::HashMap<String, Vec<ChangeRow>>> {
    let mut by_record: std::collections::HashMap<String, Vec<ChangeRow>> =
        std::collections::HashMap::new();
    for chunk in record_ids.chunks(500) {
        // The statuses are filtered here, not in SQL: given both lists, SQLite's planner
        // takes the index on (status, job) and reads every open change of the job for each
        // batch, which made a pass over 200,000 records quadratic.
        let rows: Vec<ChangeRow> = changes::table
            .filter(changes::job.eq(job))
            .filter(changes::record_id.eq_any(chunk))
            .order(changes::id)
            .select(ChangeRow::as_select())
            .load(conn)?;
        for row in rows.into_iter().filter(|r| statuses.contains(&r.status)) {
            by_record
                .entry(row.record_id.clone())
                .or_default()
                .push(row);
        }
    }
    Ok(by_record)
}

/// A change the store remembers of a record, with what a pass needs to tell what has
/// happened to the record since its last check.
#[derive(Debug, Clone)]
pub struct Brief {
    pub id: i64,
    pub status: ChangeStatus,
    pub kind: ChangeKind,
    pub field: String,
    pub new_value: Option<String>,
}

impl Brief {
    pub fn state(&self) -> ChangeState {
        (self.id, self.status, self.kind)
    }
}

/// The changes [`REMEMBERED`] of some records, briefly, by record id: what a pass compares
/// to tell whether a steward decided anything since a record's last check. Merge candidates
/// are left out: they do not decide a record's outcome, and the end of every pass proposes
/// them anew for all records that share a register record.
pub fn remembered_briefly(
    conn: &mut AnyConnection,
    job: &str,
    record_ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, Vec<Brief>>> {
    let mut by_record: std::collections::HashMap<String, Vec<Brief>> =
        std::collections::HashMap::new();
    for chunk in record_ids.chunks(500) {
        // Filtered here, not in SQL, for the planner's sake (see `for_records`).
        type Row = (String, i64, String, String, String, Option<String>);
        let rows: Vec<Row> = changes::table
            .filter(changes::job.eq(job))
            .filter(changes::record_id.eq_any(chunk))
            .select((
                changes::record_id,
                changes::id,
                changes::status,
                changes::kind,
                changes::field,
                changes::new_value,
            ))
            .load(conn)?;
        for (record, id, status, kind, field, new_value) in rows {
            let (Ok(status), Ok(kind)) = (status.parse::<ChangeStatus>(), kind.parse()) else {
                continue;
            };
            if REMEMBERED.contains(&status) && kind != ChangeKind::MergeCandidate {
                by_record.entry(record).or_default().push(Brief {
                    id,
                    status,
                    kind,
                    field,
                    new_value,
                });
            }
        }
    }
    Ok(by_record)
}

/// A change's id with its old and new value.
pub type ChangeValues = (i64, Option<String>, Option<String>);

/// Settled changes created before `cutoff` whose values are not pseudonyms yet.
pub fn settled_before(
    conn: &mut AnyConnection,
    cutoff: NaiveDateTime,
    pseudonym_prefix: &str,
) -> QueryResult<Vec<ChangeValues>> {
    let pattern = format!("{pseudonym_prefix}%");
    changes::table
        .filter(changes::created_at.lt(cutoff))
        .filter(changes::status.ne_all(names(OPEN)))
        .filter(
            changes::old_value
                .is_null()
                .or(changes::old_value.not_like(pattern.clone())),
        )
        .filter(
            changes::new_value
                .is_null()
                .or(changes::new_value.not_like(pattern)),
        )
        .filter(
            changes::old_value
                .is_not_null()
                .or(changes::new_value.is_not_null()),
        )
        .select((changes::id, changes::old_value, changes::new_value))
        .load(conn)
}

/// Replaces a change's values (retention).
pub fn set_values(
    conn: &mut AnyConnection,
    id: i64,
    old: Option<&str>,
    new: Option<&str>,
) -> QueryResult<()> {
    diesel::update(changes::table.find(id))
        .set((changes::old_value.eq(old), changes::new_value.eq(new)))
        .execute(conn)
        .map(|_| ())
}

/// Moves a change to `status`, recording who decided and any error. Ends any apply in
/// flight.
pub fn set_status(
    conn: &mut AnyConnection,
    id: i64,
    status: ChangeStatus,
    by: Option<&str>,
    error: Option<&str>,
) -> QueryResult<()> {
    set_status_of_all(conn, &[id], status, error)?;
    if let Some(by) = by {
        diesel::update(changes::table.find(id))
            .set((
                changes::decided_by.eq(by),
                changes::decided_at.eq(Some(now())),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Sets the status of many changes at once, by no one (a pass or an apply settling its
/// batch): one statement per 500 ids instead of one per change.
pub fn set_status_of_all(
    conn: &mut AnyConnection,
    ids: &[i64],
    status: ChangeStatus,
    error: Option<&str>,
) -> QueryResult<()> {
    let applied_at = (status == ChangeStatus::Applied).then(now);
    for chunk in ids.chunks(500) {
        diesel::update(changes::table.filter(changes::id.eq_any(chunk)))
            .set((
                changes::status.eq(status.as_str()),
                changes::error.eq(error),
                changes::applied_at.eq(applied_at),
                changes::applying_since.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Marks changes as being written to the CRM, committed before the first write.
pub fn mark_applying(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(changes::table.filter(changes::id.eq_any(ids)))
        .set(changes::applying_since.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// Approved changes of a job whose apply was cut short (a crash between CRM write and store).
pub fn interrupted(conn: &mut AnyConnection, job: &str) -> QueryResult<Vec<i64>> {
    changes::table
        .filter(changes::job.eq(job))
        .filter(changes::applying_since.is_not_null())
        .filter(changes::status.eq_any(names(&[ChangeStatus::Approved, ChangeStatus::Failed])))
        .select(changes::id)
        .load(conn)
}

/// Sets the new value a steward edited before approving.
pub fn set_new_value(conn: &mut AnyConnection, id: i64, value: &str) -> QueryResult<()> {
    diesel::update(changes::table.find(id))
        .set(changes::new_value.eq(value))
        .execute(conn)?;
    Ok(())
}

/// Filters of `review list`, of bulk decisions and of the review UI and API.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub job: Option<String>,
    pub statuses: Vec<ChangeStatus>,
    pub pass_id: Option<i64>,
    pub field: Option<String>,
    pub record_id: Option<String>,
    pub ids: Vec<i64>,
    /// Match probability at least / at most.
    pub min_score: Option<f64>,
    pub max_score: Option<f64>,
    /// Case-insensitive substring of the record id, the old or the new value.
    pub text: Option<String>,
    pub sort: ChangeSort,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// The order changes are listed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChangeSort {
    /// Oldest first: the order they were proposed in.
    #[default]
    Id,
    IdDesc,
    ScoreAsc,
    ScoreDesc,
}

type StoreBackend = <AnyConnection as diesel::Connection>::Backend;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// A boxed query on changes, grouped by `GB` (`()`: not grouped). `changes::BoxedQuery`
/// has no group-by parameter, so the counts could not share the filters without it.
type Boxed<'a, ST, GB> = diesel::internal::table_macro::BoxedSelectStatement<
    'a,
    ST,
    diesel::internal::table_macro::FromClause<changes::table>,
    StoreBackend,
    GB,
>;

/// `query` narrowed to what `filter` selects (no order, offset or limit).
fn narrowed<'a, ST: 'a, GB: 'a>(
    mut q: Boxed<'a, ST, GB>,
    filter: &ChangeFilter,
    backend: Backend,
) -> Boxed<'a, ST, GB> {
    if let Some(job) = &filter.job {
        q = q.filter(changes::job.eq(job.clone()));
    }
    if !filter.statuses.is_empty() {
        q = q.filter(changes::status.eq_any(names(&filter.statuses)));
    }
    if let Some(pass) = filter.pass_id {
        q = q.filter(changes::pass_id.eq(pass));
    }
    if let Some(field) = &filter.field {
        q = q.filter(changes::field.eq(field.clone()));
    }
    if let Some(record) = &filter.record_id {
        q = q.filter(changes::record_id.eq(record.clone()));
    }
    if !filter.ids.is_empty() {
        q = q.filter(changes::id.eq_any(filter.ids.clone()));
    }
    if let Some(min) = filter.min_score {
        q = q.filter(changes::score.ge(min));
    }
    if let Some(max) = filter.max_score {
        q = q.filter(changes::score.le(max));
    }
    if let Some(text) = filter.text.as_deref().filter(|t| !t.trim().is_empty()) {
        let escaped = text
            .trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        q = match backend {
            // SQLite's LIKE ignores the case of ASCII letters, exactly the letters its
            // lower() folds: lower() would only cost a free-text search half its time.
            Backend::Sqlite => q.filter(
                changes::record_id
                    .nullable()
                    .like(pattern.clone())
                    .escape('\\')
                    .or(changes::old_value.like(pattern.clone()).escape('\\'))
                    .or(changes::new_value.like(pattern).escape('\\')),
            ),
            _ => q.filter(
                lower(changes::record_id.nullable())
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(changes::old_value).like(pattern.clone()).escape('\\'))
                    .or(lower(changes::new_value).like(pattern).escape('\\')),
            ),
        };
    }
    q
}

/// A change without its values, record or reason: what the report counts.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeBrief {
    pub pass_id: i64,
    pub field: String,
    #[diesel(deserialize_as = String)]
    pub policy: Policy,
    #[diesel(deserialize_as = String)]
    pub status: ChangeStatus,
    pub decided_by: Option<String>,
}

/// The changes `filter` selects, as [`ChangeBrief`]s, in no particular order.
pub fn briefs(conn: &mut AnyConnection, filter: &ChangeFilter) -> QueryResult<Vec<ChangeBrief>> {
    narrowed(
        changes::table.select(ChangeBrief::as_select()).into_boxed(),
        filter,
        conn.backend(),
    )
    .load(conn)
}

pub fn list(conn: &mut AnyConnection, filter: &ChangeFilter) -> QueryResult<Vec<ChangeRow>> {
    let mut q = narrowed(
        changes::table.select(ChangeRow::as_select()).into_boxed(),
        filter,
        conn.backend(),
    );
    q = match filter.sort {
        ChangeSort::Id => q.order(changes::id),
        ChangeSort::IdDesc => q.order(changes::id.desc()),
        ChangeSort::ScoreAsc => q.order((changes::score, changes::id)),
        ChangeSort::ScoreDesc => q.order((changes::score.desc(), changes::id)),
    };
    if let Some(offset) = filter.offset {
        q = q.offset(offset);
    }
    if let Some(limit) = filter.limit {
        q = q.limit(limit);
    }
    q.load(conn)
}

/// A record with changes `filter` selects: how many, the lowest match probability among
/// them, and its oldest one. The review queue shows one card per record.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct RecordGroup {
    pub job: String,
    pub record_id: String,
    pub changes: i64,
    pub min_score: Option<f64>,
    pub first_id: Option<i64>,
}

/// The order records are reviewed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecordOrder {
    /// The records with the most changes first: one decision settles the most.
    #[default]
    MostChanges,
    /// The least certain matches first: where a wrong match does the most harm.
    LowestConfidence,
    /// In the order they were proposed.
    Oldest,
}

/// One page of the records with changes `filter` selects (its own offset and limit and
/// sort are ignored), in `order`.
fn record_groups(
    conn: &mut AnyConnection,
    filter: &ChangeFilter,
    order: RecordOrder,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<RecordGroup>> {
    use diesel::dsl::{count_star, min};
    let grouped = changes::table
        .group_by((changes::job, changes::record_id))
        .select((
            changes::job,
            changes::record_id,
            count_star(),
            min(changes::score),
            min(changes::id),
        ))
        .into_boxed();
    let q = narrowed(grouped, filter, conn.backend());
    let q = match order {
        RecordOrder::MostChanges => q.order((count_star().desc(), min(changes::id))),
        RecordOrder::LowestConfidence => q.order((min(changes::score), min(changes::id))),
        RecordOrder::Oldest => q.order(min(changes::id)),
    };
    q.offset(offset).limit(limit).load(conn)
}

/// A change's keys without its values: what a search groups and counts in memory.
#[derive(Debug, Clone, Queryable)]
pub struct Hit {
    pub id: i64,
    pub job: String,
    pub record_id: String,
    #[diesel(deserialize_as = String)]
    pub status: ChangeStatus,
    pub field: String,
    pub score: f64,
}

/// A page of the review queue: its records, how many records `filter` selects, and the
/// counts of changes per (status, field) over every status, so the counts show what is
/// elsewhere.
pub struct QueuePage {
    pub groups: Vec<RecordGroup>,
    pub records: i64,
    pub facets: Vec<(String, String, i64)>,
}

/// The queue's page for `filter` in `order`. The indexes answer every filter but free
/// text, which is a scan whatever the indexes: that is one scan, grouped in memory, instead
/// of a scan each for the page, the count and the counts.
pub fn queue(
    conn: &mut AnyConnection,
    filter: &ChangeFilter,
    order: RecordOrder,
    offset: i64,
    limit: i64,
) -> QueryResult<QueuePage> {
    let every_status = ChangeFilter {
        statuses: vec![],
        ..filter.clone()
    };
    if filter.text.is_some() {
        return search(conn, filter, &every_status, order, offset, limit);
    }
    Ok(QueuePage {
        groups: record_groups(conn, filter, order, offset, limit)?,
        records: count_records(conn, filter)?,
        facets: count_by_status_and_field(conn, &every_status)?,
    })
}

/// [`queue`] from one scan for the [`Hit`]s of every status.
fn search(
    conn: &mut AnyConnection,
    filter: &ChangeFilter,
    every_status: &ChangeFilter,
    order: RecordOrder,
    offset: i64,
    limit: i64,
) -> QueryResult<QueuePage> {
    let hits: Vec<Hit> = narrowed(
        changes::table
            .select((
                changes::id,
                changes::job,
                changes::record_id,
                changes::status,
                changes::field,
                changes::score,
            ))
            .into_boxed(),
        every_status,
        conn.backend(),
    )
    .load(conn)?;
    Ok(group_hits(&hits, &filter.statuses, order, offset, limit))
}

/// [`search`]'s grouping: `hits` of `statuses` (all when empty) by record in `order`, as
/// [`record_groups`] orders them in SQL, and the counts per (status, field) of all `hits`.
fn group_hits(
    hits: &[Hit],
    statuses: &[ChangeStatus],
    order: RecordOrder,
    offset: i64,
    limit: i64,
) -> QueuePage {
    use std::collections::{BTreeMap, HashMap};
    let mut facets: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut groups: HashMap<(&str, &str), RecordGroup> = HashMap::new();
    for hit in hits {
        *facets.entry((hit.status.as_str(), &hit.field)).or_default() += 1;
        if !statuses.is_empty() && !statuses.contains(&hit.status) {
            continue;
        }
        let group = groups
            .entry((&hit.job, &hit.record_id))
            .or_insert_with(|| RecordGroup {
                job: hit.job.clone(),
                record_id: hit.record_id.clone(),
                changes: 0,
                min_score: Some(hit.score),
                first_id: Some(hit.id),
            });
        group.changes += 1;
        group.min_score = group.min_score.map(|s| s.min(hit.score));
        group.first_id = group.first_id.map(|id| id.min(hit.id));
    }
    let records = groups.len() as i64;
    let mut groups: Vec<RecordGroup> = groups.into_values().collect();
    let first = |g: &RecordGroup| g.first_id.unwrap_or(i64::MAX);
    let score = |g: &RecordGroup| g.min_score.unwrap_or(f64::INFINITY);
    match order {
        RecordOrder::MostChanges => {
            groups.sort_by(|a, b| b.changes.cmp(&a.changes).then(first(a).cmp(&first(b))))
        }
        RecordOrder::LowestConfidence => {
            groups.sort_by(|a, b| score(a).total_cmp(&score(b)).then(first(a).cmp(&first(b))))
        }
        RecordOrder::Oldest => groups.sort_by_key(first),
    }
    let page = groups
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    QueuePage {
        groups: page,
        records,
        facets: facets
            .into_iter()
            .map(|((status, field), n)| (status.to_string(), field.to_string(), n))
            .collect(),
    }
}

/// How many records have changes `filter` selects.
fn count_records(conn: &mut AnyConnection, filter: &ChangeFilter) -> QueryResult<i64> {
    // COUNT(DISTINCT job, record_id) is not portable; the pair joined by a tab (which no
    // job name holds) counts the same in one scan.
    let pair = changes::job.concat("\t").concat(changes::record_id);
    narrowed(
        changes::table
            .select(diesel::dsl::count(pair).aggregate_distinct())
            .into_boxed(),
        filter,
        conn.backend(),
    )
    .get_result(conn)
}

/// The changes `filter` selects of the records `groups` names, by (job, record id), each
/// record's in id order.
pub fn of_groups(
    conn: &mut AnyConnection,
    filter: &ChangeFilter,
    groups: &[RecordGroup],
) -> QueryResult<std::collections::HashMap<(String, String), Vec<ChangeRow>>> {
    let ids: Vec<&str> = groups.iter().map(|g| g.record_id.as_str()).collect();
    let mut jobs: Vec<&str> = groups.iter().map(|g| g.job.as_str()).collect();
    jobs.sort_unstable();
    jobs.dedup();
    // The jobs too, so the index on (job, record_id) finds the rows without a scan.
    let rows: Vec<ChangeRow> = narrowed(
        changes::table.select(ChangeRow::as_select()).into_boxed(),
        filter,
        conn.backend(),
    )
    .filter(changes::job.eq_any(jobs))
    .filter(changes::record_id.eq_any(ids))
    .order(changes::id)
    .load(conn)?;
    let mut out: std::collections::HashMap<(String, String), Vec<ChangeRow>> =
        std::collections::HashMap::new();
    for row in rows {
        // Another job may hold a record of the same id: keep only the groups asked for.
        if groups
            .iter()
            .any(|g| g.job == row.job && g.record_id == row.record_id)
        {
            out.entry((row.job.clone(), row.record_id.clone()))
                .or_default()
                .push(row);
        }
    }
    Ok(out)
}

/// How many changes `filter` selects, ignoring its offset and limit.
pub fn count(conn: &mut AnyConnection, filter: &ChangeFilter) -> QueryResult<i64> {
    narrowed(
        changes::table
            .select(diesel::dsl::count_star())
            .into_boxed(),
        filter,
        conn.backend(),
    )
    .get_result(conn)
}

/// How many changes `filter` selects per (status, field), for the per-status and
/// per-field counts.
pub fn count_by_status_and_field(
    conn: &mut AnyConnection,
    filter: &ChangeFilter,
) -> QueryResult<Vec<(String, String, i64)>> {
    let grouped = changes::table
        .group_by((changes::status, changes::field))
        .select((changes::status, changes::field, diesel::dsl::count_star()))
        .into_boxed();
    let backend = conn.backend();
    narrowed(grouped, filter, backend).load(conn)
}

/// Count of changes per status, for summaries.
pub fn count_by_status(
    conn: &mut AnyConnection,
    job: Option<&str>,
) -> QueryResult<Vec<(String, i64)>> {
    let mut q = changes::table
        .group_by(changes::status)
        .select((changes::status, diesel::dsl::count_star()))
        .order(changes::status)
        .into_boxed();
    if let Some(job) = job {
        q = q.filter(changes::job.eq(job.to_string()));
    }
    q.load(conn)
}

/// Changes of `kinds` in a job that a person decided on (approved, rejected, flagged wrong,
/// reverted), in the order they were decided.
pub fn decided_by_people(
    conn: &mut AnyConnection,
    job: &str,
    kinds: &[ChangeKind],
) -> QueryResult<Vec<ChangeRow>> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    changes::table
        .filter(changes::job.eq(job))
        .filter(changes::kind.eq_any(kinds))
        .filter(changes::decided_by.ne(super::audit::SYSTEM))
        .order((changes::decided_at, changes::id))
        .select(ChangeRow::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_remembers_every_open_change_and_the_decisions_against_the_register() {
        let mut remembered = OPEN.to_vec();
        remembered.extend([ChangeStatus::Rejected, ChangeStatus::Reverted]);
        assert_eq!(REMEMBERED, remembered.as_slice());
    }

    fn hit(id: i64, record: &str, status: &str, field: &str, score: f64) -> Hit {
        Hit {
            id,
            job: "organisations".into(),
            record_id: record.into(),
            status: status.parse().unwrap(),
            field: field.into(),
            score,
        }
    }

    #[test]
    fn a_search_groups_its_hits_by_record_in_the_order_asked_and_counts_every_status() {
        let hits = [
            hit(1, "a", "proposed", "city", 0.95),
            hit(2, "b", "proposed", "city", 0.80),
            hit(3, "b", "proposed", "street", 0.80),
            hit(4, "c", "applied", "city", 0.99),
            hit(5, "c", "proposed", "website", 0.99),
            hit(6, "d", "proposed", "city", 0.70),
        ];
        let ids = |s: &QueuePage| -> Vec<String> {
            s.groups.iter().map(|g| g.record_id.clone()).collect()
        };
        let cases = [
            (RecordOrder::MostChanges, vec!["b", "a", "c", "d"]),
            (RecordOrder::LowestConfidence, vec!["d", "b", "a", "c"]),
            (RecordOrder::Oldest, vec!["a", "b", "c", "d"]),
        ];
        for (order, want) in cases {
            let found = group_hits(&hits, &[ChangeStatus::Proposed], order, 0, 10);
            assert_eq!(ids(&found), want, "{order:?}");
            assert_eq!(found.records, 4);
        }
        let b = &group_hits(
            &hits,
            &[ChangeStatus::Proposed],
            RecordOrder::MostChanges,
            0,
            1,
        )
        .groups[0];
        assert_eq!(
            (b.changes, b.min_score, b.first_id),
            (2, Some(0.80), Some(2))
        );
        // A page is a slice of the order; the count is of every record.
        let page = group_hits(&hits, &[ChangeStatus::Proposed], RecordOrder::Oldest, 2, 1);
        assert_eq!((ids(&page), page.records), (vec!["c".to_string()], 4));
        // An applied change is not in its record's card, yet it is counted.
        let c = group_hits(&hits, &[ChangeStatus::Proposed], RecordOrder::Oldest, 0, 10);
        assert_eq!(c.groups[2].changes, 1);
        assert!(c
            .facets
            .contains(&("applied".to_string(), "city".to_string(), 1)));
        assert!(c
            .facets
            .contains(&("proposed".to_string(), "city".to_string(), 3)));
        // No status asked: every hit is in a card.
        assert_eq!(
            group_hits(&hits, &[], RecordOrder::Oldest, 0, 10).groups[2].changes,
            2
        );
    }
}
