//! The review queue, one card per record: the entity's name, its match (probability,
//! band, grade in words) and every proposed change as a diff. One key decides a card,
//! per-field decisions stay inside it; filters, counts per status and field, progress and
//! bulk decisions (after a confirmation naming how many) as before.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::Value;

use super::record::entity_name;
use super::{fill, Ui};
use crate::domain::model::{Band, ChangeStatus, MatchStatus};
use crate::i18n::{grade_words, probability, Label};
use crate::store::changes::{self, RecordGroup, RecordOrder};
use crate::store::status::{self, MatchRow};
use crate::store::users::Role;
use crate::web::api::{decision_filter, run_decision, ChangeQuery, ChangeView, DecisionRequest};
use crate::web::auth::Actor;
use crate::web::html::{field, hidden, labelled, opt, page, record_url};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};

/// Records (cards) per page.
const PAGE: i64 = 25;

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
    /// `most` (changes, the default), `doubt` (lowest probability first) or `oldest`.
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    id: Option<String>,
    /// A card's decision: the comma-separated ids of its proposed changes.
    #[serde(default)]
    ids: Option<String>,
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

/// The orders a steward may pick, as (form value, label key).
const ORDERS: [(&str, RecordOrder, &str); 3] = [
    ("most", RecordOrder::MostChanges, "order_most"),
    ("doubt", RecordOrder::LowestConfidence, "order_doubt"),
    ("oldest", RecordOrder::Oldest, "order_oldest"),
];

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
            sort: None,
            limit: None,
            offset: None,
        })
    }

    fn order(&self) -> Result<RecordOrder, WebError> {
        let asked = given(&self.order).unwrap_or("most");
        ORDERS
            .iter()
            .find(|(value, _, _)| *value == asked)
            .map(|(_, order, _)| *order)
            .ok_or_else(|| {
                WebError::BadRequest(format!("order `{asked}` is not one of most, doubt, oldest"))
            })
    }

    /// The filter as hidden fields, so a decision form brings the steward back to it.
    fn hidden_filter(&self) -> Markup {
        let kept = [
            ("status", &self.status),
            ("job", &self.job),
            ("field", &self.field),
            ("pass", &self.pass),
            ("min_score", &self.min_score),
            ("max_score", &self.max_score),
            ("text", &self.text),
            ("order", &self.order),
        ];
        html! {
            @for (name, value) in kept {
                @if let Some(v) = given(value) { (hidden(name, v)) }
            }
        }
    }

    /// The change ids a decision names: `ids` (a card) or `id` (one field).
    fn decided_ids(&self) -> Result<Vec<i64>, WebError> {
        let mut ids: Vec<i64> = given(&self.ids)
            .map(|list| {
                list.split(',')
                    .map(|one| {
                        one.trim().parse::<i64>().map_err(|_| {
                            WebError::BadRequest(format!("ids: `{one}` is not a change id"))
                        })
                    })
                    .collect::<Result<_, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        ids.extend(number::<i64>("id", &self.id)?);
        if ids.is_empty() {
            return Err(WebError::BadRequest(
                "no change id: send `id` or `ids`".into(),
            ));
        }
        Ok(ids)
    }
}

/// One record of the queue with its match and the changes the filter selects.
pub struct Card {
    pub job: String,
    pub record_id: String,
    /// The entity's name as the CRM holds it; the record id where none is known.
    pub name: String,
    pub status: Option<MatchStatus>,
    pub matched: Option<MatchRow>,
    pub band: Option<Band>,
    pub lowest_score: Option<f64>,
    pub changes: Vec<ChangeView>,
}

impl Card {
    fn proposed_ids(&self) -> Vec<i64> {
        self.changes
            .iter()
            .filter(|c| c.status == ChangeStatus::Proposed)
            .map(|c| c.id)
            .collect()
    }
}

/// A page of cards, how many records the filter selects, and the counts per status and
/// field (per status ignoring the status filter, so the counts show what is elsewhere).
pub struct CardPage {
    pub cards: Vec<Card>,
    pub records: i64,
    pub offset: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_field: BTreeMap<String, i64>,
}

pub async fn load_cards(
    state: &WebState,
    query: &ChangeQuery,
    order: RecordOrder,
    offset: i64,
) -> Result<CardPage, WebError> {
    let filter = query.filter()?;
    let thresholds: BTreeMap<String, crate::domain::decide::Thresholds> = state
        .config()
        .job
        .iter()
        .map(|(name, job)| (name.clone(), job.thresholds))
        .collect();
    let (groups, records, by_record, statuses, matches, facets) = state
        .store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let changes::QueuePage {
                groups,
                records,
                facets,
            } = changes::queue(conn, &filter, order, offset, PAGE)?;
            let by_record = changes::of_groups(conn, &filter, &groups)?;
            let mut jobs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for g in &groups {
                jobs.entry(&g.job).or_default().push(&g.record_id);
            }
            let (mut statuses, mut matches) = (Vec::new(), Vec::new());
            for (job, ids) in jobs {
                let (s, m) = status::of_records(conn, job, &ids)?;
                statuses.extend(s);
                matches.extend(m);
            }
            Ok((groups, records, by_record, statuses, matches, facets))
        })
        .await?;
    let mut by_record = by_record;
    let cards = groups
        .into_iter()
        .map(
            |RecordGroup {
                 job,
                 record_id,
                 min_score,
                 ..
             }| {
                let key = (job.clone(), record_id.clone());
                let status = statuses
                    .iter()
                    .find(|s| s.job == job && s.record_id == record_id);
                let detail: Value = status
                    .and_then(|s| serde_json::from_str(&s.detail).ok())
                    .unwrap_or(Value::Null);
                let matched = matches
                    .iter()
                    .find(|m| m.job == job && m.record_id == record_id)
                    .cloned();
                // The band the pass decided in; the job's thresholds where the pass kept none.
                let band = serde_json::from_value::<Band>(detail["band"].clone())
                    .ok()
                    .or_else(|| {
                        let score = matched.as_ref().map(|m| m.score).or(min_score)?;
                        Some(thresholds.get(&job)?.band(score))
                    });
                Card {
                    name: entity_name(&detail).unwrap_or_else(|| record_id.clone()),
                    status: status.map(|s| s.status),
                    matched,
                    band,
                    lowest_score: min_score,
                    changes: by_record
                        .remove(&key)
                        .unwrap_or_default()
                        .into_iter()
                        .map(ChangeView::from)
                        .collect(),
                    job,
                    record_id,
                }
            },
        )
        .collect();
    let (mut by_status, mut by_field) = (BTreeMap::new(), BTreeMap::new());
    for (status, field, n) in facets {
        *by_status.entry(status).or_insert(0) += n;
        *by_field.entry(field).or_insert(0) += n;
    }
    Ok(CardPage {
        cards,
        records,
        offset,
        by_status,
        by_field,
    })
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
    let offset = number::<i64>("offset", &form.offset)?.unwrap_or(0);
    if offset < 0 {
        return Err(WebError::BadRequest("offset must not be negative".into()));
    }
    let result = load_cards(state, &query, form.order()?, offset).await?;
    let jobs: Vec<String> = state.config().job.keys().cloned().collect();
    let body = html! {
        @if let Some(m) = message { p.msg id="message" { (m) } }
        (filter_form(lang, form, &jobs))
        (counts(lang, &result))
        (cards(lang, actor, form, &result))
        (pager(lang, form, &result))
        @if actor.role >= Role::Steward && result.records > 0 { (bulk_form(lang, actor, form)) }
        p { small { (lang.t("shortcuts")) } }
        script { (PreEscaped(SHORTCUTS)) }
    };
    Ok(page(lang, lang.t("queue"), Some(actor), body))
}

