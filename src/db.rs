//! One database connection type for SQLite and PostgreSQL, chosen by URL scheme, and the
//! `Db::run` helper that moves blocking diesel work off the async runtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::config::DbUrl;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
    /// CRMs only (SuiteCRM on MariaDB); the state store never runs here.
    #[cfg(feature = "mysql")]
    Mysql(diesel::MysqlConnection),
}

impl AnyConnection {
    /// The database this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            AnyConnection::Sqlite(_) => Backend::Sqlite,
            AnyConnection::Postgresql(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            AnyConnection::Mysql(_) => Backend::Mysql,
        }
    }
}

/// Runs `$body` with `$c` bound to the concrete connection, for raw SQL with placeholders
/// that the multi-backend cannot express.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite($c) => $body,
            $crate::db::AnyConnection::Postgresql($c) => $body,
            #[cfg(feature = "mysql")]
            $crate::db::AnyConnection::Mysql($c) => $body,
        }
    };
}

/// The same for the state store, which runs on SQLite or PostgreSQL only (it uses
/// `RETURNING`); config validation keeps MySQL URLs away from it.
#[macro_export]
macro_rules! on_store_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite($c) => $body,
            $crate::db::AnyConnection::Postgresql($c) => $body,
            #[cfg(feature = "mysql")]
            $crate::db::AnyConnection::Mysql(_) => Err(diesel::result::Error::QueryBuilderError(
                "the state store runs on SQLite or PostgreSQL, not MySQL".into(),
            )),
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    #[cfg(feature = "mysql")]
    Mysql,
}

/// What to do when a SQLite file's folder does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// refsync's own store: create the folder and the file.
    Create,
    /// Somebody else's database (a CRM): a missing file is an error, never a new empty one.
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `reason` is the driver's message, scrubbed: libpq may quote the whole URL.
    #[error("cannot connect to {url}: {reason}; check that the server runs and the URL is right")]
    Connect { url: String, reason: String },
    #[error("SQLite database {path} does not exist; check the path in the config")]
    NoSuchFile { path: PathBuf },
    #[error("cannot create folder {path} for the SQLite store: {source}")]
    CreateFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{0}` is not a database URL; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
    )]
    BadUrl(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no connection to {url} within {waited_secs:.1} s: {reason}; the database is overloaded or unreachable, or raise its connection limit")]
    NoConnection {
        url: String,
        waited_secs: f64,
        reason: String,
    },
}

/// What libpq finds wrong with a PostgreSQL URL, read as libpq reads it to connect but
/// without connecting; `None` when it parses. The answer never holds the password.
pub fn postgres_url_problem(url: &DbUrl) -> Option<String> {
    let Ok(raw) = std::ffi::CString::new(url.expose()) else {
        return Some(format!("`{}` holds a NUL byte", url.redacted()));
    };
    let mut message: *mut std::os::raw::c_char = std::ptr::null_mut();
    // SAFETY: `raw` is NUL-terminated and outlives the call; the options and the message
    // libpq allocates are each freed once, after the message was copied.
    let text = unsafe {
        let options = pq_sys::PQconninfoParse(raw.as_ptr(), &mut message);
        if !options.is_null() {
            pq_sys::PQconninfoFree(options);
        }
        if message.is_null() {
            return None;
        }
        let text = std::ffi::CStr::from_ptr(message)
            .to_string_lossy()
            .into_owned();
        pq_sys::PQfreemem(message.cast());
        text
    };
    Some(url.scrub(text.trim_end()))
}

/// The SQLite path of a `sqlite://` URL, if it is one.
pub fn sqlite_path(url: &DbUrl) -> Option<&Path> {
    url.expose().strip_prefix("sqlite://").map(Path::new)
}

