//! Expectation–maximisation for the Fellegi–Sunter parameters: m, u and the prior are
//! estimated from the candidate pairs themselves, no labelled matches needed.

use serde::Serialize;

use super::score::{Gamma, Model, PROBABILITY_FLOOR};

/// How an estimation went, for logs and the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmReport {
    pub pairs: usize,
    pub iterations: usize,
    pub converged: bool,
    /// The largest parameter change in the last iteration.
    pub last_change: f64,
    /// The estimated share of CRM records that have a match in the register, where the
    /// prior was fitted per record (see [`estimate`]).
    pub matched_share: Option<f64>,
}

/// Below this many pairs the estimate is noise: the starting model is kept.
pub const MIN_PAIRS: usize = 50;

/// Pseudo-counts of the starting u that temper the counted one: a level never seen among
/// random pairs (an equal e-mail) keeps a small u instead of an infinite weight.
const U_PRIOR_WEIGHT: f64 = 20.0;

/// The most of the CRM records EM may believe to have a match: at one, a pair's prior
/// odds would be infinite.
const MAX_MATCHED_SHARE: f64 = 0.99;

/// Sets u of every free field to how often each level occurs among `random` pairs.
fn count_u(model: &mut Model, random: &[Gamma]) {
    let pinned = model.pinned.clone();
    for (i, (field, params)) in model.fields.iter_mut().enumerate() {
        if pinned.contains(field) {
            continue;
        }
        let mut counts = [0.0f64; 3];
        for gamma in random {
            if let Some(l) = gamma[i].index() {
                counts[l] += 1.0;
            }
        }
        let total: f64 = counts.iter().sum();
        for (u, count) in params.u.iter_mut().zip(counts) {
            *u = (count + U_PRIOR_WEIGHT * *u) / (total + U_PRIOR_WEIGHT);
        }
    }
}

/// Runs EM from `start` over the comparison vectors `pairs`. Pinned fields keep their m
/// and u; every other parameter is re-estimated. Stops when no parameter moves by more
/// than `tolerance`, or after `max_iterations`.
///
/// CRM records paired with register records drawn at random, and how many records the
/// register holds: what a register that holds its records (a file) can give EM.
#[derive(Debug, Clone, Copy)]
pub struct RandomPairs<'a> {
    pub gammas: &'a [Gamma],
    pub register_size: usize,
}

