//! The data-quality report of a job for viewers and up: the same self-contained page
//! `refsync report` writes (figures only, no record's values), in the user's language.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::Ui;
use crate::store::users::Role;
use crate::sync::report::{build, html};
use crate::web::auth::Actor;
use crate::web::{WebError, WebState};

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    /// Default: the first job.
    #[serde(default)]
    job: Option<String>,
}

pub async fn show(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Query(q): Query<ReportQuery>,
) -> Response {
    ui.page(render(ui, &actor, &state, q).await)
}

async fn render(
    ui: Ui,
    actor: &Actor,
    state: &WebState,
    q: ReportQuery,
) -> Result<String, WebError> {
    actor.require(Role::Viewer)?;
    let config = state.config();
    let job = q
        .job
        .or_else(|| config.job.keys().next().cloned())
        .ok_or_else(|| WebError::NotFound("no jobs are configured".into()))?;
    let report = build(&config, &state.store, &job).await?;
    Ok(html::page(&report, &job, ui.lang))
}
