//! PostgreSQL upserts of many rows as one array per column: `INSERT … SELECT * FROM
//! unnest($1::text[], …) ON CONFLICT …`. A multi-row `VALUES` list of 1,000 rows is 10,000
//! parameters that the server parses and plans for every batch (a third of such an upsert's
//! server time); this statement is as short for one row as for a million, and each column's
//! values travel as one binary array.

use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, HasSqlType};
use diesel::{QueryResult, RunQueryDsl};

/// The columns of one upsert of `rows`, each bound as one array.
pub struct Unnest<'a, R> {
    rows: &'a [R],
    columns: Vec<&'static str>,
    arrays: Vec<String>,
    query: BoxedSqlQuery<'a, Pg, SqlQuery>,
}

impl<'a, R> Unnest<'a, R> {
    pub fn new(rows: &'a [R]) -> Self {
        Unnest {
            rows,
            columns: Vec::new(),
            arrays: Vec::new(),
            query: diesel::sql_query("").into_boxed(),
        }
    }

    /// Adds a column: its name, its PostgreSQL type (`text`, `int8`, `timestamp`, …) and
    /// its value in a row (an `Option` for a nullable column).
    pub fn column<ST, T>(mut self, name: &'static str, pg_type: &str, value: fn(&'a R) -> T) -> Self
    where
        Pg: HasSqlType<Array<ST>>,
        Vec<T>: ToSql<Array<ST>, Pg> + Send + 'a,
        ST: Send + 'static,
    {
        self.columns.push(name);
        self.arrays
            .push(format!("${}::{pg_type}[]", self.arrays.len() + 1));
        let values: Vec<T> = self.rows.iter().map(value).collect();
        self.query = self.query.bind::<Array<ST>, _>(values);
        self
    }

    /// Inserts the rows into `table`; a row whose `key` exists replaces the other columns'
    /// values, except those `keep` gives an expression of their own (SQL over `excluded`
    /// and the table). The rows' keys must differ, as in one multi-row statement.
    pub fn upsert(
        self,
        conn: &mut PgConnection,
        table: &str,
        key: &[&str],
        keep: &[(&str, &str)],
    ) -> QueryResult<usize> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        let set: Vec<String> = (self.columns.iter())
            .filter(|c| !key.contains(c))
            .map(|c| match keep.iter().find(|(k, _)| k == c) {
                Some((_, expression)) => format!("{c} = {expression}"),
                None => format!("{c} = excluded.{c}"),
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({}) SELECT * FROM unnest({}) ON CONFLICT ({}) DO UPDATE SET {}",
            self.columns.join(", "),
            self.arrays.join(", "),
            key.join(", "),
            set.join(", ")
        );
        self.query.sql(sql).execute(conn)
    }
}