/// Runs EM from `start` over the comparison vectors `pairs`. Pinned fields keep their m
/// and u; every other parameter is re-estimated. Stops when no parameter moves by more
/// than `tolerance`, or after `max_iterations`.
///
/// `record_ends` groups the pairs by CRM record (where each record's candidates end, in
/// order): a record has at most one true match, so its candidates compete with each other
/// and with "no match". Without that, EM may take a cluster of look-alikes (namesakes
/// agreeing on both names, many per record) for the matches.
///
/// `random` pairs fix u. Counted among candidate pairs, u would say that a last name agrees
/// with most candidates (blocking put them there) and weigh it for little; counted on
/// random pairs it weighs what it tells about any two records. The prior then belongs to
/// the record, not the pair: one match in the register's size when half the CRM records
/// have a match, and EM fits that share alongside m. A name shared by one register record
/// in a hundred thousand is then a likely match when most CRM records have one, and a
/// doubtful one when few do. Without random pairs, u and the prior are fitted to the
/// candidate pairs from `start`.
pub fn estimate(
    start: &Model,
    pairs: &[Gamma],
    record_ends: &[usize],
    random: Option<RandomPairs<'_>>,
    max_iterations: usize,
    tolerance: f64,
) -> (Model, EmReport) {
    let mut model = start.clone();
    let u_counted = match random {
        Some(random) if random.gammas.len() >= MIN_PAIRS => {
            count_u(&mut model, random.gammas);
            model.lambda = 1.0 / random.register_size.max(1) as f64;
            model.register_size = Some(random.register_size as u64);
            true
        }
        _ => false,
    };
    // Prior odds of a random pair when half the CRM records have a match; the fitted share
    // scales them.
    let pair_odds = model.lambda / (1.0 - model.lambda);
    let mut share = 0.5;
    let mut report = EmReport {
        pairs: pairs.len(),
        iterations: 0,
        converged: false,
        last_change: 0.0,
        matched_share: None,
    };
    if pairs.len() < MIN_PAIRS {
        return (model, report);
    }
    let n_fields = model.fields.len();
    let free: Vec<bool> = model
        .fields
        .iter()
        .map(|(f, _)| !model.pinned.contains(f))
        .collect();
    for _ in 0..max_iterations {
        report.iterations += 1;
        // E step: the posterior match probability of each pair under the current model. A
        // record's candidates compete with each other and with "no match": a candidate's
        // posterior is its odds over one plus the odds of all of them.
        let mut m_sum = vec![[0.0f64; 3]; n_fields];
        let mut u_sum = vec![[0.0f64; 3]; n_fields];
        let mut g: Vec<f64> = pairs
            .iter()
            .map(|gamma| model.weight_of_levels(gamma).exp2())
            .collect();
        let mut from = 0;
        let mut records = 0usize;
        for &end in record_ends {
            let Some(group) = g.get_mut(from..end.min(pairs.len())) else {
                break;
            };
            let total: f64 = group.iter().sum();
            group.iter_mut().for_each(|x| *x /= 1.0 + total);
            records += 1;
            from = end;
        }
        // Pairs outside any record's group stand alone.
        for x in g.get_mut(from..).into_iter().flatten() {
            *x /= 1.0 + *x;
        }
        let g_total: f64 = g.iter().sum();
        for (gamma, &g) in pairs.iter().zip(&g) {
            for (i, level) in gamma.iter().take(n_fields).enumerate() {
                let Some(idx) = level.index() else {
                    continue;
                };
                m_sum[i][idx] += g;
                u_sum[i][idx] += 1.0 - g;
            }
        }
        // M step: new m, u and prior from the expected counts.
        let mut change: f64 = 0.0;
        let lambda = if u_counted {
            // Never certain that every record, or none, has a match.
            let fitted = (g_total / records.max(1) as f64).clamp(0.01, MAX_MATCHED_SHARE);
            change = change.max((fitted - share).abs());
            share = fitted;
            let odds = pair_odds * share / (1.0 - share);
            (odds / (1.0 + odds)).clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        } else {
            (g_total / pairs.len() as f64).clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        };
        change = change.max((lambda - model.lambda).abs());
        model.lambda = lambda;
        for (i, (_, params)) in model.fields.iter_mut().enumerate() {
            if !free[i] {
                continue;
            }
            let (mt, ut): (f64, f64) = (m_sum[i].iter().sum(), u_sum[i].iter().sum());
            if mt <= 0.0 || ut <= 0.0 {
                continue;
            }
            for l in 0..3 {
                // A level the comparator never produces stays at 0 and carries no evidence.
                let m = m_sum[i][l] / mt;
                let u = if u_counted {
                    params.u[l]
                } else {
                    u_sum[i][l] / ut
                };
                change = change
                    .max((m - params.m[l]).abs())
                    .max((u - params.u[l]).abs());
                params.m[l] = m;
                params.u[l] = u;
            }
        }
        report.last_change = change;
        report.matched_share = u_counted.then_some(share);
        if change < tolerance {
            report.converged = true;
            break;
        }
    }
    (model, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::comparison::MAX_COMPARISONS;
    use crate::domain::model::{EntityKind, Field};
    use crate::domain::score::FieldParams;
    use crate::domain::score::Level;

    /// Every pair from a record of its own: no grouping.
    fn singles(pairs: &[Gamma]) -> Vec<usize> {
        (1..=pairs.len()).collect()
    }

    /// Pairs drawn from a known model: EM must find its parameters again.
    fn sample(truth: &Model, n: usize, seed: u64) -> Vec<Gamma> {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let is_match = next() < truth.lambda;
            let mut g = [Level::Missing; MAX_COMPARISONS];
            for (i, (_, p)) in truth.fields.iter().enumerate() {
                let probs = if is_match { p.m } else { p.u };
                let r = next();
                g[i] = if r < probs[0] {
                    Level::Exact
                } else if r < probs[0] + probs[1] {
                    Level::Close
                } else {
                    Level::Far
                };
            }
            out.push(g);
        }
        out
    }

    /// A batch where namesakes (both names agree, nothing else) outnumber the true matches
    /// ten to one, as in a contact register full of common names.
    #[test]
    fn one_match_per_record_keeps_namesakes_out_of_the_match_class() {
        use Level::{Exact as A, Far as C, Missing as M};
        let pattern = |g: [Level; 7]| {
            let mut out = [M; MAX_COMPARISONS];
            out[..7].copy_from_slice(&g);
            out
        };
        // first, last, email, phone, organisation, salutation, title
        let matched = pattern([A, A, A, M, A, A, M]);
        let namesake = pattern([A, A, C, C, C, A, M]);
        let stranger = pattern([C, C, C, C, C, A, M]);
        let mut pairs = Vec::new();
        for i in 0..10_000 {
            pairs.push(match i % 100 {
                0 => matched,
                1..=20 => namesake,
                _ => stranger,
            });
        }
        // 100 records of 100 candidates each: one true match and twenty namesakes apiece.
        let records: Vec<usize> = (1..=100).map(|r| r * 100).collect();
        let start = Model::default_for(EntityKind::Contact);
        let (unbounded, _) = estimate(&start, &pairs, &singles(&pairs), None, 100, 1e-6);
        let (bounded, _) = estimate(&start, &pairs, &records, None, 100, 1e-6);
        let weight = |model: &Model, g: &Gamma| {
            let fields = model.fields.iter().enumerate();
            model.prior_weight() + fields.map(|(i, (_, p))| p.weight(g[i])).sum::<f64>()
        };
        assert!(
            unbounded.lambda > 0.1,
            "unbounded EM takes namesakes for matches"
        );
        assert!(weight(&unbounded, &namesake) > 0.0);
        assert!(bounded.lambda <= 0.01 + 1e-9, "lambda {}", bounded.lambda);
        assert!(
            weight(&bounded, &namesake) < -3.0,
            "{}",
            weight(&bounded, &namesake)
        );
        assert!(
            weight(&bounded, &matched) > 3.0,
            "{}",
            weight(&bounded, &matched)
        );
    }

    /// With random pairs, u is what any two records show; EM fits m and the share of CRM
    /// records that have a match, which scales the prior of a random pair.
    #[test]
    fn random_pairs_fix_u_and_the_prior_follows_the_matched_share() {
        use Level::{Exact as A, Far as C, Missing as M};
        let pattern = |first, last, email| {
            let mut out = [M; MAX_COMPARISONS];
            out[0] = first;
            out[1] = last;
            out[2] = email;
            out
        };
        // One random pair in 20 shares the first name, one in 100 the last name, none the
        // e-mail.
        let random: Vec<Gamma> = (0..10_000)
            .map(|i| {
                pattern(
                    if i % 20 == 0 { A } else { C },
                    if i % 100 == 0 { A } else { C },
                    C,
                )
            })
            .collect();
        // Candidates blocked on the last name, ten per record: in 70 of 100 records one of
        // them is the true match (names and e-mail agree), the rest are namesakes.
        let pairs: Vec<Gamma> = (0..1_000)
            .map(|i| {
                let matched = i % 10 == 0 && i < 700;
                let agrees = if matched { A } else { C };
                pattern(agrees, A, agrees)
            })
            .collect();
        let records: Vec<usize> = (1..=100).map(|r| r * 10).collect();
        let start = Model::default_for(EntityKind::Contact);
        let random = RandomPairs {
            gammas: &random,
            register_size: 1_000,
        };
        let (fitted, report) = estimate(&start, &pairs, &records, Some(random), 100, 1e-6);
        let share = report.matched_share.expect("fitted per record");
        assert!((share - 0.7).abs() < 0.02, "matched share {share}");
        // The prior odds of a random pair: one in a thousand (the register's size) at a
        // share of one half, so 7/3 of that at 0.7.
        let odds = fitted.lambda / (1.0 - fitted.lambda);
        assert!(
            (odds / 1.001e-3 - 7.0 / 3.0).abs() < 0.15,
            "prior odds {odds}"
        );
        let (first, last) = (&fitted.fields[0].1, &fitted.fields[1].1);
        assert!((first.u[0] - 0.05).abs() < 0.005, "first u {:?}", first.u);
        assert!((last.u[0] - 0.01).abs() < 0.002, "last u {:?}", last.u);
        // Among the candidates the last name always agrees, yet it still counts for a lot.
        assert!(last.weight(A) > 5.0, "{}", last.weight(A));
        assert!(first.m[0] > 0.9, "first m {:?}", first.m);
    }

    #[test]
    fn em_recovers_known_parameters() {
        let mut truth = Model::default_for(EntityKind::Organisation);
        truth.lambda = 0.2;
        let start = Model::default_for(EntityKind::Organisation);
        let pairs = sample(&truth, 40_000, 7);
        let (fitted, report) = estimate(&start, &pairs, &singles(&pairs), None, 200, 1e-6);
        assert!(report.converged, "{report:?}");
        assert!(
            (fitted.lambda - 0.2).abs() < 0.02,
            "lambda {}",
            fitted.lambda
        );
        for ((field, want), (_, got)) in truth.fields.iter().zip(&fitted.fields) {
            for l in 0..3 {
                assert!(
                    (want.m[l] - got.m[l]).abs() < 0.05,
                    "{field} m[{l}]: {} vs {}",
                    want.m[l],
                    got.m[l]
                );
                assert!(
                    (want.u[l] - got.u[l]).abs() < 0.05,
                    "{field} u[{l}]: {} vs {}",
                    want.u[l],
                    got.u[l]
                );
            }
        }
    }

    #[test]
    fn pinned_fields_keep_their_parameters_and_few_pairs_change_nothing() {
        let mut start = Model::default_for(EntityKind::Organisation);
        let pinned = FieldParams {
            m: [0.5, 0.25, 0.25],
            u: [0.1, 0.1, 0.8],
        };
        start.pin(Field::City, pinned).unwrap();
        let truth = Model::default_for(EntityKind::Organisation);
        let (fitted, _) = estimate(
            &start,
            &sample(&truth, 5_000, 3),
            &(1..=5_000).collect::<Vec<_>>(),
            None,
            50,
            1e-6,
        );
        assert_eq!(fitted.params(Field::City), Some(&pinned));
        let (unchanged, report) = estimate(
            &start,
            &sample(&truth, 10, 3),
            &(1..=10).collect::<Vec<_>>(),
            None,
            50,
            1e-6,
        );
        assert_eq!((unchanged, report.iterations), (start, 0));
    }
}
