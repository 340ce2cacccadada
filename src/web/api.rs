//! The JSON API under `/api/v1/`. Viewers read; stewards decide; admins apply, revert,
//! read the config and manage users. Every write goes through `sync` (or `store::users`
//! for users), the same code the CLI runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDateTime;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::{self, Actor};
use super::{WebError, WebState};
use crate::domain::consent::{Channel, ConsentStatus};
use crate::domain::lifecycle::Verdict;
use crate::domain::model::{ChangeKind, ChangeStatus, EntityKind, MergeStatus, Policy};
use crate::store::audit::{self, AuditFilter, AuditRow};
use crate::store::changes::{self, ChangeFilter, ChangeRow, ChangeSort};
use crate::store::passes::{self, PassRow};
use crate::store::status::{self as record_status, MatchRow};
use crate::store::users::{self, Role, UserSummary};
use crate::sync::apply::apply_approved;
use crate::sync::consent::{self, ContactConsent, NewConsent};
use crate::sync::duplicates::{self, MergeApplied, MergeVerdict, MergeView};
use crate::sync::revert::{revert, RevertReport, Target};
use crate::sync::review::{decide, Decided};

type Shared = State<Arc<WebState>>;
type ApiResult<T> = Result<Json<T>, WebError>;

/// The largest page a list returns.
pub const MAX_LIMIT: i64 = 500;
/// Rows of a page of passes or changes when the request names no `limit`.
pub const DEFAULT_LIMIT: i64 = 50;
/// Rows of a page of the audit log when the request names no `limit`.
pub const DEFAULT_AUDIT_LIMIT: i64 = 200;

pub fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .route("/api/v1/passes", get(list_passes))
        .route("/api/v1/passes/{id}", get(pass_detail))
        .route("/api/v1/changes", get(list_changes))
        .route("/api/v1/changes/{id}", get(change_detail))
        .route("/api/v1/records/{job}/{record_id}", get(record_view))
        .route("/api/v1/consent/{job}/{id}", get(consents).post(revoke))
        .route("/api/v1/status", get(status_counts))
        .route("/api/v1/duplicates", get(list_merges))
        .route("/api/v1/duplicates/{id}", get(merge_detail))
        .route("/api/v1/duplicates/{id}/approve", post(approve_merge))
        .route("/api/v1/duplicates/{id}/reject", post(reject_merge))
        .route("/api/v1/duplicates/{id}/split", post(split_merge))
        .route("/api/v1/duplicates/{id}/revert", post(revert_merge))
        .route("/api/v1/duplicates/apply", post(apply_merges))
        .route("/api/v1/decisions", post(decisions))
        .route("/api/v1/apply", post(apply))
        .route("/api/v1/revert", post(revert_target))
        .route("/api/v1/audit", get(audit_list))
        .route("/api/v1/config", get(config))
        .route("/api/v1/users", get(list_users).post(add_user))
        .route("/api/v1/users/{name}/disable", post(disable_user))
}

/// Query parameters whose parse errors answer as JSON `{"error": …}` like every other refusal.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e: QueryRejection| WebError::BadRequest(e.body_text()))
    }
}

/// A JSON body whose parse errors answer as JSON `{"error": …}`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, WebError> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(v)| Body(v))
            // Bodies over the limit never get here: the listener answers them 413 itself.
            .map_err(|e: JsonRejection| WebError::BadRequest(e.body_text()))
    }
}

async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

async fn me(actor: Actor) -> Json<Value> {
    Json(json!({ "name": actor.name, "role": actor.role, "csrf": actor.csrf() }))
}

#[derive(Debug, Deserialize)]
struct PassQuery {
    job: Option<String>,
    limit: Option<i64>,
}

async fn list_passes(
    actor: Actor,
    State(state): Shared,
    Params(q): Params<PassQuery>,
) -> ApiResult<Vec<PassRow>> {
    actor.require(Role::Viewer)?;
    let limit = page_limit(q.limit, DEFAULT_LIMIT)?;
    let rows = state
        .store
        .db
        .run(move |conn| passes::list(conn, q.job.as_deref(), limit))
        .await?;
    Ok(Json(rows))
}

