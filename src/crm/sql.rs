//! A CRM in a SQL database (SQLite or PostgreSQL), read and written through a mapping:
//! tables, columns, row filters (`where`), lookups into other tables, and the CRM's own
//! "modified" columns. Names come from config, are validated there and quoted here; values
//! are always bound, never spliced into SQL.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::{
    BoxFuture, CrmError, CrmSource, FieldWrite, MergeOutcome, MergeUndo, MergeWrite, RawRow,
    Repointed, WriteOutcome,
};
use crate::config::{check_identifier, check_url, EraseMode, SqlCrmConfig, TableMapping, UrlUse};
use crate::db::{AnyConnection, Backend, Db, DbError, Missing};
use crate::domain::erasure::PERSONAL_FIELDS;
use crate::domain::model::{EntityKind, Field, Modified, Record};
use crate::on_backend;

/// Most canonical fields one mapping may read; more is a config error at open.
const SLOTS: usize = 24;

pub struct SqlCrm {
    name: String,
    config: SqlCrmConfig,
    db: Db,
    /// Column types by (table, column). PostgreSQL's: values are bound as text and cast to
    /// them, so integer ids, booleans and timestamps compare natively (and use indexes).
    /// SQLite's declared ones: only whether a column has none matters (see `id_bound`).
    types: HashMap<(String, String), String>,
}

/// One row with the id, who and when last modified it, and up to [`SLOTS`] mapped
/// columns, all read as text.
#[derive(QueryableByName)]
struct SlotRow {
    #[diesel(sql_type = Text)]
    rid: String,
    #[diesel(sql_type = Nullable<Text>)]
    modified_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    modified_by: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v0: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v3: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v4: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v5: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v6: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v7: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v8: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v9: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v10: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v11: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v12: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v13: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v14: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v15: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v16: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v17: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v18: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v19: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v20: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v21: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v22: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v23: Option<String>,
}

impl SlotRow {
    fn into_values(self) -> (String, Option<Modified>, [Option<String>; SLOTS]) {
        let modified =
            (self.modified_at.is_some() || self.modified_by.is_some()).then_some(Modified {
                at: self.modified_at,
                by: self.modified_by,
            });
        (
            self.rid,
            modified,
            [
                self.v0, self.v1, self.v2, self.v3, self.v4, self.v5, self.v6, self.v7, self.v8,
                self.v9, self.v10, self.v11, self.v12, self.v13, self.v14, self.v15, self.v16,
                self.v17, self.v18, self.v19, self.v20, self.v21, self.v22, self.v23,
            ],
        )
    }
}

#[derive(QueryableByName)]
struct CurrentValue {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

#[derive(QueryableByName)]
struct ColumnType {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
}

fn quote(ident: &str) -> String {
    // Identifiers were validated as [A-Za-z0-9_]+ in config; quoting keeps reserved words safe.
    format!("\"{ident}\"")
}

/// Which rows a read returns.
enum Selection<'a> {
    /// A page in id order, optionally only rows modified since a CRM time.
    Page {
        since: Option<&'a str>,
        /// The last id of the page before.
        after: Option<&'a str>,
        limit: usize,
    },
    /// The rows with these ids.
    Ids(&'a [String]),
}

/// Numbered placeholders in order of appearance, with their values: the SQL text and the
/// bind order can never drift apart.
struct Binds {
    backend: Backend,
    values: Vec<Option<String>>,
}

impl Binds {
    fn new(backend: Backend) -> Binds {
        Binds {
            backend,
            values: Vec::new(),
        }
    }

    fn push(&mut self, value: Option<String>) -> String {
        self.values.push(value);
        match self.backend {
            Backend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_string(),
        }
    }
}

impl SqlCrm {
    /// Connects and checks that every mapped table and column exists, so a wrong mapping
    /// fails before a pass starts rather than in the middle of one.
    pub async fn open(name: &str, config: &SqlCrmConfig) -> Result<SqlCrm, CrmError> {
        let url = config.url.clone();
        let unusable = |problem: String| CrmError::Unusable {
            crm: name.to_string(),
            problem,
        };
        let db = tokio::task::spawn_blocking(move || Db::connect(&url, Missing::Refuse))
            .await
            .map_err(|e| unusable(e.to_string()))?
            .map_err(|source| CrmError::Db {
                crm: name.to_string(),
                source,
            })?;
        let mut crm = SqlCrm {
            name: name.to_string(),
            config: config.clone(),
            db,
            types: HashMap::new(),
        };
        // Column types: PostgreSQL's for casting bound text, SQLite's declared ones for the
        // columns declared without any (see `id_bound`).
        let types_sql = match crm.db.backend {
            Backend::Postgres => Some(
                "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS column_name, \
                 CAST(data_type AS TEXT) AS data_type FROM information_schema.columns \
                 WHERE table_schema = current_schema()",
            ),
            Backend::Sqlite => Some(
                "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type \
                 FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type IN ('table', 'view')",
            ),
            #[cfg(feature = "mysql")]
            Backend::Mysql => None,
        };
        if let Some(sql) = types_sql {
            let rows: Vec<ColumnType> = crm
                .db
                .run(move |conn| diesel::sql_query(sql).load(conn))
                .await
                .map_err(|e| crm.db_error(e))?;
            crm.types = rows
                .into_iter()
                .map(|r| ((r.table_name, r.column_name), r.data_type))
                .collect();
        }
        for kind in [EntityKind::Organisation, EntityKind::Contact] {
            if let Some(mapping) = config.mapping(kind) {
                crm.check_mapping(mapping).await?;
            }
        }
        Ok(crm)
    }

    fn mapping(&self, kind: EntityKind) -> Result<&TableMapping, CrmError> {
        self.config.mapping(kind).ok_or_else(|| CrmError::Unusable {
            crm: self.name.clone(),
            problem: format!(
                "no mapping for {kind} records; add a [crm.{}.{kind}s] section",
                self.name
            ),
        })
    }

