//! From scored candidates to a decision: matched in a band, ambiguous, or not found.

use serde::{Deserialize, Serialize};

use super::model::Band;
use super::score::Scored;

/// A job's match thresholds, all in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// At or above: changes may be applied without review (as the field policy allows).
    pub auto_apply_min: f64,
    /// At or above (and below `auto_apply_min`): the match is kept, every change is reviewed.
    pub review_min: f64,
    /// A runner-up (at or above `review_min`) makes the record ambiguous unless the best
    /// candidate is at least `1 - ambiguity_margin` likely to be the right one of the two.
    pub ambiguity_margin: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            auto_apply_min: 0.92,
            review_min: 0.75,
            ambiguity_margin: 0.03,
        }
    }
}

impl Thresholds {
    /// Checks ranges and order; the error names the key and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (k, v) in [
            ("auto_apply_min", self.auto_apply_min),
            ("review_min", self.review_min),
            ("ambiguity_margin", self.ambiguity_margin),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err((k.to_string(), format!("{v} is outside 0.0..=1.0")));
            }
        }
        if self.review_min > self.auto_apply_min {
            return Err((
                "review_min".to_string(),
                format!(
                    "{} is above auto_apply_min {}; review_min must not exceed it",
                    self.review_min, self.auto_apply_min
                ),
            ));
        }
        Ok(())
    }

    pub fn band(&self, score: f64) -> Band {
        if score >= self.auto_apply_min {
            Band::Auto
        } else if score >= self.review_min {
            Band::Review
        } else {
            Band::Reject
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Matched {
        best: Scored,
        band: Band,
    },
    /// Two or more candidates within the ambiguity margin, best first.
    Ambiguous {
        candidates: Vec<Scored>,
    },
    /// Nothing reached `review_min`; the best candidate, if any, is kept for explanation.
    NotFound {
        best: Option<Scored>,
    },
}

/// How likely the candidate of weight `best` is the right one rather than the candidate
/// of weight `other`, if one of the two is.
fn preference(best: f64, other: f64) -> f64 {
    1.0 / (1.0 + (other - best).exp2())
}

/// Decides on the candidates of one CRM record.
pub fn decide(mut scored: Vec<Scored>, thresholds: &Thresholds) -> Decision {
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.register_id.cmp(&b.register_id))
    });
    let Some(best) = scored.first() else {
        return Decision::NotFound { best: None };
    };
    let band = thresholds.band(best.score);
    if band == Band::Reject {
        return Decision::NotFound {
            best: scored.into_iter().next(),
        };
    }
    // Judged on weights, not probabilities: two candidates at 0.99999 and 0.9999 differ by
    // more than three bits of evidence, which a probability difference would hide.
    let close = scored
        .iter()
        .take_while(|s| {
            s.score >= thresholds.review_min
                && preference(best.weight, s.weight) < 1.0 - thresholds.ambiguity_margin
        })
        .count();
    if close > 1 {
        scored.truncate(close);
        return Decision::Ambiguous { candidates: scored };
    }
    Decision::Matched {
        best: scored.swap_remove(0),
        band,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::score::Method;

    fn scored(id: &str, score: f64) -> Scored {
        Scored {
            register_id: id.into(),
            score,
            weight: (score / (1.0 - score)).log2(),
            method: Method::Similarity,
            comparisons: vec![],
        }
    }

    #[test]
    fn decisions_table() {
        let t = Thresholds::default();
        let cases: Vec<(&str, Vec<Scored>, &str)> = vec![
            ("no candidates", vec![], "not_found"),
            ("below review", vec![scored("a", 0.5)], "not_found"),
            ("review band", vec![scored("a", 0.8)], "review:a"),
            (
                "auto band",
                vec![scored("b", 0.5), scored("a", 0.95)],
                "auto:a",
            ),
            (
                "two close",
                vec![scored("a", 0.95), scored("b", 0.94)],
                "ambiguous:2",
            ),
            (
                "clear winner",
                vec![scored("a", 0.9999), scored("b", 0.80)],
                "auto:a",
            ),
            (
                "likely but not clearly better",
                vec![scored("a", 0.95), scored("b", 0.80)],
                "ambiguous:2",
            ),
            (
                "close but second too weak",
                vec![scored("a", 0.76), scored("b", 0.74)],
                "review:a",
            ),
        ];
        for (label, candidates, want) in cases {
            let got = match decide(candidates, &t) {
                Decision::NotFound { .. } => "not_found".to_string(),
                Decision::Matched { best, band } => format!("{band}:{}", best.register_id),
                Decision::Ambiguous { candidates } => format!("ambiguous:{}", candidates.len()),
            };
            assert_eq!(got, want, "{label}");
        }
    }
}
