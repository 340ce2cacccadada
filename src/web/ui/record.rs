//! A record: CRM and register values side by side with differences marked, the match
//! probability, the per-field explanation with its grade string, other candidates, and
//! the record's changes and audit history.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::queue::decision_form;
use super::Ui;
use crate::domain::consent::Channel;
use crate::domain::model::EntityKind;
use crate::store::users::Role;
use crate::sync::consent::{self, ContactConsent};
use crate::web::api::{load_record, run_revocation, RecordView, RevocationRequest};
use crate::web::auth::Actor;
use crate::web::html::{esc, hidden, opt, page, path_segment};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};

#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    #[serde(default)]
    candidates: Option<String>,
}

pub async fn show(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Path((job, record_id)): Path<(String, String)>,
    Query(q): Query<RecordQuery>,
) -> Response {
    let live = q.candidates.is_some();
    let result = async {
        actor.require(Role::Viewer)?;
        let config = state.config();
        let is_contact = config
            .job
            .get(&job)
            .is_some_and(|j| j.entity == EntityKind::Contact);
        let view = load_record(&state, job.clone(), record_id.clone(), live).await?;
        // A contact's channels are shown even when the CRM cannot be read for them: the
        // reason then says so instead of the page failing.
        let consent = if is_contact {
            Some(
                consent::verdicts(&config, &state.store, Some(&job), &record_id)
                    .await
                    .map_err(|e| e.to_string()),
            )
        } else {
            None
        };
        Ok::<_, WebError>(render(ui.lang, &actor, &view, consent.as_ref()))
    }
    .await;
    ui.page(result)
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: Option<String>,
    channel: Channel,
    #[serde(default)]
    source: Option<String>,
}

/// A steward records a revocation for one channel, then sees the record again.
pub async fn revoke(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Path((job, record_id)): Path<(String, String)>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let outcome = async {
        actor.check_csrf(form.csrf.as_deref().unwrap_or(""))?;
        let request = RevocationRequest {
            channel: form.channel,
            source: form.source,
        };
        run_revocation(&state, &actor, &job, &record_id, request).await
    }
    .await;
    match outcome {
        Ok(_) => Redirect::to(&format!(
            "/records/{}/{}#consent",
            path_segment(&job),
            path_segment(&record_id)
        ))
        .into_response(),
        Err(e) => ui.error(e),
    }
}

fn text(v: &Value) -> Option<&str> {
    v.as_str()
}

fn render(
    lang: Lang,
    actor: &Actor,
    view: &RecordView,
    consent: Option<&Result<ContactConsent, String>>,
) -> String {
    let e = &view.explanation;
    let mut body = format!(
        "<p>{} <b>{}</b> · {} <b>{}</b> · {} <b id=\"record-status\">{}</b></p>",
        lang.t("job"),
        esc(&view.job),
        lang.t("record"),
        esc(&view.record_id),
        lang.t("status"),
        opt(view.status.as_deref()),
    );
    if let Some(m) = &view.matched {
        let _ = write!(
            body,
            "<p>{} <b id=\"probability\">{:.3}</b> · {} <code id=\"grade\">{}</code> · {} {}</p>",
            lang.t("score"),
            m.score,
            lang.t("grade"),
            esc(&m.grade),
            lang.t("register"),
            esc(&m.register_id),
        );
    }
    body.push_str(&side_by_side(lang, e));
    body.push_str(&comparisons(lang, e));
    body.push_str(&candidates(lang, view));
    if let Some(consent) = consent {
        body.push_str(&consent_section(lang, actor, view, consent));
    }
    body.push_str(&changes(lang, actor, view));
    body.push_str(&history(lang, view));
    page(
        lang,
        &format!("{} {}", lang.t("record"), view.record_id),
        Some(actor),
        &body,
    )
}

fn side_by_side(lang: Lang, e: &Value) -> String {
    let Some(fields) = e.get("fields").and_then(Value::as_object) else {
        return String::new();
    };
    let mut out = format!(
        "<h2>{}</h2><table id=\"values\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.t("values"),
        lang.t("field"),
        lang.t("crm"),
        lang.t("register"),
        lang.t("status"),
    );
    for (name, f) in fields {
        let state = f.get("state").and_then(text).unwrap_or("");
        let class = if state == "in_sync" { "same" } else { "diff" };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            opt(f.get("crm").and_then(text)),
            opt(f.get("register").and_then(text)),
            esc(state),
        );
    }
    out.push_str("</table>");
    out
}

