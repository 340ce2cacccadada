//! The review UI in headless Chromium, driven over WebDriver (chromedriver) by a small
//! client written here on reqwest. Without chromedriver and without REFSYNC_TEST_BROWSER
//! the test is skipped loudly; with REFSYNC_TEST_BROWSER=1 (CI) a missing browser fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use crate::common::StoreKind;
use crate::web_server::{client, get_json, revoked_by, Server, PASSWORD};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client().get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                let v: Value = r.json().await.unwrap_or_default();
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1400,1000".into(),
            // The stewards' browsers ask for German; the UI's default follows it.
            "--lang=de-DE".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            // The page's console, read back by `console_errors`.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args,
                "prefs": { "intl.accept_languages": "de-DE,de" } }
        } } });
        let answer: Value = client()
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_string();
        Driver {
            process,
            base,
            session,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = client().request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let value = self.call(reqwest::Method::POST, path, Some(body)).await;
        if let Some(error) = value.get("error") {
            panic!("WebDriver {path}: {error} {}", value["message"]);
        }
        value
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn open(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The element `css` selects, waiting up to 10 s for it to appear.
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Some(id) = value[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no element `{css}` on the page ({value}):\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.get(&format!("/element/{id}/text"))
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap_or("").to_string()
    }

    async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Waits up to 10 s for `script` to return true.
    async fn wait_until(&self, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = json!({ "script": script, "args": [] });
        // Errors (the page is being replaced) count as "not yet".
        while self
            .call(reqwest::Method::POST, "/execute/sync", Some(body.clone()))
            .await
            != json!(true)
        {
            assert!(
                Instant::now() < deadline,
                "never true: {script}\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses one key as a person would, on the page (not in an input).
    async fn press(&self, key: &str) {
        let actions = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
            { "type": "keyDown", "value": key }, { "type": "keyUp", "value": key } ] }] });
        self.post("/actions", actions).await;
    }

    /// The errors the browser's console received since the last call (chromedriver's
    /// legacy log endpoint drains the log as it reads it).
    async fn console_errors(&self) -> Vec<Value> {
        let log = self.post("/se/log", json!({ "type": "browser" })).await;
        log.as_array()
            .expect("chromedriver's browser log")
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .cloned()
            .collect()
    }

    async fn screenshot(&self, path: &Path) {
        let data = self.get("/screenshot").await;
        let png = base64_decode(data.as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
        println!("screenshot saved: {}", path.display());
    }

    async fn log_in(&self, server: &Server, user: &str) {
        self.call(reqwest::Method::DELETE, "/cookie", None).await;
        self.open(&server.url("/login")).await;
        self.type_into("#name", user).await;
        self.type_into("#password", PASSWORD).await;
        self.click("#login").await;
        self.find("#filters").await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
    {
        let value = ALPHABET
            .iter()
            .position(|a| *a == byte)
            .expect("base64 digit") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(crate::common::MANIFEST).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether to run; panics when CI asked for the browser and it is missing.
fn browser_available() -> bool {
    let installed = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    let required = std::env::var_os("REFSYNC_TEST_BROWSER").is_some();
    match (installed, required) {
        (true, _) => true,
        (false, true) => panic!(
            "REFSYNC_TEST_BROWSER is set but {CHROMEDRIVER} or {CHROMIUM} is missing; \
             install Debian's chromium and chromium-driver"
        ),
        (false, false) => {
            eprintln!(
                "\n*** SKIPPED the browser test: {CHROMEDRIVER} or {CHROMIUM} is missing. \
                 Install chromium and chromium-driver, or set REFSYNC_TEST_BROWSER=1 to make \
                 this a failure. ***\n"
            );
            false
        }
    }
}

#[tokio::test]
async fn stewards_review_in_the_browser_admins_undo_and_viewers_are_refused() {
    if !browser_available() {
        return;
    }
    let server = Server::start(&StoreKind::Sqlite);
    let admin_token = server.token("anke");
    let browser = Driver::start().await;
    let shots = screenshot_dir();

    // A steward logs in and filters the queue to one field.
    browser.log_in(&server, "stefan").await;
    assert!(
        browser.source().await.contains("Prüfliste"),
        "German for a German browser"
    );
    browser.type_into("#f-field", "street").await;
    browser.click("#apply-filter").await;
    // The filtered page replaces the unfiltered one: wait until it has.
    browser
        .wait_until(
            "var f = Array.from(document.querySelectorAll('tr.change td:nth-child(4)'))\
             .map(function(td){return td.textContent;});\
             return f.length > 0 && f.every(function(x){return x === 'street';});",
        )
        .await;
    browser.screenshot(&shots.join("queue.png")).await;

    // The first row is selected; `a` approves it.
    let first: i64 = browser
        .script("return document.querySelector('tr.change td').textContent;")
        .await
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    browser.press("a").await;
    let message = browser.text("#message").await;
    assert!(message.contains("1 Änderung(en) entschieden"), "{message}");
    let change = get_json(&server, &admin_token, &format!("/api/v1/changes/{first}")).await;
    assert_eq!(change["status"], "approved");
    assert_eq!(change["decided_by"], "stefan");

    // A record page shows both sides, the probability and the grade string.
    browser.click("tr.change a.record").await;
    browser.find("#values").await;
    let grade = browser.text("#grade").await;
    assert!(
        grade.contains("=A"),
        "a grade string such as `name=A city=B`: {grade}"
    );
    browser.find("#explanation").await;
    browser.find("#history").await;
    browser.screenshot(&shots.join("record.png")).await;

    // Bulk-reject every proposed e-mail change, after a confirmation naming how many.
    let before = get_json(
        &server,
        &admin_token,
        "/api/v1/changes?status=proposed&field=email",
    )
    .await;
    let n = before["total"].as_i64().unwrap();
    assert!(n > 1, "the demo proposes e-mail changes: {before}");
    browser.open(&server.url("/queue")).await;
    browser.type_into("#f-field", "email").await;
    browser.click("#apply-filter").await;
    browser
        .wait_until("var f = document.querySelector('#bulk input[name=field]'); return !!f && f.value === 'email';")
        .await;
    browser.click("#bulk-go").await;
    let confirm = browser.text("#confirm-text").await;
    assert!(confirm.contains(&n.to_string()), "{confirm}");
    browser.click("#confirm").await;
    let message = browser.text("#message").await;
    assert!(message.contains(&format!("{n} Änderung(en)")), "{message}");
    let after = get_json(
        &server,
        &admin_token,
        "/api/v1/changes?status=proposed&field=email",
    )
    .await;
    assert_eq!(after["total"], 0);

    // A contact's page shows the advertising verdict per channel; the steward records an
    // objection to advertising by letter and the verdict turns.
    browser.open(&server.url("/records/contacts/1")).await;
    let letter = browser.text("#channel-letter .verdict").await;
    assert_eq!(letter, "erlaubt", "letters need no consent");
    browser.click("#channel-letter button").await;
    browser
        .wait_until("var v = document.querySelector('#channel-letter .verdict'); return !!v && v.textContent === 'nicht erlaubt';")
        .await;
    let consent = get_json(&server, &admin_token, "/api/v1/consent/contacts/1").await;
    assert!(revoked_by(&consent, "letter", "stefan"), "{consent}");

    // An admin undoes pass 1 (English this time).
    browser.log_in(&server, "anke").await;
    browser.open(&server.url("/passes?lang=en")).await;
    browser.click("#undo-1").await;
    let confirm = browser.text("#confirm-text").await;
    assert!(confirm.starts_with("Undo pass 1"), "{confirm}");
    browser.click("#confirm").await;
    let message = browser.text("#message").await;
    assert!(message.contains("revert(s) created"), "{message}");
    let reverted = get_json(
        &server,
        &admin_token,
        "/api/v1/changes?status=reverted&pass=1",
    )
    .await;
    assert!(reverted["total"].as_i64().unwrap() > 0, "{reverted}");
    // Undone, the pass has nothing left to undo: its reverts (which carry its id) do not count.
    browser.open(&server.url("/passes?lang=en")).await;
    browser.click("#undo-1").await;
    let confirm = browser.text("#confirm-text").await;
    assert!(confirm.contains(": 0 applied changes"), "{confirm}");

    // The admin's tuning page (too few decisions in the demo yet: it says what is missing).
    browser.click("#nav-tune").await;
    browser.find("#t-job").await;
    browser.find("#too-few").await;
    browser.screenshot(&shots.join("tune.png")).await;

    // A viewer sees no decision buttons, and a forged decision form is refused.
    browser.log_in(&server, "vera").await;
    browser.open(&server.url("/queue?lang=de")).await;
    browser.find("#queue").await;
    let buttons = browser
        .script("return document.querySelectorAll('form[action=\"/decide\"]').length;")
        .await;
    assert_eq!(buttons, 0);
    let target = get_json(
        &server,
        &admin_token,
        "/api/v1/changes?status=proposed&limit=1",
    )
    .await["items"][0]["id"]
        .as_i64()
        .unwrap();
    browser
        .script(&format!(
            "var f=document.createElement('form');f.method='post';f.action='/decide';\
             var csrf=document.querySelector('input[name=csrf]').value;\
             [['csrf',csrf],['verdict','approve'],['id','{target}']].forEach(function(p){{\
             var i=document.createElement('input');i.name=p[0];i.value=p[1];f.appendChild(i);}});\
             document.body.appendChild(f);f.submit();return 1;"
        ))
        .await;
    browser.find("p.err").await;
    assert!(browser
        .source()
        .await
        .contains("Ihre Rolle erlaubt das nicht"));
    let change = get_json(&server, &admin_token, &format!("/api/v1/changes/{target}")).await;
    assert_eq!(change["status"], "proposed");

    browser.call(reqwest::Method::DELETE, "", None).await;
}

/// CRM values that would run if a page put them in as markup.
const INJECTED: [(&str, &str); 2] = [
    ("legal_form", "<script>window.__ran = 1</script>"),
    ("industry", "<img src=x onerror=\"window.__ran = 1\">"),
];

/// (count, of) of every figure the report draws a bar for, sorted: all but the cost's,
/// the complement `empty`, and placeholders and refusals that never occur.
fn charted_figures(report: &Value) -> Vec<(u64, u64)> {
    let mut figures: Vec<(u64, u64)> = report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["section"] != "cost" && f["measure"] != "empty")
        .filter(|f| {
            !(["placeholder", "refused"].contains(&f["measure"].as_str().unwrap())
                && f["count"] == 0)
        })
        .map(|f| (f["count"].as_u64().unwrap(), f["of"].as_u64().unwrap()))
        .collect();
    figures.sort();
    figures
}

/// Checks the report page the browser shows: its title in `lang`'s words, one rendered
/// bar per figure as long as the figure's share, no injected CRM value run or shown, and
/// nothing in the console.
async fn check_report_page(browser: &Driver, charted: &[(u64, u64)], title: &str, section: &str) {
    let h1 = browser.text("h1").await;
    assert!(h1.starts_with(title), "{h1}");
    let h2 = browser
        .script("return Array.from(document.querySelectorAll('h2')).map(function(h){return h.textContent;});")
        .await;
    assert!(
        h2.as_array().unwrap().iter().any(|h| h == section),
        "no section `{section}` in {h2}"
    );

    let bars = browser
        .script(
            "return Array.from(document.querySelectorAll('svg')).flatMap(function(svg){\
             var t = svg.querySelectorAll('rect.track'), v = svg.querySelectorAll('text.value');\
             return Array.from(svg.querySelectorAll('rect.bar')).map(function(b, i){\
             return [b.getBoundingClientRect().width, t[i].getBoundingClientRect().width,\
             v[i].textContent];});});",
        )
        .await;
    let mut drawn: Vec<(u64, u64)> = Vec::new();
    for bar in bars.as_array().unwrap() {
        let (width, track) = (bar[0].as_f64().unwrap(), bar[1].as_f64().unwrap());
        // "3 / 4 (75,0 %)"
        let text = bar[2].as_str().unwrap();
        let (count, rest) = text.split_once(" / ").expect(text);
        let of = rest.split_whitespace().next().unwrap();
        let (count, of): (u64, u64) = (count.parse().unwrap(), of.parse().unwrap());
        assert!(
            track > 100.0,
            "the chart is drawn: track {track} px for {text}"
        );
        let share = if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        };
        // Bars are whole pixels of a 220 px track, scaled to the page.
        assert!(
            (width / track - share).abs() <= 1.0 / 220.0 + 0.005,
            "bar {width} of {track} px for {text}"
        );
        if share >= 0.01 {
            assert!(width > 0.0, "bar of {text} has no width");
        }
        drawn.push((count, of));
    }
    drawn.sort();
    assert_eq!(drawn, charted, "one bar per figure");

    let state = browser
        .script(
            "return [window.__ran === undefined, document.scripts.length, \
             document.images.length, document.documentElement.outerHTML.indexOf('__ran')];",
        )
        .await;
    assert_eq!(
        state,
        json!([true, 0, 0, -1]),
        "no CRM value runs or shows (the report shows counts only)"
    );
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[tokio::test]
async fn the_report_draws_its_charts_in_the_browser_and_never_runs_a_crm_value() {
    if !browser_available() {
        return;
    }
    let server = Server::start(&StoreKind::Sqlite);
    for (column, value) in INJECTED {
        server
            .sb
            .crm()
            .batch_execute(&format!(
                "UPDATE organisations SET {column} = '{value}' WHERE id <= 3"
            ))
            .unwrap();
    }
    let report: Value = server.sb.json(&["report", "--job", "organisations"]);
    let charted = charted_figures(&report);
    assert!(charted.len() > 20, "a report with figures: {report}");
    let browser = Driver::start().await;
    let shots = screenshot_dir();

    // The standalone file, in German and in English.
    for (lang, title, section) in [
        ("de", "Datenaudit", "Vollständigkeit"),
        ("en", "Data audit", "Completeness"),
    ] {
        let file = server.sb.path(&format!("report-{lang}.html"));
        server.sb.ok(&[
            "report",
            "--job",
            "organisations",
            "--lang",
            lang,
            "--out",
            file.to_str().unwrap(),
        ]);
        browser.open(&format!("file://{}", file.display())).await;
        check_report_page(&browser, &charted, title, section).await;
        browser
            .screenshot(&shots.join(format!("report-{lang}.png")))
            .await;
    }

    // The same page in the review UI, for a viewer.
    browser.log_in(&server, "vera").await;
    browser.console_errors().await;
    browser.open(&server.url("/report?job=organisations")).await;
    check_report_page(&browser, &charted, "Datenaudit", "Vollständigkeit").await;
    browser.screenshot(&shots.join("report-ui.png")).await;

    browser.call(reqwest::Method::DELETE, "", None).await;
}
