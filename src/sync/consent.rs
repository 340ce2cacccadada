//! Consent per contact and channel: verdicts with their reasons, recording a consent or a
//! revocation, and CSV import and export. The CLI calls these; the review API can too.

use std::io::Write;
use std::path::Path;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde::Serialize;

use super::erase::contact_job;
use super::SyncError;
use crate::config::Config;
use crate::crm::csv::{CsvOptions, CsvRows, RowError};
use crate::domain::consent::{
    self, Audience, Channel, Consent, ConsentStatus, DoubleOptIn, Verdict,
};
use crate::domain::model::{EntityKind, Record};
use crate::domain::normalise::fold_text;
use crate::store::audit::{self, AuditAction, NewAudit};
use crate::store::consents::{self, ConsentRow, NewConsentRow};
use crate::store::erasure;
use crate::store::seal::AuditKey;
use crate::store::Store;

/// A contact's verdicts per channel, why the contact counts as business or consumer, and
/// the records the verdicts rest on.
#[derive(Debug, Clone, Serialize)]
pub struct ContactConsent {
    pub job: String,
    pub crm: String,
    pub contact_id: String,
    pub audience: Audience,
    pub audience_reason: String,
    pub verdicts: Vec<Verdict>,
    pub records: Vec<ConsentRow>,
}

/// A consent or revocation to record.
#[derive(Debug, Clone)]
pub struct NewConsent {
    pub contact_id: String,
    pub channel: Channel,
    pub status: ConsentStatus,
    pub source: String,
    /// When the person gave or revoked it; default: now.
    pub at: Option<NaiveDateTime>,
    pub evidence: Option<DoubleOptIn>,
}

/// The contact job `job`, or the only one there is.
pub fn resolve_job(config: &Config, job: Option<&str>) -> Result<String, SyncError> {
    if let Some(name) = job {
        contact_job(config, name)?;
        return Ok(name.to_string());
    }
    let names: Vec<&String> = config
        .job
        .iter()
        .filter(|(_, j)| j.entity == EntityKind::Contact)
        .map(|(n, _)| n)
        .collect();
    match names.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(SyncError::Refused(
            "no contact job is configured; consent belongs to contacts".into(),
        )),
        many => Err(SyncError::Refused(format!(
            "several contact jobs ({}); name one with --job",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub(crate) fn to_domain(row: &ConsentRow) -> Option<Consent> {
    Some(Consent {
        channel: row.channel.parse().ok()?,
        status: row.status.parse().ok()?,
        at: row.given_at,
        source: row.source.clone(),
        evidence: row
            .evidence
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok()),
    })
}

/// The verdict for every channel of a contact, now. A contact linked to an organisation in
/// the CRM is a business contact; any other (or one the CRM no longer has) is a consumer,
/// the stricter case.
pub async fn verdicts(
    config: &Config,
    store: &Store,
    job: Option<&str>,
    contact_id: &str,
) -> Result<ContactConsent, SyncError> {
    let job_name = resolve_job(config, job)?;
    let crm_name = &config.job[&job_name].crm;
    let crm = crate::crm::open(crm_name, &config.crm[crm_name]).await?;
    let ids = [contact_id.to_string()];
    let record = crm.read_by_ids(EntityKind::Contact, &ids).await?.pop();
    verdicts_of(store, job_name, crm_name, contact_id, record.as_ref()).await
}

/// [`verdicts`] for a contact already read from the CRM of `job_name` (`None`: not there).
pub async fn verdicts_of(
    store: &Store,
    job_name: String,
    crm_name: &str,
    contact_id: &str,
    record: Option<&Record>,
) -> Result<ContactConsent, SyncError> {
    let (audience, audience_reason) = consent::audience_of(record);
    let (crm, id) = (crm_name.to_string(), contact_id.to_string());
    let (records, erased) = store
        .db
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                consents::for_contact(conn, &crm, &id)?,
                erasure::get(conn, &crm, &id)?,
            ))
        })
        .await?;
    let domain: Vec<Consent> = records.iter().filter_map(to_domain).collect();
    let verdicts = match erased {
        Some(e) => consent::erased(e.erased_at.date()),
        None => consent::verdicts(audience, &domain, crate::store::now()),
    };
    Ok(ContactConsent {
        job: job_name,
        crm: crm_name.to_string(),
        contact_id: contact_id.to_string(),
        audience,
        audience_reason,
        verdicts,
        records,
    })
}

