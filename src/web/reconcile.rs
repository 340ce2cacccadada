//! A W3C Reconciliation API 0.2 service per job and side: `/reconcile/{job}/crm` answers
//! with the CRM's records (a steward reconciles a trade-fair list in OpenRefine against the
//! CRM), `/reconcile/{job}/register` with the register's. Read-only; a viewer's token is
//! needed unless `[http] reconcile_public = true`, which opens the register side only.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Actor;
use super::{WebError, WebState};
use crate::domain::model::Field;
use crate::domain::reconcile::{self as pure, Query, DEFAULT_LIMIT, MAX_BATCH, MAX_LIMIT};
use crate::store::users::Role;
use crate::sync::check::WarmJob;
use crate::sync::reconcile::Side;

pub fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/reconcile/{job}/{side}", get(service).post(service))
        .route("/reconcile/{job}/{side}/preview", get(preview))
        .route("/reconcile/{job}/{side}/suggest/entity", get(suggest))
        .route("/reconcile/{job}/{side}/propose_properties", get(propose))
        // The 1.0 draft: a manifest of its own shape, JSON bodies, its own endpoint names.
        .route("/reconcile/{job}/{side}/1.0-draft", get(manifest_draft))
        .route("/reconcile/{job}/{side}/1.0-draft/match", post(match_draft))
        .route(
            "/reconcile/{job}/{side}/1.0-draft/extend",
            post(extend_draft),
        )
        .route(
            "/reconcile/{job}/{side}/1.0-draft/extend/propose",
            get(propose),
        )
        .route(
            "/reconcile/{job}/{side}/1.0-draft/suggest/entity",
            get(suggest),
        )
        .route("/reconcile/{job}/{side}/1.0-draft/preview", get(preview))
}

type Params = Form<BTreeMap<String, String>>;

/// The warm job behind a service, once the caller may use it.
fn open(
    state: &WebState,
    actor: Result<Actor, WebError>,
    job: &str,
    side: &str,
) -> Result<(Arc<WarmJob>, Side), WebError> {
    let side: Side = serde_json::from_value(json!(side)).map_err(|_| {
        WebError::NotFound(format!(
            "no reconciliation service `{side}`; use /reconcile/{job}/crm or /reconcile/{job}/register"
        ))
    })?;
    if !(side == Side::Register && state.config().http.reconcile_public) {
        actor?.require(Role::Viewer)?;
    }
    if !state.config().job.contains_key(job) {
        return Err(WebError::NotFound(format!("no job `{job}`")));
    }
    let warm = state.checks.get(job).ok_or_else(|| {
        WebError::Unavailable(format!(
            "the index of job `{job}` is not built yet; try again shortly"
        ))
    })?;
    Ok((warm, side))
}

fn param<'a>(
    params: &'a Result<Params, axum::extract::rejection::FormRejection>,
    key: &str,
) -> Result<Option<&'a str>, WebError> {
    match params {
        Ok(Form(p)) => Ok(p.get(key).map(String::as_str)),
        Err(e) => Err(WebError::BadRequest(format!(
            "the parameters are not a form ({e}); send queries=… or extend=…"
        ))),
    }
}

/// The service's own URL, as the client reached it.
fn base(headers: &HeaderMap, job: &str, side: &str) -> String {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = value("x-forwarded-proto").unwrap_or("http");
    let host = value(header::HOST.as_str()).unwrap_or("127.0.0.1");
    format!("{scheme}://{host}/reconcile/{job}/{side}")
}

