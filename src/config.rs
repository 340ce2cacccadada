//! Configuration: a TOML file, overridden by `REFSYNC__SECTION__KEY` environment variables.
//! Unknown keys are errors; every error names the file, the key and what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::domain::blocking::BlockingSettings;
use crate::domain::decide::Thresholds;
use crate::domain::evaluate::Plan;
use crate::domain::link::MatchSettings;
use crate::domain::model::{EntityKind, Field};
use crate::domain::policy::{default_rules, FieldRule, DEFAULT_PLACEHOLDERS};
use crate::domain::survivorship::Survivorship;

pub const DEFAULT_CONFIG_PATH: &str = "config/refsync.toml";
const ENV_PREFIX: &str = "REFSYNC__";

#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: Option<String>,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}", self.file.display())?;
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.problem)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub store: StoreConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub crm: BTreeMap<String, CrmConfig>,
    #[serde(default)]
    pub register: BTreeMap<String, RegisterConfig>,
    #[serde(default)]
    pub job: BTreeMap<String, JobConfig>,
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub http: ListenerConfig,
    #[serde(default)]
    pub privacy: PrivacyConfig,
    #[serde(default)]
    pub audit: AuditConfig,
}

/// What keeps the audit log honest from outside the store: the key of its hash chain and
/// the folder of the key file and the checkpoint of the log's head.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Environment variable holding the secret key of the audit chain (HMAC-SHA256; never
    /// logged). Keep it stable: entries written under another key no longer verify.
    pub key_env: Option<String>,
    /// File holding the key, e.g. a systemd credential (`$CREDENTIALS_DIRECTORY/…`).
    pub key_file: Option<PathBuf>,
    /// Folder of refsync's own files beside the store: the checkpoint `audit.checkpoint`
    /// and, when neither key_env nor key_file is set, the key `audit.key` (made on first use).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            key_env: None,
            key_file: None,
            state_dir: default_state_dir(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("var")
}

impl AuditConfig {
    /// The configured key, from the environment or the key file; `None` when the default
    /// key file in `state_dir` is meant.
    pub fn key(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SecretString>, String> {
        read_secret(
            self.key_env.as_deref(),
            self.key_file.as_deref(),
            ("key_env", "key_file"),
            env,
        )
    }
}

/// Data protection: the key of the erased-people list, retention of audit and change values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Environment variable holding the secret key for the keyed hashes of erased people
    /// and for pseudonyms (never logged; keep it stable: a new key forgets the list).
    pub key_env: Option<String>,
    /// File holding the key, e.g. a systemd credential (`$CREDENTIALS_DIRECTORY/…`).
    pub key_file: Option<PathBuf>,
    /// Audit and change values older than this many days are pseudonymised by the retention
    /// job; without it they are kept.
    pub retention_days: Option<u32>,
    /// When `refsync daemon` runs the retention job (cron, in UTC).
    #[serde(default = "default_retention_schedule")]
    pub retention_schedule: String,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            key_env: None,
            key_file: None,
            retention_days: None,
            retention_schedule: default_retention_schedule(),
        }
    }
}

fn default_retention_schedule() -> String {
    "0 15 3 * * *".into()
}

impl PrivacyConfig {
    /// The key, from the environment or the key file, if one is configured.
    pub fn key(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SecretString>, String> {
        read_secret(
            self.key_env.as_deref(),
            self.key_file.as_deref(),
            ("key_env", "key_file"),
            env,
        )
    }
}

/// A secret from the named environment variable or file (trimmed), if either is configured;
/// `keys` name the two config keys in messages.
fn read_secret(
    var: Option<&str>,
    file: Option<&Path>,
    keys: (&str, &str),
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, String> {
    let (env_key, file_key) = keys;
    if let Some(var) = var {
        return match env(var) {
            Some(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim().to_string()))),
            _ => Err(format!(
                "environment variable {var} ({env_key}) is not set; export it or use {file_key}"
            )),
        };
    }
    if let Some(path) = file {
        return std::fs::read_to_string(path)
            .map(|v| Some(SecretString::from(v.trim().to_string())))
            .map_err(|e| format!("cannot read {file_key} {}: {e}", path.display()));
    }
    Ok(None)
}

/// How `refsync daemon` behaves as a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// After SIGTERM, the seconds running passes get to finish their batch and commit.
    #[serde(default = "default_drain_secs")]
    pub drain_secs: u64,
    /// Seconds a job lease lasts unless renewed; an instance that dies holding one frees it
    /// after this long.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            drain_secs: default_drain_secs(),
            lease_secs: default_lease_secs(),
        }
    }
}

fn default_drain_secs() -> u64 {
    60
}

fn default_lease_secs() -> u64 {
    120
}

/// The health and metrics listener of `refsync daemon`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address to listen on, e.g. `127.0.0.1:9187`; without it there is no listener.
    pub listen: Option<std::net::SocketAddr>,
    /// `/readyz` fails once this many passes of a job in a row have failed.
    #[serde(default = "default_ready_max_failed_passes")]
    pub ready_max_failed_passes: u32,
    /// Marks the UI's session cookie `Secure` (sent over HTTPS only). Turn off only for a
    /// browser talking plain http to a loopback listener; refused on any other address.
    #[serde(default = "default_secure_cookie")]
    pub secure_cookie: bool,
    /// A request's headers must arrive within this many seconds; an idle kept-alive
    /// connection is closed after it too.
    #[serde(default = "default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// A request's body must arrive within this many seconds (else 408).
    #[serde(default = "default_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// Open connections one client address may hold; more are closed at once, so that one
    /// client cannot take every socket.
    #[serde(default = "default_max_connections_per_address")]
    pub max_connections_per_address: usize,
    /// `POST /api/v1/check`: requests per second one API token (or session) may make, in
    /// bursts of as many; more answer 429.
    #[serde(default = "default_check_per_second")]
    pub check_per_second: u32,
    /// `/reconcile/{job}/register` without a token (the register's data only; the CRM
    /// side always needs one).
    #[serde(default)]
    pub reconcile_public: bool,
}

fn default_check_per_second() -> u32 {
    50
}

fn default_secure_cookie() -> bool {
    true
}

fn default_header_timeout_secs() -> u64 {
    10
}

fn default_body_timeout_secs() -> u64 {
    30
}

