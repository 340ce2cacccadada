//! Passes: what each did, and for admins a form to undo one (after a confirmation).

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
use crate::web::html::{hidden, labelled, page};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};
use maud::html;

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
    let body = html! {
        @if let Some(m) = message { p.msg id="message" { (m) } }
        table id="passes" {
            tr {
                th { "#" } th { (lang.t("job")) } th { (lang.t("started")) } th { (lang.t("status")) }
                th { (lang.t("read")) } th { (lang.t("proposed")) } th { (lang.t("applied")) } th {}
            }
            @for p in &rows {
                tr id={ "pass-" (p.id) } {
                    td { (p.id) }
                    td { (p.job) }
                    td { (p.started_at.format("%Y-%m-%d %H:%M")) }
                    td { (labelled(lang, p.status)) }
                    td { (p.records_read) }
                    td { (p.changes_proposed) }
                    td { (p.changes_applied) }
                    td {
                        @if actor.role >= Role::Admin && p.changes_applied > 0 {
                            form method="post" action={ "/passes/" (p.id) "/undo" } class="inline" {
                                (hidden("csrf", actor.csrf()))
                                button id={ "undo-" (p.id) } { (lang.t("undo_pass")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(lang, lang.t("passes"), Some(actor), body))
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
            let n = state
                .store
                .db
                .run(move |conn| revert::undoable(conn, id))
                .await?
                .len();
            let text = fill(
                lang.t("confirm_undo"),
                &[("pass", id.to_string()), ("n", n.to_string())],
            );
            let body = html! {
                p id="confirm-text" { (text) }
                form method="post" action={ "/passes/" (id) "/undo" } {
                    (hidden("csrf", actor.csrf()))
                    (hidden("confirm", "1"))
                    button id="confirm" { (lang.t("confirm")) }
                }
                p { a href="/passes" { (lang.t("cancel")) } }
            };
            return Ok(page(lang, lang.t("undo_pass"), Some(&actor), body));
        }
        let report = run_revert(
            &state,
            &actor,
            RevertRequest {
                change: None,
                pass: Some(id),
            },
        )
        .await?;
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
