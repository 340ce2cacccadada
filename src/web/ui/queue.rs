//! The review queue: filters, counts per status and field, progress, one-click and bulk
//! decisions (bulk after a confirmation naming how many), keyboard shortcuts.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::{fill, Ui};
use crate::domain::model::ChangeStatus;
use crate::store::users::Role;
use crate::web::api::{
    decision_filter, load_changes, run_decision, ChangePage, ChangeQuery, DecisionRequest,
};
use crate::web::auth::Actor;
use crate::web::html::{esc, hidden, opt, page, path_segment};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};

const PAGE: i64 = 50;

/// The queue's filters and actions as a form sends them: every field text, so an empty
/// input means "no filter" rather than a parse error.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueForm {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    pass: Option<String>,
    #[serde(default)]
    min_score: Option<String>,
    #[serde(default)]
    max_score: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
    /// Where a decision from the record page returns to: `job/record_id`.
    #[serde(default)]
    back: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(name: &str, value: &Option<String>) -> Result<Option<T>, WebError> {
    given(value)
        .map(|v| {
            v.replace(',', ".")
                .parse::<T>()
                .map_err(|_| WebError::BadRequest(format!("{name}: `{v}` is not a number")))
        })
        .transpose()
}

impl QueueForm {
    /// The filter; the status defaults to `proposed`, `all` means every status.
    fn query(&self) -> Result<ChangeQuery, WebError> {
        let status = match given(&self.status) {
            None => Some("proposed".to_string()),
            Some("all") => None,
            Some(s) => Some(s.to_string()),
        };
        Ok(ChangeQuery {
            status,
            job: given(&self.job).map(str::to_string),
            field: given(&self.field).map(str::to_string),
            pass: number("pass", &self.pass)?,
            record: None,
            min_score: number("min_score", &self.min_score)?,
            max_score: number("max_score", &self.max_score)?,
            text: given(&self.text).map(str::to_string),
            sort: given(&self.sort).map(str::to_string),
            limit: Some(PAGE),
            offset: number("offset", &self.offset)?,
        })
    }

    /// The filter as hidden fields, so a decision form brings the steward back to it.
    fn hidden_filter(&self) -> String {
        [
            ("status", &self.status),
            ("job", &self.job),
            ("field", &self.field),
            ("pass", &self.pass),
            ("min_score", &self.min_score),
            ("max_score", &self.max_score),
            ("text", &self.text),
            ("sort", &self.sort),
        ]
        .iter()
        .filter_map(|(name, value)| given(value).map(|v| hidden(name, v)))
        .collect()
    }
}

/// The queue, filtered by the query string (GET) or by the filter form's body (POST):
/// axum's `Form` reads either.
pub async fn show(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Form(form): Form<QueueForm>,
) -> Response {
    ui.page(render(ui.lang, &actor, &state, &form, None).await)
}

async fn render(
    lang: Lang,
    actor: &Actor,
    state: &WebState,
    form: &QueueForm,
    message: Option<String>,
) -> Result<String, WebError> {
    actor.require(Role::Viewer)?;
    let query = form.query()?;
    let result = load_changes(state, query.filter()?).await?;
    let jobs: Vec<String> = state.config().job.keys().cloned().collect();
    let mut body = String::new();
    if let Some(m) = message {
        let _ = write!(body, "<p class=\"msg\" id=\"message\">{}</p>", esc(&m));
    }
    body.push_str(&filter_form(lang, form, &jobs));
    body.push_str(&counts(lang, &result));
    body.push_str(&table(lang, actor, form, &result));
    body.push_str(&pager(lang, form, &result));
    if actor.role >= Role::Steward && result.total > 0 {
        body.push_str(&bulk_form(lang, actor, form));
    }
    body.push_str(&format!(
        "<p><small>{}</small></p>{SHORTCUTS}",
        lang.t("shortcuts")
    ));
    Ok(page(lang, lang.t("queue"), Some(actor), &body))
}

