//! The health and metrics listener (`[http] listen`): `/healthz` says the process answers,
//! `/readyz` that the store is reachable and no job keeps failing, `/metrics` serves the
//! Prometheus text format. The review UI and API (`crate::web`) share the listener.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::{Config, DbUrl};
use crate::db::{connect, Db, Missing};
use crate::store::passes::{self, PassOutcome};
use crate::store::seal::Seal;
use crate::store::Store;
use crate::web::WebState;

struct Shared {
    store_url: DbUrl,
    config: watch::Receiver<Arc<Config>>,
}

/// Binds `addr` and serves the health endpoints and the review UI and API until
/// `shutdown` turns true. The bound address is logged, so port 0 works (tests use it).
/// The UI's decisions go into the audit log under `seal`, the daemon's own.
pub async fn serve(
    addr: SocketAddr,
    config: watch::Receiver<Arc<Config>>,
    shutdown: watch::Receiver<bool>,
    seal: Seal,
    checks: Arc<crate::sync::check::Warm>,
) -> anyhow::Result<JoinHandle<()>> {
    let store_url = config.borrow().store.url.clone();
    let limits = crate::web::Limits::of(&config.borrow().http);
    // Its own connection: the UI stays responsive while a pass holds the daemon's.
    let url = store_url.clone();
    let db = tokio::task::spawn_blocking(move || Db::connect(&url, Missing::Refuse)).await??;
    let web = crate::web::router(WebState::new(Store { db, seal }, config.clone(), checks));
    let shared = Arc::new(Shared { store_url, config });
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
        .merge(web);
    let (local, task) = crate::web::serve(addr, app, limits, shutdown).await?;
    info!(address = %local, "http listener started");
    Ok(task)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::global().render(),
    )
}

#[derive(Debug, Serialize)]
struct JobReadiness {
    last_status: Option<String>,
    failed_in_a_row: u32,
    ready: bool,
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    store: String,
    jobs: BTreeMap<String, JobReadiness>,
}

/// How long `/readyz` waits for the store before calling it unreachable.
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let config = shared.config.borrow().clone();
    let url = shared.store_url.clone();
    let max = config.http.ready_max_failed_passes;
    let jobs: Vec<String> = config.job.keys().cloned().collect();
    // A fresh connection: the daemon's own may be busy with a batch, and reachability is
    // the question.
    let checked = tokio::time::timeout(
        STORE_TIMEOUT,
        tokio::task::spawn_blocking(move || job_readiness(&url, &jobs, max)),
    )
    .await;
    let readiness = match checked {
        Ok(Ok(Ok(jobs))) => Readiness {
            ready: jobs.values().all(|j| j.ready),
            store: "reachable".into(),
            jobs,
        },
        Ok(Ok(Err(e))) => not_ready(e),
        Ok(Err(e)) => not_ready(e.to_string()),
        Err(_) => not_ready(format!("no answer within {} s", STORE_TIMEOUT.as_secs())),
    };
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string_pretty(&readiness).unwrap_or_default();
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body + "\n",
    )
}

fn not_ready(problem: String) -> Readiness {
    Readiness {
        ready: false,
        store: format!("unreachable: {problem}"),
        jobs: BTreeMap::new(),
    }
}

fn job_readiness(
    url: &DbUrl,
    jobs: &[String],
    max_failed: u32,
) -> Result<BTreeMap<String, JobReadiness>, String> {
    let (mut conn, _) = connect(url, Missing::Refuse).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for job in jobs {
        let recent = passes::list(&mut conn, Some(job), i64::from(max_failed) + 1)
            .map_err(|e| e.to_string())?;
        // A pass still running says nothing yet; judge the ones that ended.
        let ended: Vec<_> = recent
            .iter()
            .filter(|p| p.status != PassOutcome::Running)
            .collect();
        let failed_in_a_row = ended.iter().take_while(|p| p.status.went_wrong()).count() as u32;
        out.insert(
            job.clone(),
            JobReadiness {
                last_status: ended.first().map(|p| p.status.to_string()),
                failed_in_a_row,
                ready: failed_in_a_row < max_failed,
            },
        );
    }
    Ok(out)
}
