//! refsync's own state: passes, changes, audit log, record status and matches.
//! Every function here takes a connection so callers group them into one transaction.

/// Runs `$insert` over `$rows` in runs of `$n` rows: each full run as an array, whose
/// statement has one shape that diesel prepares once per connection and keeps, and the
/// shorter rest as a slice. A multi-row statement from a slice or `Vec` diesel prepares
/// afresh each time: SQLite parsing them took a tenth of a pass's writer.
macro_rules! in_runs {
    ($rows:expr, $n:expr, |$run:ident| $insert:expr) => {{
        let mut runs = $rows.chunks_exact($n);
        for full in &mut runs {
            let $run: &[_; $n] = full.try_into().expect("chunks_exact yields full runs");
            $insert;
        }
        let $run = runs.remainder();
        if !$run.is_empty() {
            $insert;
        }
    }};
}

/// Upserts `$rows` into `$table` on conflict of `$key`. On PostgreSQL `$unnest(pg)` writes
/// them as one array per column (see `unnest`); on SQLite they go in as multi-row
/// statements of 1,000 rows setting what `$set()` makes (at 10 values a row far below
/// SQLite's 32,766 bound parameters). diesel writes one statement for many rows there only
/// where the row type says `treat_none_as_default_value = false` (else it inserts row by
/// row); every row type here does.
macro_rules! upsert_rows {
    ($conn:expr, $table:expr, $rows:expr, $key:expr, $set:expr, $unnest:expr) => {
        match $conn {
            $crate::db::AnyConnection::Postgresql(pg) => {
                $unnest(pg)?;
            }
            $crate::db::AnyConnection::Sqlite(c) => in_runs!($rows, 1_000, |run| {
                diesel::insert_into($table)
                    .values(run.to_owned())
                    .on_conflict($key)
                    .do_update()
                    .set($set())
                    .execute(c)?
            }),
            #[cfg(feature = "mysql")]
            $crate::db::AnyConnection::Mysql(_) => {
                return Err(diesel::result::Error::QueryBuilderError(
                    "the state store runs on SQLite or PostgreSQL, not MySQL".into(),
                ))
            }
        }
    };
}

pub mod audit;
pub mod cache;
pub mod changes;
pub mod clusters;
pub mod consents;
pub mod cursors;
pub mod erasure;
pub mod pass_models;
pub mod passes;
pub mod provenance;
pub mod resume;
pub mod schema;
pub mod seal;
pub mod status;
pub mod suppressions;
mod unnest;
pub mod users;
pub mod verdicts;

use chrono::Timelike;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DbUrl;
use crate::db::{AnyConnection, Db, DbError, Missing};
use seal::{Head, Seal};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // Not a `source`: the message holds it already, and error chains would print it twice.
    #[error("state store: {0}")]
    Db(DbError),
    #[error("state store migration failed: {0}; the store is unchanged, fix the cause and run `refsync migrate`")]
    Migration(String),
    #[error("audit checkpoint: {0}; the entries are stored, fix the cause and run the command again (or `refsync audit verify`)")]
    Checkpoint(String),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Db(e)
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::Db(DbError::Query(e))
    }
}

/// The state store, and the audit log's key and checkpoint outside it.
#[derive(Clone)]
pub struct Store {
    pub db: Db,
    pub seal: Seal,
}