pub fn connect(url: &DbUrl, missing: Missing) -> Result<(AnyConnection, Backend), DbError> {
    let raw = url.expose();
    let connect_err = |e: diesel::ConnectionError| DbError::Connect {
        url: url.redacted(),
        reason: url.scrub(e.to_string().trim_end()),
    };
    if let Some(path) = sqlite_path(url) {
        if !path.exists() {
            match missing {
                Missing::Refuse => {
                    return Err(DbError::NoSuchFile {
                        path: path.to_path_buf(),
                    })
                }
                Missing::Create => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateFolder {
                            path: dir.to_path_buf(),
                            source,
                        })?;
                    }
                }
            }
        }
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).map_err(connect_err)?;
        // WAL lets `review list` read while a pass writes; the timeout rides out short locks.
        // The timeout comes first: switching to WAL needs a lock another connection (a job
        // running beside this one) may hold for a moment. Pages are read through a memory
        // map: with SQLite's 2 MiB page cache a pass over a million records spent most of
        // its time copying pages of its multi-GiB store out of the kernel, a read() each.
        // Temporary data in memory: a multi-row insert inside a transaction keeps a
        // statement journal, which in a temporary file cost a pass's writer a sixth of its
        // time in pwrite() calls (perf, the pass bench).
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 8589934592; PRAGMA temp_store = MEMORY;",
        )?;
        Ok((AnyConnection::Sqlite(conn), Backend::Sqlite))
    } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        let conn = PgConnection::establish(raw).map_err(connect_err)?;
        Ok((AnyConnection::Postgresql(conn), Backend::Postgres))
    } else if raw.starts_with("mysql://") {
        #[cfg(feature = "mysql")]
        {
            let conn = diesel::MysqlConnection::establish(raw).map_err(connect_err)?;
            Ok((AnyConnection::Mysql(conn), Backend::Mysql))
        }
        #[cfg(not(feature = "mysql"))]
        Err(DbError::BadUrl(format!(
            "{} (MariaDB/MySQL needs a build with `--features mysql`)",
            url.redacted()
        )))
    } else {
        Err(DbError::BadUrl(url.redacted()))
    }
}

/// Connections a [`Db`] keeps at most. PostgreSQL serves jobs side by side on them; SQLite
/// writes one at a time anyway (see [`Db::run`]), so more would only wait.
const POOL_SIZE_POSTGRES: u32 = 8;
const POOL_SIZE_SQLITE: u32 = 4;
/// How long a caller waits for a free connection before it is told so.
const POOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(diesel::QueryableByName)]
struct QueryOnlyFlag {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    query_only: i32,
}

/// Makes the pool's connections with [`connect`] (so SQLite gets its pragmas) and counts
/// the ones found broken, for the daemon's "reconnected" log line.
#[derive(Debug)]
struct Connections {
    url: DbUrl,
    broken: Arc<std::sync::atomic::AtomicU64>,
}

impl diesel::r2d2::ManageConnection for Connections {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, diesel::r2d2::Error> {
        // The database existed when the pool was made; a vanished SQLite file is an error.
        connect(&self.url, Missing::Refuse)
            .map(|(conn, _)| conn)
            .map_err(|e| {
                diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                    e.to_string(),
                ))
            })
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(|e| {
            self.broken
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            diesel::r2d2::Error::QueryError(e)
        })
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        // Only a SQLite connection whose `query_only` could not be reset (see `QueryOnly`).
        match conn {
            AnyConnection::Sqlite(c) => diesel::RunQueryDsl::load::<QueryOnlyFlag>(
                diesel::sql_query("PRAGMA query_only"),
                c,
            )
            .map_or(true, |rows| rows.iter().any(|r| r.query_only != 0)),
            _ => false,
        }
    }
}

/// A SQLite connection made `query_only` for [`Db::read`], writable again when dropped
/// (also when the work panicked); one left read-only is dropped by the pool instead.
struct QueryOnly(diesel::r2d2::PooledConnection<Connections>);

impl Drop for QueryOnly {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("PRAGMA query_only = OFF");
    }
}

/// A pool of connections usable from async code, bounded in size; a caller that gets none
/// within [`POOL_TIMEOUT`] gets an error naming the database, never a hang.
#[derive(Clone)]
pub struct Db {
    pool: diesel::r2d2::Pool<Connections>,
    pub backend: Backend,
    url: DbUrl,
    /// SQLite takes one writer at a time; writers in this process queue here rather than
    /// meet SQLITE_BUSY (a deferred transaction that upgrades to a write does not wait).
    sqlite_writer: Arc<Mutex<()>>,
    /// Connections found broken so far, and how many of them were reported.
    broken: Arc<std::sync::atomic::AtomicU64>,
    reported: Arc<std::sync::atomic::AtomicU64>,
}