/// A pass with how many of its changes are in each status.
#[derive(Debug, Serialize)]
pub struct PassDetail {
    pub pass: PassRow,
    pub changes_by_status: BTreeMap<String, i64>,
}

pub async fn load_pass(state: &WebState, id: i64) -> Result<PassDetail, WebError> {
    let found = state
        .store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let Some(pass) = passes::get(conn, id)? else {
                return Ok(None);
            };
            let filter = ChangeFilter {
                pass_id: Some(id),
                ..Default::default()
            };
            let facets = changes::count_by_status_and_field(conn, &filter)?;
            Ok(Some((pass, facets)))
        })
        .await?;
    let (pass, facets) = found.ok_or_else(|| WebError::NotFound(format!("no pass {id}")))?;
    let mut changes_by_status = BTreeMap::new();
    for (status, _, n) in facets {
        *changes_by_status.entry(status).or_insert(0) += n;
    }
    Ok(PassDetail {
        pass,
        changes_by_status,
    })
}

async fn pass_detail(
    actor: Actor,
    State(state): Shared,
    Path(id): Path<i64>,
) -> ApiResult<PassDetail> {
    actor.require(Role::Viewer)?;
    Ok(Json(load_pass(&state, id).await?))
}

/// The filters of the change list, as query parameters (API) or form fields (UI).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChangeQuery {
    /// Comma-separated statuses; empty means every status.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub job: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub pass: Option<i64>,
    #[serde(default)]
    pub record: Option<String>,
    #[serde(default)]
    pub min_score: Option<f64>,
    #[serde(default)]
    pub max_score: Option<f64>,
    #[serde(default)]
    pub text: Option<String>,
    /// `id` (default), `-id`, `score` or `-score`.
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub offset: Option<i64>,
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn page_limit(limit: Option<i64>, default: i64) -> Result<i64, WebError> {
    match limit.unwrap_or(default) {
        l @ 1..=MAX_LIMIT => Ok(l),
        l => Err(WebError::BadRequest(format!(
            "limit {l} is outside 1..={MAX_LIMIT}"
        ))),
    }
}

impl ChangeQuery {
    /// The store filter; `Err` names the parameter that is wrong.
    pub fn filter(&self) -> Result<ChangeFilter, WebError> {
        let statuses = non_empty(&self.status)
            .map(|s| {
                s.split(',')
                    .map(|one| one.trim().parse::<ChangeStatus>())
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| WebError::BadRequest(format!("status: {e}")))?
            .unwrap_or_default();
        let sort = match self.sort.as_deref().unwrap_or("id") {
            "id" | "" => ChangeSort::Id,
            "-id" => ChangeSort::IdDesc,
            "score" => ChangeSort::ScoreAsc,
            "-score" => ChangeSort::ScoreDesc,
            other => {
                return Err(WebError::BadRequest(format!(
                    "sort `{other}` is not one of id, -id, score, -score"
                )))
            }
        };
        for (name, value) in [("min_score", self.min_score), ("max_score", self.max_score)] {
            if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                return Err(WebError::BadRequest(format!("{name} must lie in 0..=1")));
            }
        }
        if self.offset.is_some_and(|o| o < 0) {
            return Err(WebError::BadRequest("offset must not be negative".into()));
        }
        Ok(ChangeFilter {
            job: non_empty(&self.job),
            statuses,
            pass_id: self.pass,
            field: non_empty(&self.field),
            record_id: non_empty(&self.record),
            ids: vec![],
            min_score: self.min_score,
            max_score: self.max_score,
            text: non_empty(&self.text),
            sort,
            offset: Some(self.offset.unwrap_or(0)),
            limit: Some(page_limit(self.limit, DEFAULT_LIMIT)?),
        })
    }
}

/// A change as `/api/v1` and the pages show it, apart from the store's row: a column
/// renamed or retyped in the store changes the `From` below, not the API.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeView {
    pub id: i64,
    pub pass_id: i64,
    pub job: String,
    pub entity: EntityKind,
    pub record_id: String,
    pub source: String,
    pub register_id: String,
    pub field: String,
    pub kind: ChangeKind,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub policy: Policy,
    pub status: ChangeStatus,
    pub score: f64,
    pub reason: String,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    pub applied_at: Option<NaiveDateTime>,
    pub applying_since: Option<NaiveDateTime>,
    pub reverts_change_id: Option<i64>,
    pub error: Option<String>,
}

