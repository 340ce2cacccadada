//! refsync as a service: systemd notifications, signals, leases across instances, the
//! health/metrics listener, `status`, and the unit file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel::{sql_query, Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::common::{PgDatabase, Sandbox, MANIFEST};

/// Generous: the test machine is shared with other builds.
const PATIENCE: Duration = Duration::from_secs(120);

/// A running `refsync daemon` whose JSON log lines are collected as they come.
struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Daemon {
    fn start(sb: &Sandbox) -> Daemon {
        Daemon::start_with(sb, &[])
    }

    fn start_with(sb: &Sandbox, envs: &[(&str, &str)]) -> Daemon {
        let mut cmd = sb.command(&["daemon"]);
        cmd.env("REFSYNC__LOGGING__FORMAT", "json")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("JOURNAL_STREAM")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start refsync daemon");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "message": line }));
                sink.lock().unwrap().push(value);
            }
        });
        Daemon { child, lines }
    }

    fn log(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().clone()
    }

    fn messages(&self, message: &str) -> Vec<serde_json::Value> {
        self.log()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }

    /// Waits until `count` lines with `message` were logged; returns them.
    fn wait_for(&self, message: &str, count: usize) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let found = self.messages(message);
            if found.len() >= count {
                return found;
            }
            if start.elapsed() > PATIENCE {
                panic!(
                    "daemon never logged {message:?} {count} times; log:\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the first `message` logged inside a pass of `job`.
    fn wait_for_job(&self, message: &str, job: &str) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Some(line) = self
                .messages(message)
                .into_iter()
                .find(|l| l["span"]["job"] == job)
            {
                return line;
            }
            if start.elapsed() > PATIENCE {
                panic!(
                    "daemon never logged {message:?} for {job}; log:\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn dump(&self) -> String {
        self.log()
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("daemon did not exit; log:\n{}", self.dump());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        self.signal("TERM");
        let status = self.wait_exit();
        assert!(
            status.success(),
            "daemon exited with {status}; log:\n{}",
            self.dump()
        );
    }

    /// The address the health/metrics listener bound.
    fn http_address(&self) -> String {
        let line = self.wait_for("http listener started", 1).remove(0);
        line["address"].as_str().expect("address field").to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every second, so tests need not wait for the night.
fn every_second(c: String) -> String {
    c.replace("schedule = \"0 30 2 * * *\"", "schedule = \"* * * * * *\"")
        .replace("schedule = \"0 45 2 * * *\"", "schedule = \"* * * * * *\"")
        .replace("jitter_secs = 60", "jitter_secs = 0")
}

/// Creates the demo CRM (a contacts pass does) and copies its organisations `times` over,
/// so an organisations pass lasts seconds: long enough to signal it mid-way for sure.
fn enlarge_crm(sb: &Sandbox, times: i64) {
    sb.ok(&["run", "--once", "--job", "contacts"]);
    let columns = "name, legal_form, street, house_no, zip, city, country, vat_id, lei, \
                   register_court, register_no, website, phone, email, industry, status, updated_at";
    let mut crm = sb.crm();
    for k in 1..times {
        sql_query(format!(
            "INSERT INTO organisations (id, {columns}) \
             SELECT id + {k} * 100000, {columns} FROM organisations WHERE id < 100000"
        ))
        .execute(&mut crm)
        .unwrap();
    }
}

fn store(sb: &Sandbox) -> SqliteConnection {
    SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy()).unwrap()
}

#[derive(QueryableByName, Debug, Clone)]
struct Pass {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    job: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    records_read: i64,
    #[diesel(sql_type = Timestamp)]
    started_at: chrono::NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    finished_at: Option<chrono::NaiveDateTime>,
}

const PASSES: &str =
    "SELECT id, job, status, records_read, started_at, finished_at FROM passes ORDER BY id";

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Count {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn counts(conn: &mut SqliteConnection, table: &str, job: &str) -> Vec<Count> {
    sql_query(format!(
        "SELECT status, count(*) AS n FROM {table} WHERE job = '{job}' GROUP BY status ORDER BY status"
    ))
    .load(conn)
    .unwrap()
}

/// GET over plain HTTP/1.1; returns status code and body.
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the listener");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, body.to_string())
}

/// Parses the Prometheus text format strictly: every sample belongs to a family announced
/// by `# TYPE`, names and labels are well-formed, values are numbers. Returns each series
/// (name plus labels, as written) with its value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    fn is_name(s: &str) -> bool {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut series = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), Some(_)) => assert!(is_name(name), "line {n}: {line}"),
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(is_name(name), "line {n}: {line}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "line {n}: unknown type in {line}"
                    );
                    assert!(
                        types.insert(name.into(), kind.into()).is_none(),
                        "line {n}: second TYPE for {name}"
                    );
                }
                _ => panic!("line {n}: malformed comment {line:?}"),
            }
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("line {n}: {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("line {n}: value {v:?} is no number")),
        };
        let name = key.split('{').next().unwrap();
        assert!(is_name(name), "line {n}: metric name {name:?}");
        if let Some(labels) = key.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("line {n}: labels {labels:?}"));
                let mut rest = inner;
                while !rest.is_empty() {
                    let (label, after) = rest
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("line {n}: label in {inner:?}"));
                    assert!(is_name(label), "line {n}: label name {label:?}");
                    let mut chars = after.char_indices();
                    let end = loop {
                        match chars.next() {
                            Some((_, '\\')) => {
                                chars.next();
                            }
                            Some((i, '"')) => break i,
                            Some(_) => {}
                            None => panic!("line {n}: unterminated label value"),
                        }
                    };
                    rest = after[end + 1..]
                        .strip_prefix(',')
                        .unwrap_or(&after[end + 1..]);
                }
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| types.get(*base).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "line {n}: sample of {family} before its # TYPE"
        );
        assert!(
            series.insert(key.to_string(), value).is_none(),
            "line {n}: duplicate series {key}"
        );
    }
    series
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let unit =
        std::fs::read_to_string(std::path::Path::new(MANIFEST).join("systemd/refsync.service"))
            .unwrap();
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/refsync",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "LoadCredential=",
        "ExecReload=",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed}");
    }
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refsync.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/refsync", env!("CARGO_BIN_EXE_refsync")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze is needed for this test (apt-get install systemd)");
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !complaints.contains("refsync.service"),
        "systemd-analyze verify: {complaints}"
    );
}