    async fn check_mapping(&self, mapping: &TableMapping) -> Result<(), CrmError> {
        if mapping.columns.len() > SLOTS {
            return Err(self.unusable(format!(
                "table `{}` maps {} fields; at most {SLOTS} are supported",
                mapping.table,
                mapping.columns.len()
            )));
        }
        // Qualified: SQLite reads an unknown bare "column" as a string literal.
        let mut probes = vec![];
        let columns: Vec<String> = std::iter::once(&mapping.id_column)
            .chain(mapping.modified_column.iter())
            .chain(mapping.modified_by_column.iter())
            .chain(mapping.filter.keys())
            .chain(mapping.columns.values())
            .map(|c| self.col(&mapping.table, c))
            .collect();
        probes.push((mapping.table.clone(), columns.join(", ")));
        for l in mapping.lookups.values() {
            probes.push((
                l.table.clone(),
                format!(
                    "{}, {}",
                    self.col(&l.table, &l.key),
                    self.col(&l.table, &l.value)
                ),
            ));
        }
        for (table, columns) in probes {
            self.probe(&table, &columns, &format!("[crm.{}]", self.name))
                .await?;
        }
        Ok(())
    }

    /// Fails unless `table` has every one of `columns` (qualified, comma-separated);
    /// `section` names where the config says them.
    async fn probe(&self, table: &str, columns: &str, section: &str) -> Result<(), CrmError> {
        let sql = self.dialect(format!(
            "SELECT {columns} FROM {} WHERE 1 = 0",
            quote(table)
        ));
        let result = self
            .db
            .run(move |conn| diesel::sql_query(sql).execute(conn))
            .await;
        result.map_err(|e| {
            self.unusable(format!(
                "table `{table}` or one of its mapped columns ({columns}) is missing: {e}; \
                 fix the mapping in {section} or the CRM schema"
            ))
        })?;
        Ok(())
    }

    /// Fails unless every (table, column) exists; `section` names where the config says them.
    pub async fn check_columns(
        &self,
        columns: &[(&str, &str)],
        section: &str,
    ) -> Result<(), CrmError> {
        for (table, column) in columns {
            self.probe(table, &self.col(table, column), section).await?;
        }
        Ok(())
    }

    fn unusable(&self, problem: String) -> CrmError {
        CrmError::Unusable {
            crm: self.name.clone(),
            problem,
        }
    }

    fn db_error(&self, e: diesel::result::Error) -> CrmError {
        CrmError::Db {
            crm: self.name.clone(),
            source: DbError::Query(e),
        }
    }

    /// Adds the mapping's "modified" columns (when and by whom) to an UPDATE's `set`.
    fn stamp(&self, mapping: &TableMapping, binds: &mut Binds, set: &mut Vec<String>) {
        let t = &mapping.table;
        if let Some(m) = &mapping.modified_column {
            set.push(format!("{} = {}", quote(m), self.utc_now(t, m)));
        }
        if let Some(m) = &mapping.modified_by_column {
            let p = binds.push(Some(self.config.writer_name.clone()));
            set.push(format!("{} = {}", quote(m), self.typed(t, m, p)));
        }
    }

    /// `table.column`, quoted.
    fn col(&self, table: &str, column: &str) -> String {
        format!("{}.{}", quote(table), quote(column))
    }

    /// A bound value as the column's own type (PostgreSQL needs the cast; SQLite applies
    /// column affinity itself).
    fn typed(&self, table: &str, column: &str, placeholder: String) -> String {
        if self.db.backend != Backend::Postgres {
            return placeholder;
        }
        match self.types.get(&(table.to_string(), column.to_string())) {
            Some(t)
                if !matches!(
                    t.as_str(),
                    "text" | "character varying" | "character" | "USER-DEFINED" | "ARRAY"
                ) =>
            {
                format!("CAST({placeholder} AS {t})")
            }
            _ => placeholder,
        }
    }

    /// The bound id a page starts after, compared in the id column's own order. PostgreSQL
    /// casts the text to the column's type, SQLite converts it by the column's affinity and
    /// MySQL compares a number column as numbers — except a SQLite column declared without
    /// a type: it keeps integers as integers and orders each before any text, so an
    /// integer id is bound as one there.
    fn id_bound(&self, table: &str, column: &str, after: &str, placeholder: String) -> String {
        let untyped = self.db.backend == Backend::Sqlite
            && self
                .types
                .get(&(table.to_string(), column.to_string()))
                .is_some_and(String::is_empty);
        if untyped && after.parse::<i64>().is_ok() {
            format!("CAST({placeholder} AS INTEGER)")
        } else {
            self.typed(table, column, placeholder)
        }
    }

    /// The SQL as the backend spells it. Statements are written for SQLite and PostgreSQL;
    /// MySQL quotes identifiers with backticks and casts to CHAR. Safe as a text rewrite:
    /// identifiers are plain `[A-Za-z0-9_]` names and every value is a bound parameter.
    fn dialect(&self, sql: String) -> String {
        match self.db.backend {
            #[cfg(feature = "mysql")]
            Backend::Mysql => sql.replace('"', "`").replace(" AS TEXT)", " AS CHAR)"),
            _ => sql,
        }
    }

    /// Null-safe equality, spelled per backend.
    fn same_as(&self, left: &str, right: &str) -> String {
        match self.db.backend {
            Backend::Sqlite => format!("{left} IS {right}"),
            Backend::Postgres => format!("{left} IS NOT DISTINCT FROM {right}"),
            #[cfg(feature = "mysql")]
            Backend::Mysql => format!("{left} <=> {right}"),
        }
    }

