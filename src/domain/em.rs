//! Expectation–maximisation for the Fellegi–Sunter parameters: m, u and the prior are
//! estimated from the candidate pairs themselves, no labelled matches needed.

use serde::Serialize;

use super::blocking::Rule;
use super::model::Field;
use super::score::{Gamma, Level, Model, PROBABILITY_FLOOR};

/// How an estimation went, for logs and the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmReport {
    pub pairs: usize,
    /// Blocking rules whose pairs EM learnt m from, one session each (see [`Sessions`]).
    pub sessions: usize,
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

/// CRM records paired with register records drawn at random, and how many records the
/// register holds: what a register that holds its records (a file) can give EM.
#[derive(Debug, Clone, Copy)]
pub struct RandomPairs<'a> {
    pub gammas: &'a [Gamma],
    pub register_size: usize,
}

/// Which blocking rules brought each candidate pair together, and what each rule's keys
/// are made of. Among the pairs that share a rule's key, the fields of that key agree
/// whether or not the pair is a match: EM then learns nothing true of them there, and
/// much that is false of the rest (at a million contacts, "same first name in the same
/// postcode" looks like a match class of its own). As in Splink's training sessions, EM
/// runs once per rule on the pairs that satisfy it with the rule's fields (and the groups
/// they belong to) left out, and each comparison's m is pooled from the sessions that
/// could see it.
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    /// Per candidate pair (as `pairs`), bit `r` set where the pair shares `rules[r]`'s key.
    pub shared: &'a [u64],
    /// The blocking rules, in the order of the bits.
    pub rules: &'a [Rule],
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
///
/// With `sessions` (and random pairs), m is learnt per blocking rule (see [`Sessions`])
/// and the share of records with a match then fitted with m and u fixed.
pub fn estimate(
    start: &Model,
    pairs: &[Gamma],
    record_ends: &[usize],
    random: Option<RandomPairs<'_>>,
    sessions: Option<Sessions<'_>>,
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
    let mut report = EmReport {
        pairs: pairs.len(),
        sessions: 0,
        iterations: 0,
        converged: false,
        last_change: 0.0,
        matched_share: None,
    };
    if pairs.len() < MIN_PAIRS {
        return (model, report);
    }
    let limits = (max_iterations, tolerance);
    let free: Vec<bool> = model
        .fields
        .iter()
        .map(|(f, _)| !model.pinned.contains(f))
        .collect();
    if !u_counted {
        let fit_u = Prior::PerPair { fit_u: true };
        let run = iterate(&mut model, pairs, record_ends, &free, fit_u, limits);
        run.into_report(&mut report);
        return (model, report);
    }
    // Prior odds of a random pair when half the CRM records have a match; the fitted share
    // scales them.
    let per_record = Prior::PerRecord {
        pair_odds: model.lambda / (1.0 - model.lambda),
    };
    let free = match sessions {
        Some(sessions) => {
            report.sessions =
                learn_m_by_rule(&mut model, pairs, record_ends, sessions, &free, limits);
            // m is the sessions'; what is left to fit on all pairs is the share.
            vec![false; free.len()]
        }
        None => free,
    };
    iterate(&mut model, pairs, record_ends, &free, per_record, limits).into_report(&mut report);
    (model, report)
}

/// How the prior of a pair is fitted.
#[derive(Debug, Clone, Copy)]
enum Prior {
    /// The share of the pairs that are matches; u too where `fit_u` (no random pairs).
    PerPair { fit_u: bool },
    /// The share of the records that have a match, scaling `pair_odds` (a random pair's
    /// odds when half of them do).
    PerRecord { pair_odds: f64 },
}

/// What one run of EM did.
struct Run {
    iterations: usize,
    converged: bool,
    last_change: f64,
    /// The fitted share of records with a match ([`Prior::PerRecord`]).
    share: Option<f64>,
    /// Per comparison, the expected number of matches it was present in (last E step).
    matched: Vec<f64>,
}

impl Run {
    fn into_report(self, report: &mut EmReport) {
        report.iterations += self.iterations;
        report.converged = self.converged;
        report.last_change = self.last_change;
        report.matched_share = self.share;
    }
}