fn select(name: &str, current: Option<&str>, options: &[(String, String)]) -> Markup {
    html! {
        select name=(name) id={ "f-" (name) } {
            @for (value, label) in options {
                option value=(value) selected[Some(value.as_str()) == current] { (label) }
            }
        }
    }
}

fn filter_form(lang: Lang, form: &QueueForm, jobs: &[String]) -> Markup {
    let mut statuses = vec![("all".to_string(), lang.t("all").to_string())];
    statuses.extend(
        ChangeStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), s.label(lang).to_string())),
    );
    let mut job_options = vec![(String::new(), lang.t("all").to_string())];
    job_options.extend(jobs.iter().map(|j| (j.clone(), j.clone())));
    let mut fields = vec![(String::new(), lang.t("all").to_string())];
    fields.extend(
        crate::domain::model::Field::ALL
            .iter()
            .map(|f| (f.as_str().to_string(), f.label(lang).to_string())),
    );
    let orders: Vec<(String, String)> = ORDERS
        .iter()
        .map(|(value, _, key)| (value.to_string(), lang.t(key).to_string()))
        .collect();
    let input = |name: &str, value: &Option<String>, size: u8| {
        html! { input name=(name) id={ "f-" (name) } size=(size) value=(given(value).unwrap_or("")); }
    };
    html! {
        form method="post" action="/queue" class="filters" id="filters" {
            label { (lang.t("status")) " " (select("status", Some(given(&form.status).unwrap_or("proposed")), &statuses)) }
            label { (lang.t("job")) " " (select("job", given(&form.job), &job_options)) }
            label { (lang.t("field")) " " (select("field", given(&form.field), &fields)) }
            label { (lang.t("pass")) " " (input("pass", &form.pass, 5)) }
            label { (lang.t("min_score")) " " (input("min_score", &form.min_score, 4)) }
            label { (lang.t("max_score")) " " (input("max_score", &form.max_score, 4)) }
            label { (lang.t("search")) " " (input("text", &form.text, 16)) }
            label { (lang.t("sort")) " " (select("order", Some(given(&form.order).unwrap_or("most")), &orders)) }
            button id="apply-filter" { (lang.t("filter")) }
        }
    }
}