async fn service(
    actor: Result<Actor, WebError>,
    State(state): State<Arc<WebState>>,
    Path((job, side_name)): Path<(String, String)>,
    headers: HeaderMap,
    params: Result<Params, axum::extract::rejection::FormRejection>,
) -> Result<Json<Value>, WebError> {
    let (warm, side) = open(&state, actor, &job, &side_name)?;
    let config = state.config();
    if let Some(text) = param(&params, "queries")? {
        let batch: BTreeMap<String, Query> = serde_json::from_str(text)
            .map_err(|e| WebError::BadRequest(format!("`queries` is not a query batch: {e}")))?;
        if batch.len() > MAX_BATCH {
            return Err(WebError::BadRequest(format!(
                "{} queries in one batch; send at most {MAX_BATCH}",
                batch.len()
            )));
        }
        let mut queries = Vec::with_capacity(batch.len());
        for (key, query) in &batch {
            let record = pure::record_of(warm.job.entity, query)
                .map_err(|e| WebError::BadRequest(format!("query `{key}`: {e}")))?;
            let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
            queries.push((key.clone(), record, limit));
        }
        let answers = warm.reconcile(&config, &state.store, side, queries).await?;
        let out: serde_json::Map<String, Value> = answers
            .into_iter()
            .map(|(key, result)| (key, json!({ "result": result })))
            .collect();
        return Ok(Json(Value::Object(out)));
    }
    if let Some(text) = param(&params, "extend")? {
        return extend(&state, &warm, side, text).await.map(Json);
    }
    Ok(Json(manifest(
        &warm,
        &base(&headers, &job, &side_name),
        side,
    )))
}