impl From<ChangeRow> for ChangeView {
    fn from(row: ChangeRow) -> ChangeView {
        ChangeView {
            id: row.id,
            pass_id: row.pass_id,
            job: row.job,
            entity: row.entity,
            record_id: row.record_id,
            source: row.source,
            register_id: row.register_id,
            field: row.field,
            kind: row.kind,
            old_value: row.old_value,
            new_value: row.new_value,
            policy: row.policy,
            status: row.status,
            score: row.score,
            reason: row.reason,
            created_at: row.created_at,
            decided_at: row.decided_at,
            decided_by: row.decided_by,
            applied_at: row.applied_at,
            applying_since: row.applying_since,
            reverts_change_id: row.reverts_change_id,
            error: row.error,
        }
    }
}

fn views(rows: Vec<ChangeRow>) -> Vec<ChangeView> {
    rows.into_iter().map(ChangeView::from).collect()
}

/// One page of changes, the total the filter selects, and its counts per status and field.
#[derive(Debug, Serialize)]
pub struct ChangePage {
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<ChangeView>,
    pub by_status: BTreeMap<String, i64>,
    pub by_field: BTreeMap<String, i64>,
}

pub async fn load_changes(state: &WebState, filter: ChangeFilter) -> Result<ChangePage, WebError> {
    let (offset, limit) = (
        filter.offset.unwrap_or(0),
        filter.limit.unwrap_or(MAX_LIMIT),
    );
    let (items, total, facets) = state
        .store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let items = changes::list(conn, &filter)?;
            let total = changes::count(conn, &filter)?;
            // Per-status counts ignore the status filter, so the tabs show what is elsewhere.
            let facet_filter = ChangeFilter {
                statuses: vec![],
                ..filter
            };
            let facets = changes::count_by_status_and_field(conn, &facet_filter)?;
            Ok((items, total, facets))
        })
        .await?;
    let (mut by_status, mut by_field) = (BTreeMap::new(), BTreeMap::new());
    for (status, field, n) in facets {
        *by_status.entry(status).or_insert(0) += n;
        *by_field.entry(field).or_insert(0) += n;
    }
    Ok(ChangePage {
        total,
        offset,
        limit,
        items: views(items),
        by_status,
        by_field,
    })
}

async fn list_changes(
    actor: Actor,
    State(state): Shared,
    Params(q): Params<ChangeQuery>,
) -> ApiResult<ChangePage> {
    actor.require(Role::Viewer)?;
    Ok(Json(load_changes(&state, q.filter()?).await?))
}

async fn change_detail(
    actor: Actor,
    State(state): Shared,
    Path(id): Path<i64>,
) -> ApiResult<ChangeView> {
    actor.require(Role::Viewer)?;
    let change = state
        .store
        .db
        .run(move |conn| changes::get(conn, id))
        .await?
        .ok_or_else(|| WebError::NotFound(format!("no change {id}")))?;
    Ok(Json(change.into()))
}

/// Everything the record page shows: the stored match and its explanation, the changes
/// and the audit history; with `candidates`, a live re-match against the register.
#[derive(Debug, Serialize)]
pub struct RecordView {
    pub job: String,
    pub record_id: String,
    pub entity: Option<String>,
    pub status: Option<String>,
    /// The last pass's decision and explanation (comparisons, per-field CRM and register
    /// values, candidates of an ambiguous match).
    pub explanation: Value,
    #[serde(rename = "match")]
    pub matched: Option<MatchRow>,
    pub changes: Vec<ChangeView>,
    pub history: Vec<AuditRow>,
    pub candidates: Option<Value>,
}

