//! Who is asking: passwords (argon2id), session cookies and API tokens (random 256-bit,
//! stored as SHA-256), CSRF tokens, login rate limiting and the role check.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{WebError, WebState};
use crate::db::DbError;
use crate::store::users::{self, Role};
use crate::store::Store;

/// The session cookie's name.
pub const COOKIE: &str = "refsync_session";
/// The header API calls made with a session cookie carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts after login.
pub const SESSION_HOURS: i64 = 12;

/// An argon2id hash (PHC string) of `password`, with a fresh salt.
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches `hash`; argon2 compares in constant time.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so a login for an unknown name
/// takes as long as one with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&SecretString::from(new_token())).unwrap_or_else(|_| String::new())
    })
}

/// A random 256-bit token from the operating system's CSPRNG, as 64 hex digits (the one
/// maker of secrets, shared with the audit key).
pub use crate::store::seal::random_secret as new_token;

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time that depends on their length only.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewUserError {
    #[error("{0}")]
    Invalid(String),
    #[error("user `{0}` exists already")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] DbError),
}

impl From<diesel::result::Error> for NewUserError {
    fn from(e: diesel::result::Error) -> Self {
        NewUserError::Store(e.into())
    }
}

/// Checks, hashes and stores a new user: the one path of `refsync user add` and the API.
/// Returns the name as stored (trimmed).
pub async fn create_user(
    store: &Store,
    name: &str,
    role: Role,
    password: SecretString,
) -> Result<String, NewUserError> {
    let name = valid_user_name(name).map_err(NewUserError::Invalid)?;
    valid_password(&password).map_err(NewUserError::Invalid)?;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| NewUserError::Invalid(e.to_string()))?
        .map_err(NewUserError::Invalid)?;
    let owned = name.clone();
    let added = store
        .db
        .run(move |conn| -> diesel::QueryResult<bool> {
            if users::find_user(conn, &owned)?.is_some() {
                return Ok(false);
            }
            users::add_user(conn, &owned, role, &hash).map(|_| true)
        })
        .await?;
    if added {
        Ok(name)
    } else {
        Err(NewUserError::Exists(name))
    }
}

/// A user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@` (it lands in audit entries).
fn valid_user_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "`{name}` is not a user name: use 1 to 64 letters, digits, `.`, `_`, `-` or `@`"
        ))
    }
}

/// The shortest password accepted; no other composition rules (NIST 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 12;

fn valid_password(password: &SecretString) -> Result<(), String> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password is too short: use {MIN_PASSWORD_CHARS} characters or more"
        ));
    }
    Ok(())
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session, with its CSRF token.
    Session { token_hash: String, csrf: String },
    /// An API token (`Authorization: Bearer …`): no cookie, so no CSRF to guard against.
    Token { token_hash: String },
}

/// The user behind a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    pub via: Via,
}

impl Actor {
    /// Refuses unless the actor's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), WebError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(WebError::Forbidden(needed))
        }
    }

    /// Checks a form's CSRF token; API tokens need none.
    pub fn check_csrf(&self, provided: &str) -> Result<(), WebError> {
        match &self.via {
            Via::Token { .. } => Ok(()),
            Via::Session { csrf, .. } if same_secret(csrf, provided) => Ok(()),
            Via::Session { .. } => Err(WebError::Csrf),
        }
    }

    /// The hash of the token (API token or session) the request came with: what per-token
    /// rate limits count by.
    pub fn token_hash(&self) -> &str {
        match &self.via {
            Via::Session { token_hash, .. } | Via::Token { token_hash } => token_hash,
        }
    }

    /// The CSRF token to put in forms ("" for token callers, who get no forms).
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token { .. } => "",
        }
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<Arc<WebState>> for Actor {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<Actor, WebError> {
        // Machine clients (the API, reconciliation services) get JSON, not the login page.
        let api = ["/api/", "/reconcile/"]
            .iter()
            .any(|p| parts.uri.path().starts_with(p));
        let unauthenticated = WebError::Unauthenticated { page: !api };
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| token_hash(t.trim()));
        if let Some(hash) = bearer {
            let token_hash = hash.clone();
            let user = state
                .store
                .db
                .run(move |conn| users::token_user(conn, &hash))
                .await?
                .ok_or(unauthenticated)?;
            return Ok(Actor {
                name: user.name.clone(),
                role: user.role(),
                via: Via::Token { token_hash },
            });
        }
        let hash = cookie(parts, COOKIE)
            .map(token_hash)
            .ok_or(unauthenticated.clone())?;
        let (session, user) = state
            .store
            .db
            .run(move |conn| users::session_user(conn, &hash))
            .await?
            .ok_or(unauthenticated)?;
        let actor = Actor {
            name: user.name.clone(),
            role: user.role(),
            via: Via::Session {
                token_hash: session.token_hash,
                csrf: session.csrf,
            },
        };
        // A JSON call riding on the browser's cookie must prove it came from our pages.
        if api && !matches!(parts.method, Method::GET | Method::HEAD) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            actor.check_csrf(sent)?;
        }
        Ok(actor)
    }
}