fn manifest(warm: &WarmJob, base: &str, side: Side) -> Value {
    let kind = warm.job.entity;
    let side_name = match side {
        Side::Crm => format!("CRM `{}`", warm.job.crm),
        Side::Register => format!("register `{}`", warm.job.register),
    };
    json!({
        "versions": ["0.2"],
        "name": format!("refsync {} ({side_name})", warm.job_name),
        "identifierSpace": format!("{base}/"),
        "schemaSpace": "https://refsync.invalid/canonical-fields/",
        "serviceVersion": env!("CARGO_PKG_VERSION"),
        "defaultTypes": [pure::type_ref(kind)],
        "view": { "url": format!("{base}/preview?id={{{{id}}}}") },
        "preview": { "url": format!("{base}/preview?id={{{{id}}}}"), "width": 420, "height": 140 },
        "suggest": { "entity": { "service_url": base, "service_path": "/suggest/entity" } },
        "extend": {
            "propose_properties": { "service_url": base, "service_path": "/propose_properties" },
            "property_settings": []
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendQuery {
    ids: Vec<String>,
    properties: Vec<ExtendProperty>,
}

#[derive(Debug, Deserialize)]
struct ExtendProperty {
    id: String,
}

/// `extend`: the canonical fields asked for, of each record.
async fn extend(
    state: &WebState,
    warm: &WarmJob,
    side: Side,
    text: &str,
) -> Result<Value, WebError> {
    let query: ExtendQuery = serde_json::from_str(text).map_err(|e| {
        WebError::BadRequest(format!("`extend` is not a data extension query: {e}"))
    })?;
    if query.ids.len() > MAX_BATCH {
        return Err(WebError::BadRequest(format!(
            "{} ids in one extension; send at most {MAX_BATCH}",
            query.ids.len()
        )));
    }
    let fields = query
        .properties
        .iter()
        .map(|p| {
            p.id.parse::<Field>()
                .map_err(|e| WebError::BadRequest(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let records = warm
        .records(&state.config(), &state.store, side, &query.ids)
        .await?;
    let rows: serde_json::Map<String, Value> = query
        .ids
        .iter()
        .map(|id| {
            let row: serde_json::Map<String, Value> = fields
                .iter()
                .map(|f| {
                    let value = records.get(id).and_then(|r| r.get(*f));
                    let cells = value.map_or(json!([]), |v| json!([{ "str": v }]));
                    (f.as_str().to_string(), cells)
                })
                .collect();
            (id.clone(), Value::Object(row))
        })
        .collect();
    let meta: Vec<Value> = fields
        .iter()
        .map(|f| json!({ "id": f.as_str(), "name": f.as_str() }))
        .collect();
    Ok(json!({ "meta": meta, "rows": rows }))
}

async fn preview(
    actor: Result<Actor, WebError>,
    State(state): State<Arc<WebState>>,
    Path((job, side_name)): Path<(String, String)>,
    params: Result<Params, axum::extract::rejection::FormRejection>,
) -> Result<Response, WebError> {
    let (warm, side) = open(&state, actor, &job, &side_name)?;
    let id = param(&params, "id")?
        .ok_or_else(|| WebError::BadRequest("preview needs `id`".into()))?
        .to_string();
    let records = warm
        .records(
            &state.config(),
            &state.store,
            side,
            std::slice::from_ref(&id),
        )
        .await?;
    let record = records
        .get(&id)
        .ok_or_else(|| WebError::NotFound(format!("no record `{id}` here")))?;
    let kind = warm.job.entity;
    let page = maud::html! {
        (maud::DOCTYPE)
        html {
            body style="font-family:sans-serif;margin:8px" {
                strong { (pure::name_of(kind, record)) } br;
                (pure::description_of(record)) br;
                small { (id) }
            }
        }
    };
    Ok(Html(page.into_string()).into_response())
}

async fn suggest(
    actor: Result<Actor, WebError>,
    State(state): State<Arc<WebState>>,
    Path((job, side_name)): Path<(String, String)>,
    params: Result<Params, axum::extract::rejection::FormRejection>,
) -> Result<Json<Value>, WebError> {
    let (warm, side) = open(&state, actor, &job, &side_name)?;
    let prefix = param(&params, "prefix")?
        .ok_or_else(|| WebError::BadRequest("suggest needs `prefix`".into()))?;
    let found = warm
        .suggest(&state.config(), &state.store, side, prefix, 10)
        .await?;
    let kind = warm.job.entity;
    let result: Vec<Value> = found
        .iter()
        .map(|r| {
            json!({ "id": r.id, "name": pure::name_of(kind, r),
                    "description": pure::description_of(r), "notable": [pure::type_ref(kind)] })
        })
        .collect();
    Ok(Json(json!({ "result": result })))
}

async fn propose(
    actor: Result<Actor, WebError>,
    State(state): State<Arc<WebState>>,
    Path((job, side_name)): Path<(String, String)>,
    params: Result<Params, axum::extract::rejection::FormRejection>,
) -> Result<Json<Value>, WebError> {
    let (warm, side) = open(&state, actor, &job, &side_name)?;
    let kind = warm.job.entity;
    let fields: Vec<&Field> = match side {
        Side::Crm => warm.plan.mapped.iter().collect(),
        // Contacts: only what data minimisation lets refsync take from the register.
        Side::Register if kind == crate::domain::model::EntityKind::Contact => {
            warm.plan.enrichable.iter().collect()
        }
        Side::Register => warm.plan.rules.keys().collect(),
    };
    let limit = param(&params, "limit")?
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(fields.len());
    let properties: Vec<Value> = fields
        .into_iter()
        .take(limit)
        .map(|f| json!({ "id": f.as_str(), "name": f.as_str() }))
        .collect();
    Ok(Json(
        json!({ "type": pure::type_id(kind), "properties": properties, "limit": limit }),
    ))
}

/// The 1.0-draft manifest: the same service, described in that version's shape.
async fn manifest_draft(
    actor: Result<Actor, WebError>,
    State(state): State<Arc<WebState>>,
    Path((job, side_name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, WebError> {
    let (warm, side) = open(&state, actor, &job, &side_name)?;
    let base = format!("{}/1.0-draft", base(&headers, &job, &side_name));
    let mut manifest = manifest(&warm, &base, side);
    let kind = warm.job.entity;
    manifest = json!({
        "versions": ["1.0-draft"],
        "name": manifest["name"],
        "serviceVersion": manifest["serviceVersion"],
        "view": { "url": format!("{base}/preview?id={{id}}") },
        "defaultTypes": [pure::type_ref(kind)],
        "preview": { "width": 420, "height": 140 },
        "suggest": { "entity": true, "property": false, "type": false },
        "extend": { "proposeProperties": true, "propertySettings": [] }
    });
    Ok(Json(manifest))
}

/// A 1.0-draft query: conditions instead of a text and properties.
#[derive(Debug, Deserialize)]
struct DraftQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<usize>,
    conditions: Vec<DraftCondition>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DraftCondition {
    match_type: String,
    property_id: Option<String>,
    property_value: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftBatch {
    queries: Vec<DraftQuery>,
}

/// The 0.2 form of a 1.0-draft query: `name` conditions make the text, `property` ones the
/// properties. Every condition is scored, none filters (`required` is not honoured).
fn as_query(q: &DraftQuery) -> Result<Query, String> {
    let mut text = Vec::new();
    let mut properties = Vec::new();
    for c in &q.conditions {
        match (c.match_type.as_str(), &c.property_id) {
            ("name", _) => text.push(c.property_value.as_str().unwrap_or_default().to_string()),
            ("property", Some(pid)) => {
                properties.push(json!({ "pid": pid, "v": c.property_value }))
            }
            ("property", None) => return Err("a `property` condition needs `propertyId`".into()),
            (other, _) => {
                return Err(format!(
                    "conditions of matchType `{other}` are not offered; use `name` or `property`"
                ))
            }
        }
    }
    serde_json::from_value(
        json!({ "query": text.join(" "), "type": q.kind, "limit": q.limit,
                                   "properties": properties }),
    )
    .map_err(|e| e.to_string())
}

async fn match_draft(
    actor: Result<Actor, WebError>,
    State(state): State<Arc<WebState>>,
    Path((job, side_name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, WebError> {
    let (warm, side) = open(&state, actor, &job, &side_name)?;
    let batch: DraftBatch = serde_json::from_slice(&body)
        .map_err(|e| WebError::BadRequest(format!("the body is not a query batch: {e}")))?;
    if batch.queries.len() > MAX_BATCH {
        return Err(WebError::BadRequest(format!(
            "{} queries in one batch; send at most {MAX_BATCH}",
            batch.queries.len()
        )));
    }
    let mut queries = Vec::with_capacity(batch.queries.len());
    for (i, q) in batch.queries.iter().enumerate() {
        let record = as_query(q)
            .and_then(|q| pure::record_of(warm.job.entity, &q))
            .map_err(|e| WebError::BadRequest(format!("query {i}: {e}")))?;
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        queries.push((format!("{i:03}"), record, limit));
    }
    let answers = warm
        .reconcile(&state.config(), &state.store, side, queries)
        .await?;
    // Keys sort in query order; features carry a name in this version.
    let results: Vec<Value> = answers
        .into_values()
        .map(|candidates| {
            let mut candidates = serde_json::to_value(candidates).unwrap_or_default();
            for feature in candidates
                .as_array_mut()
                .into_iter()
                .flatten()
                .filter_map(|c| c["features"].as_array_mut())
                .flatten()
            {
                feature["name"] = feature["id"].clone();
            }
            json!({ "candidates": candidates })
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

async fn extend_draft(
    actor: Result<Actor, WebError>,
    State(state): State<Arc<WebState>>,
    Path((job, side_name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, WebError> {
    let (warm, side) = open(&state, actor, &job, &side_name)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| WebError::BadRequest("the body is not UTF-8 JSON".into()))?;
    let answer = extend(&state, &warm, side, text).await?;
    // 0.2 keys rows by id; the draft lists them, each property with its values.
    let rows: Vec<Value> = answer["rows"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, row)| {
            let properties: Vec<Value> = row
                .as_object()
                .into_iter()
                .flatten()
                .map(|(pid, values)| json!({ "id": pid, "values": values }))
                .collect();
            json!({ "id": id, "properties": properties })
        })
        .collect();
    Ok(Json(json!({ "meta": answer["meta"], "rows": rows })))
}
