//! `POST /api/v1/check`: a record checked on entry, against the job's warm indexes
//! (`sync::check`). Stewards and the `intake` role (a web form's backend) may call it; each
//! token within its own rate. The body is small and strict: one record, no unknown keys.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use super::auth::Actor;
use super::{WebError, WebState};
use crate::store::users::Role;
use crate::sync::check::{check, record_of, CheckAnswer};

/// The largest check body: one record, with room to spare.
pub const MAX_CHECK_BYTES: usize = 64 * 1024;

/// Tokens remembered by the limiter before those idle long enough are forgotten.
const LIMITER_KEYS: usize = 10_000;

pub fn routes() -> Router<Arc<WebState>> {
    Router::new().route("/api/v1/check", post(check_record))
}

/// Checks per second per token (API token or session), in bursts of as many.
pub struct CheckLimiter(DefaultKeyedRateLimiter<String>);

impl CheckLimiter {
    pub fn new(per_second: u32) -> CheckLimiter {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        CheckLimiter(RateLimiter::keyed(Quota::per_second(rate)))
    }

    /// `Err(seconds)` to wait when the token used up its rate.
    fn admit(&self, token_hash: &str) -> Result<(), u64> {
        if self.0.len() > LIMITER_KEYS {
            self.0.retain_recent();
        }
        self.0
            .check_key(&token_hash.to_string())
            .map_err(|not_until| {
                not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1)
            })
    }
}

/// The body of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    job: String,
    /// A form mapping of `[job.NAME.check.mappings]`; without it `record` has canonical names.
    mapping: Option<String>,
    record: BTreeMap<String, String>,
    /// Store what the record means for the CRM as proposals for review.
    #[serde(default)]
    store: bool,
}

async fn check_record(
    actor: Actor,
    State(state): State<Arc<WebState>>,
    body: Bytes,
) -> Result<Json<CheckAnswer>, WebError> {
    if !actor.role.may_check() {
        return Err(WebError::Forbidden(Role::Steward));
    }
    state
        .check_limiter
        .admit(actor.token_hash())
        .map_err(|secs| {
            WebError::RateLimited(
                format!(
                "more than {} checks per second with this token; slow down (http.check_per_second)",
                state.config().http.check_per_second
            ),
                secs,
            )
        })?;
    if body.len() > MAX_CHECK_BYTES {
        return Err(WebError::TooLarge(format!(
            "the check body has {} bytes, more than {} KiB; send one record",
            body.len(),
            MAX_CHECK_BYTES / 1024
        )));
    }
    let request: CheckRequest = serde_json::from_slice(&body).map_err(|e| {
        WebError::BadRequest(format!(
            "the body is not a check request ({e}); send {{\"job\": \"…\", \"record\": {{\"field\": \"value\", …}}}}"
        ))
    })?;
    let config = state.config();
    let job = config.job.get(&request.job).ok_or_else(|| {
        WebError::NotFound(format!(
            "no job `{}`; known jobs: {}",
            request.job,
            config.job.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let record = record_of(
        &request.job,
        job,
        request.mapping.as_deref(),
        &request.record,
    )
    .map_err(WebError::BadRequest)?;
    let warm = state.checks.get(&request.job).ok_or_else(|| {
        WebError::Unavailable(format!(
            "the check index of job `{}` is not built yet (the server builds it at start and after each pass); try again shortly",
            request.job
        ))
    })?;
    let store_as = request.store.then_some(actor.name.as_str());
    let answer = check(&warm, &config, &state.store, record, store_as).await?;
    // A form's backend learns which CRM record a lead is, not what the CRM holds about it.
    Ok(Json(if actor.role == Role::Intake {
        answer.without_crm_values()
    } else {
        answer
    }))
}