    /// The current UTC time as the CRM keeps it in `column`.
    fn utc_now(&self, table: &str, column: &str) -> &'static str {
        match (
            self.db.backend,
            self.types
                .get(&(table.to_string(), column.to_string()))
                .map(String::as_str),
        ) {
            (Backend::Postgres, Some("timestamp with time zone")) => "now()",
            (Backend::Postgres, _) => "(now() AT TIME ZONE 'UTC')",
            #[cfg(feature = "mysql")]
            (Backend::Mysql, _) => "UTC_TIMESTAMP()",
            (Backend::Sqlite, _) => "CURRENT_TIMESTAMP",
        }
    }

    /// The text value of a mapped field: the column, or the looked-up value.
    fn value_expr(&self, mapping: &TableMapping, field: Field, column: &str) -> String {
        match mapping.lookups.get(&field) {
            Some(l) => format!(
                // LIMIT 1: a link table (SuiteCRM's accounts_contacts) may hold several rows.
                "(SELECT CAST({} AS TEXT) FROM {} WHERE {} = {} LIMIT 1)",
                self.col(&l.table, &l.value),
                quote(&l.table),
                self.col(&l.table, &l.key),
                self.col(&mapping.table, column)
            ),
            None => format!("CAST({} AS TEXT)", self.col(&mapping.table, column)),
        }
    }

    /// The rows of this entity: the mapping's `where` filter.
    fn filter(&self, mapping: &TableMapping, binds: &mut Binds) -> Vec<String> {
        mapping
            .filter
            .iter()
            .map(|(column, value)| {
                format!(
                    "CAST({} AS TEXT) = {}",
                    self.col(&mapping.table, column),
                    binds.push(Some(value.clone()))
                )
            })
            .collect()
    }

