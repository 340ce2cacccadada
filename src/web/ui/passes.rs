//! Passes: what each did, and for admins a form to undo one (after a confirmation).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{fill, Ui};
use crate::store::passes;
use crate::store::users::Role;
use crate::sync::revert;
use crate::web::api::{run_revert, RevertRequest};
use crate::web::auth::Actor;
use crate::web::html::{esc, hidden, page};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};

pub async fn show(ui: Ui, actor: Actor, State(state): State<Arc<WebState>>) -> Response {
    ui.page(render(ui.lang, &actor, &state, None).await)
}

async fn render(
    lang: Lang,
    actor: &Actor,
    state: &WebState,
    message: Option<String>,
) -> Result<String, WebError> {
    actor.require(Role::Viewer)?;
    let rows = state
        .store
        .db
        .run(|conn| passes::list(conn, None, 100))
        .await?;
    let mut body = message.map_or(String::new(), |m| {
        format!("<p class=\"msg\" id=\"message\">{}</p>", esc(&m))
    });
    let _ = write!(
        body,
        "<table id=\"passes\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        lang.t("job"),
        lang.t("started"),
        lang.t("status"),
        lang.t("read"),
        lang.t("proposed"),
        lang.t("applied"),
    );
    for p in &rows {
        let undo = if actor.role >= Role::Admin && p.changes_applied > 0 {
            format!(
                "<form method=\"post\" action=\"/passes/{}/undo\" class=\"inline\">{}<button id=\"undo-{}\">{}</button></form>",
                p.id,
                hidden("csrf", actor.csrf()),
                p.id,
                lang.t("undo_pass"),
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr id=\"pass-{id}\"><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{undo}</td></tr>",
            esc(&p.job),
            p.started_at.format("%Y-%m-%d %H:%M"),
            esc(p.status.as_str()),
            p.records_read,
            p.changes_proposed,
            p.changes_applied,
            id = p.id,
        );
    }
    body.push_str("</table>");
    Ok(page(lang, lang.t("passes"), Some(actor), &body))
}

#[derive(Debug, Deserialize)]
pub struct UndoForm {
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// Undoes a pass as the admin asking: first a confirmation naming how many applied
/// changes it restores, then (with `confirm`) `sync::revert`.
pub async fn undo(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Path(id): Path<i64>,
    Form(form): Form<UndoForm>,
) -> Response {
    let lang = ui.lang;
    let result = async {
        actor.require(Role::Admin)?;
        actor.check_csrf(&form.csrf)?;
        if form.confirm.is_none() {
            let n = state.store.db.run(move |conn| revert::undoable(conn, id)).await?.len();
            let text = fill(lang.t("confirm_undo"), &[("pass", id.to_string()), ("n", n.to_string())]);
            let body = format!(
                "<p id=\"confirm-text\">{}</p><form method=\"post\" action=\"/passes/{id}/undo\">{}{}<button id=\"confirm\">{}</button></form><p><a href=\"/passes\">{}</a></p>",
                esc(&text),
                hidden("csrf", actor.csrf()),
                hidden("confirm", "1"),
                lang.t("confirm"),
                lang.t("cancel"),
            );
            return Ok(page(lang, lang.t("undo_pass"), Some(&actor), &body));
        }
        let report = run_revert(&state, &actor, RevertRequest { change: None, pass: Some(id) }).await?;
        let message = fill(
            lang.t("undone"),
            &[
                ("n", report.reverts.len().to_string()),
                ("a", report.counts.applied.to_string()),
                ("c", report.counts.conflicts.to_string()),
            ],
        );
        render(lang, &actor, &state, Some(message)).await
    }
    .await;
    ui.page(result)
}
