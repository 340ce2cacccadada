//! A W3C Entity Reconciliation API client (Wikidata, lobid-gnd, any self-hosted service).
//! The dialect comes from the service's manifest: 1.0-draft (JSON `POST /match`) when the
//! service offers it, else 0.2 (form-encoded `queries`). Every answer is validated against
//! the specification's JSON Schema before it is read. `extend` fills the configured
//! attributes of the candidates. The service's own score is kept as `register_score` for
//! display only; refsync scores every candidate with its own engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use jsonschema::error::ValidationErrorKind;
use serde_json::{json, Map, Value};
use tracing::info;

use super::http::{HttpClient, RegisterStats, Request};
use super::{BoxFuture, Lookup, Register, RegisterError};
use crate::config::{PropertyMatching, ReconciliationConfig};
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::normalise::name_query_forms;
use crate::store::Store;

/// Queries per request; services commonly accept batches of this size.
const BATCH: usize = 10;

/// Answers kept for asks repeated within a pass (same names, later batches).
const MAX_KEPT_ANSWERS: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    V02,
    V1Draft,
}

impl Dialect {
    /// The newest version both sides speak, from the manifest's `versions`.
    pub fn from_manifest(manifest: &Value) -> Dialect {
        let offers_1 = manifest
            .get("versions")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|x| x.as_str() == Some("1.0-draft")));
        if offers_1 {
            Dialect::V1Draft
        } else {
            Dialect::V02
        }
    }

    fn folder(self) -> &'static str {
        match self {
            Dialect::V02 => "0.2",
            Dialect::V1Draft => "1.0-draft",
        }
    }
}

macro_rules! schemas {
    ($version:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../data/reconciliation/", $version, "/", $name, ".json")))),*]
    };
}

const SCHEMAS_02: &[(&str, &str)] = schemas!("0.2":
    "data-extension-property-proposal", "data-extension-query", "data-extension-response",
    "manifest", "reconciliation-query-batch", "reconciliation-result-batch",
    "suggest-entities-response", "suggest-properties-response", "suggest-types-response", "type");
const SCHEMAS_1: &[(&str, &str)] = schemas!("1.0-draft":
    "data-extension-property-proposal", "data-extension-query", "data-extension-response",
    "dir", "lang", "manifest", "reconciliation-query-batch", "reconciliation-result-batch",
    "suggest-entities-response", "suggest-properties-response", "suggest-types-response", "type");

/// The names of the specification's schemas for `dialect`.
pub fn schema_names(dialect: Dialect) -> Vec<&'static str> {
    files(dialect).iter().map(|(n, _)| *n).collect()
}

fn files(dialect: Dialect) -> &'static [(&'static str, &'static str)] {
    match dialect {
        Dialect::V02 => SCHEMAS_02,
        Dialect::V1Draft => SCHEMAS_1,
    }
}

/// The schemas refer to each other by file name (`"$ref": "lang.json"`, and `type.json`
/// to itself): each such file becomes a definition of the root schema and the reference
/// points there, so the validator needs no resolver and no network.
fn rewrite_refs(value: &mut Value, needed: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            // The manifest's `authentication` points at the Swagger 2.0 schema online; a
            // copy of that one definition ships with refsync.
            if map
                .get("$ref")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("http://swagger.io/v2/schema.json"))
            {
                map.insert(
                    "$ref".into(),
                    json!("#/definitions/swagger-security-scheme"),
                );
                if !needed.iter().any(|n| n == SWAGGER) {
                    needed.push(SWAGGER.into());
                }
                return;
            }
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                if let Some(name) = target.strip_suffix(".json").map(str::to_string) {
                    *target = format!("#/definitions/file-{name}");
                    if !needed.contains(&name) {
                        needed.push(name);
                    }
                }
            }
            for v in map.values_mut() {
                rewrite_refs(v, needed);
            }
        }
        Value::Array(items) => {
            for v in items {
                rewrite_refs(v, needed);
            }
        }
        _ => {}
    }
}

