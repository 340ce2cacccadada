//! What keeps the audit log honest from outside the store: the secret key of its hash
//! chain, and a checkpoint of its head in a file. Someone with write access to the
//! database alone can then neither rewrite entries (the hashes need the key) nor trim the
//! log (the checkpoint remembers how long it was and how it ended).
//!
//! Without a configured key refsync makes one in the state folder on first use, so a new
//! install is keyed from its first entry; a production install keeps it elsewhere (a
//! systemd credential), out of reach of whoever can reach the store's files.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::AuditConfig;
use crate::domain::erasure::keyed_hash;
use crate::files::{temp_beside, write_atomically};

/// Shorter keys are refused: the chain must not be forgeable by guessing the key.
const MIN_KEY_BYTES: usize = 16;
/// The key file refsync makes in the state folder when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "audit.key";
/// The checkpoint file in the state folder.
pub const CHECKPOINT_FILE: &str = "audit.checkpoint";
/// How a keyed hash starts; an entry hash without it was written before the key existed.
pub const KEYED_PREFIX: &str = "hmac:";

/// The secret key of the audit chain (HMAC-SHA256). Its Debug form shows no secret.
#[derive(Clone)]
pub struct AuditKey(Arc<SecretString>);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(***)")
    }
}

impl AuditKey {
    /// A key from its text; refused when too short to be secret.
    pub fn new(secret: SecretString) -> Result<AuditKey, String> {
        if secret.expose_secret().len() < MIN_KEY_BYTES {
            return Err(format!(
                "the key is shorter than {MIN_KEY_BYTES} bytes; use a long random secret (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(AuditKey(Arc::new(secret)))
    }

    /// The keyed hash of `parts` (each closed by a unit separator), with [`KEYED_PREFIX`].
    pub fn mac<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> String {
        let mut text = String::new();
        for part in parts {
            text.push_str(part);
            text.push('\u{1f}');
        }
        format!(
            "{KEYED_PREFIX}{}",
            keyed_hash(self.0.expose_secret().as_bytes(), &text)
        )
    }
}

/// The audit chain's key and where its checkpoint lives.
#[derive(Debug, Clone)]
pub struct Seal {
    pub key: AuditKey,
    pub checkpoint_path: PathBuf,
}

/// Why the audit key cannot be had; `key` names the `[audit]` config key to fix.
#[derive(Debug, thiserror::Error)]
#[error("[audit] {key}: {problem}")]
pub struct SealError {
    pub key: &'static str,
    pub problem: String,
}

impl Seal {
    /// The configured key (`key_env`, `key_file`), or the key file in the state folder,
    /// made with mode 0600 when it does not exist yet.
    pub fn open(
        config: &AuditConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Seal, SealError> {
        let configured_as = match (&config.key_env, &config.key_file) {
            (Some(_), _) => "key_env",
            (None, Some(_)) => "key_file",
            (None, None) => "state_dir",
        };
        let secret = match config.key(env) {
            Ok(Some(secret)) => secret,
            Ok(None) => default_key(&config.state_dir).map_err(|problem| SealError {
                key: configured_as,
                problem,
            })?,
            Err(problem) => {
                return Err(SealError {
                    key: configured_as,
                    problem,
                })
            }
        };
        let key = AuditKey::new(secret).map_err(|problem| SealError {
            key: configured_as,
            problem,
        })?;
        Ok(Seal {
            key,
            checkpoint_path: config.state_dir.join(CHECKPOINT_FILE),
        })
    }

    /// Writes the checkpoint of `head` (temp file and rename: a reader sees the old one or
    /// the new one, never half of one).
    pub fn write_checkpoint(&self, head: &Head) -> Result<(), String> {
        let at = crate::store::now();
        let checkpoint = Checkpoint {
            entries: head.entries,
            head: head.hash.clone(),
            at,
            mac: self.checkpoint_mac(head, at),
        };
        let path = &self.checkpoint_path;
        let folder = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        let text = serde_json::to_string(&checkpoint).expect("a checkpoint serialises");
        write_atomically(path, (text + "\n").as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// The checkpoint, `None` when there is none yet; an error when the file is not one
    /// refsync wrote under this key.
    pub fn read_checkpoint(&self) -> Result<Option<Checkpoint>, String> {
        let path = &self.checkpoint_path;
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a checkpoint: {e}", path.display()))?;
        let head = Head {
            entries: checkpoint.entries,
            hash: checkpoint.head.clone(),
        };
        if self.checkpoint_mac(&head, checkpoint.at) != checkpoint.mac {
            return Err(format!(
                "{} was not written by refsync under this audit key: it was edited, or the key changed",
                path.display()
            ));
        }
        Ok(Some(checkpoint))
    }

    /// Keyed like the chain, so that whoever can write the file but not read the key
    /// cannot make it agree with a trimmed log.
    fn checkpoint_mac(&self, head: &Head, at: NaiveDateTime) -> String {
        let entries = head.entries.to_string();
        let at = at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        self.key.mac(["checkpoint", &entries, &head.hash, &at])
    }
}

/// The end of the chain: how many entries it has and the hash of the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub entries: i64,
    pub hash: String,
}

/// The head as a checkpoint file records it, with when it was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub entries: i64,
    pub head: String,
    pub at: NaiveDateTime,
    mac: String,
}

/// Reads the key file in `state_dir`, or makes one: 32 random bytes in hex, mode 0600.
fn default_key(state_dir: &Path) -> Result<SecretString, String> {
    let path = state_dir.join(DEFAULT_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(SecretString::from(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    std::fs::create_dir_all(state_dir)
        .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
    let cannot = |e: std::io::Error| {
        format!(
            "cannot make the audit key {}: {e}; make the folder writable or set key_file",
            path.display()
        )
    };
    let temp = temp_beside(&path);
    let mut file = open_private(&temp).map_err(cannot)?;
    let secret = random_secret();
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(cannot)?;
    // A hard link fails when the name exists: of two processes making the key at once,
    // one wins and the other reads the winner's key.
    let linked = std::fs::hard_link(&temp, &path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "made a new audit key; keep it with the backups of the store");
            Ok(SecretString::from(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(&path)
            .map(|text| SecretString::from(text.trim().to_string()))
            .map_err(cannot),
        Err(e) => Err(cannot(e)),
    }
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// 256 random bits in hex, from the OS: audit keys, session and API tokens, CSRF tokens.
pub fn random_secret() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> AuditConfig {
        AuditConfig {
            state_dir: dir.to_path_buf(),
            ..AuditConfig::default()
        }
    }

    #[test]
    fn without_a_configured_key_one_is_made_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Seal::open(&config(dir.path()), &|_| None).unwrap();
        let path = dir.path().join(DEFAULT_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Seal::open(&config(dir.path()), &|_| None).unwrap();
        assert_eq!(first.key.mac(["x"]), again.key.mac(["x"]), "the same key");
        assert!(first.key.mac(["x"]).starts_with(KEYED_PREFIX));
        assert!(!format!("{first:?}").contains(&std::fs::read_to_string(&path).unwrap()));
    }

    #[test]
    fn a_configured_key_that_is_missing_or_short_names_its_config_key() {
        let dir = tempfile::tempdir().unwrap();
        let with_env = AuditConfig {
            key_env: Some("AUDIT_KEY".into()),
            ..config(dir.path())
        };
        let err = Seal::open(&with_env, &|_| None).unwrap_err();
        assert_eq!(err.key, "key_env");
        assert!(err.problem.contains("AUDIT_KEY"), "{err}");
        let err = Seal::open(&with_env, &|_| Some("short".into())).unwrap_err();
        assert!(err.problem.contains("shorter"), "{err}");
        assert!(!dir.path().join(DEFAULT_KEY_FILE).exists());
    }

    #[test]
    fn a_checkpoint_reads_back_and_an_edited_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let seal = Seal::open(&config(dir.path()), &|_| None).unwrap();
        assert!(seal.read_checkpoint().unwrap().is_none());
        let head = Head {
            entries: 7,
            hash: "hmac:abc".into(),
        };
        seal.write_checkpoint(&head).unwrap();
        let read = seal.read_checkpoint().unwrap().unwrap();
        assert_eq!((read.entries, read.head.as_str()), (7, "hmac:abc"));
        let text = std::fs::read_to_string(&seal.checkpoint_path).unwrap();
        std::fs::write(
            &seal.checkpoint_path,
            text.replace("\"entries\":7", "\"entries\":3"),
        )
        .unwrap();
        let err = seal.read_checkpoint().unwrap_err();
        assert!(err.contains("not written by refsync"), "{err}");
    }
}