fn default_max_connections_per_address() -> usize {
    64
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            listen: None,
            ready_max_failed_passes: default_ready_max_failed_passes(),
            secure_cookie: default_secure_cookie(),
            header_timeout_secs: default_header_timeout_secs(),
            body_timeout_secs: default_body_timeout_secs(),
            max_connections_per_address: default_max_connections_per_address(),
            check_per_second: default_check_per_second(),
            reconcile_public: false,
        }
    }
}

fn default_ready_max_failed_passes() -> u32 {
    3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub url: DbUrl,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// A tracing filter such as `info` or `refsync=debug`.
    #[serde(default = "default_log_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

fn default_log_level() -> String {
    "info".into()
}

/// The tracing filter `text` (`logging.level`, `RUST_LOG`), or what is wrong with it and
/// what a good one looks like.
pub fn log_filter(text: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    tracing_subscriber::EnvFilter::try_new(text).map_err(|e| {
        format!("`{text}` is not a log filter ({e}); write a level such as `info`, or levels per module such as `warn,refsync=debug`")
    })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    #[default]
    Auto,
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CrmConfig {
    /// A CRM whose tables refsync reads and writes over SQL.
    Sql(SqlCrmConfig),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlCrmConfig {
    pub url: DbUrl,
    /// Create and fill the demo CRM when its SQLite file does not exist yet.
    #[serde(default)]
    pub demo_data: bool,
    /// The name refsync writes into `modified_by_column`, so its own writes are told apart
    /// from people's.
    #[serde(default = "default_writer_name")]
    pub writer_name: String,
    pub organisations: Option<TableMapping>,
    pub contacts: Option<TableMapping>,
}

impl SqlCrmConfig {
    pub fn mapping(&self, kind: EntityKind) -> Option<&TableMapping> {
        match kind {
            EntityKind::Organisation => self.organisations.as_ref(),
            EntityKind::Contact => self.contacts.as_ref(),
        }
    }
}

/// Where one entity kind lives in the CRM and which column holds which canonical field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMapping {
    pub table: String,
    pub id_column: String,
    /// Set to the current time on every write, as the CRM's own screens do.
    pub modified_column: Option<String>,
    /// Who last modified the record; refsync reads it and writes its `writer_name` there.
    pub modified_by_column: Option<String>,
    /// Only rows whose columns hold these values (compared as text) belong to this entity:
    /// `{ is_company = "true", active = "true" }` (Odoo), `{ deleted = "0" }` (SuiteCRM).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, String>,
    pub columns: BTreeMap<Field, String>,
    /// Fields whose column holds a key into another table, e.g. Odoo's `country_id`:
    /// `country = { table = "res_country", key = "id", value = "code" }`.
    #[serde(default)]
    pub lookups: BTreeMap<Field, LookupMapping>,
}

/// A column that refers to a row of another table whose `value` column is the field's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupMapping {
    pub table: String,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegisterConfig {
    /// A CSV or JSON Lines file of reference records, loaded again only when it changed.
    File(FileRegisterConfig),
    /// A GLEIF Golden Copy LEI-CDF CSV (full file plus optional delta files).
    GleifGoldenCopy(GoldenCopyConfig),
    /// The GLEIF LEI API (`https://api.gleif.org/api/v1`).
    Gleif(GleifConfig),
    /// A W3C Entity Reconciliation API service (0.2 or 1.0-draft, read from its manifest).
    Reconciliation(ReconciliationConfig),
    /// EU VIES, named in a job's `vies` to check the CRM's VAT ids.
    Vies(ViesConfig),
}

impl RegisterConfig {
    /// The blocking rules of a register refsync indexes itself; for a remote one, which
    /// blocks on its own side, the defaults of the entity kind.
    pub fn blocking(&self) -> BlockingSettings {
        match self {
            RegisterConfig::File(f) => f.blocking.clone(),
            RegisterConfig::GleifGoldenCopy(g) => g.blocking.clone(),
            _ => BlockingSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GleifConfig {
    #[serde(default = "default_gleif_url")]
    pub base_url: String,
    /// Search results read per query, at most `page_size * max_pages`.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Extra German register courts as GLEIF registration authority codes
    /// (`"Frankfurt am Main" = "RA000242"`), added to the shipped list.
    #[serde(default)]
    pub courts: BTreeMap<String, String>,
    #[serde(default = "HttpConfig::remote")]
    pub http: HttpConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationConfig {
    /// The service endpoint (its manifest), e.g. `https://wikidata.reconci.link/en/api`.
    pub endpoint: String,
    /// The type to reconcile against, e.g. `Q43229` (Wikidata: organization).
    #[serde(rename = "type")]
    pub type_id: Option<String>,
    /// Candidates per query.
    #[serde(default = "default_recon_limit")]
    pub limit: u32,
    /// Canonical field = the service's property id, sent with queries (e.g.
    /// `lei = "P1278"` for Wikidata). Identifiers (LEI, VAT id, register number) are asked
    /// first on their own; other properties only under `property_matching = "score"`.
    #[serde(default)]
    pub properties: BTreeMap<Field, String>,
    /// How the service reads query properties: `filter` (an exact condition, as
    /// datasette-reconcile does: a moved firm would not be found, so only identifiers are
    /// sent) or `score` (they raise the score, as Wikidata's service does).
    #[serde(default)]
    pub property_matching: PropertyMatching,
    /// Canonical field = property id fetched with `extend` for every candidate.
    #[serde(default)]
    pub extend: BTreeMap<Field, String>,
    #[serde(default = "HttpConfig::remote")]
    pub http: HttpConfig,
}

/// How a reconciliation service treats the properties of a query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyMatching {
    #[default]
    Filter,
    Score,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViesConfig {
    #[serde(default = "default_vies_url")]
    pub base_url: String,
    #[serde(default = "HttpConfig::remote")]
    pub http: HttpConfig,
}

fn default_vies_url() -> String {
    "https://ec.europa.eu/taxation_customs/vies/rest-api".into()
}

fn default_recon_limit() -> u32 {
    5
}

fn default_gleif_url() -> String {
    "https://api.gleif.org/api/v1".into()
}

fn default_page_size() -> u32 {
    50
}

fn default_max_pages() -> u32 {
    2
}

/// How refsync talks to a remote register; one `[register.NAME.http]` section each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Requests per minute, shared by all lookups of this register.
    #[serde(default = "default_rate")]
    pub requests_per_minute: u32,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Retries after a timeout, a connection error or a 5xx/429 answer.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First backoff; doubled on every retry, with jitter.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Longest `Retry-After` honoured; a longer one makes the lookup fail for this pass.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_seconds: u64,
    /// Consecutive failed requests that open the circuit breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker fails lookups without asking the register.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown_seconds: u64,
    /// Larger answers are refused as `lookup_failed`.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How long a cached answer is used without asking again; 0 turns the cache off.
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_hours: f64,
    /// Environment variable holding an API key or token (never logged).
    pub api_key_env: Option<String>,
    /// File holding the key, e.g. a systemd credential (`$CREDENTIALS_DIRECTORY/…`).
    pub api_key_file: Option<PathBuf>,
    /// Header the key is sent in; `Authorization` sends `Bearer KEY`.
    #[serde(default = "default_key_header")]
    pub api_key_header: String,
}

impl HttpConfig {
    /// The defaults: polite to a free public API (GLEIF: 60 requests/minute).
    pub fn remote() -> Self {
        HttpConfig {
            requests_per_minute: default_rate(),
            concurrency: default_concurrency(),
            timeout_seconds: default_timeout(),
            retries: default_retries(),
            backoff_ms: default_backoff(),
            max_retry_after_seconds: default_max_retry_after(),
            breaker_failures: default_breaker_failures(),
            breaker_cooldown_seconds: default_breaker_cooldown(),
            max_body_bytes: default_max_body(),
            cache_ttl_hours: default_cache_ttl(),
            api_key_env: None,
            api_key_file: None,
            api_key_header: default_key_header(),
        }
    }

    /// Reads the API key from the environment or the credential file, if one is configured.
    pub fn api_key(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SecretString>, String> {
        read_secret(
            self.api_key_env.as_deref(),
            self.api_key_file.as_deref(),
            ("api_key_env", "api_key_file"),
            env,
        )
    }
}

/// GLEIF's published limit: 60 requests per minute per user.
fn default_rate() -> u32 {
    60
}

fn default_concurrency() -> usize {
    4
}

fn default_timeout() -> f64 {
    20.0
}

fn default_retries() -> u32 {
    3
}

fn default_backoff() -> u64 {
    500
}

fn default_max_retry_after() -> u64 {
    120
}

fn default_breaker_failures() -> u32 {
    5
}

fn default_breaker_cooldown() -> u64 {
    60
}

fn default_max_body() -> usize {
    8 * 1024 * 1024
}

fn default_cache_ttl() -> f64 {
    24.0
}

fn default_key_header() -> String {
    "Authorization".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRegisterConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub format: FileFormat,
    /// The column (JSON Lines: the key or dotted path) with the register's own record id.
    pub id_column: String,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Which blocking rules the in-memory index uses (`[register.NAME.blocking]`).
    #[serde(default)]
    pub blocking: BlockingSettings,
    pub columns: BTreeMap<Field, String>,
    /// A row with a mapped value over this many bytes is skipped (and counted in the log):
    /// no register value is that long, and it must not become a proposed change.
    #[serde(default = "default_max_field_bytes")]
    pub max_field_bytes: usize,
}

fn default_max_field_bytes() -> usize {
    crate::domain::excerpt::MAX_FIELD_BYTES
}

fn default_writer_name() -> String {
    "refsync".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    #[default]
    Csv,
    /// One JSON object per line; columns name keys, nested ones as `address.city`.
    Jsonl,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenCopyConfig {
    /// The full LEI-CDF CSV file (unzipped).
    pub path: PathBuf,
    /// Delta files (IntraDay, LastDay, …), oldest first; a later row for an LEI wins.
    #[serde(default)]
    pub deltas: Vec<PathBuf>,
    /// Extra German register courts as GLEIF RA codes, as for the API register.
    #[serde(default)]
    pub courts: BTreeMap<String, String>,
    /// Which blocking rules find candidates, as for a file register.
    #[serde(default)]
    pub blocking: crate::domain::blocking::BlockingSettings,
}

fn default_delimiter() -> char {
    ','
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub entity: EntityKind,
    /// Name of a `[crm.NAME]` section.
    pub crm: String,
    /// Name of a `[register.NAME]` section.
    pub register: String,
    /// Name of a `[register.NAME]` of kind `vies`: the CRM's VAT ids are checked there too.
    #[serde(default)]
    pub vies: Option<String>,
    /// Cron expression (`sec min hour day month weekday`, seconds optional).
    pub schedule: String,
    /// IANA time zone the schedule is read in, e.g. `Europe/Berlin`; default: the system's.
    pub timezone: Option<String>,
    /// Cron expression on which the daemon writes the job's data-quality report into
    /// `report_dir` (read in `timezone`, like `schedule`).
    pub report_schedule: Option<String>,
    /// Folder for the scheduled reports, `<job>-<YYYY-MM-DD>.html` and `.json`; it must
    /// exist and take files.
    pub report_dir: Option<PathBuf>,
    /// Up to this many seconds of random delay after each slot, to spread load.
    #[serde(default)]
    pub jitter_secs: u64,
    /// Slots missed while no instance ran: `skip` them or `run_once` at start.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// Slots that pass while a pass of this job still runs: `skip` them, or `wait` and run
    /// once right after.
    #[serde(default)]
    pub overrun: Overrun,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// A pass whose share of failed lookups is above this ends `degraded` (exit 1, red in
    /// `status`); one whose every lookup failed ends `failed`.
    #[serde(default = "default_max_failed_share")]
    pub max_failed_share: f64,
    /// Values that count as empty under `overwrite_placeholder`.
    #[serde(default = "default_placeholders")]
    pub placeholders: Vec<String>,
    /// Rule per canonical field: a policy name or `{ policy = "…", min_probability = … }`.
    /// Fields not listed are not synced; without the table, refsync's defaults apply to
    /// every mapped field.
    pub fields: Option<BTreeMap<Field, FieldRule>>,
    /// Records to leave alone: field → values (compared case- and accent-insensitively),
    /// e.g. `{ status = ["archived", "gesperrt"] }`. They get status `skipped`.
    #[serde(default)]
    pub skip_where: BTreeMap<Field, Vec<String>>,
    /// The CRM's word for an inactive record, proposed when the register says dissolved.
    #[serde(default = "default_inactive_value")]
    pub inactive_value: String,
    /// Read only records modified since the last successful pass (needs the mapping's
    /// `modified_column`), less `overlap_seconds` for clock skew between CRM and refsync.
    #[serde(default)]
    pub incremental: bool,
    #[serde(default = "default_overlap_seconds")]
    pub overlap_seconds: u64,
    /// Fields written in their standard form (`phone` in E.164, `email` with a lower-case
    /// domain); the spelling changes, the meaning does not, so these are applied.
    #[serde(default)]
    pub normalise: Vec<Field>,
    /// With `incremental`: a full pass when the last one is older than this.
    #[serde(default = "default_full_pass_every_hours")]
    pub full_pass_every_hours: u64,
    /// How candidates are scored (`[job.NAME.matching]`): EM, pinned m/u, term frequency.
    #[serde(default)]
    pub matching: MatchSettings,
    /// Contacts: what `refsync erase` asks the CRM to do with the person's record.
    #[serde(default)]
    pub erase: EraseMode,
    /// Contacts: the only fields refsync may take from the register, store or propose (data
    /// minimisation); default: the name fields and role, no new contact channels.
    pub enrich_fields: Option<Vec<Field>>,
    /// Contacts: CRM columns holding advertising consent per channel, read by
    /// `refsync consent import --from-crm` (`email = "newsletter_opt_in"`). A value such as
    /// `opt_in`/`yes`/`ja`/`true`/`1` is an opt-in, `opt_out`/`no`/`nein`/`false`/`0` an
    /// opt-out, `presumed` presumed consent; empty cells are skipped.
    #[serde(default)]
    pub consent_columns: BTreeMap<crate::domain::consent::Channel, String>,
    /// Duplicates inside the CRM: clusters and merge proposals.
    #[serde(default)]
    pub duplicates: DuplicatesConfig,
    /// Check on entry (`POST /api/v1/check`, `refsync check`): the named form mappings.
    #[serde(default)]
    pub check: CheckConfig,
}

/// `[job.NAME.check]`: how the fields of a web form (or another sender) are named.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// `[job.NAME.check.mappings.FORM] form_field = "canonical_field"`: a request naming
    /// `"mapping": "FORM"` sends the form's own field names.
    #[serde(default)]
    pub mappings: BTreeMap<String, BTreeMap<String, Field>>,
}

/// Duplicates inside the CRM (`[job.NAME.duplicates]`): the pass clusters the job's records
/// and proposes a merge per cluster, which a steward approves; nothing merges on its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicatesConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Pairs at least this likely one entity are linked into clusters; default: the job's
    /// `thresholds.review_min`, as `refsync dedupe` takes it from a mapping file.
    pub threshold: Option<f64>,
    /// Which record survives and which value each field keeps.
    #[serde(default)]
    pub survivorship: Survivorship,
    /// How the CRM marks a merged-away record inactive; refsync never deletes one.
    pub deactivate: Option<Deactivation>,
    /// Columns in other tables that hold a merged-away record's id and are set to the
    /// survivor's, e.g. contacts' `organisation_id`, Odoo's `res_partner.parent_id`.
    #[serde(default)]
    pub repoint: Vec<ForeignKey>,
}

/// A column of the job's own table and the value that marks a record inactive:
/// `{ column = "active", value = "false" }` (Odoo), `{ column = "deleted", value = "1" }`
/// (SuiteCRM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deactivation {
    pub column: String,
    pub value: String,
}

/// A column holding the id of one of the job's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKey {
    pub table: String,
    pub column: String,
    /// The table's own id column: a merge notes the rows it repointed by it, so that
    /// `revert --merge` moves back exactly those. Default `id`.
    #[serde(default = "ForeignKey::default_key")]
    pub key: String,
}

impl ForeignKey {
    fn default_key() -> String {
        "id".into()
    }
}

impl DuplicatesConfig {
    /// The pair probability clusters are linked at, for a job with `thresholds`.
    pub fn threshold(&self, thresholds: &Thresholds) -> f64 {
        self.threshold.unwrap_or(thresholds.review_min)
    }

    /// Checks what serde cannot, for a job whose records live in `mapping`; keys are
    /// relative to `duplicates`.
    fn validate(
        &self,
        thresholds: &Thresholds,
        mapping: &TableMapping,
    ) -> Result<(), (String, String)> {
        let threshold = self.threshold(thresholds);
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err((
                "threshold".into(),
                format!("{threshold} is not a probability between 0 and 1 (exclusive); e.g. 0.9"),
            ));
        }
        self.survivorship
            .validate()
            .map_err(|(k, p)| (format!("survivorship.{k}"), p))?;
        if let Some(field) = self
            .survivorship
            .fields
            .keys()
            .find(|f| !mapping.columns.contains_key(f))
        {
            return Err((
                format!("survivorship.fields.{field}"),
                format!("the CRM table `{}` has no column mapped for `{field}`; map it or remove the rule", mapping.table),
            ));
        }
        match &self.deactivate {
            Some(d) => check_identifier("deactivate.column", &d.column)?,
            None if self.enabled => {
                return Err((
                    "deactivate".into(),
                    "says how the CRM marks a merged-away record inactive, e.g. { column = \"active\", value = \"false\" }; add it or set enabled = false".into(),
                ))
            }
            None => {}
        }
        for (i, fk) in self.repoint.iter().enumerate() {
            check_identifier(&format!("repoint.{i}.table"), &fk.table)?;
            check_identifier(&format!("repoint.{i}.column"), &fk.column)?;
            check_identifier(&format!("repoint.{i}.key"), &fk.key)?;
        }
        Ok(())
    }

    /// The (table, column) pairs the deep check must find in the CRM.
    pub fn columns<'a>(&'a self, mapping: &'a TableMapping) -> Vec<(&'a str, &'a str)> {
        self.deactivate
            .iter()
            .map(|d| (mapping.table.as_str(), d.column.as_str()))
            .chain(self.repoint.iter().flat_map(|fk| {
                [
                    (fk.table.as_str(), fk.column.as_str()),
                    (fk.table.as_str(), fk.key.as_str()),
                ]
            }))
            .collect()
    }
}

/// What the CRM does with an erased person's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EraseMode {
    /// Nothing: the CRM's owner erases the record there.
    #[default]
    None,
    /// Delete the row.
    Delete,
    /// Empty the mapped personal columns (names, role, e-mail, phone), keep the row.
    Anonymise,
}