/// Swagger 2.0's security scheme definition (see data/SOURCES.md).
const SWAGGER: &str = "swagger-security-scheme";
const SWAGGER_SCHEMA: &str =
    include_str!("../../data/reconciliation/swagger-2.0-security-scheme.json");

fn parse_schema(dialect: Dialect, name: &str) -> Result<Value, String> {
    let text = if name == SWAGGER {
        SWAGGER_SCHEMA
    } else {
        files(dialect)
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| format!("no schema `{name}` in {}", dialect.folder()))?
    };
    let mut schema: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    if let Value::Object(m) = &mut schema {
        m.remove("$schema");
        m.remove("$id");
    }
    Ok(schema)
}

/// A Draft-7 validator for the specification's schema `name` (as upstream checks them).
pub fn validator(dialect: Dialect, name: &str) -> Result<jsonschema::Validator, String> {
    let mut schema = parse_schema(dialect, name)?;
    let mut needed = Vec::new();
    rewrite_refs(&mut schema, &mut needed);
    let mut definitions = Map::new();
    let mut i = 0;
    while i < needed.len() {
        let mut part = parse_schema(dialect, &needed[i])?;
        rewrite_refs(&mut part, &mut needed);
        let key = if needed[i] == SWAGGER {
            SWAGGER.to_string()
        } else {
            format!("file-{}", needed[i])
        };
        definitions.insert(key, part);
        i += 1;
    }
    if let Value::Object(root) = &mut schema {
        let defs = root
            .entry("definitions")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(defs) = defs {
            defs.extend(definitions);
        }
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .map_err(|e| format!("schema {name}: {e}"))
}

struct Validators {
    manifest: jsonschema::Validator,
    results: jsonschema::Validator,
    extension: jsonschema::Validator,
}

fn validators(dialect: Dialect) -> Result<&'static Validators, String> {
    static V02: OnceLock<Result<Validators, String>> = OnceLock::new();
    static V1: OnceLock<Result<Validators, String>> = OnceLock::new();
    let cell = match dialect {
        Dialect::V02 => &V02,
        Dialect::V1Draft => &V1,
    };
    cell.get_or_init(|| {
        Ok(Validators {
            manifest: validator(dialect, "manifest")?,
            results: validator(dialect, "reconciliation-result-batch")?,
            extension: validator(dialect, "data-extension-response")?,
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// One entity's extension answer: (property id, values).
type PropertyValues = Vec<(String, Vec<Value>)>;

/// What the service offers, from its manifest.
struct Service {
    dialect: Dialect,
    extend: bool,
    /// Where the service lists the properties of a type (`propose_properties`), if it does.
    properties: Option<reqwest::Url>,
}

pub struct ReconciliationRegister {
    name: String,
    endpoint: reqwest::Url,
    config: ReconciliationConfig,
    http: HttpClient,
    service: tokio::sync::OnceCell<Service>,
    /// Answers by ask, for the register's life (one pass, or a daemon's run).
    answers: Mutex<HashMap<Ask, Vec<Value>>>,
    queries: AtomicU64,
    queried_records: AtomicU64,
}

/// One way of asking the service for a record: a name form and the properties sent with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ask {
    name: String,
    properties: Vec<(String, String)>,
}

impl ReconciliationRegister {
    pub fn new(
        name: &str,
        config: &ReconciliationConfig,
        store: Option<Store>,
    ) -> Result<ReconciliationRegister, RegisterError> {
        let bad = |problem: String| RegisterError::BadData {
            register: name.to_string(),
            problem,
        };
        let endpoint = reqwest::Url::parse(config.endpoint.trim_end_matches('/'))
            .map_err(|e| bad(format!("endpoint `{}`: {e}", config.endpoint)))?;
        let key = config
            .http
            .api_key(&|var| std::env::var(var).ok())
            .map_err(bad)?;
        Ok(ReconciliationRegister {
            name: name.to_string(),
            endpoint,
            config: config.clone(),
            http: HttpClient::new(name, &config.http, key, store)?,
            service: tokio::sync::OnceCell::new(),
            answers: Mutex::new(HashMap::new()),
            queries: AtomicU64::new(0),
            queried_records: AtomicU64::new(0),
        })
    }

    fn at(&self, path: &str) -> reqwest::Url {
        let mut url = self.endpoint.clone();
        let joined = format!("{}/{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    fn invalid(&self, what: &str, errors: Vec<String>) -> RegisterError {
        self.http.unavailable(format!(
            "the service's {what} does not follow the reconciliation API: {}",
            errors.join("; ")
        ))
    }

    fn check(
        &self,
        validator: &jsonschema::Validator,
        what: &str,
        value: &Value,
    ) -> Result<(), RegisterError> {
        let errors = schema_errors(validator, value);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(self.invalid(what, errors))
        }
    }

    /// `answer`, if the service sent one (`missing` says what a 404 means) that follows
    /// the schema.
    fn valid<'v>(
        &self,
        answer: Option<&'v Value>,
        missing: &str,
        validator: &jsonschema::Validator,
        what: &str,
    ) -> Result<&'v Value, RegisterError> {
        let answer = answer.ok_or_else(|| self.http.unavailable(missing))?;
        self.check(validator, what, answer)?;
        Ok(answer)
    }

    async fn service(&self) -> Result<&Service, RegisterError> {
        self.service
            .get_or_try_init(|| async {
                let service = self
                    .http
                    .fetch(&Request::Get(self.endpoint.clone()), |answer| {
                        let manifest = answer.ok_or_else(|| {
                            self.http
                                .unavailable("no manifest at the endpoint (404); check `endpoint`")
                        })?;
                        let dialect = Dialect::from_manifest(manifest);
                        let v = validators(dialect).map_err(|e| self.http.unavailable(e))?;
                        self.check(&v.manifest, "manifest", manifest)?;
                        Ok(Service {
                            dialect,
                            extend: manifest.get("extend").and_then(Value::as_object).is_some(),
                            properties: self.properties_url(dialect, manifest),
                        })
                    })
                    .await?;
                info!(register = %self.name, version = service.dialect.folder(), "reconciliation service");
                Ok(service)
            })
            .await
    }

    /// The property proposal service a manifest names: 0.2 gives a URL and path, the
    /// 1.0 draft a flag for `{endpoint}/properties`.
    fn properties_url(&self, dialect: Dialect, manifest: &Value) -> Option<reqwest::Url> {
        let extend = manifest.get("extend")?;
        match dialect {
            Dialect::V02 => {
                let at = extend.get("propose_properties")?;
                let base = at.get("service_url")?.as_str()?.trim_end_matches('/');
                let path = at.get("service_path")?.as_str()?;
                reqwest::Url::parse(&format!("{base}{path}")).ok()
            }
            Dialect::V1Draft => extend
                .get("proposeProperties")
                .and_then(Value::as_bool)
                .filter(|on| *on)
                .map(|_| self.at("properties")),
        }
    }

    /// The property ids the service lists for the configured type.
    async fn listed_properties(
        &self,
        mut url: reqwest::Url,
    ) -> Result<BTreeSet<String>, RegisterError> {
        if let Some(t) = &self.config.type_id {
            url.query_pairs_mut().append_pair("type", t);
        }
        self.http
            .fetch(&Request::Get(url), |answer| {
                let listed = answer
                    .and_then(|a| a.get("properties"))
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        self.http
                            .unavailable("the property proposal answer has no `properties` list")
                    })?;
                Ok(listed
                    .iter()
                    .filter_map(|p| p.get("id").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect())
            })
            .await
    }

    async fn check_ids(&self) -> Result<Vec<String>, RegisterError> {
        let service = self.service().await?;
        let mut notes = vec![format!("manifest read (API {})", service.dialect.folder())];
        if !self.config.extend.is_empty() && !service.extend {
            return Err(RegisterError::BadData {
                register: self.name.clone(),
                problem: format!(
                    "the service offers no data extension, so [register.{}.extend] would fetch \
                     nothing; remove it or use a service that extends",
                    self.name
                ),
            });
        }
        let named: BTreeSet<&String> = self
            .config
            .properties
            .values()
            .chain(self.config.extend.values())
            .collect();
        if named.is_empty() {
            return Ok(notes);
        }
        let Some(url) = service.properties.clone() else {
            notes.push(
                "the service does not list its properties; property and extend ids not checked"
                    .into(),
            );
            return Ok(notes);
        };
        let listed = self.listed_properties(url).await?;
        let unknown: Vec<&str> = named
            .iter()
            .filter(|id| !listed.contains(id.as_str()))
            .map(|id| id.as_str())
            .collect();
        if !unknown.is_empty() {
            let mut known: Vec<&str> = listed.iter().map(String::as_str).take(20).collect();
            if listed.len() > known.len() {
                known.push("…");
            }
            return Err(RegisterError::BadData {
                register: self.name.clone(),
                problem: format!(
                    "the service has no propert{} {} for type {}; it lists: {}; fix \
                     [register.{}.properties] or [register.{}.extend]",
                    if unknown.len() == 1 { "y" } else { "ies" },
                    unknown.join(", "),
                    self.config.type_id.as_deref().unwrap_or("(any)"),
                    known.join(", "),
                    self.name,
                    self.name
                ),
            });
        }
        notes.push(format!(
            "{} property and extend ids found among the service's {} properties",
            named.len(),
            listed.len()
        ));
        Ok(notes)
    }

    /// The ways `record` is asked, most exact first: by its identifiers (with the name,
    /// which 0.2 needs), then each form of the name (see [`name_query_forms`]), with the
    /// other properties where the service scores by them, and again without them.
    fn asks(&self, record: &Record) -> Vec<Ask> {
        let (ids, others): (Vec<_>, Vec<_>) = self
            .config
            .properties
            .iter()
            .filter_map(|(field, pid)| Some((*field, pid.clone(), record.get(*field)?)))
            .partition(|(field, _, _)| field.is_register_identifier());
        let values = |props: Vec<(Field, String, &str)>| -> Vec<(String, String)> {
            props
                .into_iter()
                .map(|(_, pid, v)| (pid, v.to_string()))
                .collect()
        };
        let (ids, others) = (values(ids), values(others));
        let forms = record
            .get(Field::LegalName)
            .map(name_query_forms)
            .unwrap_or_default();
        let mut asks = Vec::new();
        if !ids.is_empty() {
            // 0.2 needs a query string; an identifier-only record asks with the identifier.
            let text = forms.first().cloned().unwrap_or_else(|| ids[0].1.clone());
            asks.push(Ask {
                name: text,
                properties: ids,
            });
        }
        for form in forms {
            if self.config.property_matching == PropertyMatching::Score && !others.is_empty() {
                asks.push(Ask {
                    name: form.clone(),
                    properties: others.clone(),
                });
            }
            asks.push(Ask {
                name: form,
                properties: Vec::new(),
            });
        }
        asks
    }

    /// One ask as a query in the service's dialect.
    fn query(&self, dialect: Dialect, ask: &Ask) -> Value {
        let mut q = Map::new();
        if let Some(t) = &self.config.type_id {
            q.insert("type".into(), json!(t));
        }
        q.insert("limit".into(), json!(self.config.limit));
        match dialect {
            Dialect::V02 => {
                q.insert("query".into(), json!(ask.name));
                if self.config.type_id.is_some() {
                    q.insert("type_strict".into(), json!("should"));
                }
                if !ask.properties.is_empty() {
                    let p: Vec<Value> = ask
                        .properties
                        .iter()
                        .map(|(pid, v)| json!({"pid": pid, "v": v}))
                        .collect();
                    q.insert("properties".into(), Value::Array(p));
                }
            }
            Dialect::V1Draft => {
                let mut conditions = vec![json!({"matchType": "name", "propertyValue": ask.name})];
                conditions.extend(ask.properties.iter().map(|(pid, v)| {
                    json!({"matchType": "property", "propertyId": pid, "propertyValue": v})
                }));
                q.insert("conditions".into(), Value::Array(conditions));
            }
        }
        Value::Object(q)
    }

    /// Candidate lists for `queries`, in order.
    async fn reconcile(
        &self,
        service: &Service,
        queries: &[Value],
    ) -> Result<Vec<Vec<Value>>, RegisterError> {
        let v = validators(service.dialect).map_err(|e| self.http.unavailable(e))?;
        match service.dialect {
            Dialect::V02 => {
                let batch: Map<String, Value> = queries
                    .iter()
                    .enumerate()
                    .map(|(i, q)| (format!("q{i}"), q.clone()))
                    .collect();
                let form = vec![("queries".to_string(), Value::Object(batch).to_string())];
                self.http
                    .fetch(&Request::PostForm(self.endpoint.clone(), form), |answer| {
                        let answer = self.valid(
                            answer,
                            "reconciliation endpoint answered 404",
                            &v.results,
                            "reconciliation result",
                        )?;
                        (0..queries.len())
                            .map(|i| {
                                answer
                                    .pointer(&format!("/q{i}/result"))
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .ok_or_else(|| {
                                        self.invalid(
                                            "reconciliation result",
                                            vec![format!("no result for q{i}")],
                                        )
                                    })
                            })
                            .collect()
                    })
                    .await
            }
            Dialect::V1Draft => {
                let body = json!({ "queries": queries });
                self.http
                    .fetch(&Request::PostJson(self.at("match"), body), |answer| {
                        let answer = self.valid(
                            answer,
                            "/match answered 404",
                            &v.results,
                            "reconciliation result",
                        )?;
                        let results = answer
                            .get("results")
                            .and_then(Value::as_array)
                            .filter(|r| r.len() == queries.len())
                            .ok_or_else(|| {
                                self.invalid(
                                    "reconciliation result",
                                    vec![format!("expected {} results", queries.len())],
                                )
                            })?;
                        Ok(results
                            .iter()
                            .map(|r| {
                                r.get("candidates")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default()
                            })
                            .collect())
                    })
                    .await
            }
        }
    }

    /// The configured `extend` properties of `ids`: id → field → first value as text.
    async fn extend(
        &self,
        service: &Service,
        ids: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<Field, String>>, RegisterError> {
        if ids.is_empty() || self.config.extend.is_empty() || !service.extend {
            return Ok(BTreeMap::new());
        }
        let v = validators(service.dialect).map_err(|e| self.http.unavailable(e))?;
        let properties: Vec<Value> = self
            .config
            .extend
            .values()
            .map(|pid| json!({ "id": pid }))
            .collect();
        let query = json!({ "ids": ids, "properties": properties });
        let request = match service.dialect {
            Dialect::V02 => Request::PostForm(
                self.endpoint.clone(),
                vec![("extend".to_string(), query.to_string())],
            ),
            Dialect::V1Draft => Request::PostJson(self.at("extend"), query),
        };
        let rows = self
            .http
            .fetch(&request, |answer| {
                let answer = self.valid(
                    answer,
                    "extend answered 404",
                    &v.extension,
                    "data extension answer",
                )?;
                Ok(extension_rows(service.dialect, answer))
            })
            .await?;
        let mut out = BTreeMap::new();
        for (id, props) in rows {
            let mut fields = BTreeMap::new();
            for (field, pid) in &self.config.extend {
                let first = props
                    .iter()
                    .find(|(p, _)| p == pid)
                    .and_then(|(_, vals)| vals.iter().find_map(value_text));
                if let Some(v) = first {
                    fields.insert(*field, v);
                }
            }
            out.insert(id, fields);
        }
        Ok(out)
    }

    async fn lookup(&self, records: &[Record]) -> Result<Vec<Vec<Record>>, RegisterError> {
        let service = self.service().await?;
        let mut out: Vec<Vec<Record>> = vec![Vec::new(); records.len()];
        let asks: Vec<Vec<Ask>> = records.iter().map(|r| self.asks(r)).collect();
        {
            // Bounded: a daemon over a big CRM must not keep every answer it ever got.
            let mut answered = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            if answered.len() > MAX_KEPT_ANSWERS {
                answered.clear();
            }
        }
        self.queried_records.fetch_add(
            asks.iter().filter(|a| !a.is_empty()).count() as u64,
            Ordering::Relaxed,
        );
        // Round by round, each record still without candidates is asked its next way; an
        // answer is kept for the pass, so a name asked twice is sent once.
        for round in 0.. {
            let pending: Vec<(usize, &Ask)> = asks
                .iter()
                .enumerate()
                .filter(|(i, _)| out[*i].is_empty())
                .filter_map(|(i, a)| Some((i, a.get(round)?)))
                .collect();
            if pending.is_empty() {
                break;
            }
            let unasked: Vec<&Ask> = {
                let answered = self.answers.lock().unwrap_or_else(|e| e.into_inner());
                let mut unasked: Vec<&Ask> = pending
                    .iter()
                    .map(|(_, a)| *a)
                    .filter(|a| !answered.contains_key(*a))
                    .collect();
                unasked.sort();
                unasked.dedup();
                unasked
            };
            for chunk in unasked.chunks(BATCH) {
                let queries: Vec<Value> = chunk
                    .iter()
                    .map(|a| self.query(service.dialect, a))
                    .collect();
                self.queries
                    .fetch_add(queries.len() as u64, Ordering::Relaxed);
                let results = self.reconcile(service, &queries).await?;
                let mut answered = self.answers.lock().unwrap_or_else(|e| e.into_inner());
                for (ask, candidates) in chunk.iter().zip(results) {
                    answered.insert((*ask).clone(), candidates);
                }
            }
            let answered = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            for (i, ask) in pending {
                if let Some(candidates) = answered.get(ask) {
                    out[i] = candidates.iter().filter_map(candidate).collect();
                }
            }
        }
        let ids: Vec<String> = {
            let mut ids: Vec<String> = out.iter().flatten().map(|r| r.id.clone()).collect();
            ids.sort();
            ids.dedup();
            ids
        };
        let mut extended = BTreeMap::new();
        for chunk in ids.chunks(BATCH * 5) {
            extended.extend(self.extend(service, chunk).await?);
        }
        for record in out.iter_mut().flatten() {
            if let Some(fields) = extended.get(&record.id) {
                for (field, value) in fields {
                    record.values.entry(*field).or_insert_with(|| value.clone());
                }
            }
        }
        Ok(out)
    }
}

/// id → property id → values of an extension answer.
fn extension_rows(dialect: Dialect, answer: &Value) -> Vec<(String, PropertyValues)> {
    match dialect {
        Dialect::V02 => answer
            .get("rows")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(id, props)| {
                let props = props
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(pid, vals)| (pid.clone(), vals.as_array().cloned().unwrap_or_default()))
                    .collect();
                (id.clone(), props)
            })
            .collect(),
        Dialect::V1Draft => answer
            .get("rows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|row| {
                let id = row.get("id")?.as_str()?.to_string();
                let props = row
                    .get("properties")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        Some((
                            p.get("id")?.as_str()?.to_string(),
                            p.get("values")?.as_array()?.clone(),
                        ))
                    })
                    .collect();
                Some((id, props))
            })
            .collect(),
    }
}