pub async fn load_record(
    state: &WebState,
    job: String,
    record_id: String,
    live: bool,
) -> Result<RecordView, WebError> {
    let (j, r) = (job.clone(), record_id.clone());
    let (status, matched, record_changes, history) = state
        .store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let status = record_status::get_status(conn, &j, &r)?;
            let matched = record_status::get_match(conn, &j, &r)?;
            let filter = ChangeFilter {
                job: Some(j.clone()),
                record_id: Some(r.clone()),
                ..Default::default()
            };
            let record_changes = changes::list(conn, &filter)?;
            let history = audit::list(
                conn,
                &AuditFilter {
                    job: Some(j),
                    record_id: Some(r),
                    limit: Some(200),
                    ..Default::default()
                },
            )?;
            Ok((status, matched, record_changes, history))
        })
        .await?;
    if status.is_none() && record_changes.is_empty() {
        return Err(WebError::NotFound(format!(
            "job `{job}` has no record `{record_id}` in the store"
        )));
    }
    let candidates = if live {
        let config = state.config();
        let explained =
            crate::sync::explain::explain(Some(&state.store), &config, &job, &record_id)
                .await?
                .ok_or_else(|| {
                    WebError::NotFound(format!("the CRM has no record `{record_id}`"))
                })?;
        let list: Vec<_> = explained
            .candidates
            .iter()
            .map(crate::sync::persist::candidate_summary)
            .collect();
        Some(json!({ "decision": explained.decision, "candidates": list }))
    } else {
        None
    };
    Ok(RecordView {
        entity: status.as_ref().map(|s| s.entity.to_string()),
        status: status.as_ref().map(|s| s.status.to_string()),
        explanation: status
            .as_ref()
            .and_then(|s| serde_json::from_str(&s.detail).ok())
            .unwrap_or(Value::Null),
        matched,
        changes: views(record_changes),
        history,
        candidates,
        job,
        record_id,
    })
}

#[derive(Debug, Deserialize)]
struct RecordQuery {
    #[serde(default)]
    candidates: bool,
}

async fn record_view(
    actor: Actor,
    State(state): Shared,
    Path((job, record_id)): Path<(String, String)>,
    Params(q): Params<RecordQuery>,
) -> ApiResult<RecordView> {
    actor.require(Role::Viewer)?;
    Ok(Json(
        load_record(&state, job, record_id, q.candidates).await?,
    ))
}

async fn consents(
    actor: Actor,
    State(state): Shared,
    Path((job, record_id)): Path<(String, String)>,
) -> ApiResult<ContactConsent> {
    actor.require(Role::Viewer)?;
    let config = state.config();
    Ok(Json(
        consent::verdicts(&config, &state.store, Some(&job), &record_id).await?,
    ))
}

/// A revocation a steward heard of: by phone, by letter, at a fair.
#[derive(Debug, Deserialize)]
pub struct RevocationRequest {
    pub channel: Channel,
    /// Where the revocation came from; default: the steward's desk.
    #[serde(default)]
    pub source: Option<String>,
}

/// Records a revocation for one channel (a new consent record; the old ones stay) and
/// answers with the verdicts as they are now.
pub async fn run_revocation(
    state: &WebState,
    actor: &Actor,
    job: &str,
    contact_id: &str,
    request: RevocationRequest,
) -> Result<ContactConsent, WebError> {
    actor.require(Role::Steward)?;
    let config = state.config();
    let revocation = NewConsent {
        contact_id: contact_id.to_string(),
        channel: request.channel,
        status: ConsentStatus::OptOut,
        source: request
            .source
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "steward's desk".into()),
        at: None,
        evidence: None,
    };
    consent::record(&config, &state.store, Some(job), revocation, &actor.name).await?;
    Ok(consent::verdicts(&config, &state.store, Some(job), contact_id).await?)
}

async fn revoke(
    actor: Actor,
    State(state): Shared,
    Path((job, record_id)): Path<(String, String)>,
    Body(request): Body<RevocationRequest>,
) -> ApiResult<ContactConsent> {
    Ok(Json(
        run_revocation(&state, &actor, &job, &record_id, request).await?,
    ))
}

async fn status_counts(actor: Actor, State(state): Shared) -> ApiResult<Value> {
    actor.require(Role::Viewer)?;
    let jobs: Vec<String> = state.config().job.keys().cloned().collect();
    let counts = state
        .store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let mut per_job = BTreeMap::new();
            for job in jobs {
                let records: BTreeMap<String, i64> =
                    record_status::count_by_status(conn, Some(&job))?
                        .into_iter()
                        .collect();
                let job_changes: BTreeMap<String, i64> =
                    changes::count_by_status(conn, Some(&job))?
                        .into_iter()
                        .collect();
                per_job.insert(job, json!({ "records": records, "changes": job_changes }));
            }
            Ok(per_job)
        })
        .await?;
    Ok(Json(json!({ "jobs": counts })))
}

