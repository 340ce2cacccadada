//! Threshold tuning from stewards' decisions: precision and recall of the match bands at
//! each threshold, and the `auto_apply_min` and `review_min` that reach a target precision
//! and recall on the decisions taken so far.
//!
//! The unit of evidence is a *pair*: one CRM record and one register record, with the match
//! probability refsync gave it and a label (the same entity or not). Labels come from:
//!
//! 1. an explicit match verdict (`refsync review match confirm|reject`), weight
//!    [`Weights::verdict`]; it decides the pair and the pair's change decisions are not used;
//! 2. otherwise the stewards' decisions on the changes drawn from the pair. Accepting a
//!    register value (approve, edit-and-approve) is strong evidence the match is right:
//!    nobody takes a value from the wrong company. Rejecting one is weak evidence against
//!    it: a value is also rejected because the CRM is fresher than the register, or the
//!    register is wrong for that one field. So a pair with any accepted change counts as a
//!    match with weight [`Weights::accepted_change`]; a pair whose changes were all rejected,
//!    flagged wrong or reverted counts as a non-match with the smaller
//!    [`Weights::rejected_change`].
//!
//! Precision and recall are weighted by these weights. Recall is measured against the
//! pairs somebody decided on: matches refsync never proposed (below `review_min`) are only
//! seen where a steward confirmed one.

pub mod chart;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::decide::Thresholds;
use super::model::{snake_names, Band};

/// Fewest decided pairs, and fewest of each label, that a suggestion is drawn from.
pub const MIN_PAIRS: usize = 40;
pub const MIN_EACH_LABEL: usize = 5;

/// A steward's verdict on a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchVerdict {
    /// The register record is the same entity as the CRM record.
    Confirmed,
    /// It is not.
    Rejected,
}

snake_names!(MatchVerdict { Confirmed => "confirmed", Rejected => "rejected" });

/// How much each kind of decision counts; 0 leaves that kind out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    pub verdict: f64,
    pub accepted_change: f64,
    pub rejected_change: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            verdict: 1.0,
            accepted_change: 1.0,
            rejected_change: 0.25,
        }
    }
}

/// A verdict on a pair.
#[derive(Debug, Clone)]
pub struct VerdictFact<'a> {
    pub record_id: &'a str,
    pub register_id: &'a str,
    pub score: f64,
    pub verdict: MatchVerdict,
}

/// A steward's decision on one change drawn from a pair.
#[derive(Debug, Clone)]
pub struct ChangeFact<'a> {
    pub record_id: &'a str,
    pub register_id: &'a str,
    pub score: f64,
    /// Approved (and maybe applied since); false: rejected, flagged wrong or reverted.
    pub accepted: bool,
}

/// Where a pair's label comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Verdict,
    Changes,
}

/// One labelled pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub score: f64,
    pub is_match: bool,
    pub weight: f64,
    pub source: Source,
}

/// Labelled pairs from verdicts and change decisions. `changes` come in the order they
/// were decided: a pair decided over several passes is scored as at its latest decision.
pub fn evidence(verdicts: &[VerdictFact], changes: &[ChangeFact], w: &Weights) -> Vec<Evidence> {
    let judged: BTreeSet<(&str, &str)> = verdicts
        .iter()
        .map(|v| (v.record_id, v.register_id))
        .collect();
    let mut out: Vec<Evidence> = verdicts
        .iter()
        .map(|v| Evidence {
            score: v.score,
            is_match: v.verdict == MatchVerdict::Confirmed,
            weight: w.verdict,
            source: Source::Verdict,
        })
        .collect();
    let mut pairs: BTreeMap<(&str, &str), (f64, bool)> = BTreeMap::new();
    for c in changes {
        let key = (c.record_id, c.register_id);
        if judged.contains(&key) {
            continue;
        }
        let pair = pairs.entry(key).or_insert((c.score, false));
        pair.0 = c.score;
        pair.1 |= c.accepted;
    }
    out.extend(pairs.into_values().map(|(score, accepted)| Evidence {
        score,
        is_match: accepted,
        weight: if accepted {
            w.accepted_change
        } else {
            w.rejected_change
        },
        source: Source::Changes,
    }));
    out.retain(|e| e.weight > 0.0);
    out
}