fn counts(lang: Lang, result: &CardPage) -> Markup {
    let all: i64 = result.by_status.values().sum();
    let open = result.by_status.get("proposed").copied().unwrap_or(0);
    html! {
        p.counts id="progress" {
            (lang.t("progress")) ": "
            progress value=(all - open) max=(all.max(1)) {}
            " " (all - open) " " (lang.t("of")) " " (all)
        }
        p.counts id="by-status" {
            @for (name, n) in &result.by_status {
                @match name.parse::<ChangeStatus>() {
                    Ok(s) => span { (labelled(lang, s)) ": " (n) },
                    Err(_) => span { (name) ": " (n) },
                }
            }
        }
        p.counts id="by-field" {
            @for (name, n) in &result.by_field { span { (field(lang, name)) ": " (n) } }
        }
    }
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
pub fn decision_form(lang: Lang, actor: &Actor, id: i64, verdict: &str, extra: &Markup) -> Markup {
    html! {
        form method="post" action="/decide" class="inline" data-verdict=(verdict) {
            (hidden("csrf", actor.csrf()))
            (hidden("id", &id.to_string()))
            (hidden("verdict", verdict))
            (extra)
            button id={ (verdict) "-" (id) } { (verdict_label(lang, verdict)) }
        }
    }
}

/// The decision on every proposed change of a card at once.
fn card_form(
    lang: Lang,
    actor: &Actor,
    n: usize,
    ids: &[i64],
    verdict: &str,
    keep: &Markup,
) -> Markup {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    html! {
        form method="post" action="/decide" class="inline card-decision" data-verdict=(verdict) {
            (hidden("csrf", actor.csrf()))
            (hidden("ids", &list))
            (hidden("verdict", verdict))
            (keep)
            button id={ (verdict) "-card-" (n) } { (lang.t(if verdict == "approve" { "approve_card" } else { "reject_card" })) }
        }
    }
}

/// The match line of a card: probability, band, grade in words.
pub fn match_line(
    lang: Lang,
    matched: Option<&MatchRow>,
    band: Option<Band>,
    lowest: Option<f64>,
) -> Markup {
    let score = matched.map(|m| m.score).or(lowest);
    html! {
        p.match {
            @if let Some(p) = score {
                (lang.t("score")) " " b.probability title=(p) { (probability(p)) }
            }
            @if let Some(b) = band { " · " span.band { (labelled(lang, b)) } }
            @if let Some(m) = matched {
                " · " span.grade title=(m.grade) { (grade_words(lang, &m.grade)) }
            }
        }
    }
}

fn cards(lang: Lang, actor: &Actor, form: &QueueForm, result: &CardPage) -> Markup {
    let keep = form.hidden_filter();
    let steward = actor.role >= Role::Steward;
    html! {
        @if result.cards.is_empty() {
            p id="empty" { (lang.t("no_changes")) }
        } @else {
            div id="queue" {
                @for (n, card) in result.cards.iter().enumerate() {
                    @let proposed = card.proposed_ids();
                    section.card id={ "card-" (n) } data-record=(card.record_id) {
                        h2 {
                            a.record href=(record_url(&card.job, &card.record_id)) { (card.name) }
                            " " small title=(card.record_id) { (card.job) " · " (card.record_id) }
                            @if let Some(s) = card.status { " " small.status { (labelled(lang, s)) } }
                        }
                        (match_line(lang, card.matched.as_ref(), card.band, card.lowest_score))
                        table.changes {
                            @for c in &card.changes {
                                tr.change id={ "change-" (c.id) } data-field=(c.field) {
                                    td { (field(lang, &c.field)) }
                                    td { del { (opt(c.old_value.as_deref())) } }
                                    td { ins { (opt(c.new_value.as_deref())) } }
                                    td.status { (labelled(lang, c.status)) }
                                    td {
                                        @if steward && c.status == ChangeStatus::Proposed {
                                            (decision_form(lang, actor, c.id, "approve", &keep))
                                            (decision_form(lang, actor, c.id, "reject", &keep))
                                            (decision_form(lang, actor, c.id, "wrong", &keep))
                                        }
                                    }
                                }
                            }
                        }
                        @if steward && !proposed.is_empty() {
                            p {
                                (card_form(lang, actor, n, &proposed, "approve", &keep))
                                " "
                                (card_form(lang, actor, n, &proposed, "reject", &keep))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn pager(lang: Lang, form: &QueueForm, result: &CardPage) -> Markup {
    let shown_to = (result.offset + result.cards.len() as i64).min(result.records);
    let from = if result.cards.is_empty() {
        0
    } else {
        result.offset + 1
    };
    let button = |offset: i64, label: &str| {
        html! {
            " "
            form method="post" action="/queue" class="inline" {
                (form.hidden_filter())
                (hidden("offset", &offset.to_string()))
                button { (label) }
            }
        }
    };
    html! {
        p id="page" {
            (from) "–" (shown_to) " " (lang.t("of")) " " (result.records) " " (lang.t("records_shown"))
            @if result.offset > 0 { (button((result.offset - PAGE).max(0), lang.t("prev"))) }
            @if shown_to < result.records { (button(result.offset + PAGE, lang.t("next"))) }
        }
    }
}

fn bulk_form(lang: Lang, actor: &Actor, form: &QueueForm) -> Markup {
    let verdicts: Vec<(String, String)> = ["reject", "approve", "wrong"]
        .iter()
        .map(|v| (v.to_string(), verdict_label(lang, v).to_string()))
        .collect();
    html! {
        form method="post" action="/bulk" id="bulk" {
            p {
                (lang.t("bulk")) ": "
                (select("verdict", None, &verdicts))
                (hidden("csrf", actor.csrf()))
                (form.hidden_filter())
                button id="bulk-go" { (lang.t("decision")) }
            }
        }
    }
}

/// j/n and k move between cards, a and r approve or reject every proposed change of the
/// selected card, o or Enter opens its record.
const SHORTCUTS: &str = r#"
(function(){
  var cards = Array.prototype.slice.call(document.querySelectorAll('section.card'));
  var at = 0;
  function mark(){ cards.forEach(function(c,i){ c.classList.toggle('sel', i===at); }); if(cards[at]) cards[at].scrollIntoView({block:'nearest'}); }
  function press(verdict){
    var card = cards[at]; if(!card) return;
    var form = card.querySelector('form.card-decision[data-verdict="'+verdict+'"]'); if(form) form.submit();
  }
  document.addEventListener('keydown', function(e){
    var t = e.target.tagName; if(t==='INPUT'||t==='SELECT'||t==='TEXTAREA'||t==='BUTTON'||e.ctrlKey||e.metaKey||e.altKey) return;
    if(e.key==='j'||e.key==='n'){ at=Math.min(at+1, cards.length-1); mark(); }
    else if(e.key==='k'){ at=Math.max(at-1, 0); mark(); }
    else if(e.key==='a'){ press('approve'); }
    else if(e.key==='r'){ press('reject'); }
    else if(e.key==='o'||e.key==='Enter'){ var a = cards[at] && cards[at].querySelector('a.record'); if(a) location.href = a.href; }
  });
  mark();
})();
"#;

/// Decides one change or a card's, then shows the queue (or the record page it came
/// from) again.
pub async fn decide_one(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Form(form): Form<QueueForm>,
) -> Response {
    let lang = ui.lang;
    let outcome = async {
        actor.check_csrf(form.csrf.as_deref().unwrap_or(""))?;
        let request = DecisionRequest {
            verdict: form.verdict.clone().unwrap_or_default(),
            ids: form.decided_ids()?,
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
        return Redirect::to(&record_url(job, record)).into_response();
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
            let body = html! {
                p id="confirm-text" {
                    (fill(lang.t("confirm_bulk"), &[("n", n.to_string())])) " "
                    b { (verdict_label(lang, &verdict)) }
                }
                form method="post" action="/bulk" {
                    (hidden("csrf", actor.csrf()))
                    (hidden("verdict", &verdict))
                    (hidden("confirm", "1"))
                    (form.hidden_filter())
                    button id="confirm" { (lang.t("confirm")) }
                }
                form method="post" action="/queue" {
                    (form.hidden_filter())
                    button { (lang.t("cancel")) }
                }
            };
            return Ok(Err(page(lang, lang.t("confirm"), Some(&actor), body)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn form(ids: Option<&str>, id: Option<&str>, order: Option<&str>) -> QueueForm {
        QueueForm {
            ids: ids.map(str::to_string),
            id: id.map(str::to_string),
            order: order.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn a_card_decision_names_its_changes_and_a_field_decision_one() {
        for (ids, id, want) in [
            (Some("3,5, 8"), None, Ok(vec![3, 5, 8])),
            (None, Some("7"), Ok(vec![7])),
            (Some("3"), Some("4"), Ok(vec![3, 4])),
            (Some("3,x"), None, Err("ids: `x` is not a change id")),
            (Some(" "), None, Err("no change id: send `id` or `ids`")),
            (None, None, Err("no change id: send `id` or `ids`")),
        ] {
            let got = form(ids, id, None).decided_ids().map_err(|e| e.to_string());
            match want {
                Ok(v) => assert_eq!(got, Ok(v), "{ids:?} {id:?}"),
                Err(text) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(text)),
                    "{ids:?} {id:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn the_order_is_most_changes_unless_the_steward_picks_another() {
        for (asked, want) in [
            (None, Some(RecordOrder::MostChanges)),
            (Some(""), Some(RecordOrder::MostChanges)),
            (Some("most"), Some(RecordOrder::MostChanges)),
            (Some("doubt"), Some(RecordOrder::LowestConfidence)),
            (Some("oldest"), Some(RecordOrder::Oldest)),
            (Some("score"), None),
        ] {
            assert_eq!(form(None, None, asked).order().ok(), want, "{asked:?}");
        }
    }
}
