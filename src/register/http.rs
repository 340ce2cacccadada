//! The HTTP layer every remote register shares: a rate limit (governor), bounded
//! concurrency, timeouts, retries with exponential backoff and jitter, `Retry-After` on
//! 429, a circuit breaker, a size cap on answers, and the response cache in the store.
//! Every failure here is `RegisterError::Unavailable`: the record is `lookup_failed`.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::RegisterError;
use crate::config::HttpConfig;
use crate::store::cache::{self, CacheEntry};
use crate::store::Store;

/// What a remote register did during a pass, for the pass summary and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegisterStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    pub cache_hits: u64,
    /// Cached answers kept because the register said the record had not changed.
    pub cache_revalidated: u64,
    pub retries: u64,
    /// Requests that waited for the rate limit.
    pub rate_limit_waits: u64,
    /// Lookups refused without asking because the circuit breaker was open.
    pub breaker_rejections: u64,
    /// Search queries asked (a record may be asked several ways; a reconciliation batch
    /// holds many), and the records they were asked for.
    pub queries: u64,
    pub queried_records: u64,
}

impl RegisterStats {
    /// Both clients' traffic, e.g. a job's register and its VIES check.
    pub fn plus(self, other: RegisterStats) -> RegisterStats {
        RegisterStats {
            requests: self.requests + other.requests,
            cache_hits: self.cache_hits + other.cache_hits,
            cache_revalidated: self.cache_revalidated + other.cache_revalidated,
            retries: self.retries + other.retries,
            rate_limit_waits: self.rate_limit_waits + other.rate_limit_waits,
            breaker_rejections: self.breaker_rejections + other.breaker_rejections,
            queries: self.queries + other.queries,
            queried_records: self.queried_records + other.queried_records,
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    cache_hits: AtomicU64,
    cache_revalidated: AtomicU64,
    retries: AtomicU64,
    rate_limit_waits: AtomicU64,
    breaker_rejections: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One request, also the cache key.
#[derive(Debug, Clone)]
pub enum Request {
    Get(reqwest::Url),
    PostForm(reqwest::Url, Vec<(String, String)>),
    PostJson(reqwest::Url, serde_json::Value),
}

impl Request {
    /// A stable text for the cache key: method, URL and body.
    pub fn key(&self) -> String {
        match self {
            Request::Get(url) => format!("GET {url}"),
            Request::PostForm(url, form) => {
                let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("POST {url} {}", body.join("&"))
            }
            Request::PostJson(url, json) => format!("POST {url} {json}"),
        }
    }

    fn url(&self) -> &reqwest::Url {
        match self {
            Request::Get(u) | Request::PostForm(u, _) | Request::PostJson(u, _) => u,
        }
    }
}

#[derive(Debug)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant },
}

/// Why one attempt failed, and whether another attempt may help.
enum Attempt {
    Retry(String, Option<Duration>),
    Fail(String),
    /// The circuit breaker is open: nothing was sent.
    Refused(RegisterError),
}

pub struct HttpClient {
    register: String,
    client: reqwest::Client,
    limiter: DefaultDirectRateLimiter,
    slots: Semaphore,
    breaker: Mutex<Breaker>,
    config: HttpConfig,
    api_key: Option<SecretString>,
    counters: Counters,
    store: Option<Store>,
}

impl HttpClient {
    /// `store` holds the response cache; `None` (or a TTL of 0) turns caching off.
    pub fn new(
        register: &str,
        config: &HttpConfig,
        api_key: Option<SecretString>,
        store: Option<Store>,
    ) -> Result<HttpClient, RegisterError> {
        let timeout = Duration::from_secs_f64(config.timeout_seconds);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("refsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegisterError::BadData {
                register: register.to_string(),
                problem: format!("cannot build the HTTP client: {e}"),
            })?;
        let per_minute = NonZeroU32::new(config.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        // Evenly spaced requests (burst 1): a register's "60 per minute" is then never
        // exceeded in any window, which a burst of 60 at the start of a pass would do.
        let period = Duration::from_secs(60) / per_minute.get();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(per_minute))
            .allow_burst(NonZeroU32::MIN);
        Ok(HttpClient {
            register: register.to_string(),
            client,
            limiter: RateLimiter::direct(quota),
            slots: Semaphore::new(config.concurrency.max(1)),
            breaker: Mutex::new(Breaker::Closed { failures: 0 }),
            config: config.clone(),
            api_key,
            counters: Counters::default(),
            store: store.filter(|_| config.cache_ttl_hours > 0.0),
        })
    }

    pub fn stats(&self) -> RegisterStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RegisterStats {
            requests: get(&c.requests),
            cache_hits: get(&c.cache_hits),
            cache_revalidated: get(&c.cache_revalidated),
            retries: get(&c.retries),
            rate_limit_waits: get(&c.rate_limit_waits),
            breaker_rejections: get(&c.breaker_rejections),
            queries: 0,
            queried_records: 0,
        }
    }

