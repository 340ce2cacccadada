//! A record: CRM and register values side by side with differences marked, the match
//! probability, the per-field explanation with its grade string, other candidates, and
//! the record's changes and audit history.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::queue::decision_form;
use super::Ui;
use crate::domain::consent::Channel;
use crate::domain::model::{Band, ChangeStatus, EntityKind, MatchStatus};
use crate::domain::score::Level;
use crate::domain::tune::MatchVerdict;
use crate::i18n::probability;
use crate::i18n::{grade_words, Label};
use crate::store::users::Role;
use crate::store::verdicts::{self as stored_verdicts, VerdictRow};
use crate::sync::consent::{self, ContactConsent};
use crate::sync::verdicts::{self, Pair};
use crate::web::api::{load_record, run_revocation, RecordView, RevocationRequest};
use crate::web::auth::Actor;
use crate::web::html::{field, hidden, labelled, opt, page, record_url};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};
use maud::{html, Markup};

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
        let (j, r) = (job.clone(), record_id.clone());
        let judged = state
            .store
            .db
            .run(move |conn| stored_verdicts::of_record(conn, &j, &r))
            .await?;
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
        Ok::<_, WebError>(render(ui.lang, &actor, &view, &judged, consent.as_ref()))
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
        Ok(_) => Redirect::to(&format!("{}#consent", record_url(&job, &record_id))).into_response(),
        Err(e) => ui.error(e),
    }
}

fn text(v: &Value) -> Option<&str> {
    v.as_str()
}