/// Login attempts per user name and per client address within a window; in memory, so a
/// restart forgets them (the window is short anyway). An attempt is counted before its
/// password is checked, so parallel guesses cannot all pass the check while argon2 runs;
/// a successful one gives its count back.
pub struct LoginLimiter {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
    window: Duration,
    per_user: usize,
    per_address: usize,
}

/// An attempt counted by [`LoginLimiter::reserve`]; it stays counted as a failure unless
/// [`LoginLimiter::succeeded`] takes it back.
#[must_use]
pub struct Attempt {
    user: String,
    address: IpAddr,
    at: Instant,
}

impl LoginLimiter {
    /// 5 failures per user name and 20 per address in 5 minutes. The address limit is
    /// higher because everyone behind a reverse proxy or office NAT shares one address.
    pub fn new() -> LoginLimiter {
        LoginLimiter::with_limits(Duration::from_secs(300), 5, 20)
    }

    pub fn with_limits(window: Duration, per_user: usize, per_address: usize) -> LoginLimiter {
        LoginLimiter {
            attempts: Mutex::new(HashMap::new()),
            window,
            per_user,
            per_address,
        }
    }

    fn keys(user: &str, address: IpAddr) -> [(String, bool); 2] {
        [
            (format!("user:{user}"), true),
            (format!("addr:{address}"), false),
        ]
    }

    /// Counts an attempt of `user` from `address`, or `Err(seconds)` to wait when either
    /// has used up its attempts (then nothing is counted and no password is checked).
    pub fn reserve(&self, user: &str, address: IpAddr) -> Result<Attempt, u64> {
        let now = Instant::now();
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for (key, is_user) in LoginLimiter::keys(user, address) {
            let times = attempts.entry(key).or_default();
            while times.front().is_some_and(|t| now - *t >= self.window) {
                times.pop_front();
            }
            let limit = if is_user {
                self.per_user
            } else {
                self.per_address
            };
            if times.len() >= limit {
                let oldest = times.front().copied().unwrap_or(now);
                let secs = (self.window - (now - oldest)).as_secs().max(1);
                wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
            }
        }
        if let Some(secs) = wait {
            return Err(secs);
        }
        for (key, _) in LoginLimiter::keys(user, address) {
            attempts.entry(key).or_default().push_back(now);
        }
        Ok(Attempt {
            user: user.to_string(),
            address,
            at: now,
        })
    }

    /// The attempt was the right password: the user's count is cleared and the address's
    /// attempt given back (failures from the address stay).
    pub fn succeeded(&self, attempt: Attempt) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.remove(&format!("user:{}", attempt.user));
        if let Some(times) = attempts.get_mut(&format!("addr:{}", attempt.address)) {
            if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                times.remove(i);
            }
        }
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let right = SecretString::from("correct horse".to_string());
        let wrong = SecretString::from("correct hose".to_string());
        let hash = hash_password(&right).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&right, &hash));
        assert!(!verify_password(&wrong, &hash));
        assert!(!verify_password(&right, "not a hash"));
        assert!(!verify_password(&right, decoy_hash()));
    }

    #[test]
    fn tokens_are_random_256_bit_hex_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        for (a, b, same) in [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
            ("", "", true),
        ] {
            assert_eq!(same_secret(a, b), same, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn login_limiter_blocks_a_user_after_five_failures_and_an_address_after_twenty() {
        let limiter = LoginLimiter::new();
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            let _failed = limiter.reserve("anna", here).unwrap();
        }
        let wait = limiter.reserve("anna", here).err().unwrap();
        assert!((1..=300).contains(&wait), "{wait}");
        // Another name from the same address still may try, until the address's limit.
        let _failed = limiter.reserve("bert", here).unwrap();
        for i in 0..14 {
            let _failed = limiter.reserve(&format!("user{i}"), here).unwrap();
        }
        assert!(limiter.reserve("carl", here).is_err());
        assert!(limiter.reserve("carl", "10.0.0.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_sixth_parallel_attempt_is_refused_before_any_password_is_checked() {
        let limiter = LoginLimiter::new();
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        // Five attempts in flight at once, none answered yet.
        let in_flight: Vec<Attempt> = (0..5)
            .map(|_| limiter.reserve("anna", here).unwrap())
            .collect();
        assert!(limiter.reserve("anna", here).is_err());
        assert_eq!(in_flight.len(), 5);
    }

    #[test]
    fn a_successful_login_gives_its_attempts_back() {
        let limiter = LoginLimiter::with_limits(Duration::from_secs(300), 2, 2);
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        let _failed = limiter.reserve("anna", here).unwrap();
        limiter.succeeded(limiter.reserve("anna", here).unwrap());
        // The user's count is cleared; the address keeps its one failure.
        let _failed = limiter.reserve("anna", here).unwrap();
        assert!(limiter.reserve("bert", here).is_err());
    }

    #[test]
    fn login_failures_expire_after_the_window() {
        let limiter = LoginLimiter::with_limits(Duration::from_millis(30), 1, 10);
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        let _failed = limiter.reserve("anna", here).unwrap();
        assert!(limiter.reserve("anna", here).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(limiter.reserve("anna", here).is_ok());
    }
}
