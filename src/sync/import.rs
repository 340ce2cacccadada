//! Data islands: match a CSV list (leads, exports, form dumps) against the CRM itself and the
//! register. `import` turns every row into a proposal (new record, update of an existing
//! one, or duplicate); `export` writes the corrected file. Rows are streamed in batches.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use diesel::Connection;
use serde::Serialize;
use tracing::info;

use super::pass::PassContext;
use super::persist::{self, Proposal, Stored};
use super::SyncError;
use crate::config::Config;
use crate::crm::csv::{CsvOptions, CsvRows, Layout, MixedEncodings, Row, RowError};
use crate::domain::check;
use crate::domain::decide::{decide, Decision};
use crate::domain::model::{Band, ChangeKind, Field, Policy, Record};
use crate::domain::policy::Action;
use crate::domain::score::Prepared;
use crate::store::passes::{self, PassCounts, PassOutcome};
use crate::store::Store;

const BATCH: usize = 500;
/// Row errors listed in full; beyond this only counted.
const ERRORS_SHOWN: usize = 100;

/// What to do with the matched rows.
pub enum Mode {
    /// Store proposals in the review queue.
    Propose,
    /// Write the corrected file here.
    Export(PathBuf),
}

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub pass_id: Option<i64>,
    pub layout: Option<Layout>,
    /// Lines of both encodings, each decoded as what it is.
    pub mixed_encodings: Option<MixedEncodings>,
    pub rows: u64,
    pub invalid_rows: u64,
    pub errors: Vec<RowError>,
    /// Rows of people who were erased: neither proposed nor exported.
    pub suppressed: u64,
    pub new: u64,
    pub updates: u64,
    pub duplicates: u64,
    pub register_matched: u64,
    pub changes_proposed: i64,
}

/// One row's findings.
struct Finding {
    row: Row,
    /// The CRM record it matches, with the band.
    crm: Option<(Record, Band, f64)>,
    /// The register record it matches, in the auto band, with its score.
    register: Option<(Record, f64)>,
    /// Fields where the row (corrected by the register) differs from the CRM record.
    updates: Vec<(Field, Option<String>, String)>,
}

pub async fn run(
    config: &Config,
    store: &Store,
    job_name: &str,
    path: &Path,
    options: &CsvOptions,
    mode: Mode,
) -> Result<ImportReport, SyncError> {
    let mut rows = CsvRows::open(path, options).map_err(|e| SyncError::Refused(format!("{e}")))?;
    // The job's model as configured (pinned or built-in m/u): a list is too uneven a
    // sample to estimate it from.
    let PassContext {
        job,
        plan,
        crm,
        register,
        scorer,
        suppression,
        ..
    } = PassContext::open(config, store, job_name).await?;
    let rules = plan.rules.clone();

    // The CRM side is indexed once; the file is streamed past it.
    let index = super::check::index_crm(crm.as_ref(), job.entity).await?;
    info!(crm_records = index.len(), file = %path.display(), "matching a list against the CRM and the register");

    let mut report = ImportReport {
        layout: Some(rows.layout.clone()),
        ..Default::default()
    };
    let source = path
        .file_name()
        .map_or("import".to_string(), |n| n.to_string_lossy().into_owned());
    let pass_id = match mode {
        Mode::Propose => {
            let (name, entity) = (format!("{job_name}:import"), job.entity.as_str());
            Some(
                store
                    .db
                    .run(move |conn| passes::begin(conn, &name, entity))
                    .await?,
            )
        }
        Mode::Export(_) => None,
    };
    report.pass_id = pass_id;
    let mut out = match &mode {
        Mode::Export(out) => Some(Exporter::create(out, &rows.layout)?),
        Mode::Propose => None,
    };

    let mut done = false;
    while !done {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match rows.next_row() {
                None => {
                    done = true;
                    break;
                }
                Some(Err(e)) => {
                    report.invalid_rows += 1;
                    if report.errors.len() < ERRORS_SHOWN {
                        report.errors.push(e);
                    }
                }
                Some(Ok(row)) => batch.push(row),
            }
        }
        let records: Vec<Record> = batch.iter().map(|r| r.record.clone()).collect();
        let suppressed = suppression.suppressed(store, None, &records).await?;
        report.suppressed += suppressed.len() as u64;
        batch.retain(|r| !suppressed.contains(&r.record.id));
        if batch.is_empty() {
            continue;
        }
        let records: Vec<Record> = batch.iter().map(|r| r.record.clone()).collect();
        let mut lookups = register.candidates(job.entity, &records).await;
        for candidates in lookups.iter_mut().flatten() {
            plan.minimise(candidates);
        }
        let mut findings = Vec::with_capacity(batch.len());
        for (row, lookup) in batch.into_iter().zip(lookups) {
            let reg = lookup.ok().and_then(|candidates| {
                let row_prepared = Prepared::new(job.entity, &row.record);
                let scored = candidates
                    .iter()
                    .map(|c| scorer.score(&row_prepared, &Prepared::new(job.entity, c)))
                    .collect();
                match decide(scored, &job.thresholds) {
                    Decision::Matched {
                        best,
                        band: Band::Auto,
                    } => candidates
                        .into_iter()
                        .find(|c| c.id == best.register_id)
                        .map(|c| (c, best.score)),
                    _ => None,
                }
            });
            // The row as the register corrects it: what a clean lead would look like.
            let corrected = check::corrected(&row.record, &rules, reg.as_ref().map(|(r, _)| r));
            let candidates = index.candidates(job.entity, &corrected);
            let crm_match = check::crm_match(&scorer, &job.thresholds, &corrected, candidates);
            let updates = match &crm_match {
                Some((existing, _, _)) => check::updates(&rules, &corrected, existing),
                None => Vec::new(),
            };
            report.rows += 1;
            report.register_matched += u64::from(reg.is_some());
            match (&crm_match, updates.is_empty()) {
                (None, _) => report.new += 1,
                (Some(_), true) => report.duplicates += 1,
                (Some(_), false) => report.updates += 1,
            }
            let mut row = row;
            row.record = corrected;
            findings.push(Finding {
                row,
                crm: crm_match,
                register: reg,
                updates,
            });
        }
        if let Some(out) = out.as_mut() {
            for f in &findings {
                out.write(f)?;
            }
        }
        if let Some(pass_id) = pass_id {
            let ctx = persist::Context {
                organisation_jobs: Vec::new(),
                job: job_name.to_string(),
                crm: job.crm.clone(),
                entity: job.entity,
                pass_id,
                register: source.clone(),
            };
            let proposed = store
                .db
                .run(move |conn| conn.transaction(|conn| store_findings(conn, &ctx, &findings)))
                .await?;
            report.changes_proposed += proposed;
        }
    }
    if let Some(out) = out {
        out.finish()?;
    }
    report.mixed_encodings = rows.mixed_encodings();
    if let Some(mixed) = &report.mixed_encodings {
        tracing::warn!(
            utf8_lines = mixed.utf8_lines,
            windows_1252_lines = mixed.windows_1252_lines,
            "the file mixes encodings; each line was decoded as what it is"
        );
    }
    if let Some(pass_id) = pass_id {
        let counts = PassCounts {
            records_read: report.rows as i64,
            matched_auto: (report.updates + report.duplicates) as i64,
            not_found: report.new as i64,
            changes_proposed: report.changes_proposed,
            ..Default::default()
        };
        store
            .db
            .run(move |conn| passes::finish(conn, pass_id, PassOutcome::Succeeded, &counts, None))
            .await?;
    }
    Ok(report)
}