    async fn read(
        &self,
        kind: EntityKind,
        selection: Selection<'_>,
    ) -> Result<Vec<Record>, CrmError> {
        let mapping = self.mapping(kind)?;
        let fields: Vec<(Field, String)> = mapping
            .columns
            .iter()
            .map(|(f, c)| (*f, c.clone()))
            .collect();
        let exprs: Vec<String> = fields
            .iter()
            .map(|(field, column)| self.value_expr(mapping, *field, column))
            .collect();
        let rows = self.read_slots(mapping, selection, &exprs).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (id, modified, values) = row.into_values();
                let mut record = Record::new(id);
                record.modified = modified;
                for ((field, _), value) in fields.iter().zip(values) {
                    if let Some(v) = value {
                        record.values.insert(*field, v);
                    }
                }
                record
            })
            .collect())
    }

    /// The rows of `selection` with the id, the "modified" columns and up to [`SLOTS`]
    /// text expressions.
    async fn read_slots(
        &self,
        mapping: &TableMapping,
        selection: Selection<'_>,
        exprs: &[String],
    ) -> Result<Vec<SlotRow>, CrmError> {
        let t = &mapping.table;
        let optional_text = |column: &Option<String>, alias: &str| match column {
            Some(c) => format!("CAST({} AS TEXT) AS {alias}", self.col(t, c)),
            None => format!("CAST(NULL AS TEXT) AS {alias}"),
        };
        let mut select = vec![
            format!("CAST({} AS TEXT) AS rid", self.col(t, &mapping.id_column)),
            optional_text(&mapping.modified_column, "modified_at"),
            optional_text(&mapping.modified_by_column, "modified_by"),
        ];
        for slot in 0..SLOTS {
            match exprs.get(slot) {
                Some(expr) => select.push(format!("{expr} AS v{slot}")),
                None => select.push(format!("CAST(NULL AS TEXT) AS v{slot}")),
            }
        }
        let mut binds = Binds::new(self.db.backend);
        let mut conditions = self.filter(mapping, &mut binds);
        let page = match selection {
            Selection::Page {
                since,
                after,
                limit,
            } => {
                if let (Some(since), Some(m)) = (since, &mapping.modified_column) {
                    let p = binds.push(Some(since.to_string()));
                    conditions.push(format!("{} >= {}", self.col(t, m), self.typed(t, m, p)));
                }
                if let Some(after) = after {
                    let id = &mapping.id_column;
                    let p = binds.push(Some(after.to_string()));
                    conditions.push(format!(
                        "{} > {}",
                        self.col(t, id),
                        self.id_bound(t, id, after, p)
                    ));
                }
                format!(" LIMIT {limit}")
            }
            Selection::Ids(ids) => {
                let marks: Vec<String> =
                    ids.iter().map(|id| binds.push(Some(id.clone()))).collect();
                conditions.push(format!(
                    "CAST({} AS TEXT) IN ({})",
                    self.col(t, &mapping.id_column),
                    marks.join(", ")
                ));
                String::new()
            }
        };
        let sql = self.dialect(format!(
            "SELECT {} FROM {} {} ORDER BY {}{page}",
            select.join(", "),
            quote(t),
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            },
            self.col(t, &mapping.id_column),
        ));
        let values = binds.values;
        self.db
            .read(move |conn| {
                on_backend!(conn, c => {
                    let mut q = diesel::sql_query(&sql).into_boxed();
                    for v in &values {
                        q = q.bind::<Nullable<Text>, _>(v.clone());
                    }
                    q.load(c)
                })
            })
            .await
            .map_err(|e| self.db_error(e))
    }

    /// Raw columns of a page of records, for data outside the canonical fields (consent).
    async fn read_raw(
        &self,
        kind: EntityKind,
        columns: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RawRow>, CrmError> {
        let mapping = self.mapping(kind)?;
        if columns.len() > SLOTS {
            return Err(self.unusable(format!("at most {SLOTS} extra columns can be read")));
        }
        let exprs: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({} AS TEXT)", self.col(&mapping.table, c)))
            .collect();
        let selection = Selection::Page {
            since: None,
            after,
            limit,
        };
        let rows = self.read_slots(mapping, selection, &exprs).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (id, _, values) = row.into_values();
                RawRow {
                    id,
                    values: values.into_iter().take(columns.len()).collect(),
                }
            })
            .collect())
    }

    /// The statements of one guarded write, or why the mapping cannot take it.
    fn prepare_write(
        &self,
        kind: EntityKind,
        write: &FieldWrite,
    ) -> Result<PreparedWrite, CrmError> {
        let FieldWrite {
            id,
            field,
            expected,
            new,
        } = write;
        let (id, field, expected, new) = (id.as_str(), *field, expected.as_deref(), new.as_deref());
        let mapping = self.mapping(kind)?;
        let t = &mapping.table;
        let column = mapping.columns.get(&field).ok_or_else(|| {
            self.unusable(format!("no column mapped for `{field}` in table `{t}`"))
        })?;
        let lookup = mapping.lookups.get(&field);

        // A value that has no row in the lookup table cannot be written as a key.
        let key_check = match (lookup, new) {
            (Some(l), Some(v)) => {
                let mut b = Binds::new(self.db.backend);
                let sql = self.dialect(format!(
                    "SELECT CAST({} AS TEXT) AS value FROM {} WHERE CAST({} AS TEXT) = {}",
                    self.col(&l.table, &l.key),
                    quote(&l.table),
                    self.col(&l.table, &l.value),
                    b.push(Some(v.to_string()))
                ));
                Some((
                    (sql, b.values),
                    format!("`{v}` is not in {}.{}", l.table, l.value),
                ))
            }
            _ => None,
        };

        let mut binds = Binds::new(self.db.backend);
        let new_expr = match lookup {
            Some(l) => format!(
                "(SELECT {} FROM {} WHERE CAST({} AS TEXT) = {})",
                self.col(&l.table, &l.key),
                quote(&l.table),
                self.col(&l.table, &l.value),
                binds.push(new.map(str::to_string))
            ),
            None => {
                let p = binds.push(new.map(str::to_string));
                self.typed(t, column, p)
            }
        };
        let mut set = vec![format!("{} = {new_expr}", quote(column))];
        self.stamp(mapping, &mut binds, &mut set);
        let id_p = binds.push(Some(id.to_string()));
        let mut conditions = vec![format!(
            "{} = {}",
            self.col(t, &mapping.id_column),
            self.typed(t, &mapping.id_column, id_p)
        )];
        let current_expr = self.value_expr(mapping, field, column);
        let expected_p = binds.push(expected.map(str::to_string));
        conditions.push(self.same_as(&current_expr, &expected_p));
        let update = self.dialect(format!(
            "UPDATE {} SET {} WHERE {}",
            quote(t),
            set.join(", "),
            conditions.join(" AND ")
        ));
        let update_binds = binds.values;

        let mut b = Binds::new(self.db.backend);
        let id_p = b.push(Some(id.to_string()));
        let current = self.dialect(format!(
            "SELECT {current_expr} AS value FROM {} WHERE {} = {}",
            quote(t),
            self.col(t, &mapping.id_column),
            self.typed(t, &mapping.id_column, id_p)
        ));
        let current_binds = b.values;

        Ok(PreparedWrite {
            key_check,
            update: (update, update_binds),
            current: (current, current_binds),
        })
    }

    /// Several guarded writes in one CRM transaction; each runs in a savepoint of its own,
    /// so a write the database refuses leaves the others of the batch standing.
    async fn write_all(
        &self,
        kind: EntityKind,
        writes: &[FieldWrite],
    ) -> Vec<Result<WriteOutcome, CrmError>> {
        let mut outcomes: Vec<Option<Result<WriteOutcome, CrmError>>> =
            Vec::with_capacity(writes.len());
        let mut ready = Vec::with_capacity(writes.len());
        for (i, w) in writes.iter().enumerate() {
            match self.prepare_write(kind, w) {
                Ok(p) => {
                    ready.push((i, p));
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(Err(e))),
            }
        }
        let executed = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    Ok::<_, diesel::result::Error>(
                        ready
                            .iter()
                            .map(|(i, w)| (*i, conn.transaction(|conn| w.execute(conn))))
                            .collect::<Vec<_>>(),
                    )
                })
            })
            .await;
        let problem = match executed {
            Ok(done) => {
                for (i, result) in done {
                    outcomes[i] = Some(result.map_err(|e| self.db_error(e)));
                }
                String::new()
            }
            Err(e) => e.to_string(),
        };
        // Without a commit none of the batch's writes happened.
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(self.unusable(format!("the batch was not written: {problem}")))
                })
            })
            .collect()
    }
}

/// Why a merge's transaction was rolled back.
enum MergeAbort {
    Db(DbError),
    Refused(String),
}

impl From<diesel::result::Error> for MergeAbort {
    fn from(e: diesel::result::Error) -> MergeAbort {
        MergeAbort::Db(DbError::Query(e))
    }
}

impl From<DbError> for MergeAbort {
    fn from(e: DbError) -> MergeAbort {
        MergeAbort::Db(e)
    }
}

/// A statement with its bound values.
type Statement = (String, Vec<Option<String>>);

fn execute_statement(conn: &mut AnyConnection, (sql, values): &Statement) -> QueryResult<usize> {
    on_backend!(conn, c => {
        let mut q = diesel::sql_query(sql).into_boxed();
        for v in values {
            q = q.bind::<Nullable<Text>, _>(v.clone());
        }
        q.execute(c)
    })
}

/// The `value` column of each row a statement returns.
fn load_values(
    conn: &mut AnyConnection,
    (sql, values): &Statement,
) -> QueryResult<Vec<Option<String>>> {
    let rows: Vec<CurrentValue> = on_backend!(conn, c => {
        let mut q = diesel::sql_query(sql).into_boxed();
        for v in values {
            q = q.bind::<Nullable<Text>, _>(v.clone());
        }
        q.load(c)
    })?;
    Ok(rows.into_iter().map(|r| r.value).collect())
}

