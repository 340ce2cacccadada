//! What the benchmarks share: synthetic organisations in a SQLite CRM, the shipped config
//! pointed at a bench's files, medians.

use std::path::Path;

use refsync::demo::{self, DemoData, ORGANISATION_COLUMNS};
use refsync::domain::model::{EntityKind, Record};
use refsync::synth::{self, Profile};

/// The shipped default config with its paths pointed at the bench's CRM, register and
/// store: the organisations job exactly as a new user gets it.
pub fn write_config(work: &Path, register: &Path, store_url: &str) {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/refsync.toml"))
            .expect("shipped config");
    let text = shipped
        .replace("sqlite://var/refsync.db", store_url)
        .replace(
            "sqlite://var/demo-crm.db",
            &format!("sqlite://{}", work.join("crm.db").display()),
        )
        .replace("demo_data = true", "demo_data = false")
        .replace(
            "config/demo/reference-organisations.csv",
            &register.display().to_string(),
        );
    std::fs::write(work.join("refsync.toml"), text).expect("write config");
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Synthetic organisations: the register is written to `register_csv` as a file register
/// reads it; the CRM's copy is returned, its ids integers as a CRM keeps them.
pub fn organisations(
    profile: Profile,
    seed: u64,
    register: usize,
    crm: usize,
    register_csv: &Path,
) -> Vec<Record> {
    let data = synth::generate(EntityKind::Organisation, profile, seed, register, crm);
    std::fs::write(
        register_csv,
        demo::reference_csv(&data.register, ORGANISATION_COLUMNS).expect("register csv"),
    )
    .expect("write register");
    data.crm
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.id = (i + 1).to_string();
            r
        })
        .collect()
}

/// A SQLite CRM at `path` holding `organisations`.
pub fn create_crm(path: &Path, organisations: Vec<Record>) {
    demo::create_crm(
        path,
        &DemoData {
            register_organisations: Vec::new(),
            register_contacts: Vec::new(),
            crm_organisations: organisations,
            crm_contacts: Vec::new(),
        },
    )
    .expect("create the CRM");
}

/// `refsync serve` on a free port of 127.0.0.1 with the config in `work`: the process and
/// the base URL it says it listens on.
#[allow(dead_code)] // not every bench serves
pub fn serve(work: &Path) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_refsync"))
        .current_dir(work)
        .args([
            "--config",
            "refsync.toml",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("refsync serve");
    let stdout = child.stdout.take().expect("serve's output");
    let url = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(str::to_string))
        .expect("serve says where it listens");
    (child, url)
}

/// Runs refsync with the config in `work` to the end, `stdin` written to it; panics unless it
/// succeeds; its stdout.
#[allow(dead_code)] // not every bench runs commands besides the one it times
pub fn run_ok(work: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_refsync"))
        .current_dir(work)
        .args(["--config", "refsync.toml"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run refsync");
    if let Some(text) = stdin {
        writeln!(child.stdin.take().expect("stdin"), "{text}").expect("write stdin");
    }
    let out = child.wait_with_output().expect("refsync ends");
    assert!(
        out.status.success(),
        "refsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Adds `user` with `role` (a password on stdin) and returns a new API token of theirs.
#[allow(dead_code)] // not every bench asks the API
pub fn user_token(work: &Path, user: &str, role: &str) -> String {
    run_ok(
        work,
        &["user", "add", user, "--role", role],
        Some("a bench password, long enough"),
    );
    run_ok(
        work,
        &["user", "token", "create", user, "--label", "bench"],
        None,
    )
    .trim()
    .to_string()
}
