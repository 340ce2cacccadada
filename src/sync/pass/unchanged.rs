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
use crate::domain::model::{ChangeStatus, MatchStatus, Record};
use crate::store::changes::OPEN;
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

/// Splits `records` into those left as they stand and those to look up (see [`settled`]).
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
            (Some((status, digest)), Some(inputs)) if settled(*status, &states) => {
                (inputs.digest(&record, &states) == *digest).then_some(*status)
            }
            _ => None,
        };
        match same {
            Some(status) => unchanged.push(Unchanged {
                pending: states
                    .iter()
                    .filter(|(_, s, _)| *s == ChangeStatus::Proposed)
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

/// Whether a record's status is one a pass may leave as it stands: not a failed lookup
/// (asked again every pass), and in sync exactly when none of its changes is open — a pass
/// cut short between storing a batch and settling its statuses leaves `different` on
/// records whose changes the next start applied.
fn settled(status: MatchStatus, states: &[ChangeState]) -> bool {
    let open = states.iter().any(|(_, s, _)| OPEN.contains(s));
    match status {
        MatchStatus::LookupFailed => false,
        MatchStatus::InSync => !open,
        MatchStatus::Different => open,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::ChangeKind;

    #[test]
    fn only_a_settled_status_is_left_as_it_stands() {
        let proposed = (1, ChangeStatus::Proposed, ChangeKind::Field);
        let rejected = (3, ChangeStatus::Rejected, ChangeKind::Field);
        let cases: [(MatchStatus, &[ChangeState], bool); 9] = [
            (MatchStatus::InSync, &[], true),
            (MatchStatus::InSync, &[rejected], true),
            (MatchStatus::InSync, &[proposed], false),
            (MatchStatus::Different, &[proposed], true),
            // Left `different` by a pass cut short whose changes were applied since.
            (MatchStatus::Different, &[], false),
            (MatchStatus::Different, &[rejected], false),
            (MatchStatus::NotFound, &[], true),
            (MatchStatus::Inactive, &[proposed], true),
            (MatchStatus::LookupFailed, &[], false),
        ];
        for (status, states, want) in cases {
            assert_eq!(settled(status, states), want, "{status:?} {states:?}");
        }
    }
}