/// Checks a consent and makes it a row; the caller stores it.
fn new_row(crm: &str, consent: &NewConsent, actor: &str) -> Result<NewConsentRow, String> {
    if consent.contact_id.trim().is_empty() {
        return Err("the contact id is empty".into());
    }
    if consent.source.trim().is_empty() {
        return Err("the source is empty; say where the consent comes from".into());
    }
    let now = crate::store::now();
    let at = consent.at.unwrap_or(now);
    if at > now + chrono::Duration::minutes(5) {
        return Err(format!("{at} lies in the future"));
    }
    let domain = Consent {
        channel: consent.channel,
        status: consent.status,
        at,
        source: consent.source.clone(),
        evidence: consent.evidence.clone(),
    };
    consent::check(&domain)?;
    Ok(NewConsentRow {
        crm: crm.to_string(),
        contact_id: consent.contact_id.trim().to_string(),
        channel: consent.channel.as_str().into(),
        status: consent.status.as_str().into(),
        source: consent.source.trim().to_string(),
        given_at: at,
        evidence: consent
            .evidence
            .as_ref()
            .map(|e| serde_json::to_string(e).unwrap_or_default()),
        recorded_by: actor.to_string(),
        recorded_at: now,
    })
}

/// Stores the row and its audit entry (channel and status; no personal values); `None`
/// when the contact was erased: nothing is recorded about them any more.
fn store_row(
    conn: &mut crate::db::AnyConnection,
    key: &AuditKey,
    job: &str,
    row: &NewConsentRow,
) -> diesel::QueryResult<Option<i64>> {
    if erasure::get(conn, &row.crm, &row.contact_id)?.is_some() {
        return Ok(None);
    }
    let id = consents::insert(conn, row)?;
    audit::append(
        conn,
        key,
        &NewAudit {
            at: row.recorded_at,
            actor: row.recorded_by.clone(),
            action: AuditAction::ConsentRecorded,
            job: job.to_string(),
            pass_id: None,
            change_id: None,
            entity: "contact".into(),
            record_id: row.contact_id.clone(),
            field: Some(row.channel.clone()),
            old_value: None,
            new_value: Some(row.status.clone()),
            source: Some(row.source.clone()),
            score: None,
            detail: None,
        },
    )?;
    Ok(Some(id))
}

/// Records a consent or a revocation (a new row: nothing is ever changed); returns its id.
pub async fn record(
    config: &Config,
    store: &Store,
    job: Option<&str>,
    consent: NewConsent,
    actor: &str,
) -> Result<i64, SyncError> {
    let job_name = resolve_job(config, job)?;
    let crm = config.job[&job_name].crm.clone();
    let row = new_row(&crm, &consent, actor).map_err(SyncError::Refused)?;
    let contact = row.contact_id.clone();
    let key = store.seal.key.clone();
    let id = store
        .db
        .run(move |conn| conn.transaction(|conn| store_row(conn, &key, &job_name, &row)))
        .await?
        .ok_or_else(|| {
            SyncError::Refused(format!(
                "contact {contact} was erased (Art. 17); nothing is recorded about them"
            ))
        })?;
    store.checkpoint().await?;
    Ok(id)
}

/// Stores rows in one transaction; rows of erased contacts are left out, as errors where
/// `erased_is_error` (a list names them; a CRM keeps flags of anonymised records).
async fn store_rows(
    store: &Store,
    job: &str,
    rows: Vec<(u64, NewConsentRow)>,
    report: &mut ConsentImport,
    erased_is_error: bool,
) -> Result<(), SyncError> {
    let job = job.to_string();
    let key = store.seal.key.clone();
    let stored = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let mut out = Vec::with_capacity(rows.len());
                for (line, row) in rows {
                    let id = store_row(conn, &key, &job, &row)?;
                    out.push((line, row.contact_id, id));
                }
                Ok::<_, diesel::result::Error>(out)
            })
        })
        .await?;
    store.checkpoint().await?;
    for (line, contact, id) in stored {
        match id {
            Some(_) => report.recorded += 1,
            None if !erased_is_error => {}
            None => report.errors.push(RowError {
                line,
                problem: format!("contact {contact} was erased (Art. 17); not recorded"),
            }),
        }
    }
    Ok(())
}

/// The columns of a consent list, with the header names people use (folded).
const COLUMNS: &[(&str, &[&str])] = &[
    (
        "contact_id",
        &["contact id", "contact", "kontakt", "kontakt id"],
    ),
    ("channel", &["channel", "kanal"]),
    ("status", &["status", "consent", "einwilligung"]),
    ("source", &["source", "quelle"]),
    (
        "given_at",
        &["given at", "at", "timestamp", "datum", "date"],
    ),
    ("requested_at", &["requested at", "angefragt"]),
    ("confirmed_at", &["confirmed at", "bestatigt", "bestaetigt"]),
    ("confirmed_text", &["confirmed text", "text"]),
];

/// What a consent import did.
#[derive(Debug, Default, Serialize)]
pub struct ConsentImport {
    pub job: String,
    pub rows: u64,
    pub recorded: u64,
    pub errors: Vec<RowError>,
}