/// Runs `field` writes: any outcome but `Written` stops the transaction with its reason.
fn run_field_writes(
    conn: &mut AnyConnection,
    fields: &[(Field, PreparedWrite)],
    (record, since): (&str, &str),
) -> Result<(), MergeAbort> {
    for (field, write) in fields {
        let why = match write.execute(conn)? {
            WriteOutcome::Written => continue,
            WriteOutcome::Missing => format!("record {record} is gone from the CRM"),
            WriteOutcome::Conflict { .. } => {
                format!("`{field}` of record {record} was edited since {since}")
            }
            WriteOutcome::Refused { reason } => format!("`{field}` of record {record}: {reason}"),
        };
        return Err(MergeAbort::Refused(why));
    }
    Ok(())
}

impl SqlCrm {
    /// `UPDATE table SET column = value WHERE key = id [AND column IS expected]` for a
    /// column outside the mapping; the mapping's "modified" columns are set too when
    /// `table` is the mapped one.
    fn set_column(
        &self,
        mapping: &TableMapping,
        table: &str,
        (column, value): (&str, Option<&str>),
        (key, id): (&str, &str),
        expected: Option<&str>,
    ) -> Statement {
        let mut binds = Binds::new(self.db.backend);
        let p = binds.push(value.map(str::to_string));
        let mut set = vec![format!(
            "{} = {}",
            quote(column),
            self.typed(table, column, p)
        )];
        if table == mapping.table {
            self.stamp(mapping, &mut binds, &mut set);
        }
        let id_p = binds.push(Some(id.to_string()));
        let mut conditions = vec![format!(
            "{} = {}",
            self.col(table, key),
            self.typed(table, key, id_p)
        )];
        if let Some(expected) = expected {
            let p = binds.push(Some(expected.to_string()));
            conditions
                .push(self.same_as(&format!("CAST({} AS TEXT)", self.col(table, column)), &p));
        }
        let sql = self.dialect(format!(
            "UPDATE {} SET {} WHERE {}",
            quote(table),
            set.join(", "),
            conditions.join(" AND ")
        ));
        (sql, binds.values)
    }

    /// `SELECT CAST(value AS TEXT) AS value FROM table WHERE key = id`.
    fn select_column(&self, table: &str, value: &str, (key, id): (&str, &str)) -> Statement {
        let mut binds = Binds::new(self.db.backend);
        let p = binds.push(Some(id.to_string()));
        let sql = self.dialect(format!(
            "SELECT CAST({} AS TEXT) AS value FROM {} WHERE {} = {}",
            self.col(table, value),
            quote(table),
            self.col(table, key),
            self.typed(table, key, p)
        ));
        (sql, binds.values)
    }

    fn prepare_fields(
        &self,
        kind: EntityKind,
        writes: &[FieldWrite],
    ) -> Result<Vec<(Field, PreparedWrite)>, CrmError> {
        writes
            .iter()
            .map(|w| Ok((w.field, self.prepare_write(kind, w)?)))
            .collect()
    }

    async fn write_merge_all(
        &self,
        kind: EntityKind,
        merge: &MergeWrite,
    ) -> Result<MergeOutcome, CrmError> {
        let mapping = self.mapping(kind)?;
        let fields = self.prepare_fields(kind, &merge.fields)?;
        let (table, id_column) = (mapping.table.as_str(), mapping.id_column.as_str());
        let d = &merge.deactivate;
        // Per merged record: read its deactivation column, then set it.
        let deactivate: Vec<(String, Statement, Statement)> = merge
            .merged
            .iter()
            .map(|id| {
                let read = self.select_column(table, &d.column, (id_column, id));
                let write = self.set_column(
                    mapping,
                    table,
                    (&d.column, Some(&d.value)),
                    (id_column, id),
                    None,
                );
                (id.clone(), read, write)
            })
            .collect();
        // Per foreign key and merged record: note the rows' keys, then move them.
        let repoint: Vec<(Repointed, Statement, Statement)> = merge
            .repoint
            .iter()
            .flat_map(|fk| {
                merge.merged.iter().map(move |id| {
                    let read = self.select_column(&fk.table, &fk.key, (&fk.column, id));
                    let write = self.set_column(
                        mapping,
                        &fk.table,
                        (&fk.column, Some(&merge.survivor)),
                        (&fk.column, id),
                        None,
                    );
                    let moved = Repointed {
                        fk: fk.clone(),
                        from: id.clone(),
                        rows: Vec::new(),
                    };
                    (moved, read, write)
                })
            })
            .collect();
        let mut undo = MergeUndo {
            survivor: merge.survivor.clone(),
            fields: merge.fields.clone(),
            deactivated: Vec::new(),
            deactivate: d.clone(),
            repointed: Vec::new(),
        };
        let survivor = merge.survivor.clone();
        let executed = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    run_field_writes(conn, &fields, (&survivor, "the proposal"))?;
                    for (id, read, write) in &deactivate {
                        let before = load_values(conn, read)?;
                        if before.is_empty() || execute_statement(conn, write)? == 0 {
                            return Err(MergeAbort::Refused(format!(
                                "record {id} is gone from the CRM"
                            )));
                        }
                        undo.deactivated
                            .push((id.clone(), before.into_iter().next().flatten()));
                    }
                    for (moved, read, write) in repoint {
                        let rows = load_values(conn, &read)?;
                        execute_statement(conn, &write)?;
                        undo.repointed.push(Repointed {
                            rows: rows.into_iter().flatten().collect(),
                            ..moved
                        });
                    }
                    Ok(undo)
                })
            })
            .await;
        self.settle_merge(executed)
    }

    async fn revert_merge_all(
        &self,
        kind: EntityKind,
        undo: &MergeUndo,
    ) -> Result<MergeOutcome, CrmError> {
        let mapping = self.mapping(kind)?;
        let back: Vec<FieldWrite> = undo
            .fields
            .iter()
            .map(|w| FieldWrite {
                id: w.id.clone(),
                field: w.field,
                expected: w.new.clone(),
                new: w.expected.clone(),
            })
            .collect();
        let fields = self.prepare_fields(kind, &back)?;
        let (table, id_column) = (mapping.table.as_str(), mapping.id_column.as_str());
        let d = &undo.deactivate;
        let guarded: Vec<(String, Statement)> = undo
            .deactivated
            .iter()
            .map(|(id, before)| {
                let write = self.set_column(
                    mapping,
                    table,
                    (&d.column, before.as_deref()),
                    (id_column, id),
                    Some(&d.value),
                );
                (format!("record {id} is no longer deactivated"), write)
            })
            .chain(undo.repointed.iter().flat_map(|moved| {
                let fk = &moved.fk;
                moved.rows.iter().map(move |row| {
                    let write = self.set_column(
                        mapping,
                        &fk.table,
                        (&fk.column, Some(&moved.from)),
                        (&fk.key, row),
                        Some(&undo.survivor),
                    );
                    let why = format!(
                        "{}.{} of row {row} no longer points at survivor {}",
                        fk.table, fk.column, undo.survivor
                    );
                    (why, write)
                })
            }))
            .collect();
        let (survivor, reverted) = (undo.survivor.clone(), undo.clone());
        let executed = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    run_field_writes(conn, &fields, (&survivor, "the merge"))?;
                    for (why, write) in &guarded {
                        if execute_statement(conn, write)? == 0 {
                            return Err(MergeAbort::Refused(why.clone()));
                        }
                    }
                    Ok(reverted)
                })
            })
            .await;
        self.settle_merge(executed)
    }

    fn settle_merge(
        &self,
        executed: Result<MergeUndo, MergeAbort>,
    ) -> Result<MergeOutcome, CrmError> {
        match executed {
            Ok(undo) => Ok(MergeOutcome::Written(undo)),
            Err(MergeAbort::Refused(reason)) => Ok(MergeOutcome::Refused(reason)),
            Err(MergeAbort::Db(source)) => Err(CrmError::Db {
                crm: self.name.clone(),
                source,
            }),
        }
    }
}