/// A decision on changes named by id or selected by a filter.
#[derive(Debug, Deserialize)]
pub struct DecisionRequest {
    /// `approve`, `reject` or `wrong`.
    pub verdict: String,
    #[serde(default)]
    pub ids: Vec<i64>,
    /// Every proposed change this filter selects (status, sort and paging are ignored).
    #[serde(default)]
    pub filter: Option<ChangeQuery>,
    /// With `approve` and exactly one id: the value to write instead of the register's.
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DecisionResult {
    pub decided: Vec<Decided>,
    pub unknown_ids: Vec<i64>,
}

/// The changes a decision applies to: the ids named, or the proposed changes of a filter.
pub fn decision_filter(
    ids: &[i64],
    filter: Option<&ChangeQuery>,
) -> Result<ChangeFilter, WebError> {
    match (ids.is_empty(), filter) {
        (false, None) => Ok(ChangeFilter {
            ids: ids.to_vec(),
            ..Default::default()
        }),
        (true, Some(query)) => {
            let narrowed = query.filter()?;
            // A bulk decision only ever takes changes that wait for one, all of them.
            Ok(ChangeFilter {
                statuses: vec![ChangeStatus::Proposed],
                sort: ChangeSort::Id,
                offset: None,
                limit: None,
                ..narrowed
            })
        }
        _ => Err(WebError::BadRequest(
            "name change `ids` or give a `filter`, not both and not neither".into(),
        )),
    }
}

pub fn verdict(name: &str, value: Option<String>, ids: &[i64]) -> Result<Verdict, WebError> {
    if value.is_some() && (name != "approve" || ids.len() != 1) {
        return Err(WebError::BadRequest(
            "`value` edits one change: use it with verdict approve and exactly one id".into(),
        ));
    }
    match name {
        "approve" => Ok(Verdict::Approve { edited: value }),
        "reject" => Ok(Verdict::Reject),
        "wrong" => Ok(Verdict::Wrong),
        other => Err(WebError::BadRequest(format!(
            "verdict `{other}` is not one of approve, reject, wrong"
        ))),
    }
}

/// Decides as `actor` through `sync::review::decide`, the CLI's path.
pub async fn run_decision(
    state: &WebState,
    actor: &Actor,
    request: DecisionRequest,
) -> Result<DecisionResult, WebError> {
    actor.require(Role::Steward)?;
    let verdict = verdict(&request.verdict, request.value, &request.ids)?;
    let filter = decision_filter(&request.ids, request.filter.as_ref())?;
    let decided = decide(&state.store, filter, verdict, &actor.name).await?;
    let unknown_ids = request
        .ids
        .iter()
        .copied()
        .filter(|id| !decided.iter().any(|d| d.id == *id))
        .collect();
    Ok(DecisionResult {
        decided,
        unknown_ids,
    })
}

async fn decisions(
    actor: Actor,
    State(state): Shared,
    Body(request): Body<DecisionRequest>,
) -> ApiResult<DecisionResult> {
    Ok(Json(run_decision(&state, &actor, request).await?))
}

#[derive(Debug, Default, Deserialize)]
struct MergeQuery {
    #[serde(default)]
    job: Option<String>,
    /// A merge status, or `all`; default `proposed`.
    #[serde(default)]
    status: Option<String>,
}

async fn list_merges(
    actor: Actor,
    State(state): Shared,
    Params(q): Params<MergeQuery>,
) -> ApiResult<Vec<MergeView>> {
    actor.require(Role::Viewer)?;
    let status = match non_empty(&q.status).as_deref() {
        None => Some(MergeStatus::Proposed),
        Some("all") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|e: String| WebError::BadRequest(format!("status: {e}, or all")))?,
        ),
    };
    Ok(Json(
        duplicates::list(&state.store, non_empty(&q.job), status).await?,
    ))
}

