//! Duplicates inside the CRM: the proposed merges of a job's clusters, and one merge with
//! its records side by side next to the golden record (each value with the record it
//! came from and the rule that chose it). Stewards approve, reject or split a proposal;
//! admins revert an applied merge.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::{fill, Ui};
use crate::domain::model::{Field, MergeStatus, Record};
use crate::i18n::{probability, Label};
use crate::store::users::Role;
use crate::sync::duplicates::{self, MergeVerdict, MergeView};
use crate::web::auth::Actor;
use crate::web::html::{hidden, labelled, opt, page, record_url};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    job: Option<String>,
    /// A merge status, or `all`; default `proposed`.
    #[serde(default)]
    status: Option<String>,
}

pub async fn list(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Query(q): Query<ListQuery>,
) -> Response {
    let lang = ui.lang;
    let result = async {
        actor.require(Role::Viewer)?;
        let job = q.job.as_deref().map(str::trim).filter(|j| !j.is_empty());
        let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Some(MergeStatus::Proposed),
            Some("all") => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|e: String| WebError::BadRequest(format!("status: {e}, or all")))?,
            ),
        };
        let merges = duplicates::list(&state.store, job.map(str::to_string), status).await?;
        let mut statuses = vec![("all", lang.t("all"))];
        statuses.extend(MergeStatus::ALL.iter().map(|s| (s.as_str(), s.label(lang))));
        let current = status.map_or("all", MergeStatus::as_str);
        let body = html! {
            form method="get" action="/duplicates" class="filters" {
                label { (lang.t("status")) " "
                    select name="status" id="d-status" {
                        @for (value, label) in &statuses {
                            option value=(value) selected[*value == current] { (label) }
                        }
                    }
                }
                button { (lang.t("filter")) }
            }
            @if merges.is_empty() {
                p id="empty" { (lang.t("no_merges")) }
            } @else {
                table id="merges" {
                    tr {
                        th { "#" } th { (lang.t("job")) } th { (lang.t("survivor")) } th { (lang.t("records")) }
                        th { (lang.t("weakest_link")) } th { (lang.t("status")) }
                    }
                    @for m in &merges {
                        tr id={ "merge-" (m.id) } {
                            td { a href={ "/duplicates/" (m.id) } { (m.id) } }
                            td { (m.job) }
                            td { a href={ "/duplicates/" (m.id) } { (golden_name(m)) } }
                            td { (m.members.len()) }
                            td title=(m.weakest_link) { (probability(m.weakest_link)) }
                            td {
                                (labelled(lang, m.status))
                                @if m.review { " · " span.err { (lang.t("look_closer")) } }
                            }
                        }
                    }
                }
            }
        };
        Ok::<_, WebError>(page(lang, lang.t("duplicates"), Some(&actor), body))
    }
    .await;
    ui.page(result)
}

/// The merged record's name: its legal name, else first and last name, else the survivor's id.
fn golden_name(m: &MergeView) -> String {
    let value = |f: Field| m.golden.values.get(&f).map(|k| k.value.as_str());
    if let Some(name) = value(Field::LegalName) {
        return name.to_string();
    }
    let person: Vec<&str> = [Field::FirstName, Field::LastName]
        .into_iter()
        .filter_map(value)
        .collect();
    if person.is_empty() {
        m.golden.survivor.clone()
    } else {
        person.join(" ")
    }
}

pub async fn show(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Path(id): Path<i64>,
) -> Response {
    ui.page(render(ui.lang, &actor, &state, id, None).await)
}

async fn render(
    lang: Lang,
    actor: &Actor,
    state: &WebState,
    id: i64,
    message: Option<String>,
) -> Result<String, WebError> {
    actor.require(Role::Viewer)?;
    let merge = duplicates::show(&state.store, id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("no merge {id}")))?;
    let records = duplicates::members(&state.config(), &merge).await?;
    let body = html! {
        @if let Some(m) = message { p.msg id="message" { (m) } }
        p {
            (lang.t("status")) " " b id="merge-status" { (labelled(lang, merge.status)) }
            " · " (lang.t("weakest_link")) " " b title=(merge.weakest_link) { (probability(merge.weakest_link)) }
            " · " (lang.t("job")) " " (merge.job)
            @if merge.review { " · " span.err { (lang.t("look_closer")) } }
        }
        @if let Some(e) = &merge.error { p.err { (e) } }
        (side_by_side(lang, &merge, &records))
        (actions(lang, actor, &merge))
    };
    let title = fill(lang.t("merge_title"), &[("name", golden_name(&merge))]);
    Ok(page(lang, &title, Some(actor), body))
}

