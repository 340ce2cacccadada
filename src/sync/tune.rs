//! `refsync tune` and the admin page: a job's match verdicts and change decisions, read
//! from the store, turned into precision and recall per threshold and suggested thresholds
//! (the computation is [`crate::domain::tune`]).

use serde::Serialize;

use crate::config::JobConfig;
use crate::domain::model::{ChangeKind, ChangeStatus};
use crate::domain::tune::{
    evidence, tune, ChangeFact, MatchVerdict, PairCounts, Source, Targets, Tuning, VerdictFact,
    Weights, MIN_EACH_LABEL, MIN_PAIRS,
};
use crate::store::{changes, verdicts, Store, StoreError};

/// Change kinds whose score is the match probability of the pair they came from.
const MATCH_KINDS: &[ChangeKind] = &[
    ChangeKind::Field,
    ChangeKind::Deactivate,
    ChangeKind::Relink,
];

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error(
        "job `{job}` has {} decided match(es) ({} right, {} wrong); tuning needs at least \
         {MIN_PAIRS} with at least {MIN_EACH_LABEL} of each. Confirm or reject matches with \
         `refsync review match confirm|reject --job {job} --record ID`, or decide proposed \
         changes with `refsync review approve|reject|wrong`",
        .have.pairs, .have.matches, .have.non_matches
    )]
    TooFewDecisions { job: String, have: PairCounts },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for TuneError {
    fn from(e: diesel::result::Error) -> Self {
        TuneError::Store(e.into())
    }
}

/// Where the decided pairs came from.
#[derive(Debug, Clone, Serialize)]
pub struct Sources {
    /// Pairs with a match verdict.
    pub verdicts: usize,
    /// Pairs labelled by the decisions on their changes (no verdict).
    pub change_pairs: usize,
    /// Change decisions read (approved, rejected, flagged wrong, reverted by a person).
    pub change_decisions: usize,
}

/// What `refsync tune` prints and the admin page shows.
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub job: String,
    pub weights: Weights,
    pub sources: Sources,
    #[serde(flatten)]
    pub tuning: Tuning,
}

/// Precision and recall of `job`'s thresholds on its decisions, and suggested thresholds.
pub async fn report(
    store: &Store,
    job: &str,
    config: &JobConfig,
    targets: Targets,
    weights: Weights,
) -> Result<TuneReport, TuneError> {
    let name = job.to_string();
    let (verdict_rows, change_rows) = store
        .db
        .run(move |conn| -> diesel::QueryResult<_> {
            Ok((
                verdicts::for_job(conn, &name)?,
                changes::decided_by_people(conn, &name, MATCH_KINDS)?,
            ))
        })
        .await?;
    let verdict_facts: Vec<VerdictFact> = verdict_rows
        .iter()
        .filter_map(|v| {
            Some(VerdictFact {
                record_id: &v.record_id,
                register_id: &v.register_id,
                score: v.score,
                verdict: v.verdict.parse::<MatchVerdict>().ok()?,
            })
        })
        .collect();
    let change_facts: Vec<ChangeFact> = change_rows
        .iter()
        .filter_map(|c| {
            Some(ChangeFact {
                record_id: &c.record_id,
                register_id: &c.register_id,
                score: c.score,
                accepted: accepted(c.status)?,
            })
        })
        .collect();
    let pairs = evidence(&verdict_facts, &change_facts, &weights);
    let sources = Sources {
        verdicts: verdict_facts.len(),
        change_pairs: pairs.iter().filter(|e| e.source == Source::Changes).count(),
        change_decisions: change_facts.len(),
    };
    let tuning =
        tune(&pairs, &config.thresholds, &targets).map_err(|have| TuneError::TooFewDecisions {
            job: job.to_string(),
            have,
        })?;
    Ok(TuneReport {
        job: job.to_string(),
        weights,
        sources,
        tuning,
    })
}

/// Whether a person's decision, as the change's status shows it now, accepted the
/// register value. A change approved and since applied, superseded, or stopped by a
/// conflict or a failed write was still accepted; `None`: no decision to read.
fn accepted(status: ChangeStatus) -> Option<bool> {
    use ChangeStatus::*;
    match status {
        Approved | Applied | Superseded | Conflict | Failed => Some(true),
        Rejected | Reverted => Some(false),
        Proposed => None,
    }
}