fn select(name: &str, current: Option<&str>, options: &[(String, String)]) -> String {
    let mut out = format!("<select name=\"{name}\" id=\"f-{name}\">");
    for (value, label) in options {
        let selected = if Some(value.as_str()) == current {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(value),
            esc(label)
        );
    }
    out.push_str("</select>");
    out
}

fn filter_form(lang: Lang, form: &QueueForm, jobs: &[String]) -> String {
    let mut statuses = vec![("all".to_string(), lang.t("all").to_string())];
    statuses.extend(
        ChangeStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), s.as_str().to_string())),
    );
    let mut job_options = vec![(String::new(), lang.t("all").to_string())];
    job_options.extend(jobs.iter().map(|j| (j.clone(), j.clone())));
    let sorts: Vec<(String, String)> = ["id", "-id", "score", "-score"]
        .iter()
        .map(|s| (s.to_string(), s.to_string()))
        .collect();
    let input = |name: &str, value: &Option<String>, size: u8| {
        format!(
            "<input name=\"{name}\" id=\"f-{name}\" size=\"{size}\" value=\"{}\">",
            esc(given(value).unwrap_or(""))
        )
    };
    format!(
        "<form method=\"post\" action=\"/queue\" class=\"filters\" id=\"filters\">\
         <label>{} {}</label><label>{} {}</label><label>{} {}</label><label>{} {}</label>\
         <label>{} {}</label><label>{} {}</label><label>{} {}</label><label>{} {}</label>\
         <button id=\"apply-filter\">{}</button></form>",
        lang.t("status"),
        select(
            "status",
            Some(given(&form.status).unwrap_or("proposed")),
            &statuses
        ),
        lang.t("job"),
        select("job", given(&form.job), &job_options),
        lang.t("field"),
        input("field", &form.field, 12),
        lang.t("pass"),
        input("pass", &form.pass, 5),
        lang.t("min_score"),
        input("min_score", &form.min_score, 4),
        lang.t("max_score"),
        input("max_score", &form.max_score, 4),
        lang.t("search"),
        input("text", &form.text, 16),
        lang.t("sort"),
        select("sort", given(&form.sort), &sorts),
        lang.t("filter"),
    )
}

fn counts(lang: Lang, result: &ChangePage) -> String {
    let all: i64 = result.by_status.values().sum();
    let open = result.by_status.get("proposed").copied().unwrap_or(0);
    let mut out = format!(
        "<p class=\"counts\" id=\"progress\">{}: <progress value=\"{}\" max=\"{}\"></progress> {} {} {}</p><p class=\"counts\" id=\"by-status\">",
        lang.t("progress"),
        all - open,
        all.max(1),
        all - open,
        lang.t("of"),
        all,
    );
    for (status, n) in &result.by_status {
        let _ = write!(out, "<span>{}: {n}</span>", esc(status));
    }
    out.push_str("</p><p class=\"counts\" id=\"by-field\">");
    for (field, n) in &result.by_field {
        let _ = write!(out, "<span>{}: {n}</span>", esc(field));
    }
    out.push_str("</p>");
    out
}

/// The button label of a verdict (`approve`, `reject`, `wrong`).
fn verdict_label(lang: Lang, verdict: &str) -> &'static str {
    lang.t(match verdict {
        "approve" => "approve",
        "reject" => "reject",
        _ => "wrong",
    })
}

/// A one-change decision form; `back` returns to a record page instead of the queue.
pub fn decision_form(lang: Lang, actor: &Actor, id: i64, verdict: &str, extra: &str) -> String {
    let label = verdict_label(lang, verdict);
    format!(
        "<form method=\"post\" action=\"/decide\" class=\"inline\" data-verdict=\"{verdict}\">{}{}{}{extra}\
         <button id=\"{verdict}-{id}\">{label}</button></form>",
        hidden("csrf", actor.csrf()),
        hidden("id", &id.to_string()),
        hidden("verdict", verdict),
    )
}

