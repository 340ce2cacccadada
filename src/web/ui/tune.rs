//! Admins tune a job's match thresholds from the stewards' decisions: precision and recall
//! per threshold as a chart and a table, the current and suggested thresholds, and how much
//! review work the suggestion would have saved. Same computation as `refsync tune`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{fill, Ui};
use crate::domain::tune::chart::svg;
use crate::domain::tune::{PairCounts, Point, Targets, Weights};
use crate::i18n::probability;
use crate::store::users::Role;
use crate::store::verdicts;
use crate::sync::tune::{report, TuneError, TuneReport};
use crate::web::auth::Actor;
use crate::web::html::{page, record_url};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};
use maud::{html, Markup, PreEscaped};

/// How many matches waiting for a verdict the page links to.
const UNJUDGED: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct TuneQuery {
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    precision: Option<f64>,
    #[serde(default)]
    recall: Option<f64>,
}

pub async fn show(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Query(q): Query<TuneQuery>,
) -> Response {
    ui.page(render(ui.lang, &actor, &state, q).await)
}

async fn render(
    lang: Lang,
    actor: &Actor,
    state: &WebState,
    q: TuneQuery,
) -> Result<String, WebError> {
    actor.require(Role::Admin)?;
    let config = state.config();
    let defaults = Targets::default();
    let targets = Targets {
        precision: q.precision.unwrap_or(defaults.precision),
        recall: q.recall.unwrap_or(defaults.recall),
    };
    for (name, v) in [("precision", targets.precision), ("recall", targets.recall)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(WebError::BadRequest(format!(
                "target {name} {v} is outside 0..=1"
            )));
        }
    }
    let job = q
        .job
        .or_else(|| config.job.keys().next().cloned())
        .ok_or_else(|| WebError::NotFound("no jobs are configured".into()))?;
    let job_config = config
        .job
        .get(&job)
        .ok_or_else(|| WebError::NotFound(format!("no job `{job}`")))?;
    let jobs: Vec<String> = config.job.keys().cloned().collect();
    let outcome = match report(&state.store, &job, job_config, targets, Weights::default()).await {
        Ok(r) => results(lang, &r),
        Err(e @ TuneError::TooFewDecisions { .. }) => html! { p.err id="too-few" { (e) } },
        Err(TuneError::Store(e)) => return Err(WebError::internal(e)),
    };
    let name = job.clone();
    let waiting = state
        .store
        .db
        .run(move |conn| verdicts::unjudged(conn, &name, UNJUDGED))
        .await?;
    let body = html! {
        (form(lang, &jobs, &job, &targets))
        (outcome)
        h2 { (lang.t("need_verdict")) }
        @if waiting.is_empty() {
            p id="unjudged" { (lang.t("none_waiting")) }
        } @else {
            ul id="unjudged" {
                @for m in &waiting {
                    li {
                        a href={ (record_url(&job, &m.record_id)) "#match" } { (m.record_id) }
                        " · " span title=(m.score) { (probability(m.score)) }
                    }
                }
            }
        }
    };
    Ok(page(lang, lang.t("tuning"), Some(actor), body))
}

fn form(lang: Lang, jobs: &[String], job: &str, targets: &Targets) -> Markup {
    html! {
        form method="get" action="/admin/tune" class="filters" {
            label { (lang.t("job")) " "
                select name="job" id="t-job" {
                    @for j in jobs { option selected[j == job] { (j) } }
                }
            }
            label { (lang.t("target_precision")) " " input name="precision" id="t-precision" size="5" value=(targets.precision); }
            label { (lang.t("target_recall")) " " input name="recall" id="t-recall" size="5" value=(targets.recall); }
            button id="t-go" { (lang.t("filter")) }
        }
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

fn point_cells(p: &Point) -> Markup {
    html! {
        td { (format!("{:.2}", p.threshold)) }
        td { (ratio(p.precision)) }
        td { (format!("{:.3}", p.recall)) }
        td { (p.above) }
        td { (p.wrong_above) }
        td { (p.matches_below) }
    }
}

fn shift(lang: Lang, key: &'static str, s: &PairCounts) -> Markup {
    html! {
        li { (fill(lang.t(key), &[
            ("n", s.pairs.to_string()),
            ("right", s.matches.to_string()),
            ("wrong", s.non_matches.to_string()),
        ])) }
    }
}

fn results(lang: Lang, r: &TuneReport) -> Markup {
    let t = &r.tuning;
    let head = html! {
        tr {
            th {} th { (lang.t("threshold")) } th { (lang.t("precision")) } th { (lang.t("recall")) }
            th { (lang.t("above")) } th { (lang.t("wrong_above")) } th { (lang.t("right_below")) }
        }
    };
    let config = format!(
        "[job.{}.thresholds]\nauto_apply_min = {}\nreview_min = {}",
        r.job, t.suggested.auto_apply_min, t.suggested.review_min
    );
    html! {
        p id="decided" { (fill(lang.t("decided_pairs"), &[
            ("n", t.decided.pairs.to_string()),
            ("right", t.decided.matches.to_string()),
            ("wrong", t.decided.non_matches.to_string()),
        ])) }
        table id="bands" {
            (head)
            @for (label, at) in [("current", &t.at_current), ("suggested", &t.at_suggested)] {
                tr id={ (label) "-auto" } { th { (lang.t(label)) " auto_apply_min" } (point_cells(&at.auto_apply_min)) }
                tr id={ (label) "-review" } { th { (lang.t(label)) " review_min" } (point_cells(&at.review_min)) }
            }
        }
        @if t.precision_unreachable { p.err { (lang.t("precision_unreachable")) } }
        @if t.recall_unreachable { p.err { (lang.t("recall_unreachable")) } }
        h2 { (lang.t("queue_effect")) }
        ul id="queue-shift" {
            (shift(lang, "shift_auto", &t.queue.auto_applied))
            (shift(lang, "shift_rejected", &t.queue.rejected_outright))
            (shift(lang, "shift_added", &t.queue.added_to_review))
        }
        p { (lang.t("apply_suggestion")) }
        pre { (config) }
        h2 { (lang.t("curve")) }
        // The chart is built from numbers only; no text of the data goes into it.
        div id="chart" { (PreEscaped(svg(t))) }
        table id="curve" {
            (head)
            @for p in &t.curve { tr { th {} (point_cells(p)) } }
        }
    }
}
