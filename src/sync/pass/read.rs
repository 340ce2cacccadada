//! The read stage of a pass: CRM records batch by batch from where the pass starts (the
//! incremental cursor, a sweep left unfinished), and what the store remembers of them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use tracing::{info, warn};

use super::context::PassContext;
use super::lookup::Triaged;
use super::persist;
use crate::config::JobConfig;
use crate::domain::evaluate::History;
use crate::domain::model::{EntityKind, Field, MatchStatus, Record};
use crate::store::{cursors, provenance, resume, suppressions, Store};
use crate::sync::SyncError;

/// Where the pass is in the CRM, and batches read ahead (already looked up) for EM.
pub(super) struct Reader {
    since: Option<String>,
    /// Whether this is a full pass: only a full pass that ends moves the full-pass time.
    full: bool,
    at: Position,
    newest_seen: Option<String>,
    ahead: VecDeque<(Vec<Record>, Triaged)>,
}

/// Where a sweep stands: how many records it has gone through, and the id of the last one
/// (the CRM is paged by id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Position {
    pub done: usize,
    pub after: Option<String>,
}

impl Position {
    /// The position after `records`, read from here.
    fn past(&self, records: &[Record]) -> Position {
        Position {
            done: self.done + records.len(),
            after: records.last().map(|r| r.id.clone()).or(self.after.clone()),
        }
    }
}

/// One batch as read: its records, the lookup stage's result where it was read ahead, and
/// where the sweep stands once it is committed.
pub(super) struct Batch {
    pub records: Vec<Record>,
    pub looked_up: Option<Triaged>,
    pub end: Position,
}

impl Reader {
    pub async fn start(
        pass: &PassContext<'_>,
        store: &Store,
        pass_id: i64,
    ) -> Result<Reader, SyncError> {
        let (since, full) = start_point(store, pass.job_name, pass.job).await?;
        match &since {
            Some(since) => info!(
                pass = pass_id,
                since = since.as_str(),
                "incremental pass: records modified since"
            ),
            None => info!(pass = pass_id, "full pass"),
        }
        // A sweep an earlier pass left unfinished goes on after its last committed batch.
        let job = pass.job_name.to_string();
        let at = match store.db.run(move |conn| resume::get(conn, &job)).await? {
            Some((done, after)) => {
                info!(
                    pass = pass_id,
                    from_record = done,
                    "resuming the sweep an earlier pass left unfinished"
                );
                Position {
                    done: usize::try_from(done).unwrap_or(0),
                    after: Some(after),
                }
            }
            None => Position::default(),
        };
        Ok(Reader {
            since,
            full,
            at,
            newest_seen: None,
            ahead: VecDeque::new(),
        })
    }

    /// How many records the pass has gone through, counted from the start of the sweep.
    pub fn done(&self) -> usize {
        self.at.done
    }

    /// Reads batches ahead until `records` have been looked up (or the CRM has no more),
    /// for EM to learn from; the pass takes them before reading on. Returns them all.
    pub async fn read_ahead(
        &mut self,
        pass: &PassContext<'_>,
        store: &Store,
        records: usize,
    ) -> Result<(Vec<Record>, Vec<crate::register::Lookup>), SyncError> {
        let (mut at, mut sampled) = (self.at.clone(), 0);
        while sampled < records {
            let read = self.read_crm(pass, &at).await?;
            if read.is_empty() {
                break;
            }
            at = at.past(&read);
            let triaged = super::lookup::triage(pass, store, read.clone()).await?;
            sampled += triaged.to_look_up.len();
            self.ahead.push_back((read, triaged));
        }
        Ok((
            self.ahead
                .iter()
                .flat_map(|(_, b)| b.to_look_up.clone())
                .collect(),
            self.ahead
                .iter()
                .flat_map(|(_, b)| b.lookups.iter().map(|a| a.whole(pass)))
                .collect(),
        ))
    }

    /// The next batch, `None` once the CRM has no more (the sweep is then complete; see
    /// [`Reader::swept`]).
    pub async fn next(&mut self, pass: &PassContext<'_>) -> Result<Option<Batch>, SyncError> {
        let (records, looked_up) = match self.ahead.pop_front() {
            Some((records, triaged)) => (records, Some(triaged)),
            None => (self.read_crm(pass, &self.at).await?, None),
        };
        if records.is_empty() {
            return Ok(None);
        }
        self.at = self.at.past(&records);
        let newest = records
            .iter()
            .filter_map(|r| r.modified.as_ref()?.at.clone())
            .max();
        self.newest_seen = self.newest_seen.take().max(newest);
        Ok(Some(Batch {
            records,
            looked_up,
            end: self.at.clone(),
        }))
    }

    async fn read_crm(
        &self,
        pass: &PassContext<'_>,
        at: &Position,
    ) -> Result<Vec<Record>, SyncError> {
        let job = pass.job;
        let (since, after) = (self.since.as_deref(), at.after.as_deref());
        Ok(pass
            .crm
            .read_batch(job.entity, since, after, job.batch_size)
            .await?)
    }

    /// Forgets where the sweep stood once every batch of it is committed: the next pass
    /// starts a sweep of its own.
    pub async fn swept(&self, store: &Store, job: &str) -> Result<(), SyncError> {
        let job = job.to_string();
        store.db.run(move |conn| resume::clear(conn, &job)).await?;
        Ok(())
    }