async fn merge_detail(
    actor: Actor,
    State(state): Shared,
    Path(id): Path<i64>,
) -> ApiResult<MergeView> {
    actor.require(Role::Viewer)?;
    let merge = duplicates::show(&state.store, id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("no merge {id}")))?;
    Ok(Json(merge))
}

/// Decides as `actor` through `sync::duplicates::decide`, the CLI's path.
async fn decide_merge(
    state: &WebState,
    actor: &Actor,
    id: i64,
    verdict: MergeVerdict,
) -> ApiResult<MergeView> {
    actor.require(Role::Steward)?;
    if duplicates::show(&state.store, id).await?.is_none() {
        return Err(WebError::NotFound(format!("no merge {id}")));
    }
    let row = duplicates::decide(&state.store, id, verdict, &actor.name).await?;
    Ok(Json(MergeView::try_from(row)?))
}

async fn approve_merge(
    actor: Actor,
    State(state): Shared,
    Path(id): Path<i64>,
) -> ApiResult<MergeView> {
    decide_merge(&state, &actor, id, MergeVerdict::Approve).await
}

async fn reject_merge(
    actor: Actor,
    State(state): Shared,
    Path(id): Path<i64>,
) -> ApiResult<MergeView> {
    decide_merge(&state, &actor, id, MergeVerdict::Reject).await
}

/// The records a steward takes out of a proposed merge's cluster.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitRequest {
    records: Vec<String>,
}

async fn split_merge(
    actor: Actor,
    State(state): Shared,
    Path(id): Path<i64>,
    Body(request): Body<SplitRequest>,
) -> ApiResult<MergeView> {
    if request.records.is_empty() {
        return Err(WebError::BadRequest(
            "`records` names no record; list the ids to split out of the cluster".into(),
        ));
    }
    decide_merge(&state, &actor, id, MergeVerdict::Split(request.records)).await
}

/// Writes the approved merges to the CRM (of `job`, where given), as `refsync duplicates
/// apply` does.
async fn apply_merges(
    actor: Actor,
    State(state): Shared,
    Body(request): Body<ApplyRequest>,
) -> ApiResult<Vec<MergeApplied>> {
    actor.require(Role::Admin)?;
    let config = state.config();
    let applied =
        duplicates::apply_approved(&config, &state.store, request.job.as_deref(), &actor.name)
            .await?;
    Ok(Json(applied))
}

