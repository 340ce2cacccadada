//! The audit log cannot be trimmed or rewritten unseen: its chain is keyed with a secret
//! outside the store, a checkpoint outside the table remembers its head, and every
//! redaction mark needs the erasure or retention run behind it. Each tamper below is done
//! as someone with write access to the database (but not to the key) would do it.

use std::process::Output;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use sha2::{Digest, Sha256};

use crate::common::{stderr, Sandbox, StoreKind};

/// Runs `sql` on the store with the append-only triggers off, as an attacker who may
/// change and delete rows would.
fn tamper(kind: &StoreKind, sb: &Sandbox, sql: &str) {
    let off = match kind {
        StoreKind::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        StoreKind::Postgres(_) => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
    };
    kind.exec(sb, &format!("{off} {sql}")).unwrap();
}

/// A pass, so that the log has entries and a checkpoint; returns how many entries.
fn with_history(kind: &StoreKind) -> (Sandbox, i64) {
    let sb = kind.sandbox(|c| c);
    sb.ok(&["run", "--once", "--job", "organisations"]);
    let entries = sb.json(&["audit", "export"]);
    let count = entries.as_array().unwrap().len() as i64;
    assert!(count > 10, "{}: the pass wrote entries", kind.name());
    (sb, count)
}

/// `audit verify`, which must fail; its stdout.
fn verify_fails(sb: &Sandbox, label: &str) -> String {
    let out: Output = sb.run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{label}: {text}{}",
        stderr(&out)
    );
    text
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Timestamp)]
    at: chrono::NaiveDateTime,
    #[diesel(sql_type = Text)]
    actor: String,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    job: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pass_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    change_id: Option<i64>,
    #[diesel(sql_type = Text)]
    entity: String,
    #[diesel(sql_type = Text)]
    record_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    field: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    old_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    new_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    source: Option<String>,
    #[diesel(sql_type = Nullable<Double>)]
    score: Option<f64>,
    #[diesel(sql_type = Nullable<Text>)]
    detail: Option<String>,
}

fn rows(kind: &StoreKind, sb: &Sandbox) -> Vec<Row> {
    let sql = "SELECT id, at, actor, action, job, pass_id, change_id, entity, record_id, \
               field, old_value, new_value, source, score, detail FROM audit_log ORDER BY id";
    match kind {
        StoreKind::Sqlite => {
            let path = sb.path("var/refsync.db");
            let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            diesel::sql_query(sql).load(&mut conn).unwrap()
        }
        StoreKind::Postgres(db) => diesel::sql_query(sql).load(&mut db.connect()).unwrap(),
    }
}

/// The attacker's script: the plain SHA-256 rule refsync chained entries with before the
/// key (it is public), applied to every entry from `from` on after forging `from`'s value.
fn rewrite_without_the_key(kind: &StoreKind, sb: &Sandbox, from: usize) -> i64 {
    fn sha(parts: &[String]) -> String {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
            hasher.update([0x1f]);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "\u{0}".into());
    let mut rows = rows(kind, sb);
    rows[from].new_value = Some("forged".into());
    let mut prev = match from {
        0 => "genesis".to_string(),
        _ => stored_hash(kind, sb, rows[from - 1].id),
    };
    let mut sql = String::new();
    for r in &rows[from..] {
        let digest = sha(&[opt(&r.old_value), opt(&r.new_value), opt(&r.detail)]);
        let hash = sha(&[
            prev.clone(),
            r.at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            r.actor.clone(),
            r.action.clone(),
            r.job.clone(),
            r.pass_id.map_or("\u{0}".into(), |v| v.to_string()),
            r.change_id.map_or("\u{0}".into(), |v| v.to_string()),
            r.entity.clone(),
            r.record_id.clone(),
            opt(&r.field),
            opt(&r.source),
            r.score.map_or("\u{0}".into(), |v| format!("{v:?}")),
            format!("values:{digest}"),
        ]);
        let new_value = r
            .new_value
            .as_ref()
            .map_or("NULL".into(), |v| format!("'{}'", v.replace('\'', "''")));
        sql.push_str(&format!(
            "UPDATE audit_log SET new_value = {new_value}, values_digest = '{digest}', \
             prev_hash = '{prev}', hash = '{hash}' WHERE id = {};",
            r.id
        ));
        prev = hash;
    }
    tamper(kind, sb, &sql);
    rows[from].id
}