/// The golden record and each record of the cluster as columns, one row per field; a
/// record's value that went into the golden record is marked.
fn side_by_side(lang: Lang, merge: &MergeView, records: &[Record]) -> Markup {
    let fields: BTreeSet<Field> = merge
        .golden
        .values
        .keys()
        .copied()
        .chain(records.iter().flat_map(|r| r.values.keys().copied()))
        .collect();
    html! {
        table id="cluster" {
            tr {
                th { (lang.t("field")) }
                th.golden { (lang.t("golden")) }
                @for r in records {
                    th id={ "member-" (r.id) } {
                        a href=(record_url(&merge.job, &r.id)) { (r.id) }
                        @if r.id == merge.golden.survivor { " (" (lang.t("survivor")) ")" }
                    }
                }
            }
            @for f in &fields {
                @let kept = merge.golden.values.get(f);
                tr {
                    td title=(f.as_str()) { (f.label(lang)) }
                    td.golden {
                        (opt(kept.map(|k| k.value.as_str())))
                        @if let Some(k) = kept {
                            br;
                            small {
                                (fill(lang.t("kept_from"), &[("record", k.from.clone())]))
                                @if let Some(rule) = k.rule { " · " span title=(rule.as_str()) { (rule_label(lang, rule.as_str())) } }
                            }
                        }
                    }
                    @for r in records {
                        @let value = r.values.get(f).map(String::as_str);
                        td class=(if kept.is_some_and(|k| k.from == r.id) { "same" } else if value != kept.map(|k| k.value.as_str()) { "diff" } else { "" }) {
                            (opt(value))
                        }
                    }
                }
            }
        }
    }
}

/// A survivorship rule in words.
fn rule_label(lang: Lang, rule: &str) -> &str {
    match rule {
        "survivor" => lang.t("rule_survivor"),
        "most_recent" => lang.t("rule_most_recent"),
        "register_verified" => lang.t("rule_register_verified"),
        "longest" => lang.t("rule_longest"),
        "non_placeholder" => lang.t("rule_non_placeholder"),
        other => other,
    }
}

fn actions(lang: Lang, actor: &Actor, merge: &MergeView) -> Markup {
    let action = format!("/duplicates/{}/decide", merge.id);
    html! {
        @if actor.role >= Role::Steward && merge.status == MergeStatus::Proposed {
            form method="post" action=(action) class="inline" {
                (hidden("csrf", actor.csrf()))
                (hidden("verdict", "approve"))
                button id="merge-approve" { (lang.t("approve_merge")) }
            }
            " "
            form method="post" action=(action) class="inline" {
                (hidden("csrf", actor.csrf()))
                (hidden("verdict", "reject"))
                button id="merge-reject" { (lang.t("reject")) }
            }
            form method="post" action=(action) id="split" {
                (hidden("csrf", actor.csrf()))
                (hidden("verdict", "split"))
                p {
                    (lang.t("split_out")) ": "
                    @for m in &merge.members {
                        label { input type="checkbox" name="records" value=(m); " " (m) } " "
                    }
                    button id="merge-split" { (lang.t("split")) }
                }
            }
        }
        @if actor.role >= Role::Admin && merge.status == MergeStatus::Applied {
            form method="post" action={ "/duplicates/" (merge.id) "/revert" } {
                (hidden("csrf", actor.csrf()))
                button id="merge-revert" { (lang.t("revert_merge")) }
            }
        }
    }
}

/// A decision form: the verdict and, for a split, every checked record (`records` may
/// repeat, which serde's form reader does not collect: the pairs are read by hand).
pub async fn decide(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let outcome = async {
        actor.require(Role::Steward)?;
        actor.check_csrf(value("csrf"))?;
        let verdict = match value("verdict") {
            "approve" => MergeVerdict::Approve,
            "reject" => MergeVerdict::Reject,
            "split" => MergeVerdict::Split(
                pairs
                    .iter()
                    .filter(|(k, _)| k == "records")
                    .map(|(_, v)| v.clone())
                    .collect(),
            ),
            other => {
                return Err(WebError::BadRequest(format!(
                    "verdict `{other}` is not one of approve, reject, split"
                )))
            }
        };
        duplicates::decide(&state.store, id, verdict, &actor.name).await?;
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => Redirect::to(&format!("/duplicates/{id}")).into_response(),
        Err(e) => ui.error(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct RevertForm {
    csrf: String,
}

/// Undoes an applied merge (admins), then shows it with what became of it.
pub async fn revert(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Path(id): Path<i64>,
    Form(form): Form<RevertForm>,
) -> Response {
    let lang = ui.lang;
    let result = async {
        actor.require(Role::Admin)?;
        actor.check_csrf(&form.csrf)?;
        let done = duplicates::revert(&state.config(), &state.store, id, &actor.name).await?;
        let message = match done.error {
            Some(why) => why,
            None => lang.t("merge_reverted").to_string(),
        };
        render(lang, &actor, &state, id, Some(message)).await
    }
    .await;
    ui.page(result)
}