/// Runs EM on every rule's session (see [`Sessions`]) and sets m of each free comparison
/// to the expected counts pooled over the sessions that saw it, each session's counts
/// weighed by its share of matches: among the pairs of a loose rule (a house number in a
/// city) matches are rare, and a small excess agreement among non-matches (a common first
/// name) is taken for the match class there. A comparison no session saw keeps its m.
/// Returns how many sessions ran.
fn learn_m_by_rule(
    model: &mut Model,
    pairs: &[Gamma],
    record_ends: &[usize],
    sessions: Sessions<'_>,
    free: &[bool],
    limits: (usize, f64),
) -> usize {
    let n_fields = model.fields.len();
    let mut counts = vec![[0.0f64; 3]; n_fields];
    let mut ran = 0;
    for (r, rule) in sessions.rules.iter().enumerate().take(64) {
        let blocked = blocked_comparisons(model, &rule.fields());
        let (gammas, ends, positive) =
            session(model, (pairs, record_ends), sessions.shared, r, &blocked);
        if gammas.len() < MIN_PAIRS {
            continue;
        }
        let mut fitted = model.clone();
        // Start from the share of the session's pairs the starting model weighs as matches.
        fitted.lambda = (positive as f64 / gammas.len() as f64).clamp(0.01, 0.9);
        let open: Vec<bool> = free.iter().zip(&blocked).map(|(f, b)| *f && !b).collect();
        let prior = Prior::PerPair { fit_u: false };
        let run = iterate(&mut fitted, &gammas, &ends, &open, prior, limits);
        for i in (0..n_fields).filter(|&i| open[i]) {
            for (count, m) in counts[i].iter_mut().zip(fitted.fields[i].1.m) {
                *count += m * run.matched[i] * fitted.lambda;
            }
        }
        ran += 1;
    }
    for (i, (_, params)) in model.fields.iter_mut().enumerate() {
        let total: f64 = counts[i].iter().sum();
        if free[i] && total > 0.0 {
            params.m = counts[i].map(|c| c / total);
        }
    }
    ran
}

/// The comparisons a rule's `fields` make agree among its pairs: those of the fields and
/// every member of a group one of them belongs to (a shared postcode makes a shared city
/// likely too).
fn blocked_comparisons(model: &Model, fields: &[Field]) -> Vec<bool> {
    let specs = &model.comparisons;
    let groups: Vec<_> = specs
        .iter()
        .filter(|c| fields.contains(&c.field))
        .filter_map(|c| c.group)
        .collect();
    specs
        .iter()
        .map(|c| fields.contains(&c.field) || c.group.is_some_and(|g| groups.contains(&g)))
        .collect()
}

/// The pairs of rule `r`'s session with the `blocked` comparisons set missing, where each
/// record's pairs end among them, and how many of them `model` weighs as matches with
/// every comparison counted.
fn session(
    model: &Model,
    (pairs, record_ends): (&[Gamma], &[usize]),
    shared: &[u64],
    r: usize,
    blocked: &[bool],
) -> (Vec<Gamma>, Vec<usize>, usize) {
    let mut gammas = Vec::new();
    let mut ends = Vec::new();
    let mut positive = 0;
    let mut from = 0;
    for &end in record_ends.iter().chain(std::iter::once(&pairs.len())) {
        let end = end.min(pairs.len());
        for (gamma, _) in pairs[from.min(end)..end]
            .iter()
            .zip(&shared[from.min(end)..end])
            .filter(|(_, shared)| *shared & (1 << r) != 0)
        {
            positive += usize::from(model.weight_of_levels(gamma) > 0.0);
            let mut gamma = *gamma;
            for (level, _) in gamma.iter_mut().zip(blocked).filter(|(_, b)| **b) {
                *level = Level::Missing;
            }
            gammas.push(gamma);
        }
        if ends.last() != Some(&gammas.len()) {
            ends.push(gammas.len());
        }
        from = end;
    }
    (gammas, ends, positive)
}