/// The precision and recall the decisions were asked to reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Targets {
    /// Of the pairs at or above `auto_apply_min`, the share that must be right.
    pub precision: f64,
    /// Of the right pairs, the share that must stay at or above `review_min`.
    pub recall: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            precision: 0.99,
            recall: 0.95,
        }
    }
}

/// The bands' quality if the threshold were `threshold`: pairs at or above it are taken
/// as matches. Precision and recall are weighted; counts are pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub threshold: f64,
    /// `None` when no decided pair is at or above the threshold.
    pub precision: Option<f64>,
    pub recall: f64,
    pub f1: Option<f64>,
    pub above: usize,
    pub below: usize,
    /// Non-matches at or above: what an auto band from here would have got wrong.
    pub wrong_above: usize,
    /// Matches below: what a review band from here would have lost.
    pub matches_below: usize,
}

/// Labelled pairs sorted by score, highest first, with running totals, so each threshold
/// costs one binary search.
struct Sweep {
    scores: Vec<f64>,
    /// Weight of matches / non-matches and count of matches among the first `k` pairs.
    pos: Vec<f64>,
    neg: Vec<f64>,
    matches: Vec<usize>,
}

impl Sweep {
    fn new(evidence: &[Evidence]) -> Sweep {
        let mut sorted: Vec<&Evidence> = evidence.iter().collect();
        sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
        let (mut pos, mut neg, mut matches) = (vec![0.0], vec![0.0], vec![0]);
        let (mut p, mut n, mut m) = (0.0, 0.0, 0);
        for e in &sorted {
            if e.is_match {
                p += e.weight;
                m += 1;
            } else {
                n += e.weight;
            }
            pos.push(p);
            neg.push(n);
            matches.push(m);
        }
        Sweep {
            scores: sorted.iter().map(|e| e.score).collect(),
            pos,
            neg,
            matches,
        }
    }

    fn n(&self) -> usize {
        self.scores.len()
    }

    /// Pairs at or above `t`.
    fn above(&self, t: f64) -> usize {
        self.scores.partition_point(|s| *s >= t)
    }

    fn precision(&self, k: usize) -> Option<f64> {
        let taken = self.pos[k] + self.neg[k];
        (taken > 0.0).then(|| self.pos[k] / taken)
    }

    fn recall(&self, k: usize) -> f64 {
        let all = self.pos[self.n()];
        if all > 0.0 {
            self.pos[k] / all
        } else {
            0.0
        }
    }

    fn point(&self, threshold: f64) -> Point {
        let k = self.above(threshold);
        let precision = self.precision(k);
        let recall = self.recall(k);
        let f1 = precision
            .filter(|p| p + recall > 0.0)
            .map(|p| 2.0 * p * recall / (p + recall));
        Point {
            threshold,
            precision,
            recall,
            f1,
            above: k,
            below: self.n() - k,
            wrong_above: k - self.matches[k],
            matches_below: self.matches[self.n()] - self.matches[k],
        }
    }

    /// Thresholds that change what is above: each distinct score, from the highest down,
    /// with the pairs at or above it and the next lower score.
    fn cuts(&self) -> impl Iterator<Item = (f64, usize, Option<f64>)> + '_ {
        (1..=self.n())
            .filter(|&k| k == self.n() || self.scores[k] < self.scores[k - 1])
            .map(|k| (self.scores[k - 1], k, self.scores.get(k).copied()))
    }

    /// The lowest threshold whose precision reaches `target`.
    fn auto_apply_min(&self, target: f64) -> Option<f64> {
        self.cuts()
            .filter(|&(_, k, _)| self.precision(k).is_some_and(|p| p >= target))
            .last()
            .map(|(t, _, next)| tidy(t, next))
    }

    /// The highest threshold whose recall reaches `target`.
    fn review_min(&self, target: f64) -> Option<f64> {
        self.cuts()
            .find(|&(_, k, _)| self.pos[k] > 0.0 && self.recall(k) >= target)
            .map(|(t, _, next)| tidy(t, next))
    }
}

/// `t` cut to the fewest decimals (three at least) that keep the next lower score below
/// it, so the config holds a short number with the same effect.
fn tidy(t: f64, next_lower: Option<f64>) -> f64 {
    (3..=9)
        .map(|digits| {
            let scale = 10f64.powi(digits);
            ((t * scale) + 1e-9).floor() / scale
        })
        .find(|cut| next_lower.is_none_or(|n| *cut > n))
        .unwrap_or(t)
}