/// A time as lists and databases write it: RFC 3339, `YYYY-MM-DD HH:MM[:SS[.ffffff]]`
/// (UTC), PostgreSQL's `YYYY-MM-DD HH:MM:SS[.ffffff]+HH` (a `timestamptz` as text), or a
/// date (midnight).
pub fn parse_time(raw: &str) -> Result<NaiveDateTime, String> {
    let v = raw.trim();
    chrono::DateTime::parse_from_rfc3339(v)
        .or_else(|_| chrono::DateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .map(|d| d.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M"))
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| format!("`{v}` is not a time; write 2026-01-31 or 2026-01-31 14:05:00"))
}

/// One row of a consent list as a consent.
fn parse_row(cell: &dyn Fn(&str) -> Option<String>) -> Result<NewConsent, String> {
    let required = |name: &str| cell(name).ok_or_else(|| format!("{name} is empty"));
    let channel: Channel = required("channel")?.to_lowercase().parse()?;
    let status: ConsentStatus = required("status")?.to_lowercase().parse()?;
    let evidence = match (
        cell("requested_at"),
        cell("confirmed_at"),
        cell("confirmed_text"),
    ) {
        (None, None, None) => None,
        (Some(r), Some(c), Some(text)) => Some(DoubleOptIn {
            requested_at: parse_time(&r)?,
            confirmed_at: parse_time(&c)?,
            confirmed_text: text,
        }),
        _ => {
            return Err(
                "a double opt-in needs requested_at, confirmed_at and confirmed_text".into(),
            )
        }
    };
    Ok(NewConsent {
        contact_id: required("contact_id")?,
        channel,
        status,
        source: required("source")?,
        at: Some(parse_time(&required("given_at")?)?),
        evidence,
    })
}

/// Imports a consent list: every valid row is recorded, every broken one reported with
/// its line; the rest go on.
pub async fn import_csv(
    config: &Config,
    store: &Store,
    job: Option<&str>,
    path: &Path,
    actor: &str,
) -> Result<ConsentImport, SyncError> {
    let job_name = resolve_job(config, job)?;
    let crm = config.job[&job_name].crm.clone();
    let options = CsvOptions {
        cells_only: true,
        ..Default::default()
    };
    let mut rows = CsvRows::open(path, &options).map_err(|e| SyncError::Refused(e.to_string()))?;
    let headers = &rows.layout.headers;
    let column = |name: &str, aliases: &[&str]| {
        headers
            .iter()
            .position(|h| h == name || aliases.iter().any(|a| fold_text(h) == fold_text(a)))
    };
    let positions: Vec<(&str, Option<usize>)> = COLUMNS
        .iter()
        .map(|(name, aliases)| (*name, column(name, aliases)))
        .collect();
    let missing: Vec<&str> = positions
        .iter()
        .filter(|(name, at)| {
            at.is_none() && !matches!(*name, "requested_at" | "confirmed_at" | "confirmed_text")
        })
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(SyncError::Refused(format!(
            "{}: no column for {}; the columns are: {}",
            path.display(),
            missing.join(", "),
            headers.join(", ")
        )));
    }
    let mut report = ConsentImport {
        job: job_name.clone(),
        ..Default::default()
    };
    let mut valid = Vec::new();
    while let Some(row) = rows.next_row() {
        report.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        let cell = |name: &str| {
            positions
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, at)| *at)
                .map(|at| row.cells[at].trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match parse_row(&cell).and_then(|c| new_row(&crm, &c, actor)) {
            Ok(new) => valid.push((row.line, new)),
            Err(problem) => report.errors.push(RowError {
                line: row.line,
                problem,
            }),
        }
    }
    store_rows(store, &job_name, valid, &mut report, true).await?;
    Ok(report)
}

/// A CRM's word for a consent status, if it is one.
fn crm_status(raw: &str) -> Option<ConsentStatus> {
    match raw.trim().to_lowercase().as_str() {
        "opt_in" | "opt-in" | "yes" | "ja" | "true" | "1" | "y" | "j" => Some(ConsentStatus::OptIn),
        "opt_out" | "opt-out" | "no" | "nein" | "false" | "0" | "n" => Some(ConsentStatus::OptOut),
        "presumed" => Some(ConsentStatus::Presumed),
        _ => None,
    }
}