/// EM iterations over `pairs` until no parameter moves by more than the tolerance: m of
/// the `free` comparisons (u too where the prior says so), and the prior.
fn iterate(
    model: &mut Model,
    pairs: &[Gamma],
    record_ends: &[usize],
    free: &[bool],
    prior: Prior,
    (max_iterations, tolerance): (usize, f64),
) -> Run {
    // u counted on random pairs stays; else it is fitted with m.
    let u_counted = !matches!(prior, Prior::PerPair { fit_u: true });
    let n_fields = model.fields.len();
    let mut run = Run {
        iterations: 0,
        converged: false,
        last_change: 0.0,
        share: None,
        matched: vec![0.0; n_fields],
    };
    let mut share = 0.5;
    for _ in 0..max_iterations {
        run.iterations += 1;
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
        let lambda = match prior {
            Prior::PerRecord { pair_odds } => {
                // Never certain that every record, or none, has a match.
                let fitted = (g_total / records.max(1) as f64).clamp(0.01, MAX_MATCHED_SHARE);
                change = change.max((fitted - share).abs());
                share = fitted;
                run.share = Some(share);
                let odds = pair_odds * share / (1.0 - share);
                odds / (1.0 + odds)
            }
            Prior::PerPair { .. } => g_total / pairs.len() as f64,
        }
        .clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR);
        change = change.max((lambda - model.lambda).abs());
        model.lambda = lambda;
        for (i, (_, params)) in model.fields.iter_mut().enumerate() {
            let (mt, ut): (f64, f64) = (m_sum[i].iter().sum(), u_sum[i].iter().sum());
            run.matched[i] = mt;
            if !free[i] || mt <= 0.0 || ut <= 0.0 {
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
        run.last_change = change;
        if change < tolerance {
            run.converged = true;
            break;
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::blocking::Transform;
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
        let (unbounded, _) = estimate(&start, &pairs, &singles(&pairs), None, None, 100, 1e-6);
        let (bounded, _) = estimate(&start, &pairs, &records, None, None, 100, 1e-6);
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
        let (fitted, report) = estimate(&start, &pairs, &records, Some(random), None, 100, 1e-6);
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

    /// Duplicates found by the family-name rule agree on the family name by construction;
    /// those with a typo in it are found only where the birth date is there to block on.
    /// Counted over every pair, m says the family name agrees more often than it does.
    #[test]
    fn a_blocking_rule_teaches_em_nothing_of_the_fields_it_blocks_on() {
        use Level::{Close as B, Exact as A, Far as C, Missing as M};
        let mut rng = fastrand::Rng::with_seed(16);
        let pattern = |first, last, birth| {
            let mut out = [M; MAX_COMPARISONS];
            (out[0], out[1], out[2]) = (first, last, birth);
            out
        };
        let (last_rule, birth_rule) = (1u64, 2u64);
        let rules_of = |g: &Gamma| {
            (if g[1] == A { last_rule } else { 0 }) | (if g[2] == A { birth_rule } else { 0 })
        };
        let (mut pairs, mut shared, mut ends) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..2_000 {
            let mut record = vec![pattern(
                if rng.f64() < 0.9 { A } else { B },
                if rng.f64() < 0.8 { A } else { B },
                if rng.f64() < 0.5 { A } else { M },
            )];
            for _ in 0..5 {
                let birth = if rng.bool() { C } else { M };
                record.push(pattern(if rng.f64() < 0.05 { A } else { C }, A, birth));
            }
            for _ in 0..2 {
                record.push(pattern(if rng.f64() < 0.05 { A } else { C }, C, A));
            }
            // A duplicate that shares no rule's key is never a candidate.
            record.retain(|g| rules_of(g) != 0);
            for g in record {
                shared.push(rules_of(&g));
                pairs.push(g);
            }
            ends.push(pairs.len());
        }
        let random: Vec<Gamma> = (0..20_000)
            .map(|_| {
                let mut level = |p: f64| if rng.f64() < p { A } else { C };
                pattern(level(0.05), level(0.01), level(0.001))
            })
            .collect();
        let random = RandomPairs {
            gammas: &random,
            register_size: 2_000,
        };
        let exact = |field| (field, Transform::Exact);
        let on =
            |fields: &[Field]| Rule::on(&fields.iter().copied().map(exact).collect::<Vec<_>>());
        let by_name_and_birth = [on(&[Field::LastName]), on(&[Field::BirthDate])];
        let sessions = Sessions {
            shared: &shared,
            rules: &by_name_and_birth,
        };
        let start = Model::default_for(EntityKind::Contact);
        let run = |sessions| estimate(&start, &pairs, &ends, Some(random), sessions, 100, 1e-6);
        let (pooled, report) = run(None);
        let (by_rule, by_rule_report) = run(Some(sessions));
        let last_exact = |model: &Model| model.params(Field::LastName).unwrap().m[0];
        assert!(last_exact(&pooled) > 0.86, "{}", last_exact(&pooled));
        assert!(
            (last_exact(&by_rule) - 0.8).abs() < 0.04,
            "{}",
            last_exact(&by_rule)
        );
        assert_eq!((report.sessions, by_rule_report.sessions), (0, 2));
        let share = by_rule_report.matched_share.unwrap();
        assert!((share - 0.9).abs() < 0.05, "matched share {share}");

        // A field every session blocks on keeps the m it started with.
        let only_last = [
            on(&[Field::LastName]),
            on(&[Field::LastName, Field::BirthDate]),
        ];
        let sessions = Sessions {
            shared: &shared,
            rules: &only_last,
        };
        let (kept, _) = run(Some(sessions));
        let m = |model: &Model, field| model.params(field).map(|p| p.m);
        assert_eq!(m(&kept, Field::LastName), m(&start, Field::LastName));
        assert_ne!(m(&kept, Field::FirstName), m(&start, Field::FirstName));
    }

    #[test]
    fn em_recovers_known_parameters() {
        let mut truth = Model::default_for(EntityKind::Organisation);
        truth.lambda = 0.2;
        let start = Model::default_for(EntityKind::Organisation);
        let pairs = sample(&truth, 40_000, 7);
        let (fitted, report) = estimate(&start, &pairs, &singles(&pairs), None, None, 200, 1e-6);
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
            None,
            50,
            1e-6,
        );
        assert_eq!((unchanged, report.iterations), (start, 0));
    }
}