    /// Moves the job's cursor; only a pass that read everything it meant to calls this.
    pub async fn finish(self, store: &Store, job: &str) -> Result<(), SyncError> {
        let (job, newest, full) = (job.to_string(), self.newest_seen, self.full);
        store
            .db
            .run(move |conn| cursors::save(conn, &job, newest, full))
            .await?;
        Ok(())
    }
}

/// Remembers that the sweep is committed up to `next`: a pass cut short goes on from here.
pub(super) async fn committed(
    store: &Store,
    job: &str,
    next: &Position,
    pass_id: i64,
) -> Result<(), SyncError> {
    let Some(after) = next.after.clone() else {
        return Ok(());
    };
    let (job, done) = (
        job.to_string(),
        i64::try_from(next.done).unwrap_or(i64::MAX),
    );
    store
        .db
        .run(move |conn| resume::save(conn, &job, (done, &after), pass_id))
        .await?;
    Ok(())
}

/// What the store remembers of a batch's records (what refsync wrote, what stewards
/// suppressed, whether their organisation went inactive) and, for contacts whose address
/// is checked, their organisation as the CRM holds it.
pub(super) async fn histories(
    pass: &PassContext<'_>,
    store: &Store,
    ctx: &persist::Context,
    records: &[Record],
    check_addresses: bool,
) -> Result<BTreeMap<String, History>, SyncError> {
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let organisations: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| Some((r.id.clone(), r.get(Field::OrganisationId)?.to_string())))
        .collect();
    let (history_ctx, links) = (ctx.clone(), organisations.clone());
    let mut histories = store
        .db
        .read(move |conn| load_histories(conn, &history_ctx, &ids, &links))
        .await?;
    if check_addresses {
        let org_ids: BTreeSet<String> = organisations.iter().map(|(_, o)| o.clone()).collect();
        let org_ids: Vec<String> = org_ids.into_iter().collect();
        let orgs: BTreeMap<String, Record> = pass
            .crm
            .read_by_ids(EntityKind::Organisation, &org_ids)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        for (record, org) in &organisations {
            if let Some(o) = orgs.get(org) {
                histories.entry(record.clone()).or_default().organisation = Some(o.clone());
            }
        }
    }
    Ok(histories)
}

/// Where this pass starts: `(None, true)` for a full pass, else the CRM time to read from.
async fn start_point(
    store: &Store,
    job_name: &str,
    job: &JobConfig,
) -> Result<(Option<String>, bool), SyncError> {
    if !job.incremental {
        return Ok((None, true));
    }
    let owned = job_name.to_string();
    let cursor = store.db.run(move |conn| cursors::get(conn, &owned)).await?;
    let Some(cursor) = cursor else {
        return Ok((None, true));
    };
    let due = cursor.full_pass_at.is_none_or(|at| {
        crate::store::now() - at >= chrono::Duration::hours(job.full_pass_every_hours as i64)
    });
    match cursor.cursor {
        Some(c) if !due => Ok((Some(with_overlap(&c, job.overlap_seconds)), false)),
        _ => Ok((None, true)),
    }
}
/// The cursor moved back by the overlap window, in a form both the CRM's text and its
/// timestamp columns compare with. A value refsync cannot read as a time is used as it is.
pub(crate) fn with_overlap(cursor: &str, overlap_seconds: u64) -> String {
    let trimmed = cursor.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(trimmed)
        .map(|d| d.naive_utc())
        .or_else(|_| {
            chrono::DateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S%.f%#z")
                .map(|d| d.naive_utc())
        })
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f"));
    match parsed {
        Ok(t) => (t - chrono::Duration::seconds(overlap_seconds as i64))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => {
            warn!("the CRM's modified value is not a time refsync can read; reading from it without overlap");
            trimmed.to_string()
        }
    }
}

/// Provenance and suppressions of a batch's records.
fn load_histories(
    conn: &mut crate::db::AnyConnection,
    ctx: &persist::Context,
    ids: &[String],
    organisations: &[(String, String)],
) -> diesel::QueryResult<BTreeMap<String, History>> {
    let mut out: BTreeMap<String, History> = BTreeMap::new();
    if !organisations.is_empty() {
        let org_ids: Vec<String> = organisations.iter().map(|(_, o)| o.clone()).collect();
        let inactive = crate::store::status::with_status(
            conn,
            &ctx.organisation_jobs,
            &org_ids,
            MatchStatus::Inactive,
        )?;
        for (record, org) in organisations {
            if inactive.contains(org) {
                out.entry(record.clone()).or_default().organisation_inactive = true;
            }
        }
    }
    for (record, rows) in provenance::for_records(conn, &ctx.crm, ctx.entity.as_str(), ids)? {
        let h = out.entry(record).or_default();
        for row in rows {
            if let Ok(field) = row.field.parse::<Field>() {
                h.written.insert(field, row.value);
            }
        }
    }
    for (record, rows) in suppressions::for_records(conn, &ctx.job, ids)? {
        let h = out.entry(record).or_default();
        for row in rows {
            if let Ok(field) = row.field.parse::<Field>() {
                h.suppressed.insert((field, row.value_key));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_overlap_table() {
        let cases = [
            ("2026-11-27 10:00:00", 300, "2026-11-27 09:55:00"),
            ("2026-11-27 10:00:00.123456", 0, "2026-11-27 10:00:00"),
            ("2026-11-27T10:00:00Z", 60, "2026-11-27 09:59:00"),
            ("2026-11-27 10:00:00+01", 0, "2026-11-27 09:00:00"),
            ("not a time", 300, "not a time"),
        ];
        for (cursor, overlap, want) in cases {
            assert_eq!(with_overlap(cursor, overlap), want, "{cursor}");
        }
    }
}
