//! The steward's desk: the JSON API under `/api/v1/` and the server-rendered review UI,
//! served by `refsync serve` and beside the health endpoints by `refsync daemon`. Every
//! state change goes through the same `sync` code as the CLI.

pub mod api;
pub mod auth;
pub mod check;
pub mod html;
pub mod i18n;
pub mod openapi;
pub mod reconcile;
pub mod ui;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use tokio::sync::watch;
use tracing::{debug, error, warn};

use crate::config::Config;
use crate::db::DbError;
use crate::store::users::Role;
use crate::store::{Store, StoreError};
use crate::sync::SyncError;

/// What every handler shares.
pub struct WebState {
    pub store: Store,
    /// The daemon publishes reloaded configs here; `serve` keeps the one it started with.
    pub config: watch::Receiver<Arc<Config>>,
    pub limiter: auth::LoginLimiter,
    /// The jobs' check indexes, kept warm by whoever runs the passes.
    pub checks: Arc<crate::sync::check::Warm>,
    /// Checks per token.
    pub check_limiter: check::CheckLimiter,
}

impl WebState {
    /// The state of a server whose check indexes `checks` are built (and rebuilt) elsewhere.
    pub fn new(
        store: Store,
        config: watch::Receiver<Arc<Config>>,
        checks: Arc<crate::sync::check::Warm>,
    ) -> Arc<WebState> {
        let check_limiter = check::CheckLimiter::new(config.borrow().http.check_per_second);
        Arc::new(WebState {
            store,
            config,
            limiter: auth::LoginLimiter::new(),
            checks,
            check_limiter,
        })
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.borrow())
    }
}

/// The API and the UI, ready to merge into a listener's router.
pub fn router(state: Arc<WebState>) -> Router {
    api::routes()
        .merge(check::routes())
        .merge(reconcile::routes())
        .merge(ui::routes())
        .with_state(state)
}

/// The largest request body read (axum's default for its extractors, kept for all).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What a client may take of the listener, so that one cannot starve the others.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Headers must arrive within this; an idle kept-alive connection closes after it.
    pub header_timeout: Duration,
    /// A body must arrive within this (else 408).
    pub body_timeout: Duration,
    /// Open connections per client address; one more is closed at once.
    pub per_address: usize,
}

impl Limits {
    pub fn of(http: &crate::config::ListenerConfig) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(http.header_timeout_secs),
            body_timeout: Duration::from_secs(http.body_timeout_secs),
            per_address: http.max_connections_per_address,
        }
    }
}

/// Open connections per client address; a slot is given back when its connection ends.
#[derive(Default)]
struct Connections(Mutex<HashMap<IpAddr, usize>>);

struct Slot {
    connections: Arc<Connections>,
    address: IpAddr,
}

impl Connections {
    fn take(self: &Arc<Self>, address: IpAddr, limit: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(address).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            connections: Arc::clone(self),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.connections.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Reads the whole body within the body timeout and the size limit before the handler runs:
/// a client that sends slowly gets 408, one that sends too much 413, wherever it sends.
async fn read_body(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
        )
            .into_response(),
        Ok(Err(_)) => WebError::TooLarge(format!(
            "the request body is over {} MiB or broke off",
            MAX_BODY_BYTES / (1024 * 1024)
        ))
        .into_response(),
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
    }
}

/// Binds `addr` and serves `app` (with client addresses, for login rate limiting) until
/// `shutdown` turns true, within `limits`. hyper's own connection builder rather than
/// `axum::serve`, which has no header timeout and no per-address bound.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr}: {e}; choose a free address with --listen or http.listen"
        )
    })?;
    let local = listener.local_addr()?;
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.body_timeout,
        read_body,
    ));
    let task = tokio::spawn(async move {
        let connections = Arc::new(Connections::default());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let builder = builder.http1_only();
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = async { shutdown.wait_for(|stop| *stop).await.map(|_| ()) } => break,
            };
            let Some(slot) = connections.take(peer.ip(), limits.per_address) else {
                debug!("connection refused: the address has its limit of open connections");
                continue;
            };
            let service = app.clone().map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                },
            );
            let service = hyper_util::service::TowerToHyperService::new(service);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection.into_owned());
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = connection.await {
                    debug!(error = %e, "connection ended with an error");
                }
            });
        }
        graceful.shutdown().await;
    });
    Ok((local, task))
}

/// Why a request was refused; JSON for the API, a redirect to the login page for pages.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    #[error("not logged in: log in, or send `Authorization: Bearer TOKEN`")]
    Unauthenticated { page: bool },
    #[error("this needs the {} role", .0.as_str())]
    Forbidden(Role),
    #[error("the CSRF token is missing or wrong; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    /// A body over the server's limit: 413 in the API as in the UI.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many failed logins; try again in {0} s")]
    TooManyAttempts(u64),
    /// More requests than the token's rate allows: try again after the seconds given.
    #[error("{0}")]
    RateLimited(String, u64),
    /// What the request needs is not ready yet (an index being built).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error; the server log has the details")]
    Internal,
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::TooManyAttempts(_) | WebError::RateLimited(..) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> WebError {
        error!(error = %e, "request failed");
        WebError::Internal
    }
}

impl From<DbError> for WebError {
    fn from(e: DbError) -> Self {
        WebError::internal(e)
    }
}

impl From<diesel::result::Error> for WebError {
    fn from(e: diesel::result::Error) -> Self {
        WebError::internal(e)
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::internal(e)
    }
}

impl From<SyncError> for WebError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Refused(why) => WebError::Conflict(why),
            SyncError::NoSuchJob(_) => WebError::NotFound(e.to_string()),
            other => WebError::internal(other),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::Unauthenticated { page: true } = self {
            return Redirect::to("/login").into_response();
        }
        let mut response = (
            self.status(),
            axum::Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if let WebError::TooManyAttempts(secs) | WebError::RateLimited(_, secs) = self {
            if let Ok(v) = secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