fn stored_hash(kind: &StoreKind, sb: &Sandbox, id: i64) -> String {
    #[derive(QueryableByName)]
    struct Hash {
        #[diesel(sql_type = Text)]
        hash: String,
    }
    let sql = format!("SELECT hash FROM audit_log WHERE id = {id}");
    let found: Hash = match kind {
        StoreKind::Sqlite => {
            let path = sb.path("var/refsync.db");
            let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            diesel::sql_query(sql).get_result(&mut conn).unwrap()
        }
        StoreKind::Postgres(db) => diesel::sql_query(sql)
            .get_result(&mut db.connect())
            .unwrap(),
    };
    found.hash
}

#[test]
fn a_rewritten_entry_with_every_later_hash_recomputed_without_the_key_is_reported() {
    for kind in StoreKind::both() {
        let (sb, count) = with_history(&kind);
        let victim = rewrite_without_the_key(&kind, &sb, count as usize / 2);
        let text = verify_fails(&sb, kind.name());
        assert!(
            text.starts_with(&format!("audit log BROKEN at entry {victim}: ")),
            "{}: {text}",
            kind.name()
        );
        assert!(text.contains("without the audit key"), "{text}");
        assert!(text.contains("REWRITTEN"), "the checkpoint too: {text}");
    }
}