/// Imports consent from the CRM columns the job names in `consent_columns`. A status is
/// recorded when it differs from the last one recorded from that column, so a rerun adds
/// nothing; erased contacts are left out.
pub async fn import_from_crm(
    config: &Config,
    store: &Store,
    job: Option<&str>,
    actor: &str,
) -> Result<ConsentImport, SyncError> {
    let job_name = resolve_job(config, job)?;
    let job = &config.job[&job_name];
    if job.consent_columns.is_empty() {
        return Err(SyncError::Refused(format!(
            "job `{job_name}` names no consent columns; add [job.{job_name}.consent_columns] with e.g. email = \"COLUMN\""
        )));
    }
    let (channels, columns): (Vec<Channel>, Vec<String>) = job
        .consent_columns
        .iter()
        .map(|(channel, column)| (*channel, column.clone()))
        .unzip();
    let crm = crate::crm::open(&job.crm, &config.crm[&job.crm]).await?;
    let crm_name = job.crm.clone();
    // The latest status per (contact, source), oldest rows first so the newest wins.
    let known: std::collections::HashMap<(String, String), String> = store
        .db
        .run(move |conn| consents::all(conn, Some(&crm_name)))
        .await?
        .into_iter()
        .map(|k| ((k.contact_id, k.source), k.status))
        .collect();
    let mut report = ConsentImport {
        job: job_name.clone(),
        ..Default::default()
    };
    let mut valid = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let rows = crm
            .read_columns(EntityKind::Contact, &columns, after.as_deref(), 1_000)
            .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = Some(last.id.clone());
        for row in rows {
            for ((channel, column), value) in channels.iter().zip(&columns).zip(&row.values) {
                let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
                    continue;
                };
                report.rows += 1;
                let Some(status) = crm_status(value) else {
                    report.errors.push(RowError {
                        line: 0,
                        problem: format!(
                            "contact {}, column {column}: `{value}` is not a consent value (yes/no, ja/nein, opt_in/opt_out, presumed)",
                            row.id
                        ),
                    });
                    continue;
                };
                let source = format!("CRM {} column {column}", job.crm);
                let last = known.get(&(row.id.clone(), source.clone()));
                if last.is_some_and(|k| k == status.as_str()) {
                    continue;
                }
                let consent = NewConsent {
                    contact_id: row.id.clone(),
                    channel: *channel,
                    status,
                    source,
                    at: None,
                    evidence: None,
                };
                match new_row(&job.crm, &consent, actor) {
                    Ok(new) => valid.push((0, new)),
                    Err(problem) => report.errors.push(RowError {
                        line: 0,
                        problem: format!("contact {}, column {column}: {problem}", row.id),
                    }),
                }
            }
        }
    }
    store_rows(store, &job_name, valid, &mut report, false).await?;
    Ok(report)
}

/// Writes every consent record (of the job's CRM) as CSV in the import's columns.
pub async fn export_csv(
    config: &Config,
    store: &Store,
    job: Option<&str>,
    out: &mut dyn Write,
) -> Result<usize, SyncError> {
    let job_name = resolve_job(config, job)?;
    let crm = config.job[&job_name].crm.clone();
    let rows = store
        .db
        .run(move |conn| consents::all(conn, Some(&crm)))
        .await?;
    let io = |e: csv::Error| SyncError::Refused(format!("cannot write the export: {e}"));
    let mut writer = csv::Writer::from_writer(out);
    let headers = COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .chain(["recorded_by", "recorded_at"]);
    writer.write_record(headers).map_err(io)?;
    let time = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
    for row in &rows {
        let proof: Option<DoubleOptIn> = row
            .evidence
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok());
        writer
            .write_record([
                row.contact_id.clone(),
                row.channel.clone(),
                row.status.clone(),
                row.source.clone(),
                time(row.given_at),
                proof
                    .as_ref()
                    .map(|p| time(p.requested_at))
                    .unwrap_or_default(),
                proof
                    .as_ref()
                    .map(|p| time(p.confirmed_at))
                    .unwrap_or_default(),
                proof.map(|p| p.confirmed_text).unwrap_or_default(),
                row.recorded_by.clone(),
                time(row.recorded_at),
            ])
            .map_err(io)?;
    }
    writer
        .flush()
        .map_err(|e| SyncError::Refused(format!("cannot write the export: {e}")))?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_read_as_lists_and_databases_write_them() {
        // (text, UTC)
        let cases = [
            ("2026-01-31", Some("2026-01-31 00:00:00")),
            ("2026-01-31 14:05", Some("2026-01-31 14:05:00")),
            ("2026-01-31 14:05:09", Some("2026-01-31 14:05:09")),
            ("2026-01-31T14:05:09", Some("2026-01-31 14:05:09")),
            ("2026-01-31T14:05:09+01:00", Some("2026-01-31 13:05:09")),
            ("2026-01-31 14:05:09.123456", Some("2026-01-31 14:05:09")),
            ("2026-01-31 14:05:09.5+02", Some("2026-01-31 12:05:09")),
            ("31.01.2026", None),
            ("k.A.", None),
        ];
        for (text, want) in cases {
            let got = parse_time(text)
                .ok()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }
}