#[test]
fn notifies_ready_after_migrations_pings_the_watchdog_and_says_stopping() {
    let sb = Sandbox::with_config(every_second);
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut daemon = Daemon::start_with(
        &sb,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut buf = [0u8; 512];
    let mut recv = || {
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = recv();
    assert!(
        first.starts_with("READY=1\n"),
        "first notification: {first:?}"
    );
    // Ready means migrated: the newest table exists.
    sql_query("SELECT count(*) AS n FROM job_leases")
        .execute(&mut store(&sb))
        .expect("the store was migrated before READY=1");
    // Watchdog pings every 200 ms, and after each pass a status line for `systemctl status`.
    let mut seen: Vec<String> = Vec::new();
    let start = Instant::now();
    while seen.iter().filter(|m| *m == "WATCHDOG=1").count() < 3
        || !seen.iter().any(|m| m.starts_with("STATUS=last pass: job "))
    {
        assert!(start.elapsed() < PATIENCE, "notifications: {seen:?}");
        seen.push(recv());
    }
    daemon.signal("TERM");
    let stopping = (0..20)
        .map(|_| recv())
        .find(|m| m.starts_with("STOPPING=1"));
    assert!(stopping.is_some(), "no STOPPING=1 after SIGTERM");
    let status = daemon.wait_exit();
    assert!(status.success(), "{status}; log:\n{}", daemon.dump());
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one_and_a_good_one_applies() {
    let sb = Sandbox::with_config(every_second);
    let good = std::fs::read_to_string(sb.path("refsync.toml")).unwrap();
    let daemon = Daemon::start(&sb);
    daemon.wait_for("pass finished", 1);

    std::fs::write(
        sb.path("refsync.toml"),
        good.replace("schedule = \"* * * * * *\"", "schedule = \"whenever\""),
    )
    .unwrap();
    daemon.signal("HUP");
    let rejected = daemon.wait_for("config reload rejected; the running config stays", 1);
    let error = rejected[0]["error"].as_str().unwrap();
    assert!(
        error.contains("schedule") && error.contains("whenever"),
        "{error}"
    );
    // Still running on the old config: passes keep coming.
    let before = daemon.messages("pass finished").len();
    daemon.wait_for("pass finished", before + 2);

    // A good new config applies: the contacts job is renamed `people`.
    std::fs::write(
        sb.path("refsync.toml"),
        good.replace("[job.contacts", "[job.people"),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon.wait_for("config reloaded", 1);
    daemon.wait_for(
        "job is no longer in the config; it stops being scheduled",
        1,
    );
    let start = Instant::now();
    while !daemon
        .messages("slot claimed")
        .iter()
        .any(|l| l["job"] == "people")
    {
        assert!(
            start.elapsed() < PATIENCE,
            "the new job never ran:\n{}",
            daemon.dump()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut daemon = daemon;
    daemon.stop();
}

#[test]
fn sigterm_mid_pass_leaves_a_state_the_next_pass_completes() {
    let small_batches = |c: String| every_second(c).replace("batch_size = 500", "batch_size = 10");
    let sb = Sandbox::with_config(small_batches);
    enlarge_crm(&sb, 5);
    let mut daemon = Daemon::start(&sb);
    daemon.wait_for_job("pass started", "organisations");
    daemon.stop();
    daemon.wait_for("daemon stopped", 1);

    let mut conn = store(&sb);
    let passes: Vec<Pass> = sql_query(PASSES).load(&mut conn).unwrap();
    assert!(passes.iter().all(|p| p.status != "running"), "{passes:?}");
    let orgs: Vec<&Pass> = passes.iter().filter(|p| p.job == "organisations").collect();
    let interrupted = orgs.last().expect("an organisations pass");
    assert_eq!(
        interrupted.status,
        "interrupted",
        "{passes:?}\n{}",
        daemon.dump()
    );
    let total: i64 = {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        sql_query("SELECT count(*) AS n FROM organisations")
            .get_result::<N>(&mut sb.crm())
            .unwrap()
            .n
    };
    assert!(
        interrupted.records_read > 0 && interrupted.records_read < total,
        "stopped after {} of {total} records",
        interrupted.records_read
    );

    // The next pass resumes after the last committed batch and completes the sweep ...
    let resumed = sb.json(&["run", "--once", "--job", "organisations"]);
    assert_eq!(resumed[0]["status"], "succeeded");
    assert_eq!(
        resumed[0]["counts"]["records_read"].as_i64().unwrap(),
        total - interrupted.records_read,
        "the resumed pass should read exactly the records the interrupted one did not commit"
    );
    // The end state is that of one uninterrupted pass.
    let reference = Sandbox::with_config(small_batches);
    enlarge_crm(&reference, 5);
    reference.ok(&["run", "--once", "--job", "organisations"]);
    let mut reference_store = store(&reference);
    assert_eq!(
        counts(&mut conn, "record_status", "organisations"),
        counts(&mut reference_store, "record_status", "organisations")
    );
    assert_eq!(
        counts(&mut conn, "changes", "organisations"),
        counts(&mut reference_store, "changes", "organisations")
    );
    // The sweep is complete: the next pass goes over every record again.
    let full = sb.json(&["run", "--once", "--job", "organisations"]);
    assert_eq!(full[0]["counts"]["records_read"].as_i64().unwrap(), total);
}

#[test]
fn a_pass_that_outlives_its_slot_is_never_overlapped() {
    let sb = Sandbox::with_config(|c| {
        every_second(c).replace("overrun = \"skip\"", "overrun = \"wait\"")
    });
    // Large enough that a first pass outlives its one-second slot on a quiet machine too,
    // now that a batch is stored while the next is scored.
    enlarge_crm(&sb, 12);
    let mut daemon = Daemon::start(&sb);
    let start = Instant::now();
    while daemon
        .messages("pass finished")
        .iter()
        .filter(|l| l["span"]["job"] == "organisations")
        .count()
        < 3
    {
        assert!(start.elapsed() < PATIENCE, "{}", daemon.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.stop();
    let passes: Vec<Pass> = sql_query(PASSES).load(&mut store(&sb)).unwrap();
    for job in ["organisations", "contacts"] {
        let runs: Vec<&Pass> = passes.iter().filter(|p| p.job == job).collect();
        for pair in runs.windows(2) {
            let ended = pair[0].finished_at.expect("finished");
            assert!(
                pair[1].started_at >= ended,
                "{job}: pass {} started before pass {} ended",
                pair[1].id,
                pair[0].id
            );
        }
    }
    let long = passes
        .iter()
        .filter_map(|p| Some(p.finished_at? - p.started_at))
        .max()
        .unwrap();
    assert!(
        long > chrono::Duration::seconds(1),
        "no pass outlived its one-second slot ({long}); the test proves nothing"
    );
    // With overrun = wait, the slot missed during a long pass runs right after it.
    assert!(
        !daemon.messages("running a slot that was missed").is_empty(),
        "{}",
        daemon.dump()
    );
}

#[test]
fn the_daemon_serves_the_review_ui_and_api_beside_the_health_endpoints() {
    let sb = Sandbox::new();
    let daemon = Daemon::start_with(&sb, &[("REFSYNC__HTTP__LISTEN", "127.0.0.1:0")]);
    let address = daemon.http_address();
    // (path, status, a piece of the body)
    let cases = [
        ("/healthz", 200, "ok"),
        ("/api/v1/openapi.json", 200, "\"3.1.0\""),
        ("/api/v1/changes", 401, "not logged in"),
        ("/login", 200, "<form method=\"post\" action=\"/login\">"),
        ("/queue", 303, ""),
    ];
    for (path, status, piece) in cases {
        let (code, body) = get(&address, path);
        assert_eq!(code, status, "{path}: {body}");
        assert!(body.contains(piece), "{path}: {body}");
    }
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_after_a_pass() {
    let sb = Sandbox::with_config(every_second);
    let mut daemon = Daemon::start_with(&sb, &[("REFSYNC__HTTP__LISTEN", "127.0.0.1:0")]);
    let address = daemon.http_address();
    assert_eq!(get(&address, "/healthz"), (200, "ok\n".to_string()));

    let succeeded = "refsync_passes_total{job=\"organisations\",outcome=\"succeeded\"}";
    let initial = parse_prometheus(&get(&address, "/metrics").1)
        .get(succeeded)
        .copied()
        .unwrap_or(0.0);
    let start = Instant::now();
    let metrics = loop {
        let (code, body) = get(&address, "/metrics");
        assert_eq!(code, 200);
        let metrics = parse_prometheus(&body);
        if metrics.get(succeeded).copied().unwrap_or(0.0) > initial {
            break metrics;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{succeeded} never rose above {initial}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let read = metrics["refsync_pass_records_total{job=\"organisations\",result=\"read\"}"];
    assert!(read > 0.0);
    assert!(metrics["refsync_pass_duration_seconds_count{job=\"organisations\"}"] >= 1.0);
    assert!(metrics["refsync_last_success_timestamp_seconds{job=\"organisations\"}"] > 1.7e9);
    let in_store: f64 = metrics
        .iter()
        .filter(|(k, _)| k.starts_with("refsync_records{job=\"organisations\""))
        .map(|(_, v)| v)
        .sum();
    assert!(in_store > 0.0, "no record gauges: {metrics:?}");
    let queue = metrics
        .get("refsync_changes{job=\"organisations\",status=\"proposed\"}")
        .copied();
    assert!(
        queue.is_some_and(|n| n > 0.0),
        "no review queue gauge: {metrics:?}"
    );
    assert!(metrics["refsync_pass_changes_total{job=\"organisations\",action=\"proposed\"}"] > 0.0);

    let (code, body) = get(&address, "/readyz");
    assert_eq!(code, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["store"], "reachable");
    assert_eq!(ready["jobs"]["organisations"]["failed_in_a_row"], 0);
    daemon.stop();
}

#[test]
fn readyz_fails_once_a_job_keeps_failing() {
    let sb = Sandbox::with_config(every_second);
    // The register file vanishes: every organisations pass fails.
    let broken = sb.path("missing.csv");
    let config = std::fs::read_to_string(sb.path("refsync.toml")).unwrap();
    let reference = format!("{MANIFEST}/config/demo/reference-organisations.csv");
    std::fs::write(
        sb.path("refsync.toml"),
        config.replace(&reference, broken.to_str().unwrap()),
    )
    .unwrap();
    let mut daemon = Daemon::start_with(
        &sb,
        &[
            ("REFSYNC__HTTP__LISTEN", "127.0.0.1:0"),
            ("REFSYNC__HTTP__READY_MAX_FAILED_PASSES", "2"),
        ],
    );
    let address = daemon.http_address();
    daemon.wait_for("pass failed; the next slot retries", 2);
    let (code, body) = get(&address, "/readyz");
    assert_eq!(code, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["jobs"]["organisations"]["ready"], false);
    assert_eq!(ready["jobs"]["contacts"]["ready"], true);
    assert_eq!(get(&address, "/healthz").0, 200);
    daemon.stop();
}

#[test]
fn status_shows_jobs_next_runs_last_passes_and_the_review_queue() {
    let sb = Sandbox::new();
    let before = sb.json(&["status"]);
    assert!(before["jobs"][0]["last_pass"].is_null());
    sb.ok(&["run", "--once"]);
    let status = sb.json(&["status"]);
    let jobs = status["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    let orgs = jobs.iter().find(|j| j["job"] == "organisations").unwrap();
    assert_eq!(orgs["timezone"], "Europe/Berlin");
    assert_eq!(orgs["last_pass"]["status"], "succeeded");
    assert!(orgs["last_pass"]["records_read"].as_i64().unwrap() > 0);
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(orgs["next_run"].clone()).unwrap();
    let berlin = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(berlin.format("%H:%M:%S").to_string(), "02:30:00");
    assert!(next > chrono::Utc::now());
    let local = orgs["next_run_local"].as_str().unwrap();
    assert!(local.contains("02:30:00 CE"), "{local}");
    let proposed = sb.json(&["review", "list", "--limit", "100000"]);
    assert_eq!(
        status["review_queue"].as_u64().unwrap() as usize,
        proposed.as_array().unwrap().len()
    );
    let table = sb.ok(&["status"]);
    assert!(
        table.contains("job `organisations`") && table.contains("review queue"),
        "{table}"
    );
}

#[test]
fn two_daemons_on_one_postgres_store_run_each_slot_exactly_once() {
    let db = PgDatabase::create();
    let sb = Sandbox::with_config(|c| {
        every_second(c).replace("schedule = \"* * * * * *\"", "schedule = \"*/2 * * * * *\"")
    })
    .env("REFSYNC__STORE__URL", &db.url);
    // Creates the demo CRM once, before two instances could race to.
    sb.ok(&["run", "--once"]);
    let mut a = Daemon::start(&sb);
    let mut b = Daemon::start(&sb);
    let start = Instant::now();
    while a.messages("slot claimed").len() + b.messages("slot claimed").len() < 8 {
        assert!(
            start.elapsed() < PATIENCE,
            "A:\n{}\nB:\n{}",
            a.dump(),
            b.dump()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    a.stop();
    b.stop();

    let mut claimed = BTreeSet::new();
    let mut per_job: BTreeMap<String, i64> = BTreeMap::new();
    for line in a
        .messages("slot claimed")
        .into_iter()
        .chain(b.messages("slot claimed"))
    {
        let job = line["job"].as_str().unwrap().to_string();
        let slot = line["slot"].as_str().unwrap().to_string();
        assert!(
            claimed.insert((job.clone(), slot.clone())),
            "{job} ran slot {slot} twice"
        );
        *per_job.entry(job).or_default() += 1;
    }
    let skipped = [&a, &b]
        .iter()
        .map(|d| {
            d.messages("another instance already ran this slot").len()
                + d.messages("another instance is running this job; slot skipped")
                    .len()
        })
        .sum::<usize>();
    assert!(skipped > 0, "the instances never met at a slot");

    // The store agrees: one pass per claimed slot, plus the manual run of each job.
    #[derive(QueryableByName)]
    struct JobCount {
        #[diesel(sql_type = Text)]
        job: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut pg = db.connect();
    let stored: Vec<JobCount> =
        sql_query("SELECT job, count(*) AS n FROM passes GROUP BY job ORDER BY job")
            .load(&mut pg)
            .unwrap();
    for JobCount { job, n } in stored {
        assert_eq!(
            n,
            per_job.get(&job).copied().unwrap_or(0) + 1,
            "passes of {job}"
        );
    }
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let running: N = sql_query("SELECT count(*) AS n FROM passes WHERE status = 'running'")
        .get_result(&mut pg)
        .unwrap();
    assert_eq!(running.n, 0);
}

#[test]
fn an_instance_killed_mid_pass_frees_its_lease_and_the_next_pass_runs() {
    let db = PgDatabase::create();
    let sb = Sandbox::with_config(|c| {
        every_second(c)
            .replace("batch_size = 500", "batch_size = 10")
            .replace("lease_secs = 120", "lease_secs = 3")
    })
    .env("REFSYNC__STORE__URL", &db.url);
    enlarge_crm(&sb, 4);
    let mut dying = Daemon::start(&sb);
    dying.wait_for_job("pass started", "organisations");
    dying.signal("KILL");
    dying.wait_exit();

    let mut next = Daemon::start(&sb);
    next.wait_for(
        "marked passes interrupted that a stopped instance left running",
        1,
    );
    let start = Instant::now();
    while !next
        .messages("pass finished")
        .iter()
        .any(|l| l["status"] == "succeeded" && l["span"]["job"] == "organisations")
    {
        assert!(start.elapsed() < PATIENCE, "{}", next.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    next.stop();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let running: N = sql_query("SELECT count(*) AS n FROM passes WHERE status = 'running'")
        .get_result(&mut db.connect())
        .unwrap();
    assert_eq!(running.n, 0);
}

#[test]
fn the_daemon_reconnects_after_postgres_drops_its_connection() {
    let db = PgDatabase::create();
    let sb = Sandbox::with_config(every_second).env("REFSYNC__STORE__URL", &db.url);
    sb.ok(&["run", "--once"]);
    let mut daemon = Daemon::start(&sb);
    daemon.wait_for("pass finished", 1);
    // What a server restart does to every client.
    sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut db.connect())
    .unwrap();
    daemon.wait_for("the store connection had broken; reconnected", 1);
    let start = Instant::now();
    loop {
        let log = daemon.log();
        let reconnected = log
            .iter()
            .position(|l| l["message"] == "the store connection had broken; reconnected")
            .unwrap();
        if log[reconnected..]
            .iter()
            .any(|l| l["message"] == "pass finished" && l["status"] == "succeeded")
        {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "{}", daemon.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.stop();
}

#[test]
fn a_batch_longer_than_the_drain_time_ends_the_daemon_with_an_error_in_time() {
    // One batch holds every record: it cannot finish within a one-second drain.
    let sb = Sandbox::with_config(|c| {
        every_second(c)
            .replace("batch_size = 500", "batch_size = 100000")
            .replace("drain_secs = 60", "drain_secs = 1")
    });
    enlarge_crm(&sb, 16);
    let mut daemon = Daemon::start(&sb);
    // The batch is read and looked up before EM; once the model is fitted it is scored,
    // stored and applied, which is what cannot finish in time.
    daemon.wait_for_job("match parameters estimated (EM)", "organisations");
    // The fitted model is stored before the batch is scored; a stop asked before that ends
    // the pass at once, with nothing to drain (seen once, 11 ms after the EM line). Scoring
    // the batch takes seconds: half a second in, the stop finds it under way.
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    daemon.signal("TERM");
    let status = daemon.wait_exit();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(1), "log:\n{}", daemon.dump());
    assert!(took < Duration::from_secs(20), "exit took {took:?}");
    let out = daemon.dump();
    assert!(
        out.contains("did not finish their batch within daemon.drain_secs = 1"),
        "{out}"
    );
    // Its lease was given back: a manual pass need not wait for it to expire.
    let manual = sb.json(&["run", "--once", "--job", "organisations"]);
    assert_eq!(manual[0]["status"], "succeeded");
}

#[test]
fn under_the_journal_logs_are_text_without_timestamps_elsewhere_json() {
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new();
    let log_to = |name: &str, journal: bool| -> String {
        let path = sb.path(name);
        let file = std::fs::File::create(&path).unwrap();
        let meta = file.metadata().unwrap();
        let mut cmd = sb.command(&["run", "--once", "--job", "organisations"]);
        cmd.env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(file);
        if journal {
            // What systemd sets when stderr is its journal stream.
            cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        }
        assert!(cmd.status().unwrap().success());
        std::fs::read_to_string(path).unwrap()
    };
    let journal = log_to("journal.log", true);
    let summary = journal
        .lines()
        .find(|l| l.contains("pass finished"))
        .unwrap_or_else(|| panic!("{journal}"));
    // One line per pass, its fields searchable as key=value.
    let organisations = refsync::demo::generate(refsync::demo::SEED)
        .crm_organisations
        .len();
    assert!(
        summary.contains("job=\"organisations\"")
            && summary.contains("status=\"succeeded\"")
            && summary.contains(&format!("records_read={organisations}")),
        "{summary}"
    );
    for line in journal.lines() {
        assert!(
            !line.starts_with('{') && !line.trim_start().starts_with("20"),
            "a journal line with JSON or a timestamp: {line}"
        );
    }
    let piped = log_to("piped.log", false);
    for line in piped.lines() {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        assert!(json["timestamp"].is_string(), "{line}");
    }
}

#[test]
fn a_manual_pass_right_after_a_killed_one_on_this_host_takes_over_its_lease() {
    let sb = Sandbox::with_config(|c| c.replace("batch_size = 500", "batch_size = 10"));
    enlarge_crm(&sb, 8);
    let mut dying = sb
        .command(&["run", "--once", "--job", "organisations"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let running = "SELECT id, job, status, records_read, started_at, finished_at FROM passes \
                   WHERE job = 'organisations' AND status = 'running'";
    while sql_query(running)
        .load::<Pass>(&mut store(&sb))
        .map_or(true, |p| p.is_empty())
    {
        assert!(
            dying.try_wait().unwrap().is_none(),
            "the pass ended before it was killed"
        );
        assert!(start.elapsed() < PATIENCE, "the pass never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    dying.kill().unwrap();
    dying.wait().unwrap();

    // Well within lease_secs (120 s): the holder's process is gone, so nobody waits for it.
    let next = sb.json(&["run", "--once", "--job", "organisations"]);
    assert_eq!(next[0]["status"], "succeeded");
    let passes: Vec<Pass> = sql_query(PASSES).load(&mut store(&sb)).unwrap();
    let statuses: Vec<&str> = passes
        .iter()
        .filter(|p| p.job == "organisations")
        .map(|p| p.status.as_str())
        .collect();
    assert_eq!(statuses, ["interrupted", "succeeded"]);
}

#[test]
fn a_lease_held_on_another_host_still_refuses_a_manual_pass_until_it_expires() {
    let sb = Sandbox::new();
    sb.ok(&["run", "--once", "--job", "contacts"]);
    let now = chrono::Utc::now().naive_utc();
    sql_query(
        "INSERT INTO job_leases (job, holder, acquired_at, expires_at) VALUES ('organisations', ?, ?, ?)",
    )
    .bind::<Text, _>("elsewhere.example:1:0001")
    .bind::<Timestamp, _>(now)
    .bind::<Timestamp, _>(now + chrono::Duration::hours(1))
    .execute(&mut store(&sb))
    .unwrap();
    let out = sb.run(&["run", "--once", "--job", "organisations"]);
    assert_eq!(out.status.code(), Some(1));
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("job `organisations` is running in instance elsewhere.example:1:0001"),
        "{err}"
    );
}

#[test]
fn the_daemon_writes_the_report_on_its_schedule_and_survives_a_folder_gone_missing() {
    let sb = Sandbox::with_config(|c| {
        c.replace(
            "[job.organisations]\n",
            "[job.organisations]\nreport_schedule = \"* * * * * *\"\nreport_dir = \"reports\"\n",
        )
    });
    let reports = sb.path("reports");
    std::fs::create_dir(&reports).unwrap();
    // Only the report runs every second; one pass beforehand gives it the register's side.
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let mut daemon = Daemon::start_with(&sb, &[("REFSYNC__HTTP__LISTEN", "127.0.0.1:0")]);
    let address = daemon.http_address();

    let written = daemon.wait_for("report written", 1).remove(0);
    assert_eq!(written["job"], "organisations");
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let html = reports.join(format!("organisations-{day}.html"));
    let json = reports.join(format!("organisations-{day}.json"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<h1>Datenaudit – organisations</h1>"),
        "{page}"
    );
    // The daemon's figures are the CLI's.
    let scheduled: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let by_hand = sb.json(&["report", "--job", "organisations"]);
    assert_eq!(scheduled["crm_only"], false);
    assert_eq!(scheduled["records"], written["records"]);
    assert_eq!(scheduled["figures"], by_hand["figures"]);
    assert_eq!(scheduled["passes"], by_hand["passes"]);

    // The folder goes missing: the write fails, is logged and counted, the daemon goes on.
    let moved = sb.path("reports-moved");
    std::fs::rename(&reports, &moved).unwrap();
    let failed = daemon
        .wait_for("report not written; the next slot tries again", 1)
        .remove(0);
    assert!(
        failed["error"].as_str().unwrap().contains("report_dir"),
        "{failed}"
    );
    let metrics = parse_prometheus(&get(&address, "/metrics").1);
    let counted = |result: &str| {
        metrics
            .get(&format!(
                "refsync_reports_total{{job=\"organisations\",result=\"{result}\"}}"
            ))
            .copied()
            .unwrap_or(0.0)
    };
    assert!(counted("failed") >= 1.0, "{metrics:?}");
    assert!(counted("written") >= 1.0, "{metrics:?}");
    // Back in place, the next slot writes again.
    std::fs::rename(&moved, &reports).unwrap();
    let before = daemon.messages("report written").len();
    daemon.wait_for("report written", before + 1);
    daemon.stop();

    // Only the two files, no temporary ones; no CRM value in the log.
    let mut names: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("organisations-{day}.html"),
            format!("organisations-{day}.json")
        ]
    );
    let log = daemon.dump();
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let crm_names = sql_query("SELECT name FROM organisations")
        .load::<Name>(&mut sb.crm())
        .unwrap();
    assert!(!crm_names.is_empty());
    for Name { name } in crm_names {
        assert!(!log.contains(&name), "`{name}` in the daemon's log");
    }
}
