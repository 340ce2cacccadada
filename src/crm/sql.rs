//! A CRM in a SQL database (SQLite or PostgreSQL), read and written through a column mapping.
//! Table and column names come from config, are validated there and quoted here; values are
//! always bound, never spliced into SQL.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::{BoxFuture, CrmError, CrmSource, WriteOutcome};
use crate::config::{SqlCrmConfig, TableMapping};
use crate::db::{Backend, Db, DbError, Missing};
use crate::domain::model::{EntityKind, Field, Modified, Record};
use crate::on_backend;

/// Most canonical fields one mapping may read; more is a config error at open.
const SLOTS: usize = 24;

pub struct SqlCrm {
    name: String,
    config: SqlCrmConfig,
    db: Db,
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
    fn into_values(self) -> (String, [Option<String>; SLOTS]) {
        (
            self.rid,
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

fn quote(ident: &str) -> String {
    // Identifiers were validated as [A-Za-z0-9_]+ in config; quoting keeps reserved words safe.
    format!("\"{ident}\"")
}

impl SqlCrm {
    /// Connects and checks that every mapped table and column exists, so a wrong mapping
    /// fails before a pass starts rather than in the middle of one.
    pub async fn open(name: &str, config: &SqlCrmConfig) -> Result<SqlCrm, CrmError> {
        let url = config.url.clone();
        let db = tokio::task::spawn_blocking(move || Db::connect(&url, Missing::Refuse))
            .await
            .map_err(|e| CrmError::Unusable {
                crm: name.to_string(),
                problem: e.to_string(),
            })?
            .map_err(|source| CrmError::Db {
                crm: name.to_string(),
                source,
            })?;
        let crm = SqlCrm {
            name: name.to_string(),
            config: config.clone(),
            db,
        };
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
        let columns: Vec<String> = std::iter::once(&mapping.id_column)
            .chain(mapping.modified_column.iter())
            .chain(mapping.modified_by_column.iter())
            .chain(mapping.columns.values())
            .map(|c| quote(c))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE 1 = 0",
            columns.join(", "),
            quote(&mapping.table)
        );
        let result = self
            .db
            .run(move |conn| diesel::sql_query(sql).execute(conn))
            .await;
        result.map(|_| ()).map_err(|e| {
            self.unusable(format!(
                "table `{}` or one of its mapped columns ({}) is missing: {e}; fix the mapping in [crm.{}] or the CRM schema",
                mapping.table,
                columns.join(", "),
                self.name
            ))
        })
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

    fn placeholder(&self, n: usize) -> String {
        match self.db.backend {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// Null-safe equality, spelled per backend.
    fn same_as(&self, left: &str, right: &str) -> String {
        match self.db.backend {
            Backend::Sqlite => format!("{left} IS {right}"),
            Backend::Postgres => format!("{left} IS NOT DISTINCT FROM {right}"),
        }
    }

    async fn read(
        &self,
        kind: EntityKind,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Record>, CrmError> {
        let mapping = self.mapping(kind)?;
        let fields: Vec<(Field, String)> = mapping
            .columns
            .iter()
            .map(|(f, c)| (*f, c.clone()))
            .collect();
        let optional_text = |column: &Option<String>, alias: &str| match column {
            Some(c) => format!("CAST({} AS TEXT) AS {alias}", quote(c)),
            None => format!("CAST(NULL AS TEXT) AS {alias}"),
        };
        let mut select = vec![
            format!("CAST({} AS TEXT) AS rid", quote(&mapping.id_column)),
            optional_text(&mapping.modified_column, "modified_at"),
            optional_text(&mapping.modified_by_column, "modified_by"),
        ];
        for slot in 0..SLOTS {
            match fields.get(slot) {
                Some((_, column)) => {
                    select.push(format!("CAST({} AS TEXT) AS v{slot}", quote(column)))
                }
                None => select.push(format!("CAST(NULL AS TEXT) AS v{slot}")),
            }
        }
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT {} OFFSET {}",
            select.join(", "),
            quote(&mapping.table),
            quote(&mapping.id_column),
            self.placeholder(1),
            self.placeholder(2),
        );
        let (limit, offset) = (limit as i64, offset as i64);
        let rows: Vec<SlotRow> = self
            .db
            .run(move |conn| {
                diesel::sql_query(sql)
                    .bind::<BigInt, _>(limit)
                    .bind::<BigInt, _>(offset)
                    .load(conn)
            })
            .await
            .map_err(|e| self.db_error(e))?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let modified =
                    (row.modified_at.is_some() || row.modified_by.is_some()).then(|| Modified {
                        at: row.modified_at.clone(),
                        by: row.modified_by.clone(),
                    });
                let (id, values) = row.into_values();
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

    async fn write(
        &self,
        kind: EntityKind,
        id: &str,
        field: Field,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<WriteOutcome, CrmError> {
        let mapping = self.mapping(kind)?;
        let column = mapping.columns.get(&field).ok_or_else(|| {
            self.unusable(format!(
                "no column mapped for `{field}` in table `{}`",
                mapping.table
            ))
        })?;
        let table = quote(&mapping.table);
        let id_text = format!("CAST({} AS TEXT)", quote(&mapping.id_column));
        let col_text = format!("CAST({} AS TEXT)", quote(column));
        // Placeholders are numbered in the order they appear, which is also the bind order.
        let mut n = 0;
        let mut next = || {
            n += 1;
            self.placeholder(n)
        };
        let mut set = vec![format!("{} = {}", quote(column), next())];
        if let Some(m) = &mapping.modified_column {
            set.push(format!("{} = CURRENT_TIMESTAMP", quote(m)));
        }
        if let Some(m) = &mapping.modified_by_column {
            set.push(format!("{} = {}", quote(m), next()));
        }
        let update = format!(
            "UPDATE {table} SET {} WHERE {id_text} = {} AND {}",
            set.join(", "),
            next(),
            self.same_as(&col_text, &next()),
        );
        let current = format!(
            "SELECT {col_text} AS value FROM {table} WHERE {id_text} = {}",
            self.placeholder(1)
        );
        let writer = mapping
            .modified_by_column
            .as_ref()
            .map(|_| self.config.writer_name.clone());
        let (id, expected, new) = (
            id.to_string(),
            expected.map(str::to_string),
            new.map(str::to_string),
        );
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let written = on_backend!(conn, c => {
                        let q = diesel::sql_query(&update).into_boxed().bind::<Nullable<Text>, _>(&new);
                        let q = match &writer {
                            Some(w) => q.bind::<Text, _>(w),
                            None => q,
                        };
                        q.bind::<Text, _>(&id).bind::<Nullable<Text>, _>(&expected).execute(c)
                    })?;
                    if written > 0 {
                        return Ok(WriteOutcome::Written);
                    }
                    let now: Option<CurrentValue> = on_backend!(conn, c => diesel::sql_query(&current)
                        .bind::<Text, _>(&id)
                        .get_result(c)
                        .optional())?;
                    Ok(match now {
                        None => WriteOutcome::Missing,
                        Some(v) => WriteOutcome::Conflict { current: v.value },
                    })
                })
            })
            .await
            .map_err(|e| self.db_error(e))
    }
}

impl CrmSource for SqlCrm {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_batch(
        &self,
        kind: EntityKind,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, CrmError>> {
        Box::pin(self.read(kind, offset, limit))
    }

    fn write_field<'a>(
        &'a self,
        kind: EntityKind,
        id: &'a str,
        field: Field,
        expected: Option<&'a str>,
        new: Option<&'a str>,
    ) -> BoxFuture<'a, Result<WriteOutcome, CrmError>> {
        Box::pin(self.write(kind, id, field, expected, new))
    }
}