    pub fn unavailable(&self, reason: impl Into<String>) -> RegisterError {
        RegisterError::Unavailable {
            register: self.register.clone(),
            reason: reason.into(),
        }
    }

    /// What `read` makes of the answer to `request` (`None` is a 404), from the cache while
    /// it is fresh. Only answers `read` accepts are cached: an error answer (a 404 where a
    /// document must be, a 5xx, one that fails its schema) is asked again next time, and a
    /// cached one `read` now refuses is asked anew.
    pub async fn fetch<T>(
        &self,
        request: &Request,
        read: impl Fn(Option<&serde_json::Value>) -> Result<T, RegisterError>,
    ) -> Result<T, RegisterError> {
        let key = request.key();
        if let Some(entry) = self.cache_get(&key).await.filter(|e| e.fresh) {
            // A cached 404 is stored as JSON `null`.
            let cached = serde_json::from_str::<serde_json::Value>(&entry.body)
                .ok()
                .and_then(|v| read(Some(&v).filter(|v| !v.is_null())).ok());
            if let Some(answer) = cached {
                bump(&self.counters.cache_hits);
                return Ok(answer);
            }
        }
        let (body, value) = match self.send(request).await? {
            Some(body) => {
                let value = self.parse(&body)?;
                (body, Some(value))
            }
            None => ("null".to_string(), None),
        };
        let answer = read(value.as_ref())?;
        self.cache_put(&key, body, None).await;
        Ok(answer)
    }

    fn parse(&self, body: &str) -> Result<serde_json::Value, RegisterError> {
        serde_json::from_str(body).map_err(|e| {
            warn!(register = %self.register, error = %e, "register sent malformed JSON");
            if body.trim_start().starts_with('<') {
                // Most often the URL of a web page (a table's page, a login) instead of the API.
                self.unavailable(
                    "the answer is an HTML page, not JSON: is the configured URL the API \
                     itself (for datasette-reconcile `…/DATABASE/TABLE/-/reconcile`)?",
                )
            } else {
                self.unavailable(format!("malformed JSON in the answer: {e}"))
            }
        })
    }

    /// A cached entry under `key`, fresh or expired; `None` when caching is off or the
    /// store fails (a cache problem never fails a lookup).
    pub async fn cache_get(&self, key: &str) -> Option<CacheEntry> {
        let store = self.store.as_ref()?;
        let (register, key) = (self.register.clone(), key.to_string());
        match store
            .db
            .run(move |conn| cache::get(conn, &register, &key))
            .await
        {
            Ok(entry) => entry,
            Err(e) => {
                warn!(register = %self.register, error = %e, "response cache unreadable; asking the register");
                None
            }
        }
    }