fn table(lang: Lang, actor: &Actor, form: &QueueForm, result: &ChangePage) -> String {
    if result.items.is_empty() {
        return format!("<p id=\"empty\">{}</p>", lang.t("no_changes"));
    }
    let mut out = format!(
        "<table id=\"queue\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.t("job"),
        lang.t("record"),
        lang.t("field"),
        lang.t("old"),
        lang.t("new"),
        lang.t("score"),
        lang.t("status"),
        lang.t("actions"),
    );
    let keep = form.hidden_filter();
    for c in &result.items {
        let actions = if actor.role >= Role::Steward && c.status == ChangeStatus::Proposed {
            format!(
                "{}{}{}",
                decision_form(lang, actor, c.id, "approve", &keep),
                decision_form(lang, actor, c.id, "reject", &keep),
                decision_form(lang, actor, c.id, "wrong", &keep),
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr class=\"change\" id=\"change-{id}\"><td>{id}</td><td>{job}</td>\
             <td><a class=\"record\" href=\"/records/{jp}/{rp}\">{record}</a></td><td>{field}</td>\
             <td>{old}</td><td>{new}</td><td>{score:.2}</td><td class=\"status\">{status}</td><td>{actions}</td></tr>",
            id = c.id,
            job = esc(&c.job),
            jp = path_segment(&c.job),
            rp = path_segment(&c.record_id),
            record = esc(&c.record_id),
            field = esc(&c.field),
            old = opt(c.old_value.as_deref()),
            new = opt(c.new_value.as_deref()),
            score = c.score,
            status = esc(c.status.as_str()),
        );
    }
    out.push_str("</table>");
    out
}

fn pager(lang: Lang, form: &QueueForm, result: &ChangePage) -> String {
    let shown_to = (result.offset + result.items.len() as i64).min(result.total);
    let mut out = format!(
        "<p id=\"page\">{}–{shown_to} {} {} {}",
        if result.items.is_empty() {
            0
        } else {
            result.offset + 1
        },
        lang.t("of"),
        result.total,
        lang.t("shown"),
    );
    let mut button = |offset: i64, label: &str| {
        let _ = write!(
            out,
            " <form method=\"post\" action=\"/queue\" class=\"inline\">{}{}<button>{}</button></form>",
            form.hidden_filter(),
            hidden("offset", &offset.to_string()),
            esc(label)
        );
    };
    if result.offset > 0 {
        button((result.offset - result.limit).max(0), lang.t("prev"));
    }
    if shown_to < result.total {
        button(result.offset + result.limit, lang.t("next"));
    }
    out.push_str("</p>");
    out
}

fn bulk_form(lang: Lang, actor: &Actor, form: &QueueForm) -> String {
    let verdicts: Vec<(String, String)> = ["reject", "approve", "wrong"]
        .iter()
        .map(|v| (v.to_string(), lang.t(v).to_string()))
        .collect();
    format!(
        "<form method=\"post\" action=\"/bulk\" id=\"bulk\"><p>{}: {}{}{}<button id=\"bulk-go\">{}</button></p></form>",
        lang.t("bulk"),
        select("verdict", None, &verdicts),
        hidden("csrf", actor.csrf()),
        form.hidden_filter(),
        lang.t("decision"),
    )
}

/// j/n and k move the selection, a and r approve or reject the selected change.
const SHORTCUTS: &str = r#"<script>
(function(){
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.change'));
  var at = 0;
  function mark(){ rows.forEach(function(r,i){ r.classList.toggle('sel', i===at); }); }
  function press(verdict){
    var row = rows[at]; if(!row) return;
    var form = row.querySelector('form[data-verdict="'+verdict+'"]'); if(form) form.submit();
  }
  document.addEventListener('keydown', function(e){
    var t = e.target.tagName; if(t==='INPUT'||t==='SELECT'||t==='TEXTAREA'||e.ctrlKey||e.metaKey||e.altKey) return;
    if(e.key==='j'||e.key==='n'){ at=Math.min(at+1, rows.length-1); mark(); }
    else if(e.key==='k'){ at=Math.max(at-1, 0); mark(); }
    else if(e.key==='a'){ press('approve'); }
    else if(e.key==='r'){ press('reject'); }
  });
  mark();
})();
</script>"#;

/// Decides one change, then shows the queue (or the record page it came from) again.
pub async fn decide_one(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Form(form): Form<QueueForm>,
) -> Response {
    let lang = ui.lang;
    let outcome = async {
        actor.check_csrf(form.csrf.as_deref().unwrap_or(""))?;
        let id: i64 =
            number("id", &form.id)?.ok_or_else(|| WebError::BadRequest("no change id".into()))?;
        let request = DecisionRequest {
            verdict: form.verdict.clone().unwrap_or_default(),
            ids: vec![id],
            filter: None,
            value: given(&form.value).map(str::to_string),
        };
        run_decision(&state, &actor, request).await
    }
    .await;
    let result = match outcome {
        Ok(r) => r,
        Err(e) => return ui.error(e),
    };
    if let Some(back) = given(&form.back) {
        let (job, record) = back.split_once('/').unwrap_or((back, ""));
        return Redirect::to(&format!(
            "/records/{}/{}",
            path_segment(job),
            path_segment(record)
        ))
        .into_response();
    }
    let message = decided_message(lang, &result.decided);
    ui.page(render(lang, &actor, &state, &form, Some(message)).await)
}

fn decided_message(lang: Lang, decided: &[crate::sync::review::Decided]) -> String {
    let done = decided.iter().filter(|d| d.refused.is_none()).count();
    let refused = decided.len() - done;
    let mut text = fill(lang.t("decided"), &[("n", done.to_string())]);
    if refused > 0 {
        text.push(' ');
        text.push_str(&fill(lang.t("refused"), &[("n", refused.to_string())]));
    }
    text
}

/// A decision on every proposed change of the filter: first a confirmation naming how
/// many, then (with `confirm`) the decision.
pub async fn bulk(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Form(form): Form<QueueForm>,
) -> Response {
    let lang = ui.lang;
    let outcome = async {
        actor.require(Role::Steward)?;
        actor.check_csrf(form.csrf.as_deref().unwrap_or(""))?;
        let query = form.query()?;
        let verdict = form.verdict.clone().unwrap_or_default();
        crate::web::api::verdict(&verdict, None, &[])?;
        if given(&form.confirm).is_none() {
            let filter = decision_filter(&[], Some(&query))?;
            let n = state
                .store
                .db
                .run(move |conn| crate::store::changes::count(conn, &filter))
                .await?;
            let body = format!(
                "<p id=\"confirm-text\">{} <b>{}</b></p><form method=\"post\" action=\"/bulk\">{}{}{}{}<button id=\"confirm\">{}</button></form>\
                 <form method=\"post\" action=\"/queue\">{}<button>{}</button></form>",
                esc(&fill(lang.t("confirm_bulk"), &[("n", n.to_string())])),
                verdict_label(lang, &verdict),
                hidden("csrf", actor.csrf()),
                hidden("verdict", &verdict),
                hidden("confirm", "1"),
                form.hidden_filter(),
                lang.t("confirm"),
                form.hidden_filter(),
                lang.t("cancel"),
            );
            return Ok(Err(page(lang, lang.t("confirm"), Some(&actor), &body)));
        }
        let request = DecisionRequest {
            verdict,
            ids: vec![],
            filter: Some(query),
            value: None,
        };
        Ok(Ok(run_decision(&state, &actor, request).await?))
    }
    .await;
    match outcome {
        Err(e) => ui.error(e),
        Ok(Err(confirmation)) => ui.ok(confirmation),
        Ok(Ok(result)) => {
            let message = decided_message(lang, &result.decided);
            ui.page(render(lang, &actor, &state, &form, Some(message)).await)
        }
    }
}