/// The first few ways `value` breaks its schema, a null member counting as left out.
fn schema_errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    let (value, nulls) = without_nulls(value);
    validator
        .iter_errors(&value)
        // A required member the service sent as null is missing, not malformed: what
        // refsync cannot do without (a candidate's id) it skips when reading.
        .filter(|e| match e.kind() {
            ValidationErrorKind::Required { property } => !property.as_str().is_some_and(|p| {
                nulls.contains(&(e.instance_path().as_str().to_string(), p.to_string()))
            }),
            _ => true,
        })
        .take(3)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// `value` without null members, and where they were as (JSON pointer of the object,
/// member). Nulls in lists stay: a list item is never optional.
fn without_nulls(value: &Value) -> (Value, BTreeSet<(String, String)>) {
    fn walk(value: &Value, at: &str, nulls: &mut BTreeSet<(String, String)>) -> Value {
        match value {
            Value::Object(members) => {
                let mut kept = Map::new();
                for (key, v) in members {
                    if v.is_null() {
                        nulls.insert((at.to_string(), key.clone()));
                    } else {
                        let escaped = key.replace('~', "~0").replace('/', "~1");
                        kept.insert(key.clone(), walk(v, &format!("{at}/{escaped}"), nulls));
                    }
                }
                Value::Object(kept)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| walk(v, &format!("{at}/{i}"), nulls))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let mut nulls = BTreeSet::new();
    let value = walk(value, "", &mut nulls);
    (value, nulls)
}

/// A candidate as a record: its name, and the service's score for display.
fn candidate(c: &Value) -> Option<Record> {
    let id = c.get("id")?.as_str()?;
    let mut r = Record::new(id);
    if let Some(name) = c.get("name").and_then(Value::as_str) {
        r.values.insert(Field::LegalName, name.to_string());
    }
    if let Some(score) = c.get("score").and_then(Value::as_f64) {
        r.values.insert(Field::RegisterScore, format!("{score}"));
    }
    Some(r)
}

/// An extension value (`str`, `id`+`name`, `float`, `int`, `date`, `bool`) as text.
fn value_text(v: &Value) -> Option<String> {
    if let Some(s) = v.get("str").and_then(Value::as_str) {
        return Some(s.to_string());
    }
    if let Some(n) = v.get("name").and_then(Value::as_str) {
        return Some(n.to_string());
    }
    for key in ["float", "int", "date", "bool"] {
        match v.get(key) {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(Value::Number(n)) => return Some(n.to_string()),
            Some(Value::Bool(b)) => return Some(b.to_string()),
            _ => {}
        }
    }
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

impl Register for ReconciliationRegister {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> BoxFuture<'_, Result<Vec<String>, RegisterError>> {
        Box::pin(self.check_ids())
    }

    fn stats(&self) -> RegisterStats {
        RegisterStats {
            queries: self.queries.load(Ordering::Relaxed),
            queried_records: self.queried_records.load(Ordering::Relaxed),
            ..self.http.stats()
        }
    }

    fn candidates<'a>(
        &'a self,
        _kind: EntityKind,
        records: &'a [Record],
    ) -> BoxFuture<'a, Vec<Lookup>> {
        Box::pin(async move {
            match self.lookup(records).await {
                Ok(found) => found.into_iter().map(Ok).collect(),
                Err(e) => records.iter().map(|_| Err(e.clone())).collect(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_from_manifest_versions() {
        assert_eq!(
            Dialect::from_manifest(&json!({"versions": ["0.1", "0.2"]})),
            Dialect::V02
        );
        assert_eq!(
            Dialect::from_manifest(&json!({"versions": ["0.2", "1.0-draft"]})),
            Dialect::V1Draft
        );
        assert_eq!(Dialect::from_manifest(&json!({})), Dialect::V02);
    }

    #[test]
    fn every_schema_compiles() {
        for dialect in [Dialect::V02, Dialect::V1Draft] {
            for name in schema_names(dialect) {
                validator(dialect, name).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn extension_values_as_text() {
        assert_eq!(
            value_text(&json!({"str": "Frankfurt"})).as_deref(),
            Some("Frankfurt")
        );
        assert_eq!(
            value_text(&json!({"id": "Q1794", "name": "Frankfurt"})).as_deref(),
            Some("Frankfurt")
        );
        assert_eq!(value_text(&json!({"int": 60547})).as_deref(), Some("60547"));
        assert_eq!(
            value_text(&json!({"date": "1924-01-01"})).as_deref(),
            Some("1924-01-01")
        );
        assert_eq!(value_text(&json!({"bool": true})).as_deref(), Some("true"));
        assert_eq!(value_text(&json!({"str": null})), None);
    }

    /// (what, dialect, schema, answer, valid): a null member is a missing value; a null
    /// where a list item or a value of the wrong kind stands is still an error.
    #[test]
    fn nulls_in_answers_are_missing_values_not_malformed_answers() {
        let cases = [
            (
                "a null string among extension values (0.2)",
                Dialect::V02,
                "data-extension-response",
                json!({
                    "meta": [{"id": "P6375", "name": "street address"}, {"id": "P281", "name": "postal code"}],
                    "rows": {
                        "Q2469": {"P6375": [{"str": null}], "P281": [{"str": "60549"}]},
                        "Q157617": {"P6375": [{"str": "Kaiserplatz"}], "P281": []}
                    }
                }),
                true,
            ),
            (
                "a null string and a null description (1.0-draft)",
                Dialect::V1Draft,
                "data-extension-response",
                json!({
                    "meta": [{"id": "city", "name": "city", "type": null}],
                    "rows": [{"id": "E17", "properties": [
                        {"id": "street", "values": [{"str": null}]},
                        {"id": "city", "values": [{"id": "C-Köln", "name": "Köln", "description": null}]}
                    ]}]
                }),
                true,
            ),
            (
                "a candidate without description, type or score (0.2, datasette-reconcile)",
                Dialect::V02,
                "reconciliation-result-batch",
                json!({
                    "q0": {"result": [
                        {"id": "17", "name": "Müller Logistik GmbH", "description": null,
                         "type": null, "score": null, "match": false},
                        {"id": "18", "name": "Müller & Söhne KG", "type": [{"id": "Organization", "name": "Organization"}],
                         "score": 71.5, "match": false}
                    ]},
                    "q1": {"result": []}
                }),
                true,
            ),
            (
                "a candidate whose name is null (1.0-draft)",
                Dialect::V1Draft,
                "reconciliation-result-batch",
                json!({"results": [{"candidates": [
                    {"id": "E17", "name": null, "score": 88.0, "match": null, "features": null}
                ]}]}),
                true,
            ),
            (
                "a null where a candidate stands",
                Dialect::V02,
                "reconciliation-result-batch",
                json!({"q0": {"result": [null]}}),
                false,
            ),
            (
                "a score that is no number",
                Dialect::V02,
                "reconciliation-result-batch",
                json!({"q0": {"result": [{"id": "17", "name": "Müller", "score": "high"}]}}),
                false,
            ),
            (
                "an extension value of no known kind",
                Dialect::V02,
                "data-extension-response",
                json!({"meta": [], "rows": {"Q1": {"P1": [{"str": null, "colour": "red"}]}}}),
                false,
            ),
        ];
        for (what, dialect, schema, answer, valid) in cases {
            let errors = schema_errors(&validator(dialect, schema).unwrap(), &answer);
            assert_eq!(errors.is_empty(), valid, "{what}: {errors:?}");
        }
    }
}
