//! `refsync report`: the data-quality report (Datenaudit) of a job, from the CRM (read
//! through its [`CrmSource`](crate::crm::CrmSource)) and the store; no register is asked.
//! The figures are [`crate::domain::report`]; [`html`] renders them as one page.

pub mod html;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::domain::consent::Consent;
use crate::domain::model::{ChangeStatus, Field, MatchStatus, PassOutcome, Record};
use crate::domain::report::{
    Audit, ChangeFact, Duplicates, Inputs, PassFigures, Report, StatusFact,
};
use crate::store::changes::{self, ChangeFilter};
use crate::store::passes::{self, PassRow};
use crate::store::{audit, clusters, consents, erasure, status, Store};

use super::consent::{parse_time, to_domain};
use super::SyncError;

/// Passes shown in the match-status trend.
pub const TREND_PASSES: i64 = 10;
/// Records read from the CRM at a time.
const READ_BATCH: usize = 5_000;

/// The report of `job_name`: the CRM side always, the store's side once a pass has run.
pub async fn build(config: &Config, store: &Store, job_name: &str) -> Result<Report, SyncError> {
    let job = config
        .job
        .get(job_name)
        .ok_or_else(|| SyncError::NoSuchJob(job_name.to_string()))?;
    let crm = crate::crm::open(&job.crm, &config.crm[&job.crm]).await?;
    let fields: Vec<Field> = crm
        .mapping(job.entity)
        .map(|m| m.columns.keys().copied().collect())
        .unwrap_or_default();
    let (job_key, crm_key) = (job_name.to_string(), job.crm.clone());
    let looks_for_duplicates = job.duplicates.enabled;
    let (status_rows, pass_rows, change_rows, consent_rows, erased, decisions, duplicates) = store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            let pass_rows: Vec<PassRow> = passes::list(conn, Some(&job_key), TREND_PASSES)?
                .into_iter()
                .filter(|p| p.status != PassOutcome::Running)
                .collect();
            // The last pass's changes (automatic ones among them) and every waiting one.
            let mut change_rows = changes::briefs(
                conn,
                &ChangeFilter {
                    job: Some(job_key.clone()),
                    statuses: vec![ChangeStatus::Proposed],
                    ..ChangeFilter::default()
                },
            )?;
            if let Some(last) = pass_rows.first() {
                let of_last = changes::briefs(
                    conn,
                    &ChangeFilter {
                        job: Some(job_key.clone()),
                        pass_id: Some(last.id),
                        ..ChangeFilter::default()
                    },
                )?;
                change_rows.extend(
                    of_last
                        .into_iter()
                        .filter(|c| c.status != ChangeStatus::Proposed),
                );
            }
            Ok((
                status::for_job(conn, &job_key)?,
                pass_rows,
                change_rows,
                consents::all(conn, Some(&crm_key))?,
                erasure::erased_ids(conn, &crm_key)?,
                audit::decision_times(conn, &job_key)?,
                match looks_for_duplicates {
                    true => Some(Duplicates {
                        cluster_of: clusters::members(conn, &job_key)?
                            .into_iter()
                            .map(|(record, (cluster, _))| (record, cluster))
                            .collect(),
                        merges: clusters::statuses(conn, &job_key)?,
                    }),
                    false => None,
                },
            ))
        })
        .await?;

    let statuses: HashMap<String, StatusFact> = status_rows
        .into_iter()
        .map(|s| {
            (
                s.record_id,
                StatusFact {
                    status: s.status,
                    verified_at: s.verified_at,
                },
            )
        })
        .collect();
    let passes: Vec<PassFigures> = pass_rows.iter().map(pass_figures).collect();
    let changes: Vec<ChangeFact> = change_rows
        .into_iter()
        .map(|c| ChangeFact {
            pass_id: c.pass_id,
            field: c.field,
            policy: c.policy,
            status: c.status,
            by_system: c.decided_by.as_deref() == Some(audit::SYSTEM),
        })
        .collect();
    let mut consents: HashMap<String, Vec<Consent>> = HashMap::new();
    for row in &consent_rows {
        if let Some(consent) = to_domain(row) {
            consents
                .entry(row.contact_id.clone())
                .or_default()
                .push(consent);
        }
    }
    let erased: HashSet<String> = erased.into_iter().collect();
    let modified_at = |r: &Record| {
        let at = r.modified.as_ref()?.at.as_deref()?;
        parse_time(at).ok()
    };
    let inputs = Inputs {
        kind: job.entity,
        now: crate::store::now(),
        fields: &fields,
        placeholders: &job.placeholders,
        statuses: &statuses,
        passes: &passes,
        changes: &changes,
        consents: &consents,
        erased: &erased,
        decisions: &decisions,
        modified_at: &modified_at,
        duplicates: duplicates.as_ref(),
    };
    // Batch by batch: only what each record contributes is kept, not the record.
    let mut audit = Audit::new(&inputs);
    crate::crm::for_each_page(crm.as_ref(), job.entity, READ_BATCH, |batch| {
        audit.add(&batch)
    })
    .await?;
    Ok(audit.finish())
}

/// The report as JSON, as `refsync report --format json` prints it.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report serialises") + "\n"
}

/// Why a scheduled report was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Build(#[from] SyncError),
    #[error("cannot write {path}: {source}; check the folder in report_dir")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// What [`write_files`] wrote.
#[derive(Debug)]
pub struct Written {
    pub records: u64,
    pub files: Vec<PathBuf>,
}

/// Writes the report of `job_name` into `dir` as `<job>-<YYYY-MM-DD>.html` (German labels)
/// and `.json`, dated by the day it was made (UTC); each file replaced whole.
pub async fn write_files(
    config: &Config,
    store: &Store,
    job_name: &str,
    dir: &Path,
) -> Result<Written, WriteError> {
    let report = build(config, store, job_name).await?;
    let stem = format!("{job_name}-{}", report.generated_at.format("%Y-%m-%d"));
    let mut files = Vec::new();
    for (extension, text) in [
        ("html", html::page(&report, job_name, html::Lang::De)),
        ("json", json(&report)),
    ] {
        let path = dir.join(format!("{stem}.{extension}"));
        crate::files::write_atomically(&path, text.as_bytes()).map_err(|source| {
            WriteError::Write {
                path: path.display().to_string(),
                source,
            }
        })?;
        files.push(path);
    }
    Ok(Written {
        records: report.records,
        files,
    })
}

fn pass_figures(p: &PassRow) -> PassFigures {
    let counts: BTreeMap<MatchStatus, i64> = [
        (MatchStatus::InSync, p.in_sync),
        (MatchStatus::Different, p.different),
        (MatchStatus::NotFound, p.not_found),
        (MatchStatus::Ambiguous, p.ambiguous),
        (MatchStatus::LookupFailed, p.lookup_failed),
        (MatchStatus::Inactive, p.inactive),
        (MatchStatus::Skipped, p.skipped),
    ]
    .into_iter()
    .collect();
    PassFigures {
        id: p.id,
        started_at: p.started_at,
        outcome: p.status,
        records_read: p.records_read,
        counts,
    }
}