/// The tables a pass fills, with the columns their queries select, join and order rows by
/// (their indexes' columns and the review queue's filters): what the planner needs
/// statistics of.
const PLANNED_COLUMNS: [(&str, &[&str]); 5] = [
    (
        "changes",
        &[
            "id",
            "pass_id",
            "job",
            "entity",
            "record_id",
            "field",
            "kind",
            "status",
            "score",
        ],
    ),
    (
        "audit_log",
        &["id", "at", "action", "job", "record_id", "change_id"],
    ),
    (
        "record_status",
        &["job", "record_id", "entity", "status", "pass_id"],
    ),
    ("matches", &["job", "record_id", "register_id"]),
    ("provenance", &["crm", "entity", "record_id", "field"]),
];

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &DbUrl, seal: Seal) -> Result<Store, StoreError> {
        let url = url.clone();
        let db = tokio::task::spawn_blocking(move || Db::connect(&url, Missing::Create))
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))??;
        let store = Store { db, seal };
        store.migrate().await?;
        Ok(store)
    }

    /// Refreshes PostgreSQL's statistics of the tables a pass fills (a no-op on SQLite, whose
    /// planner keeps to the indexes without them). A plan made while they were nearly empty —
    /// a batch's record ids filtered out of every row instead of looked up — stays until the
    /// statistics change, and where autovacuum is off they never do: 6.8 s a batch at
    /// 830,000 provenance rows instead of milliseconds. Only tables never analysed or
    /// grown to twice the rows counted then are analysed: all five took 0.25 s at 5,000
    /// records, and a pass that changed little ran it three times for nothing. Only
    /// the columns that queries select rows by are analysed (see [`PLANNED_COLUMNS`]): the
    /// values, reasons and details cost most of the time and steer no plan.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Stale {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        self.db
            .run(|conn| match conn {
                AnyConnection::Postgresql(c) => {
                    use diesel::connection::SimpleConnection;
                    use diesel::RunQueryDsl;
                    let names: Vec<String> = PLANNED_COLUMNS
                        .iter()
                        .map(|(name, _)| format!("'{name}'"))
                        .collect();
                    // `reltuples`, the rows counted by the last ANALYZE or VACUUM, is -1
                    // before the first; an ANALYZE of some columns leaves
                    // `n_mod_since_analyze` as it was, so growth is measured against it.
                    let stale: Vec<Stale> = diesel::sql_query(format!(
                        "SELECT s.relname::text AS name FROM pg_stat_user_tables s \
                         JOIN pg_class c ON c.oid = s.relid \
                         WHERE s.relid = ANY(ARRAY[{}]::regclass[]) \
                         AND (c.reltuples < 0 \
                           OR (s.n_live_tup > 0 AND s.n_live_tup >= 2 * c.reltuples))",
                        names.join(", ")
                    ))
                    .load(c)?;
                    if stale.is_empty() {
                        return Ok(());
                    }
                    let tables: Vec<String> = stale
                        .iter()
                        .filter_map(|t| PLANNED_COLUMNS.iter().find(|(n, _)| *n == t.name))
                        .map(|(name, columns)| format!("{name} ({})", columns.join(", ")))
                        .collect();
                    c.batch_execute(&format!("ANALYZE {}", tables.join(", ")))
                }
                _ => Ok(()),
            })
            .await?;
        Ok(())
    }

    /// Writes the checkpoint of the audit log's head: after every pass and every command
    /// that added audit entries, once they are committed (a checkpoint must never name an
    /// entry that a rollback took back). A checkpoint whose head the log no longer holds
    /// is kept as evidence, not replaced: the work goes on, and verify reports it.
    pub async fn checkpoint(&self) -> Result<Head, StoreError> {
        let previous = self.seal.read_checkpoint();
        let place = match &previous {
            Ok(Some(c)) if c.entries > 0 => Some(c.entries),
            _ => None,
        };
        let (head, at_place) = self
            .db
            .run(move |conn| {
                let at_place = match place {
                    Some(place) => audit::hash_at(conn, place)?,
                    None => None,
                };
                Ok::<_, diesel::result::Error>((audit::head(conn)?, at_place))
            })
            .await?;
        // The rule of `audit verify`: only a checkpoint the log still reaches is replaced.
        let kept = match &previous {
            Err(problem) => Some(problem.clone()),
            Ok(Some(c)) => match audit::compare(c, head.entries, at_place.as_deref()) {
                audit::CheckpointCheck::Reached { .. } => None,
                differs => Some(format!("the log disagrees with it: {differs:?}")),
            },
            Ok(None) => None,
        };
        if let Some(problem) = kept {
            tracing::error!(
                checkpoint = %self.seal.checkpoint_path.display(),
                problem,
                "audit checkpoint kept as evidence, not updated; run `refsync audit verify`"
            );
            return Ok(head);
        }
        self.seal
            .write_checkpoint(&head)
            .map_err(StoreError::Checkpoint)?;
        Ok(head)
    }

    /// Runs pending migrations; returns the names of those applied.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.db.run(run_migrations).await
    }
}

pub(crate) fn run_migrations(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        #[cfg(feature = "mysql")]
        AnyConnection::Mysql(_) => {
            return Err(StoreError::Migration(
                "the state store runs on SQLite or PostgreSQL, not MySQL".into(),
            ))
        }
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Now, in UTC, to the microsecond: what PostgreSQL keeps, so a value reads back the same
/// on both backends (the audit chain hashes timestamps).
pub fn now() -> chrono::NaiveDateTime {
    let t = chrono::Utc::now().naive_utc();
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// A fresh SQLite store with every migration, for unit tests; the directory lives as long
/// as the guard.
#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, AnyConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::new(&format!("sqlite://{}/s.db", dir.path().display()));
    let (mut conn, _) = crate::db::connect(&url, Missing::Create).unwrap();
    run_migrations(&mut conn).unwrap();
    (dir, conn)
}
