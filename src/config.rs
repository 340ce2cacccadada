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
use crate::domain::link::MatchSettings;
use crate::domain::model::{EntityKind, Field, Policy};
use crate::domain::policy::DEFAULT_PLACEHOLDERS;

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
    pub columns: BTreeMap<Field, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegisterConfig {
    /// A CSV file of reference records, loaded once per pass.
    File(FileRegisterConfig),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRegisterConfig {
    pub path: PathBuf,
    /// The column with the register's own record id.
    pub id_column: String,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Which blocking rules the in-memory index uses (`[register.NAME.blocking]`).
    #[serde(default)]
    pub blocking: BlockingSettings,
    pub columns: BTreeMap<Field, String>,
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
    /// Cron expression (`sec min hour day month weekday`, seconds optional).
    pub schedule: String,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Values that count as empty under `overwrite_placeholder`.
    #[serde(default = "default_placeholders")]
    pub placeholders: Vec<String>,
    /// Policy per canonical field; fields not listed are not synced.
    pub fields: BTreeMap<Field, Policy>,
    /// How candidates are scored (`[job.NAME.matching]`): EM, pinned m/u, term frequency.
    #[serde(default)]
    pub matching: MatchSettings,
}

fn default_batch_size() -> usize {
    500
}

fn default_placeholders() -> Vec<String> {
    DEFAULT_PLACEHOLDERS.iter().map(|s| s.to_string()).collect()
}

impl JobConfig {
    pub fn cron(&self) -> Result<cron::Schedule, String> {
        parse_cron(&self.schedule)
    }
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
        let url = self.expose();
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_string();
        };
        match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        }
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
        check_store_url("store.url", &self.store.url)?;
        for (name, crm) in &self.crm {
            let CrmConfig::Sql(sql) = crm;
            check_store_url(&format!("crm.{name}.url"), &sql.url)?;
            for (kind, mapping) in [
                ("organisations", &sql.organisations),
                ("contacts", &sql.contacts),
            ] {
                if let Some(m) = mapping {
                    let key = format!("crm.{name}.{kind}");
                    for ident in [&m.table, &m.id_column]
                        .into_iter()
                        .chain(m.modified_column.iter())
                        .chain(m.columns.values())
                    {
                        check_identifier(&key, ident)?;
                    }
                }
            }
        }
        for (name, register) in &self.register {
            let RegisterConfig::File(file) = register;
            file.blocking
                .validate()
                .map_err(|(k, p)| (format!("register.{name}.blocking.{k}"), p))?;
        }
        for (name, job) in &self.job {
            let key = |k: &str| format!("job.{name}.{k}");
            job.cron().map_err(|p| (key("schedule"), p))?;
            let Some(CrmConfig::Sql(crm)) = self.crm.get(&job.crm) else {
                return Err((
                    key("crm"),
                    format!(
                        "no [crm.{}] section; define it or name one of: {}",
                        job.crm,
                        names(&self.crm)
                    ),
                ));
            };
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
            if job.batch_size == 0 {
                return Err((key("batch_size"), "must be at least 1".into()));
            }
            for field in job.fields.keys() {
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

fn check_store_url(key: &str, url: &DbUrl) -> Result<(), (String, String)> {
    let u = url.expose();
    let ok = match u.split_once("://") {
        Some(("sqlite", path)) => !path.is_empty(),
        Some(("postgres" | "postgresql", rest)) => !rest.is_empty(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err((
            key.to_string(),
            format!("`{}` is not a database URL; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE", url.redacted()),
        ))
    }
}

/// Table and column names go into SQL: only plain identifiers are accepted.
fn check_identifier(key: &str, ident: &str) -> Result<(), (String, String)> {
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

    #[test]
    fn cron_accepts_five_and_six_fields_and_explains_errors() {
        assert!(parse_cron("0 30 2 * * *").is_ok());
        assert!(parse_cron("30 2 * * *").is_ok());
        let e = parse_cron("every day").unwrap_err();
        assert!(e.contains("every day") && e.contains("sec min hour"), "{e}");
    }

    #[test]
    fn identifiers_reject_sql() {
        assert!(check_identifier("k", "accounts_cstm").is_ok());
        for bad in ["name; DROP TABLE x", "a\"b", "", "1col", "a b"] {
            assert!(check_identifier("k", bad).is_err(), "{bad}");
        }
    }
}
