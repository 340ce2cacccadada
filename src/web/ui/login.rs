//! Logging in and out: a rate-limited password check, a session whose token only the
//! browser's cookie holds.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use secrecy::SecretString;
use serde::Deserialize;
use tracing::info;

use super::Ui;
use crate::store::users;
use crate::web::auth::{self, Actor, Via, COOKIE, SESSION_HOURS};
use crate::web::html::page;
use crate::web::{WebError, WebState};
use maud::html;

fn login_page(ui: Ui, status: StatusCode, message: Option<&str>) -> Response {
    let lang = ui.lang;
    let body = html! {
        @if let Some(m) = message { p.err { (m) } }
        form method="post" action="/login" {
            p { label { (lang.t("user")) " " input name="name" id="name" autocomplete="username" required autofocus; } }
            p { label { (lang.t("password")) " " input name="password" id="password" type="password" autocomplete="current-password" required; } }
            p { button id="login" { (lang.t("login")) } }
        }
    };
    ui.html(status, page(lang, lang.t("login"), None, body))
}

pub async fn form(ui: Ui) -> Response {
    login_page(ui, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: SecretString,
}

pub async fn submit(
    ui: Ui,
    State(state): State<Arc<WebState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Form(credentials): Form<Credentials>,
) -> Response {
    let name = credentials.name.trim().to_string();
    let address = client.ip();
    let Ok(attempt) = state.limiter.reserve(&name, address) else {
        return login_page(
            ui,
            StatusCode::TOO_MANY_REQUESTS,
            Some(ui.lang.t("too_many")),
        );
    };
    match verify(&state, &name, credentials.password).await {
        Ok(Some(user)) => {
            state.limiter.succeeded(attempt);
            match start_session(&state, user).await {
                Ok(cookie) => {
                    info!("user logged in");
                    let mut response = Redirect::to("/queue").into_response();
                    if let Ok(v) = HeaderValue::from_str(&cookie) {
                        response.headers_mut().insert(header::SET_COOKIE, v);
                    }
                    response
                }
                Err(e) => ui.error(e),
            }
        }
        Ok(None) => {
            // The attempt stays counted.
            login_page(
                ui,
                StatusCode::UNAUTHORIZED,
                Some(ui.lang.t("login_failed")),
            )
        }
        Err(e) => ui.error(e),
    }
}

/// The enabled user `name` if `password` is theirs. Unknown names cost the same argon2
/// work as wrong passwords, so timing does not tell which names exist.
async fn verify(
    state: &WebState,
    name: &str,
    password: SecretString,
) -> Result<Option<users::UserRow>, WebError> {
    let owned = name.to_string();
    let user = state
        .store
        .db
        .run(move |conn| users::find_user(conn, &owned))
        .await?
        .filter(|u| !u.disabled);
    let hash = user.as_ref().map_or_else(
        || auth::decoy_hash().to_string(),
        |u| u.password_hash.clone(),
    );
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|_| WebError::Internal)?;
    Ok(user.filter(|_| matches))
}

/// Stores a new session and returns its `Set-Cookie` value.
async fn start_session(state: &WebState, user: users::UserRow) -> Result<String, WebError> {
    let token = auth::new_token();
    let (hash, csrf) = (auth::token_hash(&token), auth::new_token());
    let expires = crate::store::now() + chrono::Duration::hours(SESSION_HOURS);
    state
        .store
        .db
        .run(move |conn| users::create_session(conn, &hash, user.id, &csrf, expires))
        .await?;
    let secure = if state.config().http.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    Ok(format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_HOURS * 3600
    ))
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn logout(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Err(e) = actor.check_csrf(&form.csrf) {
        return ui.error(e);
    }
    if let Via::Session { token_hash, .. } = actor.via {
        if let Err(e) = state
            .store
            .db
            .run(move |conn| users::delete_session(conn, &token_hash))
            .await
        {
            return ui.error(e.into());
        }
    }
    let mut response = Redirect::to("/login").into_response();
    let expired = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}