impl Db {
    pub fn connect(url: &DbUrl, missing: Missing) -> Result<Db, DbError> {
        Db::with_pool(url, missing, None, POOL_TIMEOUT)
    }

    /// `size` connections at most (default by backend), each waited for up to `timeout`.
    fn with_pool(
        url: &DbUrl,
        missing: Missing,
        size: Option<u32>,
        timeout: std::time::Duration,
    ) -> Result<Db, DbError> {
        // The first connection is made here, so that a wrong URL is the typed error.
        let (first, backend) = connect(url, missing)?;
        drop(first);
        let size = size.unwrap_or(match backend {
            Backend::Sqlite => POOL_SIZE_SQLITE,
            _ => POOL_SIZE_POSTGRES,
        });
        let broken = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let pool = diesel::r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(timeout)
            .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
            .build_unchecked(Connections {
                url: url.clone(),
                broken: Arc::clone(&broken),
            });
        Ok(Db {
            pool,
            backend,
            url: url.clone(),
            sqlite_writer: Arc::new(Mutex::new(())),
            broken,
            reported: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        })
    }

    fn checkout(&self) -> Result<diesel::r2d2::PooledConnection<Connections>, DbError> {
        self.pool.get().map_err(|e| DbError::NoConnection {
            url: self.url.redacted(),
            waited_secs: self.pool.connection_timeout().as_secs_f64(),
            reason: self.url.scrub(e.to_string().trim_end()),
        })
    }

    /// Checks that a working connection can be had, replacing broken ones (the database
    /// server restarted, the network dropped them); returns whether any was found broken
    /// since the last call — by this checkout or by any other work on the pool meanwhile.
    /// Blocking: for long-running callers such as the daemon, before each pass.
    pub fn ensure_connected(&self) -> Result<bool, DbError> {
        use std::sync::atomic::Ordering::Relaxed;
        self.checkout()?;
        let broken = self.broken.load(Relaxed);
        Ok(self.reported.swap(broken, Relaxed) < broken)
    }

    /// Runs blocking database work on the blocking pool, on a connection of the pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        let task = tokio::task::spawn_blocking(move || db.run_blocking(work));
        match task.await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Work that only reads, on the blocking pool. On SQLite it does not queue behind the
    /// writer: in WAL a reader sees the last commit while a write goes on. The connection is
    /// `query_only` meanwhile, so a write slipped into such work fails at once instead of
    /// racing the writer for the lock.
    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = db.checkout()?;
            if db.backend != Backend::Sqlite {
                return work(&mut conn);
            }
            conn.batch_execute("PRAGMA query_only = ON")
                .map_err(DbError::from)?;
            let mut conn = QueryOnly(conn);
            work(&mut conn.0)
        });
        match task.await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// The same work, on this (blocking) thread.
    fn run_blocking<T, E>(
        &self,
        work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let _writer = (self.backend == Backend::Sqlite)
            .then(|| self.sqlite_writer.lock().unwrap_or_else(|p| p.into_inner()));
        let mut conn = self.checkout()?;
        work(&mut conn)
    }
}

/// Work that speaks diesel's error can be run on the pool: not getting a connection is a
/// database error to it.
impl From<DbError> for diesel::result::Error {
    fn from(e: DbError) -> Self {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UnableToSendCommand,
            Box::new(e.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_that_gets_no_connection_in_time_is_told_which_store_and_how_long() {
        let dir = tempfile::tempdir().unwrap();
        let url = DbUrl::new(&format!("sqlite://{}/store.db", dir.path().display()));
        let db = Db::with_pool(
            &url,
            Missing::Create,
            Some(1),
            std::time::Duration::from_millis(200),
        )
        .unwrap();
        let held = db.checkout().unwrap();
        let err = db.checkout().err().unwrap().to_string();
        assert!(
            err.contains("store.db") && err.contains("within 0.2 s"),
            "{err}"
        );
        drop(held);
        assert!(db.checkout().is_ok());
    }
}
