//! Admins tune a job's match thresholds from the stewards' decisions: precision and recall
//! per threshold as a chart and a table, the current and suggested thresholds, and how much
//! review work the suggestion would have saved. Same computation as `refsync tune`.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{fill, Ui};
use crate::domain::tune::chart::svg;
use crate::domain::tune::{PairCounts, Point, Targets, Weights};
use crate::store::users::Role;
use crate::sync::tune::{report, TuneError, TuneReport};
use crate::web::auth::Actor;
use crate::web::html::{esc, page};
use crate::web::i18n::Lang;
use crate::web::{WebError, WebState};

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
    let mut body = form(
        lang,
        &config.job.keys().cloned().collect::<Vec<_>>(),
        &job,
        &targets,
    );
    match report(&state.store, &job, job_config, targets, Weights::default()).await {
        Ok(r) => body.push_str(&results(lang, &r)),
        Err(e @ TuneError::TooFewDecisions { .. }) => {
            let _ = write!(
                body,
                "<p class=\"err\" id=\"too-few\">{}</p>",
                esc(&e.to_string())
            );
        }
        Err(TuneError::Store(e)) => return Err(WebError::internal(e)),
    }
    Ok(page(lang, lang.t("tuning"), Some(actor), &body))
}

fn form(lang: Lang, jobs: &[String], job: &str, targets: &Targets) -> String {
    let options: String = jobs
        .iter()
        .map(|j| {
            let selected = if j == job { " selected" } else { "" };
            format!("<option{selected}>{}</option>", esc(j))
        })
        .collect();
    format!(
        "<form method=\"get\" action=\"/admin/tune\" class=\"filters\">\
         <label>{} <select name=\"job\" id=\"t-job\">{options}</select></label>\
         <label>{} <input name=\"precision\" id=\"t-precision\" size=\"5\" value=\"{}\"></label>\
         <label>{} <input name=\"recall\" id=\"t-recall\" size=\"5\" value=\"{}\"></label>\
         <button id=\"t-go\">{}</button></form>",
        lang.t("job"),
        lang.t("target_precision"),
        targets.precision,
        lang.t("target_recall"),
        targets.recall,
        lang.t("filter"),
    )
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

fn point_cells(p: &Point) -> String {
    format!(
        "<td>{:.2}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td>",
        p.threshold,
        ratio(p.precision),
        p.recall,
        p.above,
        p.wrong_above,
        p.matches_below,
    )
}

fn shift(lang: Lang, key: &'static str, s: &PairCounts) -> String {
    format!(
        "<li>{}</li>",
        fill(
            lang.t(key),
            &[
                ("n", s.pairs.to_string()),
                ("right", s.matches.to_string()),
                ("wrong", s.non_matches.to_string()),
            ],
        )
    )
}

fn results(lang: Lang, r: &TuneReport) -> String {
    let t = &r.tuning;
    let head = format!(
        "<tr><th></th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.t("threshold"),
        lang.t("precision"),
        lang.t("recall"),
        lang.t("above"),
        lang.t("wrong_above"),
        lang.t("right_below"),
    );
    let mut out = format!(
        "<p id=\"decided\">{}</p><table id=\"bands\">{head}",
        fill(
            lang.t("decided_pairs"),
            &[
                ("n", t.decided.pairs.to_string()),
                ("right", t.decided.matches.to_string()),
                ("wrong", t.decided.non_matches.to_string()),
            ],
        )
    );
    for (label, at) in [("current", &t.at_current), ("suggested", &t.at_suggested)] {
        let _ = write!(
            out,
            "<tr id=\"{label}-auto\"><th>{} auto_apply_min</th>{}</tr>\
             <tr id=\"{label}-review\"><th>{} review_min</th>{}</tr>",
            lang.t(label),
            point_cells(&at.auto_apply_min),
            lang.t(label),
            point_cells(&at.review_min),
        );
    }
    out.push_str("</table>");
    if t.precision_unreachable {
        let _ = write!(
            out,
            "<p class=\"err\">{}</p>",
            lang.t("precision_unreachable")
        );
    }
    if t.recall_unreachable {
        let _ = write!(out, "<p class=\"err\">{}</p>", lang.t("recall_unreachable"));
    }
    let _ = write!(
        out,
        "<h2>{}</h2><ul id=\"queue-shift\">{}{}{}</ul>",
        lang.t("queue_effect"),
        shift(lang, "shift_auto", &t.queue.auto_applied),
        shift(lang, "shift_rejected", &t.queue.rejected_outright),
        shift(lang, "shift_added", &t.queue.added_to_review),
    );
    let _ = write!(
        out,
        "<p>{}</p><pre>[job.{}.thresholds]\nauto_apply_min = {}\nreview_min = {}</pre>",
        lang.t("apply_suggestion"),
        esc(&r.job),
        t.suggested.auto_apply_min,
        t.suggested.review_min,
    );
    // The chart is built from numbers only; no text of the data goes into it.
    let _ = write!(
        out,
        "<h2>{}</h2><div id=\"chart\">{}</div>",
        lang.t("curve"),
        svg(t)
    );
    let _ = write!(out, "<table id=\"curve\">{head}");
    for p in &t.curve {
        let _ = write!(out, "<tr><th></th>{}</tr>", point_cells(p));
    }
    out.push_str("</table>");
    out
}