crate::domain::model::snake_names!(EraseMode { None => "none", Delete => "delete", Anonymise => "anonymise" });

/// Contact fields enrichment may fill when a job names none: correcting who the person is,
/// never adding a way to reach them.
pub const DEFAULT_ENRICH_FIELDS: &[Field] = &[
    Field::Salutation,
    Field::Title,
    Field::FirstName,
    Field::LastName,
    Field::Role,
];

fn default_overlap_seconds() -> u64 {
    300
}

fn default_full_pass_every_hours() -> u64 {
    24 * 7
}

fn default_inactive_value() -> String {
    "inactive".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    #[default]
    Skip,
    RunOnce,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overrun {
    #[default]
    Skip,
    Wait,
}

fn default_batch_size() -> usize {
    500
}

fn default_max_failed_share() -> f64 {
    0.2
}

fn default_placeholders() -> Vec<String> {
    DEFAULT_PLACEHOLDERS.iter().map(|s| s.to_string()).collect()
}

impl JobConfig {
    pub fn cron(&self) -> Result<cron::Schedule, String> {
        parse_cron(&self.schedule)
    }

    /// The field rules in force: the configured ones, or the defaults for every mapped field;
    /// for contacts only those in `enrich_fields`.
    pub fn rules(&self, mapping: &TableMapping) -> BTreeMap<Field, FieldRule> {
        let rules = match &self.fields {
            Some(fields) => fields.clone(),
            None => default_rules(self.entity)
                .into_iter()
                .filter(|(field, _)| mapping.columns.contains_key(field))
                .collect(),
        };
        rules
            .into_iter()
            .filter(|(field, _)| self.may_enrich(*field))
            .collect()
    }

    /// The job as the score stage takes it, for a CRM with `mapping`.
    pub fn plan(&self, mapping: &TableMapping) -> Plan {
        Plan {
            entity: self.entity,
            thresholds: self.thresholds,
            rules: self.rules(mapping),
            mapped: mapping.columns.keys().copied().collect(),
            normalise: self.normalise.clone(),
            placeholders: self.placeholders.clone(),
            inactive_value: self.inactive_value.clone(),
            skip_where: self.skip_where.clone(),
            enrichable: Field::ALL
                .iter()
                .copied()
                .filter(|f| self.may_enrich(*f))
                .collect(),
        }
    }

    /// Whether enrichment may take `field` from the register (data minimisation).
    pub fn may_enrich(&self, field: Field) -> bool {
        match (self.entity, &self.enrich_fields) {
            (EntityKind::Organisation, _) => true,
            (EntityKind::Contact, Some(allowed)) => allowed.contains(&field),
            (EntityKind::Contact, None) => DEFAULT_ENRICH_FIELDS.contains(&field),
        }
    }

    /// The schedule's time zone; `None` means the system's.
    pub fn time_zone(&self) -> Result<Option<chrono_tz::Tz>, String> {
        self.timezone
            .as_deref()
            .map(|name| {
                name.parse::<chrono_tz::Tz>().map_err(|_| {
                    format!("`{name}` is not an IANA time zone; write e.g. `Europe/Berlin` or `UTC`, or remove the key for the system's")
                })
            })
            .transpose()
    }
}

/// Checks that `dir` is a folder refsync can write files into, by writing one: found at
/// load, a wrong folder is a config error rather than a report lost every night.
fn check_writable_folder(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    let meta = std::fs::metadata(dir).map_err(|e| {
        format!("folder `{shown}` cannot be opened ({e}); create it or name another")
    })?;
    if !meta.is_dir() {
        return Err(format!(
            "`{shown}` is not a folder; name the folder the reports go to"
        ));
    }
    let probe = dir.join(format!(".refsync-probe.{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!("refsync cannot write into `{shown}` ({e}); give the user it runs as write access or name another folder")
        })
}

/// Accepts 5-field cron (minute first) by adding a seconds field of 0.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| {
        format!("`{expr}` is not a cron expression ({e}); write `sec min hour day month weekday`, e.g. `0 30 2 * * *` for 02:30 daily")
    })
}