/// Every finding becomes proposals, never an automatic write: a list is not a register.
fn store_findings(
    conn: &mut crate::db::AnyConnection,
    ctx: &persist::Context,
    findings: &[Finding],
) -> diesel::QueryResult<i64> {
    let mut stored = Stored::default();
    for f in findings {
        let lead = Lead {
            from: format!("{} line {}", ctx.register, f.row.line),
            record: &f.row.record,
            crm: f.crm.as_ref(),
            register: f.register.as_ref(),
            updates: &f.updates,
        };
        propose_lead(conn, ctx, &lead, &mut stored)?;
    }
    Ok(stored.counts.changes_proposed)
}

/// A record from outside the CRM (a list row, a checked form) with what matching found.
pub(crate) struct Lead<'a> {
    /// Where it comes from, for the reasons: `leads.csv line 7`, `check by anna`.
    pub from: String,
    pub record: &'a Record,
    /// The CRM record it matches, with the band and probability.
    pub crm: Option<&'a (Record, Band, f64)>,
    /// The register record it matches in the auto band, with its probability.
    pub register: Option<&'a (Record, f64)>,
    /// Fields where it differs from the CRM record: (field, old, new).
    pub updates: &'a [(Field, Option<String>, String)],
}

/// Proposes what `lead` means for the CRM: a new record, updates of the record it matches,
/// or a duplicate of it. Only proposals: a steward decides.
pub(crate) fn propose_lead(
    conn: &mut crate::db::AnyConnection,
    ctx: &persist::Context,
    lead: &Lead,
    stored: &mut Stored,
) -> diesel::QueryResult<()> {
    let from = &lead.from;
    let register_id = lead.register.map_or(from.clone(), |(r, _)| r.id.clone());
    let (record_id, kinds) = match lead.crm {
        Some((existing, _, _)) => (
            existing.id.clone(),
            vec![ChangeKind::Field, ChangeKind::Duplicate],
        ),
        None => (lead.record.id.clone(), vec![ChangeKind::NewRecord]),
    };
    let existing = persist::remembered(conn, &ctx.job, &record_id, &kinds)?;
    match lead.crm {
        None => {
            let values: BTreeMap<&str, &str> = lead
                .record
                .values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let new = serde_json::to_string(&values).unwrap_or_default();
            let reason = match lead.register {
                Some((r, s)) => format!(
                    "{from} is not in the CRM; the register knows it as {} ({s:.2}): create it",
                    r.id
                ),
                None => format!(
                    "{from} is not in the CRM and not in the register: check it, then create it"
                ),
            };
            let p = Proposal {
                kind: ChangeKind::NewRecord,
                field: "record",
                old: None,
                new: &new,
                policy: Policy::Propose,
                action: Action::Propose,
                register_id: &register_id,
                score: lead.register.map_or(0.0, |(_, s)| *s),
                reason,
            };
            persist::propose(conn, ctx, &record_id, &existing, &p, stored)?;
        }
        Some((existing_record, band, probability)) if lead.updates.is_empty() => {
            let new = format!("{from} duplicates CRM record {}", existing_record.id);
            let p = Proposal { kind: ChangeKind::Duplicate, field: "record", old: None, new: &new, policy: Policy::Propose, action: Action::Propose, register_id: &register_id, score: *probability, reason: format!("the CRM already holds this record (match {band}, {probability:.2}); nothing to add") };
            persist::propose(conn, ctx, &record_id, &existing, &p, stored)?;
        }
        Some((_, _, probability)) => {
            for (field, old, new) in lead.updates {
                let reason = format!(
                    "{field} from {from}: {} in CRM, {new:?} given; needs review",
                    old.as_deref()
                        .map_or("empty".to_string(), |o| format!("{o:?}"))
                );
                let p = Proposal {
                    kind: ChangeKind::Field,
                    field: field.as_str(),
                    old: old.as_deref(),
                    new,
                    policy: Policy::Propose,
                    action: Action::Propose,
                    register_id: &register_id,
                    score: *probability,
                    reason,
                };
                persist::propose(conn, ctx, &record_id, &existing, &p, stored)?;
            }
        }
    }
    // Two rows of a list may be one CRM record: the next row sees this one's changes.
    persist::insert_proposed(conn, stored)
}