/// The contact's channels with the UWG §7 verdict and its reason; stewards may record a
/// revocation per channel.
fn consent_section(
    lang: Lang,
    actor: &Actor,
    view: &RecordView,
    consent: &Result<ContactConsent, String>,
) -> String {
    let mut out = format!("<h2 id=\"consent\">{}</h2>", lang.t("consent"));
    let c = match consent {
        Ok(c) => c,
        Err(why) => {
            let _ = write!(out, "<p class=\"error\">{}</p>", esc(why));
            return out;
        }
    };
    let _ = write!(
        out,
        "<p>{}: <b>{}</b> ({})</p><table id=\"channels\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.t("audience"),
        lang.t(c.audience.as_str()),
        esc(&c.audience_reason),
        lang.t("channel"),
        lang.t("verdict"),
        lang.t("reason"),
        lang.t("actions"),
    );
    for v in &c.verdicts {
        let action = if actor.role >= Role::Steward {
            format!(
                "<form method=\"post\" action=\"/records/{}/{}/consent\" class=\"inline\">{}{}\
                 <button>{}</button></form>",
                path_segment(&view.job),
                path_segment(&view.record_id),
                hidden("csrf", actor.csrf()),
                hidden("channel", v.channel.as_str()),
                lang.t("revoke"),
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr id=\"channel-{}\" class=\"{}\"><td>{}</td><td class=\"verdict\">{}</td><td>{}</td><td>{action}</td></tr>",
            v.channel.as_str(),
            if v.allowed { "same" } else { "diff" },
            lang.t(v.channel.as_str()),
            lang.t(if v.allowed { "allowed" } else { "not_allowed" }),
            esc(&v.reason),
        );
    }
    out.push_str("</table>");
    out
}

fn comparisons(lang: Lang, e: &Value) -> String {
    let list = e
        .get("comparisons")
        .or_else(|| e.get("best").and_then(|b| b.get("comparisons")))
        .and_then(Value::as_array);
    let Some(list) = list else {
        return String::new();
    };
    let mut out = format!(
        "<h2>{}</h2><table id=\"explanation\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.t("explanation"),
        lang.t("field"),
        lang.t("level"),
        lang.t("weight"),
        lang.t("crm"),
        lang.t("register"),
    );
    for c in list {
        let crm = c.get("crm").and_then(text);
        let register = c.get("register").and_then(text);
        let class = if crm == register { "same" } else { "diff" };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{:+.2}</td><td>{}</td><td>{}</td></tr>",
            esc(c.get("field").and_then(text).unwrap_or("")),
            esc(c.get("level").and_then(text).unwrap_or("")),
            c.get("contribution").and_then(Value::as_f64).unwrap_or(0.0),
            opt(crm),
            opt(register),
        );
    }
    out.push_str("</table>");
    out
}

fn candidates(lang: Lang, view: &RecordView) -> String {
    let stored = view
        .explanation
        .get("candidates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let live = view
        .candidates
        .as_ref()
        .and_then(|c| c.get("candidates"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = format!("<h2>{}</h2>", lang.t("candidates"));
    let rows: Vec<&Value> = stored.iter().chain(live.iter()).collect();
    if !rows.is_empty() {
        out.push_str("<table id=\"candidates\">");
        for c in rows {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{:.3}</td><td><code>{}</code></td></tr>",
                esc(c.get("register_id").and_then(text).unwrap_or("")),
                c.get("score").and_then(Value::as_f64).unwrap_or(0.0),
                esc(c.get("grade").and_then(text).unwrap_or("")),
            );
        }
        out.push_str("</table>");
    }
    if view.candidates.is_none() {
        let _ = write!(
            out,
            "<p><a id=\"live\" href=\"/records/{}/{}?candidates=1\">{}</a></p>",
            path_segment(&view.job),
            path_segment(&view.record_id),
            lang.t("live_candidates")
        );
    }
    out
}

fn changes(lang: Lang, actor: &Actor, view: &RecordView) -> String {
    let mut out = format!(
        "<h2>{}</h2><table id=\"changes\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.t("changes"),
        lang.t("field"),
        lang.t("old"),
        lang.t("new"),
        lang.t("status"),
        lang.t("actions"),
    );
    let back = hidden("back", &format!("{}/{}", view.job, view.record_id));
    for c in &view.changes {
        let actions = if actor.role >= Role::Steward
            && c.status == crate::domain::model::ChangeStatus::Proposed
        {
            let edit = format!(
                "<form method=\"post\" action=\"/decide\" class=\"inline\">{}{}{}{back}\
                 <input name=\"value\" size=\"18\" value=\"{}\"><button>{}</button></form>",
                hidden("csrf", actor.csrf()),
                hidden("id", &c.id.to_string()),
                hidden("verdict", "approve"),
                esc(c.new_value.as_deref().unwrap_or("")),
                lang.t("edit_approve"),
            );
            format!(
                "{}{}{}{edit}",
                decision_form(lang, actor, c.id, "approve", &back),
                decision_form(lang, actor, c.id, "reject", &back),
                decision_form(lang, actor, c.id, "wrong", &back),
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr id=\"change-{}\"><td>{}</td><td>{}</td><td class=\"diff\">{}</td><td class=\"diff\">{}</td><td class=\"status\">{}</td><td>{actions}</td></tr>",
            c.id,
            c.id,
            esc(&c.field),
            opt(c.old_value.as_deref()),
            opt(c.new_value.as_deref()),
            esc(c.status.as_str()),
        );
    }
    out.push_str("</table>");
    out
}

/// Audit entries as a table: the record's history here, the whole log on the audit page.
pub fn audit_table(lang: Lang, id: &str, rows: &[crate::store::audit::AuditRow]) -> String {
    let mut out = format!(
        "<table id=\"{id}\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>#</th></tr>",
        lang.t("when"),
        lang.t("actor"),
        lang.t("action"),
        lang.t("record"),
        lang.t("field"),
        lang.t("old"),
        lang.t("new"),
    );
    for h in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            h.at.format("%Y-%m-%d %H:%M:%S"),
            esc(&h.actor),
            esc(h.action.as_str()),
            esc(&h.record_id),
            opt(h.field.as_deref()),
            opt(h.old_value.as_deref()),
            opt(h.new_value.as_deref()),
            h.change_id.map(|c| c.to_string()).unwrap_or_default(),
        );
    }
    out.push_str("</table>");
    out
}

fn history(lang: Lang, view: &RecordView) -> String {
    format!(
        "<h2>{}</h2>{}",
        lang.t("history"),
        audit_table(lang, "history", &view.history)
    )
}