/// Decided pairs, and how many of them are the same entity and how many not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PairCounts {
    pub pairs: usize,
    /// Of them, the same entity …
    pub matches: usize,
    /// … and not.
    pub non_matches: usize,
}

impl PairCounts {
    fn add(&mut self, e: &Evidence) {
        self.pairs += 1;
        if e.is_match {
            self.matches += 1;
        } else {
            self.non_matches += 1;
        }
    }
}

/// How the review queue would have changed under other thresholds, in decided pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueShift {
    /// In the review band now, in the auto band under the suggestion: review work saved.
    pub auto_applied: PairCounts,
    /// In the review band now, below `review_min` under the suggestion: not found outright.
    pub rejected_outright: PairCounts,
    /// Outside the review band now, in it under the suggestion: review work added.
    pub added_to_review: PairCounts,
}

pub fn queue_shift(evidence: &[Evidence], now: &Thresholds, then: &Thresholds) -> QueueShift {
    let mut q = QueueShift::default();
    for e in evidence {
        let shift = match (now.band(e.score), then.band(e.score)) {
            (Band::Review, Band::Auto) => &mut q.auto_applied,
            (Band::Review, Band::Reject) => &mut q.rejected_outright,
            (before, Band::Review) if before != Band::Review => &mut q.added_to_review,
            _ => continue,
        };
        shift.add(e);
    }
    q
}

/// Everything the tune report and its chart show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuning {
    pub targets: Targets,
    /// The decided pairs tuned from.
    #[serde(flatten)]
    pub decided: PairCounts,
    pub current: Thresholds,
    /// The current thresholds with the suggested values put in.
    pub suggested: Thresholds,
    /// No threshold reaches the target precision (`auto_apply_min` stays as it is).
    pub precision_unreachable: bool,
    /// No threshold keeps the target recall (`review_min` stays as it is).
    pub recall_unreachable: bool,
    /// The bands' quality at the current thresholds …
    pub at_current: AtThresholds,
    /// … and at the suggested ones.
    pub at_suggested: AtThresholds,
    pub queue: QueueShift,
    /// Every 0.01 from just below the lowest decided score to 1.
    pub curve: Vec<Point>,
}

/// Precision, recall and counts at a pair of band thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtThresholds {
    pub auto_apply_min: Point,
    pub review_min: Point,
}

impl AtThresholds {
    fn of(sweep: &Sweep, t: &Thresholds) -> AtThresholds {
        AtThresholds {
            auto_apply_min: sweep.point(t.auto_apply_min),
            review_min: sweep.point(t.review_min),
        }
    }
}

/// Precision and recall at each threshold, and the suggested thresholds, from at least
/// [`MIN_PAIRS`] decided pairs with [`MIN_EACH_LABEL`] of each label.
pub fn tune(
    evidence: &[Evidence],
    current: &Thresholds,
    targets: &Targets,
) -> Result<Tuning, PairCounts> {
    let mut decided = PairCounts::default();
    evidence.iter().for_each(|e| decided.add(e));
    if decided.pairs < MIN_PAIRS || decided.matches.min(decided.non_matches) < MIN_EACH_LABEL {
        return Err(decided);
    }
    let sweep = Sweep::new(evidence);
    let auto = sweep.auto_apply_min(targets.precision);
    let review = sweep.review_min(targets.recall);
    let mut suggested = *current;
    suggested.auto_apply_min = auto.unwrap_or(current.auto_apply_min);
    // The config needs review_min ≤ auto_apply_min: the review band may shrink to nothing.
    suggested.review_min = review
        .unwrap_or(current.review_min)
        .min(suggested.auto_apply_min);
    let lowest = sweep.scores.last().copied().unwrap_or(0.0);
    let start = ((lowest * 100.0 + 1e-9).floor() as u32).min(100);
    Ok(Tuning {
        targets: *targets,
        decided,
        current: *current,
        suggested,
        precision_unreachable: auto.is_none(),
        recall_unreachable: review.is_none(),
        at_current: AtThresholds::of(&sweep, current),
        at_suggested: AtThresholds::of(&sweep, &suggested),
        queue: queue_shift(evidence, current, &suggested),
        curve: (start..=100)
            .map(|h| sweep.point(f64::from(h) / 100.0))
            .collect(),
    })
}

#[cfg(test)]
mod tests;