/// Writes the corrected file: the original columns (mapped ones corrected by the register
/// where it matched in the auto band) plus what refsync found out.
struct Exporter {
    writer: csv::Writer<Box<dyn Write>>,
    layout: Layout,
}

impl Exporter {
    fn create(path: &Path, layout: &Layout) -> Result<Exporter, SyncError> {
        let file = std::fs::File::create(path)
            .map_err(|e| SyncError::Refused(format!("cannot write {}: {e}", path.display())))?;
        let mut sink: Box<dyn Write> = Box::new(std::io::BufWriter::new(file));
        // A byte-order mark makes Excel read the UTF-8 output as UTF-8.
        sink.write_all("\u{feff}".as_bytes())
            .map_err(|e| SyncError::Refused(e.to_string()))?;
        let mut writer = csv::WriterBuilder::new()
            .delimiter(layout.delimiter as u8)
            .from_writer(sink);
        let extra = [
            "refsync_status",
            "refsync_crm_id",
            "refsync_register_id",
            "refsync_score",
            "refsync_corrections",
        ];
        writer
            .write_record(layout.headers.iter().map(String::as_str).chain(extra))
            .map_err(|e| SyncError::Refused(e.to_string()))?;
        Ok(Exporter {
            writer,
            layout: layout.clone(),
        })
    }

    fn write(&mut self, f: &Finding) -> Result<(), SyncError> {
        let mut cells = f.row.cells.clone();
        let mut corrections = Vec::new();
        for (field, at) in &self.layout.fields {
            let value = match (field, self.layout.street_with_number) {
                (Field::Street, true) => match (
                    f.row.record.get(Field::Street),
                    f.row.record.get(Field::HouseNumber),
                ) {
                    (Some(s), Some(n)) => Some(format!("{s} {n}")),
                    (s, _) => s.map(str::to_string),
                },
                _ => f.row.record.get(*field).map(str::to_string),
            };
            if let Some(v) = value {
                if cells[*at].trim() != v {
                    corrections.push(format!("{field}: {:?} → {v:?}", cells[*at].trim()));
                    cells[*at] = v;
                }
            }
        }
        let status = match (&f.crm, f.updates.is_empty()) {
            (None, _) => "new",
            (Some(_), true) => "duplicate",
            (Some(_), false) => "update",
        };
        cells.extend([
            status.to_string(),
            f.crm
                .as_ref()
                .map(|(r, _, _)| r.id.clone())
                .unwrap_or_default(),
            f.register
                .as_ref()
                .map(|(r, _)| r.id.clone())
                .unwrap_or_default(),
            f.crm
                .as_ref()
                .map(|(_, _, s)| format!("{s:.3}"))
                .unwrap_or_default(),
            corrections.join("; "),
        ]);
        self.writer
            .write_record(&cells)
            .map_err(|e| SyncError::Refused(e.to_string()))
    }

    fn finish(mut self) -> Result<(), SyncError> {
        self.writer
            .flush()
            .map_err(|e| SyncError::Refused(e.to_string()))
    }
}
