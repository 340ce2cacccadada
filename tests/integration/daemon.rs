use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::Sandbox;

#[test]
fn daemon_runs_on_schedule_and_stops_cleanly_on_sigterm() {
    // Every second, so the test does not wait for 02:30.
    let sb = Sandbox::with_config(|c| {
        c.replace("schedule = \"0 30 2 * * *\"", "schedule = \"* * * * * *\"")
            .replace(
                "retention_schedule = \"0 15 3 * * *\"",
                "retention_schedule = \"* * * * * *\"",
            )
    })
    .env("REFSYNC__LOGGING__FORMAT", "json");
    let mut child = sb
        .command(&["daemon"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |needle: &str| -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return seen;
            }
        }
        panic!(
            "daemon never logged {needle:?}; it logged:\n{}",
            seen.join("\n")
        );
    };
    wait_for("pass finished");
    // The retention job runs on its own schedule beside the jobs.
    wait_for("retention run");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest = wait_for("daemon stopped");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "daemon exited with {status}; log tail: {rest:?}"
    );
    // Every pass it started was finished, interrupted or not, never left running.
    let passes = sb.json(&["review", "list", "--all", "--limit", "1"]);
    assert!(passes.is_array());
    let store =
        diesel::SqliteConnection::establish(&sb.path("var/refsync.db").to_string_lossy()).unwrap();
    running_passes_are_none(store);
}

fn running_passes_are_none(mut store: diesel::SqliteConnection) {
    use diesel::sql_types::BigInt;
    use diesel::{sql_query, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let running: Count = sql_query("SELECT count(*) AS n FROM passes WHERE status = 'running'")
        .get_result(&mut store)
        .unwrap();
    assert_eq!(running.n, 0);
}

use diesel::Connection;