/// One guarded write's statements: an optional lookup check, the compare-and-set update,
/// and the read of the current value that tells a conflict from a missing record.
struct PreparedWrite {
    /// The lookup row a new value needs, and the refusal when it is missing.
    key_check: Option<(Statement, String)>,
    update: Statement,
    current: Statement,
}

impl PreparedWrite {
    fn execute(&self, conn: &mut AnyConnection) -> QueryResult<WriteOutcome> {
        if let Some((check, refusal)) = &self.key_check {
            if load_values(conn, check)?.is_empty() {
                return Ok(WriteOutcome::Refused {
                    reason: refusal.clone(),
                });
            }
        }
        if execute_statement(conn, &self.update)? > 0 {
            return Ok(WriteOutcome::Written);
        }
        Ok(match load_values(conn, &self.current)?.into_iter().next() {
            None => WriteOutcome::Missing,
            Some(value) => WriteOutcome::Conflict { current: value },
        })
    }
}

impl SqlCrm {
    async fn erase_row(
        &self,
        kind: EntityKind,
        id: &str,
        mode: EraseMode,
    ) -> Result<WriteOutcome, CrmError> {
        let mapping = self.mapping(kind)?;
        let t = &mapping.table;
        let mut binds = Binds::new(self.db.backend);
        let statement = match mode {
            EraseMode::None => {
                return Ok(WriteOutcome::Refused {
                    reason: "the job's `erase` is \"none\": erase the record in the CRM itself"
                        .into(),
                })
            }
            EraseMode::Delete => format!("DELETE FROM {}", quote(t)),
            EraseMode::Anonymise => {
                // Empty text, not NULL: CRMs often declare name columns NOT NULL.
                let mut set: Vec<String> = PERSONAL_FIELDS
                    .iter()
                    .filter(|f| !mapping.lookups.contains_key(f))
                    .filter_map(|f| mapping.columns.get(f))
                    .map(|c| {
                        let p = binds.push(Some(String::new()));
                        format!("{} = {}", quote(c), self.typed(t, c, p))
                    })
                    .collect();
                if set.is_empty() {
                    return Ok(WriteOutcome::Refused {
                        reason: format!("table `{t}` maps no personal fields to empty"),
                    });
                }
                self.stamp(mapping, &mut binds, &mut set);
                format!("UPDATE {} SET {}", quote(t), set.join(", "))
            }
        };
        let id_p = binds.push(Some(id.to_string()));
        let sql = self.dialect(format!(
            "{statement} WHERE {} = {}",
            self.col(t, &mapping.id_column),
            self.typed(t, &mapping.id_column, id_p)
        ));
        let values = binds.values;
        let touched = self
            .db
            .run(move |conn| {
                on_backend!(conn, c => {
                    let mut q = diesel::sql_query(&sql).into_boxed();
                    for v in &values {
                        q = q.bind::<Nullable<Text>, _>(v.clone());
                    }
                    q.execute(c)
                })
            })
            .await
            .map_err(|e| self.db_error(e))?;
        Ok(if touched == 0 {
            WriteOutcome::Missing
        } else {
            WriteOutcome::Written
        })
    }
}

impl CrmSource for SqlCrm {
    fn name(&self) -> &str {
        &self.name
    }

    fn mapping(&self, kind: EntityKind) -> Option<&TableMapping> {
        self.config.mapping(kind)
    }

    fn read_batch<'a>(
        &'a self,
        kind: EntityKind,
        since: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Record>, CrmError>> {
        Box::pin(self.read(
            kind,
            Selection::Page {
                since,
                after,
                limit,
            },
        ))
    }