    /// Stores `body` under `key` for the configured TTL.
    pub async fn cache_put(&self, key: &str, body: String, last_update: Option<String>) {
        let Some(store) = &self.store else { return };
        let ttl = Duration::from_secs_f64(self.config.cache_ttl_hours * 3600.0);
        let (register, key) = (self.register.clone(), key.to_string());
        let result = store
            .db
            .run(move |conn| cache::put(conn, &register, &key, &body, last_update.as_deref(), ttl))
            .await;
        if let Err(e) = result {
            warn!(register = %self.register, error = %e, "cannot write the response cache");
        }
    }

    /// Marks an expired entry fresh again: the register said nothing changed.
    pub async fn cache_renew(&self, key: &str) {
        let Some(store) = &self.store else { return };
        bump(&self.counters.cache_revalidated);
        let ttl = Duration::from_secs_f64(self.config.cache_ttl_hours * 3600.0);
        let (register, key) = (self.register.clone(), key.to_string());
        if let Err(e) = store
            .db
            .run(move |conn| cache::renew(conn, &register, &key, ttl))
            .await
        {
            warn!(register = %self.register, error = %e, "cannot renew the response cache");
        }
    }

    pub fn caching(&self) -> bool {
        self.store.is_some()
    }

    pub fn count_cache_hit(&self) {
        bump(&self.counters.cache_hits);
    }

    fn breaker_allows(&self) -> Result<(), RegisterError> {
        let mut breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if let Breaker::Open { until } = *breaker {
            let now = Instant::now();
            if now < until {
                bump(&self.counters.breaker_rejections);
                return Err(self.unavailable(format!(
                    "circuit breaker open after {} failed requests; the register is asked again in {} s (next pass retries these records)",
                    self.config.breaker_failures,
                    (until - now).as_secs() + 1
                )));
            }
            // Half-open: let requests through; the first failure opens it again.
            *breaker = Breaker::Closed {
                failures: self.config.breaker_failures.saturating_sub(1),
            };
        }
        Ok(())
    }

