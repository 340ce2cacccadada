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
        // running beside this one) may hold for a moment.
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
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

/// A shared connection usable from async code.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<AnyConnection>>,
    pub backend: Backend,
    url: DbUrl,
}

impl Db {
    pub fn connect(url: &DbUrl, missing: Missing) -> Result<Db, DbError> {
        let (conn, backend) = connect(url, missing)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            backend,
            url: url.clone(),
        })
    }

    /// Checks the connection and replaces it if it broke (the database server restarted,
    /// the network dropped it); returns whether it did. Blocking: for long-running callers
    /// such as the daemon, before each pass.
    pub fn ensure_connected(&self) -> Result<bool, DbError> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.batch_execute("SELECT 1").is_ok() {
            return Ok(false);
        }
        // The database existed when it was opened; a vanished SQLite file is an error.
        let (conn, _) = connect(&self.url, Missing::Refuse)?;
        *guard = conn;
        Ok(true)
    }

    /// Runs blocking database work on the blocking pool.
    pub async fn run<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> T + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let task = tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard)
        });
        match task.await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// The same work, for callers that are already on a blocking thread.
    pub fn run_blocking<T>(&self, work: impl FnOnce(&mut AnyConnection) -> T) -> T {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut guard)
    }
}
