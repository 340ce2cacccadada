//! The audit log, newest first, filtered by job, pass, change or user, with downloads.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::record::audit_table;
use super::Ui;
use crate::store::users::Role;
use crate::web::api::{load_audit, AuditQuery};
use crate::web::auth::Actor;
use crate::web::html::page;
use crate::web::WebState;
use maud::html;

/// The page's filters; numbers as text so an empty input means "any".
#[derive(Debug, Default, Deserialize)]
pub struct AuditForm {
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    pass: Option<String>,
    #[serde(default)]
    change: Option<String>,
    #[serde(default)]
    actor: Option<String>,
}

pub async fn show(
    ui: Ui,
    actor: Actor,
    State(state): State<Arc<WebState>>,
    Query(form): Query<AuditForm>,
) -> Response {
    let lang = ui.lang;
    let result = async {
        actor.require(Role::Viewer)?;
        let number = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<i64>().ok());
        let query = AuditQuery {
            job: form.job.clone(),
            pass: number(&form.pass),
            change: number(&form.change),
            actor: form.actor.clone(),
            ..Default::default()
        };
        let rows = load_audit(&state, query.filter(Some(200))).await?;
        let filters = export_query(&query);
        let body = html! {
            form method="get" action="/audit" class="filters" {
                @for (name, value) in [("job", &form.job), ("pass", &form.pass), ("change", &form.change), ("actor", &form.actor)] {
                    label { (lang.t(name)) " " input name=(name) size="10" value=(value.as_deref().unwrap_or("")); }
                }
                button { (lang.t("filter")) }
            }
            p {
                (lang.t("export")) ": "
                a id="export-csv" href={ "/api/v1/audit?format=csv" (filters) } { "CSV" }
                " · "
                a href={ "/api/v1/audit?format=json" (filters) } { "JSON" }
            }
            (audit_table(lang, "audit", &rows))
        };
        Ok(page(lang, lang.t("audit"), Some(&actor), body))
    }
    .await;
    ui.page(result)
}

/// `&key=value` pairs of the filters set, for the export links (ids and names only;
/// maud escapes the `&` in the attribute).
fn export_query(query: &AuditQuery) -> String {
    use crate::web::html::path_segment;
    let mut out = String::new();
    let pairs = [
        ("job", query.job.clone()),
        ("pass", query.pass.map(|p| p.to_string())),
        ("change", query.change.map(|c| c.to_string())),
        ("actor", query.actor.clone()),
    ];
    for (key, value) in pairs {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            out.push_str(&format!("&{key}={}", path_segment(v.trim())));
        }
    }
    out
}
