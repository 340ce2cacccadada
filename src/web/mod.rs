//! The steward's desk: the JSON API under `/api/v1/` and the server-rendered review UI,
//! served by `refsync serve` and beside the health endpoints by `refsync daemon`. Every
//! state change goes through the same `sync` code as the CLI.

pub mod api;
pub mod auth;
pub mod html;
pub mod i18n;
pub mod openapi;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use tokio::sync::watch;
use tracing::error;

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
}

impl WebState {
    pub fn new(store: Store, config: watch::Receiver<Arc<Config>>) -> Arc<WebState> {
        Arc::new(WebState {
            store,
            config,
            limiter: auth::LoginLimiter::new(),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.borrow())
    }
}

/// The API and the UI, ready to merge into a listener's router.
pub fn router(state: Arc<WebState>) -> Router {
    api::routes().merge(ui::routes()).with_state(state)
}

/// Binds `addr` and serves `app` (with client addresses, for login rate limiting) until
/// `shutdown` turns true.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr}: {e}; choose a free address with --listen or http.listen"
        )
    })?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service)
            .with_graceful_shutdown(stopped)
            .await
        {
            error!(error = %e, "http listener failed");
        }
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
            WebError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
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
        if let WebError::TooManyAttempts(secs) = self {
            if let Ok(v) = secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