/// A database URL. Its password never reaches logs or `check-config` output.
#[derive(Clone)]
pub struct DbUrl(SecretString);

impl DbUrl {
    pub fn new(url: &str) -> Self {
        DbUrl(SecretString::from(url.to_string()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self.around_password() {
            Some((before, _, after)) => format!("{before}***{after}"),
            None => self.expose().to_string(),
        }
    }

    /// `text` (a database library's message) with this URL redacted and its password gone.
    pub fn scrub(&self, text: &str) -> String {
        let text = text.replace(self.expose(), &self.redacted());
        match self.around_password() {
            Some((_, password, _)) if !password.is_empty() => text.replace(password, "***"),
            _ => text,
        }
    }

    /// The URL split around its password: (`scheme://user:`, password, `@host…`).
    fn around_password(&self) -> Option<(&str, &str, &str)> {
        let url = self.expose();
        let start = url.find("://")? + 3;
        let at = start + url[start..].rfind('@')?;
        let colon = start + url[start..at].find(':')?;
        Some((&url[..=colon], &url[colon + 1..at], &url[at..]))
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DbUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for DbUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(DbUrl::new(&s))
    }
}

impl Config {
    /// Reads `path`, applies `REFSYNC__…` overrides from `env`, and validates the result.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let err = |key: Option<String>, problem: String| ConfigError {
            file: path.to_path_buf(),
            key,
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(
                None,
                format!("cannot read it ({e}); pass --config PATH or create the file (see config/refsync.toml in the repository)"),
            )
        })?;
        let mut value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err(None, format!("not valid TOML: {e}")))?;
        let overridden = apply_env(&mut value, env);
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(value)).map_err(|e| {
                let key = e.path().to_string();
                let origin = overridden
                    .iter()
                    .find(|(k, _)| key.starts_with(k.as_str()) || k.starts_with(&key))
                    .map(|(_, var)| format!(" (set by environment variable {var})"))
                    .unwrap_or_default();
                err(
                    (key != ".").then_some(key),
                    format!("{}{origin}", e.into_inner()),
                )
            })?;
        config
            .validate()
            .map_err(|(key, problem)| err(Some(key), problem))?;
        Ok(config)
    }

    /// Checks what serde cannot: references between sections, cron syntax, ranges.
    fn validate(&self) -> Result<(), (String, String)> {
        log_filter(&self.logging.level).map_err(|p| ("logging.level".to_string(), p))?;
        check_url("store.url", &self.store.url, UrlUse::Store)?;
        for (name, crm) in &self.crm {
            crm.validate(name)?;
        }
        for (name, register) in &self.register {
            if let RegisterConfig::File(file) = register {
                file.blocking
                    .validate()
                    .map_err(|(k, p)| (format!("register.{name}.blocking.{k}"), p))?;
            }
        }
        parse_cron(&self.privacy.retention_schedule)
            .map_err(|p| ("privacy.retention_schedule".to_string(), p))?;
        if self.privacy.key_env.is_some() && self.privacy.key_file.is_some() {
            return Err((
                "privacy.key_file".into(),
                "set either key_env or key_file, not both".into(),
            ));
        }
        if self.audit.key_env.is_some() && self.audit.key_file.is_some() {
            return Err((
                "audit.key_file".into(),
                "set either key_env or key_file, not both".into(),
            ));
        }
        if self.privacy.retention_days == Some(0) {
            return Err((
                "privacy.retention_days".into(),
                "must be at least 1, or left out to keep values".into(),
            ));
        }
        if self.daemon.lease_secs < 3 {
            return Err((
                "daemon.lease_secs".into(),
                "must be at least 3: the lease is renewed every third of it".into(),
            ));
        }
        if !self.http.secure_cookie && self.http.listen.is_some_and(|a| !a.ip().is_loopback()) {
            return Err((
                "http.secure_cookie".into(),
                "may be false only with a loopback http.listen; behind a TLS proxy keep it true"
                    .into(),
            ));
        }
        let at_least_one = [
            (
                "ready_max_failed_passes",
                u64::from(self.http.ready_max_failed_passes),
            ),
            ("header_timeout_secs", self.http.header_timeout_secs),
            ("body_timeout_secs", self.http.body_timeout_secs),
            (
                "max_connections_per_address",
                self.http.max_connections_per_address as u64,
            ),
            ("check_per_second", u64::from(self.http.check_per_second)),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
            return Err((format!("http.{key}"), "must be at least 1".into()));
        }
        for (name, register) in &self.register {
            if let RegisterConfig::Vies(v) = register {
                let key = |k: &str| format!("register.{name}.{k}");
                check_base_url(&key("base_url"), &v.base_url)?;
                check_http(&key("http"), &v.http)?;
            }
            if let RegisterConfig::Reconciliation(r) = register {
                let key = |k: &str| format!("register.{name}.{k}");
                check_base_url(&key("endpoint"), &r.endpoint)?;
                if !(1..=100).contains(&r.limit) {
                    return Err((key("limit"), format!("{} is outside 1..=100", r.limit)));
                }
                check_http(&key("http"), &r.http)?;
            }
            if let RegisterConfig::Gleif(g) = register {
                let key = |k: &str| format!("register.{name}.{k}");
                check_base_url(&key("base_url"), &g.base_url)?;
                if !(1..=200).contains(&g.page_size) {
                    return Err((
                        key("page_size"),
                        format!("{} is outside 1..=200 (GLEIF's largest page)", g.page_size),
                    ));
                }
                if g.max_pages == 0 {
                    return Err((key("max_pages"), "must be at least 1".into()));
                }
                for (court, ra) in &g.courts {
                    let ok = ra.len() == 8
                        && ra.starts_with("RA")
                        && ra[2..].chars().all(|c| c.is_ascii_digit());
                    if !ok {
                        return Err((
                            key(&format!("courts.{court}")),
                            format!(
                                "`{ra}` is not a GLEIF registration authority code like RA000242"
                            ),
                        ));
                    }
                }
                check_http(&key("http"), &g.http)?;
            }
        }
        for (name, job) in &self.job {
            let key = |k: &str| format!("job.{name}.{k}");
            job.cron().map_err(|p| (key("schedule"), p))?;
            job.time_zone().map_err(|p| (key("timezone"), p))?;
            match (&job.report_schedule, &job.report_dir) {
                (Some(cron), Some(dir)) => {
                    parse_cron(cron).map_err(|p| (key("report_schedule"), p))?;
                    check_writable_folder(dir).map_err(|p| (key("report_dir"), p))?;
                }
                (Some(_), None) => {
                    return Err((
                        key("report_dir"),
                        "report_schedule needs a folder to write the reports to; set report_dir"
                            .into(),
                    ))
                }
                (None, Some(_)) => {
                    return Err((
                        key("report_schedule"),
                        "report_dir is set but nothing writes there; set report_schedule (cron) or remove report_dir".into(),
                    ))
                }
                (None, None) => {}
            }
            let Some(crm) = self.crm.get(&job.crm) else {
                return Err((
                    key("crm"),
                    format!(
                        "no [crm.{}] section; define it or name one of: {}",
                        job.crm,
                        names(&self.crm)
                    ),
                ));
            };
            if matches!(
                self.register.get(&job.register),
                Some(RegisterConfig::Vies(_))
            ) {
                return Err((
                    key("register"),
                    format!("[register.{}] is VIES, which only checks VAT ids; name it in `vies` and use another register here", job.register),
                ));
            }
            if let Some(vies) = &job.vies {
                if !matches!(self.register.get(vies), Some(RegisterConfig::Vies(_))) {
                    return Err((
                        key("vies"),
                        format!(
                            "no [register.{vies}] of kind \"vies\"; define one or remove `vies`"
                        ),
                    ));
                }
            }
            if job.entity == EntityKind::Contact
                && matches!(
                    self.register.get(&job.register),
                    Some(RegisterConfig::Gleif(_))
                )
            {
                return Err((
                    key("register"),
                    format!("[register.{}] is GLEIF, which holds organisations only; use it in an organisation job", job.register),
                ));
            }
            if !self.register.contains_key(&job.register) {
                return Err((
                    key("register"),
                    format!(
                        "no [register.{}] section; define it or name one of: {}",
                        job.register,
                        names(&self.register)
                    ),
                ));
            }
            let Some(mapping) = crm.mapping(job.entity) else {
                let table = if job.entity == EntityKind::Organisation {
                    "organisations"
                } else {
                    "contacts"
                };
                return Err((
                    key("entity"),
                    format!(
                        "[crm.{}] has no `{table}` mapping for {} records",
                        job.crm, job.entity
                    ),
                ));
            };
            job.thresholds
                .validate()
                .map_err(|(k, p)| (key(&format!("thresholds.{k}")), p))?;
            job.matching
                .validate(job.entity)
                .map_err(|(k, p)| (key(&format!("matching.{k}")), p))?;
            job.duplicates
                .validate(&job.thresholds, mapping)
                .map_err(|(k, p)| (key(&format!("duplicates.{k}")), p))?;
            for (form, fields) in &job.check.mappings {
                if fields.is_empty() {
                    return Err((
                        key(&format!("check.mappings.{form}")),
                        "maps no field; add `form_field = \"canonical_field\"` lines or remove it"
                            .into(),
                    ));
                }
            }
            if job.batch_size == 0 {
                return Err((key("batch_size"), "must be at least 1".into()));
            }
            if !(0.0..=1.0).contains(&job.max_failed_share) {
                return Err((
                    key("max_failed_share"),
                    "must be a share between 0 and 1, e.g. 0.2".into(),
                ));
            }
            if job.entity == EntityKind::Organisation
                && (job.enrich_fields.is_some()
                    || job.erase != EraseMode::None
                    || !job.consent_columns.is_empty())
            {
                let k = if job.erase != EraseMode::None {
                    "erase"
                } else if job.enrich_fields.is_some() {
                    "enrich_fields"
                } else {
                    "consent_columns"
                };
                return Err((
                    key(k),
                    "applies to contact jobs only (people's data); remove it".into(),
                ));
            }
            for (channel, column) in &job.consent_columns {
                check_identifier(&key(&format!("consent_columns.{channel}")), column)?;
            }
            for (field, rule) in job.fields.iter().flatten() {
                if !job.may_enrich(*field) {
                    return Err((
                        key(&format!("fields.{field}")),
                        format!("`{field}` is not in enrich_fields (data minimisation); add it there or remove the policy"),
                    ));
                }
                if let Some(min) = rule.min_probability() {
                    if !(0.0..=1.0).contains(&min) {
                        return Err((
                            key(&format!("fields.{field}.min_probability")),
                            format!("{min} is outside 0.0..=1.0"),
                        ));
                    }
                }
                if !mapping.columns.contains_key(field) {
                    return Err((
                        key(&format!("fields.{field}")),
                        format!("the CRM mapping [crm.{}.{}] has no column for `{field}`; map it or remove the policy", job.crm, mapping.table),
                    ));
                }
                if *field == Field::OrganisationId {
                    return Err((
                        key("fields.organisation_id"),
                        "the link to the organisation is never synced; remove it".into(),
                    ));
                }
            }
            if job.incremental && mapping.modified_column.is_none() {
                return Err((
                    key("incremental"),
                    format!(
                        "needs `modified_column` in [crm.{}.{}] to know what changed",
                        job.crm, mapping.table
                    ),
                ));
            }
            if let Some(field) = job
                .normalise
                .iter()
                .find(|f| !matches!(f, Field::Phone | Field::Email))
            {
                return Err((
                    key("normalise"),
                    format!("`{field}` has no standard form; use phone or email"),
                ));
            }
            for field in job.skip_where.keys() {
                if !mapping.columns.contains_key(field) {
                    return Err((
                        key(&format!("skip_where.{field}")),
                        format!(
                            "the CRM mapping [crm.{}.{}] has no column for `{field}`",
                            job.crm, mapping.table
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }
}

fn names<V>(map: &BTreeMap<String, V>) -> String {
    if map.is_empty() {
        "(none defined)".into()
    } else {
        map.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn check_base_url(key: &str, url: &str) -> Result<(), (String, String)> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err((key.to_string(), format!("`{url}` is not an http(s) URL")))
    }
}

fn check_http(key: &str, http: &HttpConfig) -> Result<(), (String, String)> {
    let k = |s: &str| format!("{key}.{s}");
    if http.requests_per_minute == 0 {
        return Err((k("requests_per_minute"), "must be at least 1".into()));
    }
    if http.concurrency == 0 {
        return Err((k("concurrency"), "must be at least 1".into()));
    }
    if !(http.timeout_seconds > 0.0 && http.timeout_seconds <= 600.0) {
        return Err((
            k("timeout_seconds"),
            format!("{} is outside (0, 600]", http.timeout_seconds),
        ));
    }
    if http.breaker_failures == 0 {
        return Err((k("breaker_failures"), "must be at least 1".into()));
    }
    if !(http.cache_ttl_hours >= 0.0 && http.cache_ttl_hours.is_finite()) {
        return Err((k("cache_ttl_hours"), "must be 0 (no cache) or more".into()));
    }
    if http.max_body_bytes < 1024 {
        return Err((k("max_body_bytes"), "must be at least 1024".into()));
    }
    if http.api_key_env.is_some() && http.api_key_file.is_some() {
        return Err((
            k("api_key_file"),
            "set either api_key_env or api_key_file, not both".into(),
        ));
    }
    Ok(())
}

/// Which databases a URL may name: the state store runs on SQLite or PostgreSQL; a CRM may
/// also be MariaDB/MySQL (with the `mysql` build feature).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlUse {
    Store,
    Crm,
}

pub(crate) fn check_url(key: &str, url: &DbUrl, usage: UrlUse) -> Result<(), (String, String)> {
    let u = url.expose();
    let err = |problem: String| Err((key.to_string(), problem));
    match u.split_once("://") {
        Some(("sqlite", path)) if !path.is_empty() => Ok(()),
        Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => {
            match crate::db::postgres_url_problem(url) {
                Some(problem) => err(format!("{problem}; write postgres://USER:PASSWORD@HOST:PORT/DATABASE (an IPv6 host in brackets: [::1]:5432)")),
                None => Ok(()),
            }
        }
        Some(("mysql", rest)) if !rest.is_empty() && usage == UrlUse::Crm => {
            if cfg!(feature = "mysql") {
                Ok(())
            } else {
                err(format!("`{}`: MariaDB/MySQL CRMs need refsync built with `--features mysql`", url.redacted()))
            }
        }
        Some(("mysql", _)) => err(format!(
            "`{}`: the state store runs on SQLite or PostgreSQL; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE",
            url.redacted()
        )),
        _ => err(format!(
            "`{}` is not a database URL; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE{}",
            url.redacted(),
            if usage == UrlUse::Crm { " (or mysql://… for a MariaDB CRM)" } else { "" }
        )),
    }
}

/// Table and column names go into SQL: only plain identifiers are accepted.
pub(crate) fn check_identifier(key: &str, ident: &str) -> Result<(), (String, String)> {
    let valid = !ident.is_empty()
        && ident.len() <= 63
        && ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !ident.starts_with(|c: char| c.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err((key.to_string(), format!("`{ident}` is not a plain SQL identifier (letters, digits, _; not starting with a digit)")))
    }
}

/// The process environment plus systemd credentials (`LoadCredential=`) named after a
/// `REFSYNC__…` variable; a credential wins over a variable of the same name. Secrets thus
/// stay out of the unit, the env file and `systemctl show`.
pub fn environment() -> Vec<(String, String)> {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        vars.extend(credentials_in(Path::new(&dir)));
    }
    vars.into_iter().collect()
}

/// Credential files whose name holds `REFSYNC__…`. A folder loaded as
/// `LoadCredential=refsync:/etc/refsync/credentials` yields names such as
/// `refsync_REFSYNC__STORE__URL`: the part before the variable name is ignored.
fn credentials_in(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(start) = name.find(ENV_PREFIX) else {
            continue;
        };
        if let Ok(value) = std::fs::read_to_string(entry.path()) {
            let value = value.trim_end_matches(['\n', '\r']).to_string();
            found.push((name[start..].to_string(), value));
        }
    }
    found
}

/// Writes `REFSYNC__A__B=value` into `table` as `a.b = value`; returns the dotted keys set
/// with the variable that set them, for error messages.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut set = Vec::new();
    let vars: BTreeSet<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    for (var, raw) in vars {
        let path: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            continue;
        }
        let mut node = &mut *table;
        for segment in &path[..path.len() - 1] {
            let entry = node
                .entry(segment.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            node = entry.as_table_mut().expect("just made a table");
        }
        node.insert(path[path.len() - 1].clone(), env_value(&raw));
        set.push((path.join("."), var));
    }
    set
}

/// Numbers, booleans and arrays are read as TOML literals; anything else is a string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &[u8]) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text).unwrap();
        Config::load(f.path(), Vec::new())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any bytes load or are refused with a message; so does the shipped config with
        /// one line replaced by any text, which keeps most of it valid and so reaches the
        /// checks behind the parser.
        #[test]
        fn any_config_loads_or_is_refused_with_a_message(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            line in proptest::prelude::any::<proptest::sample::Index>(),
            replacement in "\\PC{0,40}",
        ) {
            if let Err(e) = load_text(&bytes) {
                proptest::prop_assert!(!e.to_string().is_empty());
            }
            let shipped = include_str!("../config/refsync.toml");
            let mut lines: Vec<&str> = shipped.lines().collect();
            let at = line.index(lines.len());
            lines[at] = &replacement;
            if let Err(e) = load_text(lines.join("\n").as_bytes()) {
                proptest::prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn env_values_are_typed_when_they_read_as_toml() {
        assert_eq!(env_value("0.8"), toml::Value::Float(0.8));
        assert_eq!(env_value("true"), toml::Value::Boolean(true));
        assert_eq!(
            env_value("postgres://u:p@h/db"),
            toml::Value::String("postgres://u:p@h/db".into())
        );
        assert_eq!(
            env_value("\"quoted\""),
            toml::Value::String("quoted".into())
        );
    }

    #[test]
    fn db_url_redacts_passwords_only() {
        assert_eq!(
            DbUrl::new("postgres://app:s3cret@db:5432/crm").redacted(),
            "postgres://app:***@db:5432/crm"
        );
        assert_eq!(
            DbUrl::new("postgres://app@db/crm").redacted(),
            "postgres://app@db/crm"
        );
        assert_eq!(
            DbUrl::new("sqlite://var/refsync.db").redacted(),
            "sqlite://var/refsync.db"
        );
        assert!(!format!("{:?}", DbUrl::new("postgres://a:s3cret@h/d")).contains("s3cret"));
    }

    /// (URL, libpq's verdict): libpq's own parser, so whatever it connects with passes.
    #[test]
    fn postgres_urls_are_read_as_libpq_reads_them_and_problems_hide_the_password() {
        let cases = [
            ("postgres://u:S3cret@[::1:5432/x", Some("matching \"]\"")),
            ("postgres://u:S3cr%zzet@db/x", Some("percent-encoded")),
            ("postgres://u:S3cret@db/x?colour=red", Some("colour")),
            ("postgres://u:S3cret@[::1]:5432/x", None),
            (
                "postgresql://db1:5432,db2:5433/x?target_session_attrs=read-write",
                None,
            ),
            ("postgres:///x?host=/var/run/postgresql", None),
        ];
        for (url, problem) in cases {
            let found = crate::db::postgres_url_problem(&DbUrl::new(url));
            match (problem, &found) {
                (Some(words), Some(text)) => {
                    assert!(text.contains(words), "{url}: {text}");
                    assert!(!text.contains("S3cr"), "{url}: {text}");
                }
                (None, None) => {}
                _ => panic!("{url}: {found:?}"),
            }
        }
    }

    #[test]
    fn cron_accepts_five_and_six_fields_and_explains_errors() {
        assert!(parse_cron("0 30 2 * * *").is_ok());
        assert!(parse_cron("30 2 * * *").is_ok());
        let e = parse_cron("every day").unwrap_err();
        assert!(e.contains("every day") && e.contains("sec min hour"), "{e}");
    }

    #[test]
    fn credentials_are_read_by_variable_name_without_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("refsync_REFSYNC__STORE__URL"),
            "postgres://u:p@h/db\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("unrelated"), "x").unwrap();
        assert_eq!(
            credentials_in(dir.path()),
            [(
                "REFSYNC__STORE__URL".to_string(),
                "postgres://u:p@h/db".to_string()
            )]
        );
    }

    #[test]
    fn api_keys_come_from_env_or_file_and_stay_secret() {
        let mut http = HttpConfig::remote();
        assert!(
            http.api_key(&|_| None).unwrap().is_none(),
            "no key configured"
        );

        http.api_key_env = Some("TOKEN".into());
        let key = http
            .api_key(&|v| (v == "TOKEN").then(|| " s3cret \n".into()))
            .unwrap()
            .unwrap();
        assert_eq!(key.expose_secret(), "s3cret");
        assert!(!format!("{key:?}").contains("s3cret"));
        let err = http.api_key(&|_| None).unwrap_err();
        assert!(err.contains("TOKEN") && !err.contains("s3cret"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        http.api_key_env = None;
        http.api_key_file = Some(file.clone());
        let key = http.api_key(&|_| None).unwrap().unwrap();
        assert_eq!(key.expose_secret(), "from-file");
        http.api_key_file = Some(dir.path().join("missing"));
        assert!(http
            .api_key(&|_| None)
            .unwrap_err()
            .contains("api_key_file"));
    }

    #[test]
    fn identifiers_reject_sql() {
        assert!(check_identifier("k", "accounts_cstm").is_ok());
        for bad in ["name; DROP TABLE x", "a\"b", "", "1col", "a b"] {
            assert!(check_identifier("k", bad).is_err(), "{bad}");
        }
    }
}
