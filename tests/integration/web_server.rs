//! A `refsync serve` on a free port over a store that one demo pass filled, with a user of
//! each role; shared by the API and the browser tests.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Sandbox, StoreKind};

pub const PASSWORD: &str = "correct-horse-battery";
/// (user, role): one of each.
pub const USERS: &[(&str, &str)] = &[("vera", "viewer"), ("stefan", "steward"), ("anke", "admin")];

pub struct Server {
    child: Child,
    pub base: String,
    pub sb: Sandbox,
}

impl Server {
    /// Runs one pass, creates the users and starts serving; plain http on loopback, so the
    /// session cookie is not `Secure`.
    pub fn start(kind: &StoreKind) -> Server {
        Server::start_with(kind, |c| c)
    }

    /// As [`Server::start`], with `edit` applied to the config too.
    pub fn start_with(kind: &StoreKind, edit: impl FnOnce(String) -> String) -> Server {
        let sb = kind.sandbox(|c| edit(c.replace("secure_cookie = true", "secure_cookie = false")));
        sb.ok(&["run", "--once"]);
        for (name, role) in USERS {
            let mut child = sb
                .command(&["user", "add", name, "--role", role])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("user add");
            writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut child = sb
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("serve printed {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Server { child, base, sb }
    }

    /// A new API token of `user`, made with the CLI.
    pub fn token(&self, user: &str) -> String {
        self.sb
            .ok(&["user", "token", "create", user, "--label", "test"])
            .trim()
            .to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Logs in through the login form; returns the session cookie (`name=value`).
pub async fn login(server: &Server, user: &str, password: &str) -> reqwest::Response {
    client()
        .post(server.url("/login"))
        .form(&[("name", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

pub fn session_cookie(response: &reqwest::Response) -> String {
    let set = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap();
    set.split(';').next().unwrap().to_string()
}

/// GET `path` with `token`: the status and the body.
pub async fn get_page(server: &Server, token: &str, path: &str) -> (StatusCode, String) {
    let response = client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// GET `path` with `token`, which must answer 200 with JSON.
pub async fn get_json(server: &Server, token: &str, path: &str) -> Value {
    let (status, text) = get_page(server, token, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Whether a contact's consent document (`/api/v1/consent/…`) holds an opt-out for
/// `channel` recorded by `user`.
pub fn revoked_by(consent: &Value, channel: &str, user: &str) -> bool {
    consent["records"].as_array().is_some_and(|records| {
        records.iter().any(|r| {
            r["channel"] == channel && r["status"] == "opt_out" && r["recorded_by"] == user
        })
    })
}
