//! Records nothing has happened to since their last check are left as they stand: their
//! values, what the store remembers of them, the job's settings, the model and the
//! register's content give the digest their last check stored (`domain::inputs`), so
//! scoring them again would decide what was decided then. A nightly pass over a CRM that
//! changed little then costs reading it, not scoring and storing it all again.

use std::collections::{BTreeMap, HashMap};

use super::context::PassContext;
use super::persist::Unchanged;
use crate::domain::contact;
use crate::domain::evaluate::History;
use crate::domain::inputs::{ChangeState, Inputs};
use crate::domain::model::{ChangeKind, ChangeStatus, MatchStatus, Record};
use crate::store::{changes, status, Store};
use crate::sync::SyncError;

/// Each record's inputs, where the pass has a basis (see [`PassContext::basis`]).
pub(super) fn inputs(
    pass: &PassContext<'_>,
    records: &[Record],
    histories: &BTreeMap<String, History>,
) -> HashMap<String, Inputs> {
    let Some(basis) = pass.basis else {
        return HashMap::new();
    };
    let none = History::default();
    records
        .iter()
        .map(|r| {
            let history = histories.get(&r.id).unwrap_or(&none);
            (r.id.clone(), Inputs::new(basis, history))
        })
        .collect()
}

/// Splits `records` into those left as they stand and those to look up. A record whose
/// lookup failed last time is always asked again.
pub(super) async fn split(
    store: &Store,
    job: &str,
    records: Vec<Record>,
    inputs: &HashMap<String, Inputs>,
) -> Result<(Vec<Unchanged>, Vec<Record>), SyncError> {
    if inputs.is_empty() || records.is_empty() {
        return Ok((Vec::new(), records));
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let job = job.to_string();
    let (last, states) = store
        .db
        .read(move |conn| {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let last = status::last_inputs(conn, &job, &ids)?;
            // Only records checked before can be unchanged: a first pass reads no changes.
            let checked: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|id| last.contains_key(*id))
                .collect();
            let states = changes::remembered_briefly(conn, &job, &checked)?;
            diesel::QueryResult::Ok((last, states))
        })
        .await?;
    let (mut unchanged, mut to_look_up) = (Vec::new(), Vec::with_capacity(records.len()));
    for record in records {
        let states: Vec<ChangeState> = states.get(&record.id).map_or(Vec::new(), |b| {
            b.iter().map(changes::Brief::state).collect()
        });
        let same = match (last.get(&record.id), inputs.get(&record.id)) {
            (Some((status, digest)), Some(inputs)) if *status != MatchStatus::LookupFailed => {
                (inputs.digest(&record, &states) == *digest).then_some(*status)
            }
            _ => None,
        };
        match same {
            Some(status) => unchanged.push(Unchanged {
                pending: states
                    .iter()
                    .filter(|(_, s, kind)| {
                        *s == ChangeStatus::Proposed && *kind != ChangeKind::MergeCandidate
                    })
                    .count() as i64,
                unreadable: contact::unreadable_birth_date(&record).is_some(),
                id: record.id,
                status,
            }),
            None => to_look_up.push(record),
        }
    }
    Ok((unchanged, to_look_up))
}
