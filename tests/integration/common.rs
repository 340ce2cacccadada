use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

pub const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// A working directory with the shipped default config, its paths pointed into the sandbox.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub envs: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::with_config(|c| c)
    }

    /// The default config, edited by `edit` (a text substitution is all tests need).
    pub fn with_config(edit: impl FnOnce(String) -> String) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let shipped = std::fs::read_to_string(Path::new(MANIFEST).join("config/refsync.toml"))
            .expect("shipped config");
        // The bundled data files are read where they are, not copied.
        let text =
            ["config/demo/", "config/examples/data/"]
                .iter()
                .fold(edit(shipped), |text, dir| {
                    let at = Path::new(MANIFEST).join(dir.trim_end_matches('/'));
                    text.replace(dir, &format!("{}/", at.display()))
                });
        std::fs::write(dir.path().join("refsync.toml"), text).expect("write config");
        Sandbox {
            dir,
            envs: Vec::new(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn env(mut self, key: &str, value: &str) -> Sandbox {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_refsync"));
        cmd.current_dir(self.dir.path())
            .args(["--config", "refsync.toml"])
            .args(args)
            .env_remove("RUST_LOG")
            .env("USER", "tester");
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("REFSYNC__")) {
            cmd.env_remove(k);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run refsync")
    }

    /// Runs and insists on exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "refsync {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = args.to_vec();
        full.extend(["--format", "json"]);
        let text = self.ok(&full);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("refsync {args:?} printed no JSON ({e}):\n{text}"))
    }

    /// One `run --once` of `job` with JSON reports, whatever its exit code: the process's
    /// output and the job's report.
    pub fn pass_report(&self, job: &str) -> (Output, serde_json::Value) {
        let out = self.run(&["run", "--once", "--job", job, "--format", "json"]);
        let mut reports: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON reports ({e}): {}", stderr(&out)));
        let report = reports[0].take();
        (out, report)
    }

    /// The audit key and checkpoint this sandbox's refsync uses (the default, in `var/`),
    /// for a store a test opens through the library.
    pub fn seal(&self) -> refsync::store::seal::Seal {
        seal_in(&self.path("var"))
    }

    /// Records an e-mail opt-in of `contact` with its double opt-in proof, in January 2026.
    pub fn email_opt_in(&self, contact: &str) {
        self.ok(&[
            "consent",
            "record",
            contact,
            "--channel",
            "email",
            "--status",
            "opt_in",
            "--source",
            "form",
            "--at",
            "2026-01-03 10:05",
            "--requested-at",
            "2026-01-03 10:00",
            "--confirmed-at",
            "2026-01-03 10:05",
            "--confirmed-text",
            "Ja",
        ]);
    }

    pub fn crm(&self) -> SqliteConnection {
        SqliteConnection::establish(&self.path("var/demo-crm.db").to_string_lossy())
            .expect("demo CRM")
    }
}

/// The audit key and checkpoint of a store in `state_dir`, as refsync makes them.
pub fn seal_in(state_dir: &Path) -> refsync::store::seal::Seal {
    let config = refsync::config::AuditConfig {
        state_dir: state_dir.to_path_buf(),
        ..Default::default()
    };
    refsync::store::seal::Seal::open(&config, &|_| None).expect("audit key")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh PostgreSQL database for one test, dropped when the guard goes.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl PgDatabase {
    pub fn create() -> PgDatabase {
        let admin_url = std::env::var("REFSYNC_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "REFSYNC_TEST_POSTGRES_URL is not set; PostgreSQL tests need it, \
                 e.g. REFSYNC_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test"
            )
        });
        let name = format!(
            "refsync_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .expect("drop old test database");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        PgDatabase {
            admin_url,
            name,
            url,
        }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The state store a scenario runs on: SQLite in the sandbox, or a fresh PostgreSQL database.
pub enum StoreKind {
    Sqlite,
    Postgres(PgDatabase),
}

impl StoreKind {
    /// Both backends, for scenarios that must hold on each.
    pub fn both() -> Vec<StoreKind> {
        vec![StoreKind::Sqlite, StoreKind::Postgres(PgDatabase::create())]
    }

    pub fn name(&self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres(_) => "postgres",
        }
    }

    /// The store's URL as a sandbox's config has it (SQLite: under the sandbox's `var/`).
    pub fn url(&self, sb: &Sandbox) -> String {
        match self {
            StoreKind::Sqlite => format!("sqlite://{}", sb.path("var/refsync.db").display()),
            StoreKind::Postgres(db) => db.url.clone(),
        }
    }

    /// A sandbox with `edit` applied to the default config, using this store.
    pub fn sandbox(&self, edit: impl FnOnce(String) -> String) -> Sandbox {
        let sb = Sandbox::with_config(edit);
        match self {
            StoreKind::Sqlite => sb,
            StoreKind::Postgres(db) => sb.env("REFSYNC__STORE__URL", &db.url),
        }
    }

    /// Runs raw SQL on the store, as an operator (or an attacker) with database access would.
    pub fn exec(&self, sb: &Sandbox, sql: &str) -> diesel::QueryResult<()> {
        match self {
            StoreKind::Sqlite => {
                SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy())
                    .expect("store")
                    .batch_execute(sql)
            }
            StoreKind::Postgres(db) => db.connect().batch_execute(sql),
        }
    }
}

impl Sandbox {
    /// A shipped example config (`config/examples/NAME.toml`), its paths pointed as
    /// `with_config` does.
    pub fn example(name: &str, edit: impl FnOnce(String) -> String) -> Sandbox {
        let text = std::fs::read_to_string(
            Path::new(MANIFEST).join(format!("config/examples/{name}.toml")),
        )
        .expect("example config");
        Sandbox::with_config(|_| edit(text))
    }
}