/// Undoes an applied merge, as `refsync revert --merge` does; a record edited since is a
/// conflict and the merge stays applied with the reason.
async fn revert_merge(
    actor: Actor,
    State(state): Shared,
    Path(id): Path<i64>,
) -> ApiResult<MergeApplied> {
    actor.require(Role::Admin)?;
    if duplicates::show(&state.store, id).await?.is_none() {
        return Err(WebError::NotFound(format!("no merge {id}")));
    }
    let config = state.config();
    Ok(Json(
        duplicates::revert(&config, &state.store, id, &actor.name).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct ApplyRequest {
    #[serde(default)]
    job: Option<String>,
}

async fn apply(
    actor: Actor,
    State(state): Shared,
    Body(request): Body<ApplyRequest>,
) -> ApiResult<Value> {
    actor.require(Role::Admin)?;
    let config = state.config();
    let per_job =
        apply_approved(&config, &state.store, request.job.as_deref(), &actor.name).await?;
    Ok(Json(json!({ "jobs": per_job })))
}

/// One applied change or every applied change of a pass.
#[derive(Debug, Deserialize)]
pub struct RevertRequest {
    #[serde(default)]
    pub change: Option<i64>,
    #[serde(default)]
    pub pass: Option<i64>,
}

pub async fn run_revert(
    state: &WebState,
    actor: &Actor,
    request: RevertRequest,
) -> Result<RevertReport, WebError> {
    actor.require(Role::Admin)?;
    let target = match (request.change, request.pass) {
        (Some(id), None) => Target::Change(id),
        (None, Some(pass)) => Target::Pass(pass),
        _ => {
            return Err(WebError::BadRequest(
                "name exactly one of `change` and `pass`".into(),
            ))
        }
    };
    let config = state.config();
    Ok(revert(&config, &state.store, target, &actor.name).await?)
}

async fn revert_target(
    actor: Actor,
    State(state): Shared,
    Body(request): Body<RevertRequest>,
) -> ApiResult<RevertReport> {
    Ok(Json(run_revert(&state, &actor, request).await?))
}

/// Audit filters; with `format` the whole selection, oldest first, as a download.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub job: Option<String>,
    #[serde(default)]
    pub record: Option<String>,
    #[serde(default)]
    pub change: Option<i64>,
    #[serde(default)]
    pub pass: Option<i64>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    /// `csv` or `json`: export every matching entry instead of the newest page.
    #[serde(default)]
    pub format: Option<String>,
}

impl AuditQuery {
    pub fn filter(&self, limit: Option<i64>) -> AuditFilter {
        AuditFilter {
            job: non_empty(&self.job),
            record_id: non_empty(&self.record),
            change_id: self.change,
            pass_id: self.pass,
            actor: non_empty(&self.actor),
            limit,
        }
    }
}

pub async fn load_audit(state: &WebState, filter: AuditFilter) -> Result<Vec<AuditRow>, WebError> {
    Ok(state
        .store
        .db
        .run(move |conn| audit::list(conn, &filter))
        .await?)
}

async fn audit_list(
    actor: Actor,
    State(state): Shared,
    Params(q): Params<AuditQuery>,
) -> Result<Response, WebError> {
    actor.require(Role::Viewer)?;
    let export = match q.format.as_deref() {
        None | Some("") => None,
        Some(f @ ("csv" | "json")) => Some(f.to_string()),
        Some(other) => {
            return Err(WebError::BadRequest(format!(
                "format `{other}` is not csv or json"
            )))
        }
    };
    let Some(format) = export else {
        let limit = page_limit(q.limit, DEFAULT_AUDIT_LIMIT)?;
        return Ok(Json(load_audit(&state, q.filter(Some(limit))).await?).into_response());
    };
    let mut rows = load_audit(&state, q.filter(None)).await?;
    rows.reverse();
    let (body, content_type, name) = if format == "csv" {
        let mut out = Vec::new();
        audit::write_csv(&rows, &mut out).map_err(|_| WebError::Internal)?;
        (out, "text/csv; charset=utf-8", "audit.csv")
    } else {
        let out = serde_json::to_vec_pretty(&rows).map_err(|_| WebError::Internal)?;
        (out, "application/json", "audit.json")
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

async fn config(actor: Actor, State(state): Shared) -> ApiResult<Value> {
    actor.require(Role::Admin)?;
    Ok(Json(json!({ "toml": state.config().to_redacted_toml() })))
}

async fn list_users(actor: Actor, State(state): Shared) -> ApiResult<Vec<UserSummary>> {
    actor.require(Role::Admin)?;
    let rows = state.store.db.run(users::list_users).await?;
    Ok(Json(rows.iter().map(users::UserRow::summary).collect()))
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    role: String,
    password: SecretString,
}

async fn add_user(
    actor: Actor,
    State(state): Shared,
    Body(new): Body<NewUser>,
) -> Result<(axum::http::StatusCode, Json<Value>), WebError> {
    actor.require(Role::Admin)?;
    let role: Role = new.role.parse().map_err(WebError::BadRequest)?;
    let name = match auth::create_user(&state.store, &new.name, role, new.password).await {
        Ok(name) => name,
        Err(auth::NewUserError::Invalid(why)) => return Err(WebError::BadRequest(why)),
        Err(e @ auth::NewUserError::Exists(_)) => return Err(WebError::Conflict(e.to_string())),
        Err(auth::NewUserError::Store(e)) => return Err(e.into()),
    };
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "name": name, "role": role })),
    ))
}

async fn disable_user(
    actor: Actor,
    State(state): Shared,
    Path(name): Path<String>,
) -> ApiResult<Value> {
    actor.require(Role::Admin)?;
    let owned = name.clone();
    let found = state
        .store
        .db
        .run(move |conn| users::set_disabled(conn, &owned, true))
        .await?;
    if !found {
        return Err(WebError::NotFound(format!("no user `{name}`")));
    }
    Ok(Json(json!({ "name": name, "disabled": true })))
}
