//! Access requests (Art. 15): everything refsync holds about one contact — the CRM values
//! it sees, changes, audit entries, consents and verdicts, and where values came from — as
//! one document in JSON or HTML.

use std::collections::BTreeMap;

use maud::{html, Markup, DOCTYPE};
use serde::Serialize;

use super::consent::{self, ContactConsent};
use super::SyncError;
use crate::config::Config;
use crate::domain::model::EntityKind;
use crate::store::audit::{self, AuditFilter, AuditRow};
use crate::store::changes::{self, ChangeFilter, ChangeRow};
use crate::store::provenance::{self, ProvenanceRow};
use crate::store::status::{self, MatchRow, StatusRow};
use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct SubjectAccess {
    pub generated_at: chrono::NaiveDateTime,
    pub job: String,
    pub crm: String,
    pub contact_id: String,
    /// What the CRM holds now, as refsync reads it; none when the CRM has no such record.
    pub crm_values: Option<BTreeMap<String, String>>,
    pub status: Option<StatusRow>,
    pub register_match: Option<MatchRow>,
    pub changes: Vec<ChangeRow>,
    pub audit: Vec<AuditRow>,
    pub consent: ContactConsent,
    /// What refsync wrote into the CRM, from which register record.
    pub provenance: Vec<ProvenanceRow>,
    /// Every source named above: registers, import files, people.
    pub sources: Vec<String>,
}

pub async fn collect(
    config: &Config,
    store: &Store,
    job_name: &str,
    contact_id: &str,
) -> Result<SubjectAccess, SyncError> {
    let job = super::erase::contact_job(config, job_name)?;
    let crm = crate::crm::open(&job.crm, &config.crm[&job.crm]).await?;
    let ids = [contact_id.to_string()];
    let record = crm.read_by_ids(EntityKind::Contact, &ids).await?.pop();
    let consent = consent::verdicts_of(
        store,
        job_name.to_string(),
        &job.crm,
        contact_id,
        record.as_ref(),
    )
    .await?;
    let crm_values = record.map(|r| {
        r.values
            .into_iter()
            .map(|(f, v)| (f.as_str().to_string(), v))
            .collect()
    });
    let (job_owned, crm_name, id) = (
        job_name.to_string(),
        job.crm.clone(),
        contact_id.to_string(),
    );
    let (status, register_match, changes, audit, provenance) = store
        .db
        .run(move |conn| {
            let mut audit = audit::list(
                conn,
                &AuditFilter {
                    job: Some(job_owned.clone()),
                    record_id: Some(id.clone()),
                    ..Default::default()
                },
            )?;
            audit.reverse();
            let provenance =
                provenance::for_records(conn, &crm_name, "contact", std::slice::from_ref(&id))?
                    .remove(&id)
                    .unwrap_or_default();
            Ok::<_, diesel::result::Error>((
                status::get_status(conn, &job_owned, &id)?,
                status::get_match(conn, &job_owned, &id)?,
                changes::list(
                    conn,
                    &ChangeFilter {
                        job: Some(job_owned.clone()),
                        record_id: Some(id.clone()),
                        ..Default::default()
                    },
                )?,
                audit,
                provenance,
            ))
        })
        .await?;
    let mut sources: Vec<String> = changes
        .iter()
        .map(|c| c.source.clone())
        .chain(provenance.iter().map(|p| p.source.clone()))
        .chain(audit.iter().filter_map(|a| a.source.clone()))
        .chain(consent.records.iter().map(|c| c.source.clone()))
        .collect();
    sources.sort();
    sources.dedup();
    Ok(SubjectAccess {
        generated_at: crate::store::now(),
        job: job_name.to_string(),
        crm: job.crm.clone(),
        contact_id: contact_id.to_string(),
        crm_values,
        status,
        register_match,
        changes,
        audit,
        consent,
        provenance,
        sources,
    })
}

fn table(title: &str, headers: &[&str], rows: Vec<Vec<String>>) -> Markup {
    html! {
        h2 { (title) }
        @if rows.is_empty() {
            p { "None." }
        } @else {
            table {
                tr { @for h in headers { th { (h) } } }
                @for row in rows {
                    tr { @for cell in row { td { (cell) } } }
                }
            }
        }
    }
}

fn or_empty(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The document as a self-contained HTML page; maud escapes every value.
pub fn html(doc: &SubjectAccess) -> String {
    let title = format!("Data held about contact {} ({})", doc.contact_id, doc.crm);
    let c = &doc.consent;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;text-align:left}" }
            }
            body {
                h1 { (title) }
                p {
                    "Access request (Art. 15 GDPR), generated "
                    (doc.generated_at.format("%Y-%m-%d %H:%M:%S")) " UTC by refsync, job " (doc.job) "."
                }
                (table(
                    "Values in the CRM",
                    &["field", "value"],
                    doc.crm_values
                        .iter()
                        .flatten()
                        .map(|(f, v)| vec![f.clone(), v.clone()])
                        .collect(),
                ))
                h2 { "Advertising consent" }
                p { "Judged as a " (c.audience.as_str()) " contact: " (c.audience_reason) "." }
                (table(
                    "Verdict per channel",
                    &["channel", "allowed", "reason"],
                    c.verdicts
                        .iter()
                        .map(|v| {
                            vec![
                                v.channel.to_string(),
                                if v.allowed { "yes" } else { "no" }.into(),
                                v.reason.clone(),
                            ]
                        })
                        .collect(),
                ))
                (table(
                    "Consent records",
                    &["channel", "status", "given at", "source", "recorded by"],
                    c.records
                        .iter()
                        .map(|r| {
                            vec![
                                r.channel.clone(),
                                r.status.clone(),
                                r.given_at.to_string(),
                                r.source.clone(),
                                r.recorded_by.clone(),
                            ]
                        })
                        .collect(),
                ))
                (table(
                    "Changes refsync proposed or made",
                    &["id", "field", "old", "new", "status", "source", "reason"],
                    doc.changes
                        .iter()
                        .map(|ch| {
                            vec![
                                ch.id.to_string(),
                                ch.field.clone(),
                                or_empty(&ch.old_value),
                                or_empty(&ch.new_value),
                                ch.status.to_string(),
                                ch.source.clone(),
                                ch.reason.clone(),
                            ]
                        })
                        .collect(),
                ))
                (table(
                    "Audit log",
                    &["at", "who", "action", "field", "old", "new", "source"],
                    doc.audit
                        .iter()
                        .map(|a| {
                            vec![
                                a.at.to_string(),
                                a.actor.clone(),
                                a.action.to_string(),
                                or_empty(&a.field),
                                or_empty(&a.old_value),
                                or_empty(&a.new_value),
                                or_empty(&a.source),
                            ]
                        })
                        .collect(),
                ))
                (table(
                    "Values refsync wrote into the CRM",
                    &["field", "value", "source", "register record", "written at"],
                    doc.provenance
                        .iter()
                        .map(|p| {
                            vec![
                                p.field.clone(),
                                or_empty(&p.value),
                                p.source.clone(),
                                p.register_id.clone(),
                                p.written_at.to_string(),
                            ]
                        })
                        .collect(),
                ))
                (table(
                    "Sources",
                    &["source"],
                    doc.sources.iter().map(|s| vec![s.clone()]).collect(),
                ))
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}