/// The entity's name as the CRM holds it, from a pass's stored decision: the legal name
/// of an organisation, first and last name of a contact.
pub fn entity_name(detail: &Value) -> Option<String> {
    let crm = |f: &str| {
        detail["fields"][f]["crm"]
            .as_str()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(name) = crm("legal_name") {
        return Some(name.to_string());
    }
    let person: Vec<&str> = ["first_name", "last_name"]
        .into_iter()
        .filter_map(crm)
        .collect();
    if !person.is_empty() {
        return Some(person.join(" "));
    }
    crm("organisation_name").map(str::to_string)
}

fn render(
    lang: Lang,
    actor: &Actor,
    view: &RecordView,
    judged: &[VerdictRow],
    consent: Option<&Result<ContactConsent, String>>,
) -> String {
    let e = &view.explanation;
    let status = view
        .status
        .as_deref()
        .and_then(|s| s.parse::<MatchStatus>().ok());
    let band = serde_json::from_value::<Band>(e["band"].clone()).ok();
    let body = html! {
        p {
            (lang.t("job")) " " b { (view.job) } " · "
            (lang.t("record")) " " b { (view.record_id) } " · "
            (lang.t("status")) " "
            b id="record-status" {
                @match status {
                    Some(s) => (labelled(lang, s)),
                    None => (opt(view.status.as_deref())),
                }
            }
        }
        @if let Some(m) = &view.matched {
            p {
                (lang.t("score")) " " b id="probability" title=(m.score) { (probability(m.score)) }
                @if let Some(b) = band { " · " (labelled(lang, b)) }
                " · " (lang.t("grade")) " " span id="grade" title=(m.grade) { (grade_words(lang, &m.grade)) }
                " · " (lang.t("register")) " " (m.register_id)
            }
        }
        (match_verdict(lang, actor, view, judged))
        (side_by_side(lang, e))
        (comparisons(lang, e))
        (candidates(lang, actor, view))
        @if let Some(consent) = consent { (consent_section(lang, actor, view, consent)) }
        (changes(lang, actor, view))
        (history(lang, view))
    };
    let title =
        entity_name(e).unwrap_or_else(|| format!("{} {}", lang.t("record"), view.record_id));
    page(lang, &title, Some(actor), body)
}

/// The stewards' verdicts on this record's match, and for stewards the buttons to give
/// one: they are the evidence `refsync tune` and the tune page weigh thresholds with.
fn match_verdict(lang: Lang, actor: &Actor, view: &RecordView, judged: &[VerdictRow]) -> Markup {
    let steward = actor.role >= Role::Steward;
    html! {
        @if view.matched.is_some() || !judged.is_empty() || steward {
            h2 id="match" { (lang.t("match_verdict")) }
            @if judged.is_empty() {
                p id="verdicts" { (lang.t("no_verdict")) }
            } @else {
                ul id="verdicts" {
                    @for v in judged {
                        li {
                            (v.register_id) ": "
                            b title=(v.verdict) {
                                @match v.verdict.parse::<MatchVerdict>() {
                                    Ok(MatchVerdict::Confirmed) => (lang.t("verdict_confirmed")),
                                    Ok(MatchVerdict::Rejected) => (lang.t("verdict_rejected")),
                                    Err(_) => (v.verdict),
                                }
                            }
                            " · " (v.decided_by) " · " (v.decided_at.format("%Y-%m-%d %H:%M"))
                        }
                    }
                }
            }
            @if steward && view.matched.is_some() {
                p {
                    (verdict_form(lang, actor, view, MatchVerdict::Confirmed, None, "confirm_match"))
                    " "
                    (verdict_form(lang, actor, view, MatchVerdict::Rejected, None, "reject_match"))
                }
            }
        }
    }
}

/// A form giving `verdict` on the record's match, or on candidate `register_id`.
fn verdict_form(
    lang: Lang,
    actor: &Actor,
    view: &RecordView,
    verdict: MatchVerdict,
    register_id: Option<&str>,
    label: &'static str,
) -> Markup {
    html! {
        form method="post" action={ (record_url(&view.job, &view.record_id)) "/verdict" } class="inline" {
            (hidden("csrf", actor.csrf()))
            (hidden("verdict", verdict.as_str()))
            @if let Some(id) = register_id { (hidden("register", id)) }
            button id={ (verdict.as_str()) "-" (register_id.unwrap_or("match")) } { (lang.t(label)) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct VerdictForm {
    #[serde(default)]
    csrf: Option<String>,
    verdict: MatchVerdict,
    #[serde(default)]
    register: Option<String>,
}

/// A steward confirms or rejects the match (or names another candidate as the right one),
/// then sees the record again.
pub async fn judge(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Path((job, record_id)): Path<(String, String)>,
    Form(form): Form<VerdictForm>,
) -> Response {
    let outcome = async {
        actor.require(Role::Steward)?;
        actor.check_csrf(form.csrf.as_deref().unwrap_or(""))?;
        let pair = Pair {
            job: job.clone(),
            record_id: record_id.clone(),
            register_id: form.register.filter(|r| !r.trim().is_empty()),
        };
        Ok::<_, WebError>(verdicts::judge(&state.store, pair, form.verdict, &actor.name).await?)
    }
    .await;
    match outcome {
        Ok(_) => Redirect::to(&format!("{}#match", record_url(&job, &record_id))).into_response(),
        Err(e) => ui.error(e),
    }
}

fn side_by_side(lang: Lang, e: &Value) -> Markup {
    let Some(fields) = e.get("fields").and_then(Value::as_object) else {
        return html! {};
    };
    html! {
        h2 { (lang.t("values")) }
        table id="values" {
            tr { th { (lang.t("field")) } th { (lang.t("crm")) } th { (lang.t("register")) } th { (lang.t("status")) } }
            @for (name, f) in fields {
                @let state = f.get("state").and_then(text).unwrap_or("");
                tr class=(if state == "in_sync" { "same" } else { "diff" }) {
                    td { (field(lang, name)) }
                    td { (opt(f.get("crm").and_then(text))) }
                    td { (opt(f.get("register").and_then(text))) }
                    td title=(state) { (field_state(lang, state)) }
                }
            }
        }
    }
}

/// A field's state in the stored decision, in words.
fn field_state(lang: Lang, state: &str) -> &str {
    match state {
        "in_sync" => MatchStatus::InSync.label(lang),
        "different" => MatchStatus::Different.label(lang),
        "flagged_wrong" => lang.t("state_flagged_wrong"),
        "reviewed" => lang.t("state_reviewed"),
        "left_alone" => lang.t("state_left_alone"),
        other => other,
    }
}

/// The contact's channels with the UWG §7 verdict and its reason; stewards may record a
/// revocation per channel.
fn consent_section(
    lang: Lang,
    actor: &Actor,
    view: &RecordView,
    consent: &Result<ContactConsent, String>,
) -> Markup {
    html! {
        h2 id="consent" { (lang.t("consent")) }
        @match consent {
            Err(why) => p.error { (why) },
            Ok(c) => {
                p { (lang.t("audience")) ": " b { (lang.t(c.audience.as_str())) } " (" (c.audience_reason) ")" }
                table id="channels" {
                    tr { th { (lang.t("channel")) } th { (lang.t("verdict")) } th { (lang.t("reason")) } th { (lang.t("actions")) } }
                    @for v in &c.verdicts {
                        tr id={ "channel-" (v.channel.as_str()) } class=(if v.allowed { "same" } else { "diff" }) {
                            td { (lang.t(v.channel.as_str())) }
                            td.verdict { (lang.t(if v.allowed { "allowed" } else { "not_allowed" })) }
                            td { (v.reason) }
                            td {
                                @if actor.role >= Role::Steward {
                                    form method="post" action={ (record_url(&view.job, &view.record_id)) "/consent" } class="inline" {
                                        (hidden("csrf", actor.csrf()))
                                        (hidden("channel", v.channel.as_str()))
                                        button { (lang.t("revoke")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn comparisons(lang: Lang, e: &Value) -> Markup {
    let list = e
        .get("comparisons")
        .or_else(|| e.get("best").and_then(|b| b.get("comparisons")))
        .and_then(Value::as_array);
    let Some(list) = list else {
        return html! {};
    };
    html! {
        h2 { (lang.t("explanation")) }
        table id="explanation" {
            tr { th { (lang.t("field")) } th { (lang.t("level")) } th { (lang.t("weight")) } th { (lang.t("crm")) } th { (lang.t("register")) } }
            @for c in list {
                @let crm = c.get("crm").and_then(text);
                @let register = c.get("register").and_then(text);
                @let level = c.get("level").and_then(text).unwrap_or("");
                tr class=(if crm == register { "same" } else { "diff" }) {
                    td { (field(lang, c.get("field").and_then(text).unwrap_or(""))) }
                    td title=(level) {
                        @match serde_json::from_value::<Level>(Value::from(level)) {
                            Ok(l) => (l.label(lang)),
                            Err(_) => (level),
                        }
                    }
                    td { (format!("{:+.2}", c.get("contribution").and_then(Value::as_f64).unwrap_or(0.0))) }
                    td { (opt(crm)) }
                    td { (opt(register)) }
                }
            }
        }
    }
}

fn candidates(lang: Lang, actor: &Actor, view: &RecordView) -> Markup {
    // An ambiguous record's candidates, or the best one of a record not found: either may
    // be the right one after all, which a steward's verdict says.
    let mut stored = view
        .explanation
        .get("candidates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    stored.extend(view.explanation["best"].get("candidate").cloned());
    let live = view
        .candidates
        .as_ref()
        .and_then(|c| c.get("candidates"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let rows: Vec<&Value> = stored.iter().chain(live.iter()).collect();
    html! {
        h2 { (lang.t("candidates")) }
        @if !rows.is_empty() {
            table id="candidates" {
                @for c in rows {
                    @let grade = c.get("grade").and_then(text).unwrap_or("");
                    @let score = c.get("score").and_then(Value::as_f64).unwrap_or(0.0);
                    @let register_id = c.get("register_id").and_then(text).unwrap_or("");
                    tr {
                        td { (register_id) }
                        td title=(score) { (probability(score)) }
                        td title=(grade) { (grade_words(lang, grade)) }
                        td {
                            @if actor.role >= Role::Steward && view.candidates.is_none() {
                                (verdict_form(lang, actor, view, MatchVerdict::Confirmed, Some(register_id), "this_one"))
                            }
                        }
                    }
                }
            }
        }
        @if view.candidates.is_none() {
            p { a id="live" href={ (record_url(&view.job, &view.record_id)) "?candidates=1" } { (lang.t("live_candidates")) } }
        }
    }
}

fn changes(lang: Lang, actor: &Actor, view: &RecordView) -> Markup {
    let back = hidden("back", &format!("{}/{}", view.job, view.record_id));
    html! {
        h2 { (lang.t("changes")) }
        table id="changes" {
            tr { th { "#" } th { (lang.t("field")) } th { (lang.t("old")) } th { (lang.t("new")) } th { (lang.t("status")) } th { (lang.t("actions")) } }
            @for c in &view.changes {
                tr id={ "change-" (c.id) } {
                    td { (c.id) }
                    td { (field(lang, &c.field)) }
                    td.diff { del { (opt(c.old_value.as_deref())) } }
                    td.diff { ins { (opt(c.new_value.as_deref())) } }
                    td.status { (labelled(lang, c.status)) }
                    td {
                        @if actor.role >= Role::Steward && c.status == ChangeStatus::Proposed {
                            (decision_form(lang, actor, c.id, "approve", &back))
                            (decision_form(lang, actor, c.id, "reject", &back))
                            (decision_form(lang, actor, c.id, "wrong", &back))
                            form method="post" action="/decide" class="inline" {
                                (hidden("csrf", actor.csrf()))
                                (hidden("id", &c.id.to_string()))
                                (hidden("verdict", "approve"))
                                (back)
                                input name="value" size="18" value=(c.new_value.as_deref().unwrap_or(""));
                                button { (lang.t("edit_approve")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Audit entries as a table: the record's history here, the whole log on the audit page.
pub fn audit_table(lang: Lang, id: &str, rows: &[crate::store::audit::AuditRow]) -> Markup {
    html! {
        table id=(id) {
            tr {
                th { (lang.t("when")) } th { (lang.t("actor")) } th { (lang.t("action")) } th { (lang.t("record")) }
                th { (lang.t("field")) } th { (lang.t("old")) } th { (lang.t("new")) } th { "#" }
            }
            @for h in rows {
                tr {
                    td { (h.at.format("%Y-%m-%d %H:%M:%S")) }
                    td { (h.actor) }
                    td title=(h.action.as_str()) { (h.action.label(lang)) }
                    td { (h.record_id) }
                    td { @if let Some(f) = &h.field { (field(lang, f)) } @else { (opt(None)) } }
                    td { (opt(h.old_value.as_deref())) }
                    td { (opt(h.new_value.as_deref())) }
                    td { @if let Some(c) = h.change_id { (c) } }
                }
            }
        }
    }
}

fn history(lang: Lang, view: &RecordView) -> Markup {
    html! {
        h2 { (lang.t("history")) }
        (audit_table(lang, "history", &view.history))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_is_named_by_its_legal_name_else_by_the_person() {
        let fields = |f: Value| json!({ "fields": f });
        for (detail, name) in [
            (
                fields(
                    json!({ "legal_name": { "crm": "Müller GmbH" }, "city": { "crm": "Köln" } }),
                ),
                Some("Müller GmbH"),
            ),
            (
                fields(
                    json!({ "first_name": { "crm": "Erika" }, "last_name": { "crm": "Mustermann" } }),
                ),
                Some("Erika Mustermann"),
            ),
            (
                fields(json!({ "last_name": { "crm": "Mustermann" } })),
                Some("Mustermann"),
            ),
            (
                fields(
                    json!({ "legal_name": { "crm": "  " }, "organisation_name": { "crm": "ACME" } }),
                ),
                Some("ACME"),
            ),
            (
                fields(json!({ "legal_name": { "register": "Only There AG" } })),
                None,
            ),
            (Value::Null, None),
        ] {
            assert_eq!(entity_name(&detail).as_deref(), name, "{detail}");
        }
    }
}