    fn read_by_ids<'a>(
        &'a self,
        kind: EntityKind,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Record>, CrmError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ids.len());
            // Bounded IN lists keep every backend within its parameter limit.
            for chunk in ids.chunks(500) {
                out.extend(self.read(kind, Selection::Ids(chunk)).await?);
            }
            Ok(out)
        })
    }

    fn write_fields<'a>(
        &'a self,
        kind: EntityKind,
        writes: &'a [FieldWrite],
    ) -> BoxFuture<'a, Vec<Result<WriteOutcome, CrmError>>> {
        Box::pin(self.write_all(kind, writes))
    }

    fn erase<'a>(
        &'a self,
        kind: EntityKind,
        id: &'a str,
        mode: EraseMode,
    ) -> BoxFuture<'a, Result<WriteOutcome, CrmError>> {
        Box::pin(self.erase_row(kind, id, mode))
    }

    fn write_merge<'a>(
        &'a self,
        kind: EntityKind,
        merge: &'a MergeWrite,
    ) -> BoxFuture<'a, Result<MergeOutcome, CrmError>> {
        Box::pin(self.write_merge_all(kind, merge))
    }

    fn revert_merge<'a>(
        &'a self,
        kind: EntityKind,
        undo: &'a MergeUndo,
    ) -> BoxFuture<'a, Result<MergeOutcome, CrmError>> {
        Box::pin(self.revert_merge_all(kind, undo))
    }

    fn read_columns<'a>(
        &'a self,
        kind: EntityKind,
        columns: &'a [String],
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RawRow>, CrmError>> {
        Box::pin(self.read_raw(kind, columns, after, limit))
    }
}