    fn record_outcome(&self, ok: bool) {
        let mut breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        *breaker = match (&*breaker, ok) {
            (_, true) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, false)
                if failures + 1 >= self.config.breaker_failures =>
            {
                warn!(
                    register = %self.register,
                    cooldown_s = self.config.breaker_cooldown_seconds,
                    "circuit breaker opened: the register keeps failing"
                );
                Breaker::Open {
                    until: Instant::now()
                        + Duration::from_secs(self.config.breaker_cooldown_seconds),
                }
            }
            (Breaker::Closed { failures }, false) => Breaker::Closed {
                failures: failures + 1,
            },
            (Breaker::Open { until }, false) => Breaker::Open { until: *until },
        };
    }

    /// Sends with retries; `Ok(None)` on 404.
    async fn send(&self, request: &Request) -> Result<Option<String>, RegisterError> {
        let mut attempt = 0u32;
        loop {
            let outcome = self.attempt(request).await;
            let (reason, wait) = match outcome {
                Err(Attempt::Refused(e)) => return Err(e),
                Ok(body) => {
                    self.record_outcome(true);
                    return Ok(body);
                }
                Err(Attempt::Fail(reason)) => {
                    warn!(register = %self.register, url = %request.url().path(), reason, "lookup failed");
                    return Err(self.unavailable(reason));
                }
                Err(Attempt::Retry(reason, wait)) => {
                    // Every failed attempt counts: with many lookups queued, counting only
                    // exhausted ones would let a whole batch hit a dead register first.
                    self.record_outcome(false);
                    (reason, wait)
                }
            };
            if attempt >= self.config.retries {
                warn!(register = %self.register, url = %request.url().path(), attempts = attempt + 1, reason, "register unavailable");
                return Err(self.unavailable(format!("{reason} (after {} attempts)", attempt + 1)));
            }
            let wait = match wait {
                Some(w) if w > Duration::from_secs(self.config.max_retry_after_seconds) => {
                    return Err(self.unavailable(format!(
                        "{reason}; Retry-After {} s is longer than max_retry_after_seconds {}",
                        w.as_secs(),
                        self.config.max_retry_after_seconds
                    )));
                }
                Some(w) => w,
                None => self.backoff(attempt),
            };
            bump(&self.counters.retries);
            debug!(register = %self.register, attempt, wait_ms = wait.as_millis() as u64, reason, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// `backoff_ms * 2^attempt`, scaled by a random factor in [0.5, 1.5) so that many
    /// clients do not retry in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.config.backoff_ms as f64 * 2f64.powi(attempt.min(16) as i32);
        Duration::from_millis((base * (0.5 + fastrand::f64())) as u64)
    }

    async fn attempt(&self, request: &Request) -> Result<Option<String>, Attempt> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| Attempt::Fail("client closed".into()))?;
        // Asked again after every wait: lookups queued behind the slots and the rate limit
        // must not reach a register that failed while they waited.
        self.breaker_allows().map_err(Attempt::Refused)?;
        if self.limiter.check().is_err() {
            bump(&self.counters.rate_limit_waits);
            self.limiter.until_ready().await;
            self.breaker_allows().map_err(Attempt::Refused)?;
        }
        bump(&self.counters.requests);
        let builder = match request {
            Request::Get(url) => self.client.get(url.clone()),
            Request::PostForm(url, form) => self.client.post(url.clone()).form(form),
            Request::PostJson(url, json) => self.client.post(url.clone()).json(json),
        };
        let builder = match &self.api_key {
            Some(key)
                if self
                    .config
                    .api_key_header
                    .eq_ignore_ascii_case("authorization") =>
            {
                builder.bearer_auth(key.expose_secret())
            }
            Some(key) => builder.header(self.config.api_key_header.as_str(), key.expose_secret()),
            None => builder,
        };
        let mut response = builder
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.api+json, application/json",
            )
            .send()
            .await
            .map_err(|e| Attempt::Retry(describe(&e), None))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(response.headers());
            return Err(Attempt::Retry("HTTP 429 Too Many Requests".into(), wait));
        }
        if status.is_server_error() {
            return Err(Attempt::Retry(format!("HTTP {status}"), None));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Attempt::Fail(format!(
                "HTTP {status}; check the register's base_url and, if it needs one, the API key"
            )));
        }
        let limit = self.config.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(Attempt::Fail(format!(
                "answer of {} bytes is larger than max_body_bytes {limit}",
                response.content_length().unwrap_or_default()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Attempt::Retry(format!("answer cut off: {}", describe(&e)), None))?
        {
            if body.len() + chunk.len() > limit {
                return Err(Attempt::Fail(format!(
                    "answer is larger than max_body_bytes {limit}"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body)
            .map(Some)
            .map_err(|_| Attempt::Fail("answer is not UTF-8".into()))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        // The URL may carry a company name in its query; the kind of error is enough.
        let text = e.to_string();
        match e.url() {
            Some(url) => text.replace(url.as_str(), "<url>"),
            None => text,
        }
    }
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds() {
        let client = HttpClient::new("t", &HttpConfig::remote(), None, None).unwrap();
        for attempt in 0..4 {
            let base = 500.0 * 2f64.powi(attempt);
            for _ in 0..50 {
                let ms = client.backoff(attempt as u32).as_millis() as f64;
                assert!(ms >= base * 0.5 - 1.0 && ms < base * 1.5, "{attempt}: {ms}");
            }
        }
    }

    #[test]
    fn cache_keys_differ_by_method_and_body() {
        let url: reqwest::Url = "http://x/api".parse().unwrap();
        let a = Request::Get(url.clone()).key();
        let b = Request::PostForm(url.clone(), vec![("queries".into(), "{}".into())]).key();
        let c = Request::PostJson(url, serde_json::json!({"queries": []})).key();
        assert!(a != b && b != c && a != c);
    }
}