#[test]
fn a_chain_recomputed_from_its_first_entry_without_the_key_is_reported_by_the_checkpoint() {
    let kind = StoreKind::Sqlite;
    let (sb, count) = with_history(&kind);
    rewrite_without_the_key(&kind, &sb, 0);
    let text = verify_fails(&sb, "sqlite");
    assert!(
        text.starts_with(&format!(
            "audit log REWRITTEN: entry number {count} is not the head"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("{count} entries from before the audit key")));
}

#[test]
fn entries_from_before_the_key_still_verify_and_new_ones_chain_on_keyed() {
    let kind = StoreKind::Sqlite;
    let (sb, count) = with_history(&kind);
    // A store from before the key: every entry plainly hashed, and no checkpoint yet.
    rewrite_without_the_key(&kind, &sb, 0);
    std::fs::remove_file(sb.path("var/audit.checkpoint")).unwrap();
    // A forged value, made when the store was old, goes unseen: only keyed entries are safe.
    sb.ok(&["review", "reject", "--job", "organisations"]);
    let text = sb.ok(&["audit", "verify"]);
    assert!(text.starts_with("audit log intact: "), "{text}");
    assert!(
        text.contains(&format!("{count} entries from before the audit key")),
        "{text}"
    );
    assert!(text.contains("its head found in place"), "{text}");
}

#[test]
fn a_removed_tail_is_reported_by_verify() {
    for kind in StoreKind::both() {
        let (sb, count) = with_history(&kind);
        tamper(
            &kind,
            &sb,
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 3);",
        );
        let text = verify_fails(&sb, kind.name());
        assert!(
            text.starts_with(&format!(
                "audit log TAIL REMOVED: {} entries, but the checkpoint of ",
                count - 3
            )),
            "{}: {text}",
            kind.name()
        );
        assert!(
            text.contains(&format!("counted {count}: the last 3 are gone")),
            "{text}"
        );

        // Later work does not paper over it: the checkpoint is kept as evidence.
        let out = sb.run(&["review", "reject", "--job", "organisations"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("kept as evidence"),
            "{}",
            stderr(&out)
        );
        let text = verify_fails(&sb, kind.name());
        assert!(
            text.contains(&format!("counted {count}"))
                || text.contains(&format!("entry number {count}")),
            "{text}"
        );
    }
}

#[test]
fn an_emptied_log_is_reported_by_verify() {
    for kind in StoreKind::both() {
        let (sb, count) = with_history(&kind);
        tamper(&kind, &sb, "DELETE FROM audit_log;");
        let text = verify_fails(&sb, kind.name());
        assert!(
            text.starts_with("audit log EMPTIED: the table has no entries, but the checkpoint of "),
            "{}: {text}",
            kind.name()
        );
        assert!(text.contains(&format!("counted {count}")), "{text}");
    }
}

#[test]
fn postgres_refuses_to_truncate_the_audit_log() {
    let kind = StoreKind::Postgres(crate::common::PgDatabase::create());
    let (sb, count) = with_history(&kind);
    let err = kind
        .exec(&sb, "TRUNCATE audit_log")
        .unwrap_err()
        .to_string();
    assert!(err.contains("TRUNCATE is refused"), "{err}");
    let text = sb.ok(&["audit", "verify"]);
    assert!(
        text.starts_with(&format!("audit log intact: {count} entries")),
        "{text}"
    );
}

#[test]
fn a_forged_redaction_mark_is_reported_by_verify() {
    for kind in StoreKind::both() {
        let (sb, _) = with_history(&kind);
        // Within what the triggers allow: values swapped for pseudonyms or tombstones, with
        // a mark that says retention or erasure did it, when neither ran.
        let victims = rows(&kind, &sb)
            .into_iter()
            .filter(|r| r.new_value.is_some())
            .take(2)
            .map(|r| r.id)
            .collect::<Vec<_>>();
        kind.exec(
            &sb,
            &format!(
                "UPDATE audit_log SET old_value = NULL, new_value = 'pseudonym:0000', \
                 detail = NULL, redacted = 'retention' WHERE id = {};
                 UPDATE audit_log SET old_value = NULL, new_value = '[erased]', detail = NULL, \
                 redacted = 'erased' WHERE id = {};",
                victims[0], victims[1]
            ),
        )
        .unwrap();
        let text = verify_fails(&sb, kind.name());
        assert!(
            text.contains(&format!(
                "audit log entry {} is FORGED: marked `retention`, but no retention run after it had a cutoff past its time",
                victims[0]
            )),
            "{}: {text}",
            kind.name()
        );
        assert!(
            text.contains(&format!(
                "audit log entry {} is FORGED: marked `erased`, but no erasure of ",
                victims[1]
            )),
            "{text}"
        );
    }
}

#[test]
fn a_new_install_without_a_checkpoint_verifies() {
    let sb = Sandbox::new();
    let text = sb.ok(&["audit", "verify"]);
    assert!(text.starts_with("audit log intact: 0 entries"), "{text}");
    assert!(
        text.contains("no checkpoint at var/audit.checkpoint yet (a new install)"),
        "{text}"
    );
}

#[test]
fn a_pass_leaves_its_audit_head_in_the_checkpoint_and_its_log_line() {
    let sb = Sandbox::new();
    let out = sb.run(&["run", "--once", "--job", "organisations"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let checkpoint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("var/audit.checkpoint")).unwrap())
            .unwrap();
    let head = checkpoint["head"].as_str().unwrap();
    assert!(head.starts_with("hmac:"), "{checkpoint}");
    let log = stderr(&out);
    let line = log.lines().find(|l| l.contains("pass finished")).unwrap();
    assert!(line.contains(head), "{line}");
    assert!(
        line.contains(&format!("\"audit_entries\":{}", checkpoint["entries"])),
        "{line}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(sb.path("var/audit.key")).unwrap();
        assert_eq!(
            key.permissions().mode() & 0o777,
            0o600,
            "the key is private"
        );
    }
}

#[test]
fn a_configured_audit_key_that_is_not_set_is_bad_config() {
    let sb = Sandbox::with_config(|c| {
        c.replace(
            "# key_env = \"REFSYNC_AUDIT_KEY\"",
            "key_env = \"REFSYNC_AUDIT_KEY\"",
        )
    });
    let out = sb.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("audit.key_env") && err.contains("REFSYNC_AUDIT_KEY"),
        "{err}"
    );
    let sb = sb.env("REFSYNC_AUDIT_KEY", "a-long-random-audit-key-0123456789");
    sb.ok(&["run", "--once", "--job", "organisations"]);
    assert!(
        !sb.path("var/audit.key").exists(),
        "the configured key is used"
    );
    assert!(sb.ok(&["audit", "verify"]).contains("intact"));
}