impl SqlCrmConfig {
    /// The URL, and every mapped table and column a plain SQL identifier, under `crm.NAME`.
    pub(crate) fn validate(&self, name: &str) -> Result<(), (String, String)> {
        check_url(&format!("crm.{name}.url"), &self.url, UrlUse::Crm)?;
        for (kind, mapping) in [
            ("organisations", &self.organisations),
            ("contacts", &self.contacts),
        ] {
            let Some(m) = mapping else { continue };
            let key = format!("crm.{name}.{kind}");
            for ident in [&m.table, &m.id_column]
                .into_iter()
                .chain(m.modified_column.iter())
                .chain(m.modified_by_column.iter())
                .chain(m.filter.keys())
                .chain(
                    m.lookups
                        .values()
                        .flat_map(|l| [&l.table, &l.key, &l.value]),
                )
                .chain(m.columns.values())
            {
                check_identifier(&key, ident)?;
            }
            if let Some(field) = m.lookups.keys().find(|f| !m.columns.contains_key(f)) {
                return Err((
                    format!("{key}.lookups.{field}"),
                    format!("`{field}` has a lookup but no column; add `{field} = \"COLUMN\"` to [{key}.columns]"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::SqliteConnection;

    use super::*;
    use crate::config::CrmConfig;

    /// A SQLite CRM at `path` made by `schema`, its organisations in table `orgs` (id
    /// column `id`) with the rest of the mapping in `mapping`.
    async fn sqlite_crm(path: &std::path::Path, schema: &str, mapping: &str) -> Box<dyn CrmSource> {
        SqliteConnection::establish(&path.to_string_lossy())
            .unwrap()
            .batch_execute(schema)
            .unwrap();
        let config: CrmConfig = toml::from_str(&format!(
            "kind = \"sql\"\nurl = \"sqlite://{}\"\n[organisations]\ntable = \"orgs\"\nid_column = \"id\"\n{mapping}",
            path.display()
        ))
        .unwrap();
        crate::crm::open("test", &config).await.unwrap()
    }

    fn write(id: &str, field: Field, expected: &str, new: &str) -> FieldWrite {
        FieldWrite {
            id: id.into(),
            field,
            expected: Some(expected.into()),
            new: Some(new.into()),
        }
    }

    #[tokio::test]
    async fn pages_follow_the_id_columns_own_order_whatever_its_declared_type() {
        // (declared type of the id, ids as inserted, the order a sweep must read them in)
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "INTEGER PRIMARY KEY",
                "2, 10, 9, 1, 100",
                &["1", "2", "9", "10", "100"],
            ),
            // Declared without a type: integers stay integers, and every one sorts before
            // any text, so the id a page starts after must be bound as a number.
            ("", "2, 10, 9, 1, 100", &["1", "2", "9", "10", "100"]),
            (
                "TEXT PRIMARY KEY",
                "'b7', 'a1', 'c3', '10', '9'",
                &["10", "9", "a1", "b7", "c3"],
            ),
        ];
        for (declared, ids, order) in cases {
            let dir = tempfile::tempdir().unwrap();
            let values: Vec<String> = ids.split(", ").map(|id| format!("({id}, 'x')")).collect();
            let crm = sqlite_crm(
                &dir.path().join("crm.db"),
                &format!(
                    "CREATE TABLE orgs (id {declared}, name TEXT);
                     INSERT INTO orgs (id, name) VALUES {};",
                    values.join(", ")
                ),
                r#"columns = { legal_name = "name" }"#,
            )
            .await;
            let mut read = Vec::new();
            crate::crm::for_each_page(crm.as_ref(), EntityKind::Organisation, 2, |page| {
                read.extend(page.into_iter().map(|r| r.id))
            })
            .await
            .unwrap();
            assert_eq!(read, *order, "id {declared:?}");
        }
    }

    #[tokio::test]
    async fn a_batch_of_writes_keeps_each_guard_and_a_refused_write_undoes_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let crm = sqlite_crm(
            &dir.path().join("crm.db"),
            "CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT,
                 city TEXT CHECK (city <> 'Nowhere'), updated_at TEXT);
             INSERT INTO orgs (id, name, city) VALUES
                 (1, 'Alpha', 'Köln'), (2, 'Beta', 'Bonn'), (3, 'Gamma', 'Aachen');",
            r#"modified_column = "updated_at"
               columns = { legal_name = "name", city = "city" }"#,
        )
        .await;
        let outcomes = crm
            .write_fields(
                EntityKind::Organisation,
                &[
                    write("1", Field::LegalName, "Alpha", "Alpha GmbH"),
                    // The database's own check refuses it.
                    write("2", Field::City, "Bonn", "Nowhere"),
                    // Someone changed it since: the guard holds.
                    write("3", Field::LegalName, "Gamma AG", "Gamma SE"),
                    write("4", Field::City, "Köln", "Bonn"),
                    write("2", Field::LegalName, "Beta", "Beta KG"),
                ],
            )
            .await;
        assert!(
            matches!(outcomes[0], Ok(WriteOutcome::Written)),
            "{outcomes:?}"
        );
        assert!(outcomes[1].is_err(), "{outcomes:?}");
        assert_eq!(
            outcomes[2].as_ref().ok(),
            Some(&WriteOutcome::Conflict {
                current: Some("Gamma".into())
            })
        );
        assert!(
            matches!(outcomes[3], Ok(WriteOutcome::Missing)),
            "{outcomes:?}"
        );
        assert!(
            matches!(outcomes[4], Ok(WriteOutcome::Written)),
            "{outcomes:?}"
        );
        let now = crm
            .read_by_ids(
                EntityKind::Organisation,
                &["1".into(), "2".into(), "3".into()],
            )
            .await
            .unwrap();
        let value = |id: &str, f: Field| {
            now.iter()
                .find(|r| r.id == id)
                .and_then(|r| r.get(f))
                .map(str::to_string)
        };
        assert_eq!(value("1", Field::LegalName).as_deref(), Some("Alpha GmbH"));
        assert_eq!(value("2", Field::City).as_deref(), Some("Bonn"));
        assert_eq!(value("2", Field::LegalName).as_deref(), Some("Beta KG"));
        assert_eq!(value("3", Field::LegalName).as_deref(), Some("Gamma"));
    }

    #[tokio::test]
    async fn a_merge_or_its_revert_whose_guard_trips_writes_nothing_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.db");
        let crm = sqlite_crm(
            &path,
            "CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT, phone TEXT, status TEXT);
             CREATE TABLE people (id INTEGER PRIMARY KEY, org INTEGER);
             INSERT INTO orgs VALUES (1, 'Alpha', NULL, 'active'), (2, 'Alpha', '+49 1', 'active');
             INSERT INTO people VALUES (10, 2), (11, 2), (12, 1);",
            r#"columns = { legal_name = "name", phone = "phone" }"#,
        )
        .await;
        let merge = |expected: Option<&str>, merged: &[&str]| MergeWrite {
            survivor: "1".into(),
            fields: vec![FieldWrite {
                id: "1".into(),
                field: Field::Phone,
                expected: expected.map(str::to_string),
                new: Some("+49 1".into()),
            }],
            merged: merged.iter().map(|m| m.to_string()).collect(),
            deactivate: crate::config::Deactivation {
                column: "status".into(),
                value: "merged".into(),
            },
            repoint: vec![crate::config::ForeignKey {
                table: "people".into(),
                column: "org".into(),
                key: "id".into(),
            }],
        };
        let state = || {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            #[derive(QueryableByName, Debug, PartialEq)]
            struct Row {
                #[diesel(sql_type = Text)]
                row: String,
            }
            diesel::sql_query(
                "SELECT id || ':' || coalesce(phone, '-') || ':' || status AS row FROM orgs
                 UNION ALL SELECT 'p' || id || ':' || org AS row FROM people ORDER BY row",
            )
            .load::<Row>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.row)
            .collect::<Vec<_>>()
        };
        let before = state();

        // The survivor's phone is no longer what the merge expects.
        let out = crm
            .write_merge(EntityKind::Organisation, &merge(Some("+49 9"), &["2"]))
            .await
            .unwrap();
        assert_eq!(
            out,
            MergeOutcome::Refused("`phone` of record 1 was edited since the proposal".into())
        );
        assert_eq!(state(), before);
        // A merged record gone: the survivor's value written first is rolled back too.
        let out = crm
            .write_merge(EntityKind::Organisation, &merge(None, &["2", "3"]))
            .await
            .unwrap();
        assert_eq!(
            out,
            MergeOutcome::Refused("record 3 is gone from the CRM".into())
        );
        assert_eq!(state(), before);

        let MergeOutcome::Written(undo) = crm
            .write_merge(EntityKind::Organisation, &merge(None, &["2"]))
            .await
            .unwrap()
        else {
            panic!("not written")
        };
        let merged = [
            "1:+49 1:active",
            "2:+49 1:merged",
            "p10:1",
            "p11:1",
            "p12:1",
        ];
        assert_eq!(state(), merged);
        assert_eq!(undo.deactivated, [("2".to_string(), Some("active".into()))]);
        assert_eq!(
            undo.repointed[0].rows,
            ["10", "11"],
            "row 12 was the survivor's"
        );

        // A row moved back by hand since: the revert changes nothing.
        let sql = |q: &str| {
            SqliteConnection::establish(&path.to_string_lossy())
                .unwrap()
                .batch_execute(q)
                .unwrap()
        };
        sql("UPDATE people SET org = 2 WHERE id = 11");
        let out = crm
            .revert_merge(EntityKind::Organisation, &undo)
            .await
            .unwrap();
        assert_eq!(
            out,
            MergeOutcome::Refused("people.org of row 11 no longer points at survivor 1".into())
        );
        sql("UPDATE people SET org = 1 WHERE id = 11");
        assert_eq!(state(), merged);
        let out = crm
            .revert_merge(EntityKind::Organisation, &undo)
            .await
            .unwrap();
        assert!(matches!(out, MergeOutcome::Written(_)), "{out:?}");
        assert_eq!(state(), before, "only the rows the merge moved move back");
    }
}
