//! The review UI: server-rendered pages, plain forms, a few lines of inline JS for keyboard
//! shortcuts. Filters travel in POST bodies, so typed search text (often a company or a
//! person's name) never lands in URLs, logs or browser history; URLs carry only change,
//! pass and CRM record ids.

mod audit;
mod duplicates;
mod login;
mod passes;
mod queue;
mod record;
mod report;
mod tune;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use maud::html;

use super::html::page;
use super::i18n::{Lang, LANG_COOKIE};
use super::{WebError, WebState};

pub fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        // No icon; an empty answer rather than a 404 in the console of pages that cannot
        // say so themselves (the self-contained report).
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/queue", get(queue::show).post(queue::show))
        .route("/decide", post(queue::decide_one))
        .route("/bulk", post(queue::bulk))
        .route("/records/{job}/{record_id}", get(record::show))
        .route("/records/{job}/{record_id}/consent", post(record::revoke))
        .route("/records/{job}/{record_id}/verdict", post(record::judge))
        .route("/passes", get(passes::show))
        .route("/passes/{id}/undo", post(passes::undo))
        .route("/audit", get(audit::show))
        .route("/admin/tune", get(tune::show))
        .route("/report", get(report::show))
        .route("/duplicates", get(duplicates::list))
        .route("/duplicates/{id}", get(duplicates::show))
        .route("/duplicates/{id}/decide", post(duplicates::decide))
        .route("/duplicates/{id}/revert", post(duplicates::revert))
}

/// The page language, and whether to remember it in a cookie.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub lang: Lang,
    remember: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Ui {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Ui, Self::Rejection> {
        let (lang, remember) = Lang::of(parts);
        Ok(Ui { lang, remember })
    }
}

impl Ui {
    /// An HTML response, setting the language cookie when `?lang=` chose it.
    pub fn html(self, status: StatusCode, html: String) -> Response {
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        let headers = response.headers_mut();
        // Pages hold personal data: no caching, no framing.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
        if self.remember {
            let cookie = format!(
                "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000",
                self.lang.code()
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        response
    }

    pub fn ok(self, html: String) -> Response {
        self.html(StatusCode::OK, html)
    }

    /// An error as a page in the user's language (a login page for the logged out).
    pub fn error(self, error: WebError) -> Response {
        if let WebError::Unauthenticated { .. } = error {
            return Redirect::to("/login").into_response();
        }
        let text = match &error {
            WebError::Forbidden(_) => format!("{} ({error})", self.lang.t("forbidden")),
            other => other.to_string(),
        };
        let body = html! {
            p.err { (text) }
            p { a href="/queue" { (self.lang.t("queue")) } }
        };
        self.html(
            error.status(),
            page(self.lang, self.lang.t("error"), None, body),
        )
    }

    /// The page `result` renders, or its error as a page.
    pub fn page(self, result: Result<String, WebError>) -> Response {
        match result {
            Ok(html) => self.ok(html),
            Err(e) => self.error(e),
        }
    }
}

/// Replaces `{name}` placeholders of a label.
pub fn fill(label: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(label.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}
