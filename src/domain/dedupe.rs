//! Duplicates inside one set of records (self-linkage): the register match's engine —
//! blocking index, comparison model, EM and scorer of a [`Linker`] — run over the
//! linker's own records. A record never pairs with itself and each unordered pair is
//! scored once. The same operation scores only new or changed records against the rest
//! (and against each other): records joining an indexed CRM, or a list against the CRM.
//! Pure: the caller spreads the per-record work over threads.

use super::blocking::RuleKeys;
use super::link::{random_pairs, Linker};
use super::score::{gamma, Gamma, Scorer};

/// Two of the linker's records, by position, and the match weight of their pair (bits:
/// the prior log-odds plus every field's contribution). `a` is the record that owns the
/// pair (see [`Scope`]); its values are the first side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub a: u32,
    pub b: u32,
    pub weight: f64,
}

impl Pair {
    pub fn probability(&self) -> f64 {
        Scorer::probability(self.weight)
    }
}

/// Which pairs a self-linkage scores.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every record against every other: a whole file.
    All,
    /// Only the records marked `true` (by position), against all records and each other:
    /// pairs of two unmarked records were scored before and are left alone.
    Changed(&'a [bool]),
}

impl Scope<'_> {
    pub fn includes(&self, i: u32) -> bool {
        match self {
            Scope::All => true,
            Scope::Changed(marked) => marked.get(i as usize).copied().unwrap_or(false),
        }
    }

    /// Whether record `i` scores its pair with `j`: exactly one record of every pair in
    /// scope does (the smaller one where both are in scope).
    fn owns(&self, i: u32, j: u32) -> bool {
        i != j && self.includes(i) && (!self.includes(j) || i < j)
    }
}

/// The records sharing a block with record `i` of the linker, without `i` itself, in
/// ascending order.
pub fn others(linker: &Linker, i: u32) -> Vec<u32> {
    let Some(record) = linker.records.get(i as usize) else {
        return Vec::new();
    };
    let mut found = linker
        .index
        .candidates(&linker.rules, record, linker.max_block_size);
    found.retain(|&j| j != i);
    found
}

/// The comparison vectors of record `i` against each of [`others`], for EM: every one of
/// them competes for being the record's duplicate, as a register match's candidates do;
/// with the blocking rules each pair shares.
pub fn record_gammas(linker: &Linker, i: u32) -> Vec<(Gamma, u64)> {
    let me = &linker.records[i as usize];
    let keys = RuleKeys::of(&linker.rules, me);
    others(linker, i)
        .into_iter()
        .map(|j| {
            let other = &linker.records[j as usize];
            let shared = keys.shared(&linker.rules, other);
            (gamma(&linker.scorer.model, me, other), shared)
        })
        .collect()
}

/// `n` random pairs of two different records out of `records`, for counting u (see
/// [`random_pairs`]): a record paired with itself would agree on everything.
pub fn random_record_pairs(records: usize, n: usize) -> Vec<(u32, u32)> {
    random_pairs(records, records, n)
        .into_iter()
        .filter(|(a, b)| a != b)
        .filter_map(|(a, b)| Some((u32::try_from(a).ok()?, u32::try_from(b).ok()?)))
        .collect()
}

/// The pairs record `i` owns under `scope` whose weight is at least `min_weight`, and how
/// many pairs it owns. `levels`, where EM already compared the record, are its comparison
/// vectors against [`others`] in that order; the pairs are then weighed without comparing
/// them again.
pub fn score_record(
    linker: &Linker,
    i: u32,
    scope: Scope<'_>,
    levels: Option<&[Gamma]>,
    min_weight: f64,
) -> (Vec<Pair>, usize) {
    if !scope.includes(i) {
        return (Vec::new(), 0);
    }
    let me = &linker.records[i as usize];
    let scorer = &linker.scorer;
    let ceiling = scorer.ceiling(me);
    let others = others(linker, i);
    let mut owned = 0;
    let pairs = others
        .iter()
        .enumerate()
        .filter(|(_, &j)| scope.owns(i, j))
        .inspect(|_| owned += 1)
        .filter_map(|(at, &j)| {
            let weight = match levels.and_then(|l| l.get(at)) {
                Some(g) => Some(scorer.weight_of(g, me)).filter(|w| *w >= min_weight),
                None => {
                    let other = &linker.records[j as usize];
                    scorer.weight_at_least(&ceiling, me, other, min_weight)
                }
            }?;
            Some(Pair { a: i, b: j, weight })
        })
        .collect();
    (pairs, owned)
}

/// What the comparison of records `a` and `b` says on its own, without the prior of two
/// records drawn at random (bits; negative is evidence that they differ). Clustering
/// weighs it against the links that put two records in one cluster.
pub fn evidence(linker: &Linker, a: u32, b: u32) -> f64 {
    let (a, b) = (a.min(b), a.max(b));
    let scorer = &linker.scorer;
    scorer.weight(&linker.records[a as usize], &linker.records[b as usize])
        - scorer.model.prior_weight()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::blocking::BlockingSettings;
    use crate::domain::link::MatchSettings;
    use crate::domain::model::{customer, EntityKind};
    use crate::domain::score::Prepared;

    fn person(id: &str, first: &str, last: &str, street: &str, postcode: &str) -> Prepared {
        Prepared::new(
            EntityKind::Contact,
            &customer(id, (first, last), (street, postcode, "Berlin")),
        )
    }

    fn linker() -> Linker {
        Linker::new(
            EntityKind::Contact,
            &BlockingSettings::default(),
            &MatchSettings::default(),
            vec![
                person("0", "Anna", "Schmidt", "Kantstr. 5", "10623"),
                person("1", "Anna", "Schmidt", "Kantstraße 5", "10623"),
                person("2", "Anne", "Schmitt", "Kantstr. 5", "10623"),
                person("3", "Jonas", "Weber", "Ringstr. 2", "10115"),
                person("4", "Anna", "Schmidt", "Kantstr. 5", "10623"),
            ],
        )
        .unwrap()
    }

    /// Every pair a record owns, as (a, b), for the whole file or a part of it.
    fn owned(linker: &Linker, scope: Scope<'_>) -> Vec<(u32, u32)> {
        let mut pairs: Vec<(u32, u32)> = (0..5)
            .flat_map(|i| score_record(linker, i, scope, None, f64::NEG_INFINITY).0)
            .map(|p| (p.a, p.b))
            .collect();
        pairs.sort_unstable();
        pairs
    }

    #[test]
    fn a_record_never_pairs_with_itself_and_each_pair_is_scored_once() {
        let linker = linker();
        for i in 0..5 {
            assert!(!others(&linker, i).contains(&i), "record {i}");
        }
        let pairs = owned(&linker, Scope::All);
        let mut unordered: Vec<(u32, u32)> =
            pairs.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
        unordered.sort_unstable();
        unordered.dedup();
        assert_eq!(unordered.len(), pairs.len(), "{pairs:?}");
        assert!(pairs.iter().all(|(a, b)| a < b), "{pairs:?}");
        // The three Annas at one address share blocks; the stranger shares none with them.
        for want in [(0, 1), (0, 2), (0, 4), (1, 2), (1, 4), (2, 4)] {
            assert!(pairs.contains(&want), "{want:?} in {pairs:?}");
        }
        assert!(pairs.iter().all(|&(a, b)| a != 3 && b != 3), "{pairs:?}");
    }

    #[test]
    fn changed_records_are_scored_against_the_rest_and_each_other_only() {
        let linker = linker();
        let all = owned(&linker, Scope::All);
        let cases: [(&str, [bool; 5]); 4] = [
            ("nothing changed", [false; 5]),
            ("one new record", [false, false, false, false, true]),
            ("two changed records", [false, true, false, false, true]),
            ("everything changed", [true; 5]),
        ];
        for (label, marked) in cases {
            let touched = |&(a, b): &(u32, u32)| marked[a as usize] || marked[b as usize];
            let mut want: Vec<(u32, u32)> = all.iter().copied().filter(touched).collect();
            let mut got: Vec<(u32, u32)> = owned(&linker, Scope::Changed(&marked))
                .into_iter()
                .map(|(a, b)| (a.min(b), a.max(b)))
                .collect();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "{label}");
        }
    }

    #[test]
    fn weights_from_em_levels_equal_weights_compared_anew_and_duplicates_score_high() {
        let linker = linker();
        for i in 0..5 {
            let levels: Vec<Gamma> = record_gammas(&linker, i)
                .into_iter()
                .map(|(g, _)| g)
                .collect();
            assert_eq!(levels.len(), others(&linker, i).len());
            let anew = score_record(&linker, i, Scope::All, None, f64::NEG_INFINITY);
            let reused = score_record(&linker, i, Scope::All, Some(&levels), f64::NEG_INFINITY);
            assert_eq!(anew, reused, "record {i}");
            assert_eq!(anew.1, anew.0.len(), "record {i}: every owned pair kept");
        }
        let (pairs, _) = score_record(&linker, 0, Scope::All, None, f64::NEG_INFINITY);
        let exact = pairs.iter().find(|p| p.b == 4).expect("0 and 4 are paired");
        let typo = pairs.iter().find(|p| p.b == 2).expect("0 and 2 are paired");
        assert!(exact.weight > typo.weight, "{exact:?} {typo:?}");
        assert!(evidence(&linker, 0, 4) > 0.0 && evidence(&linker, 0, 3) < 0.0);
        assert_eq!(evidence(&linker, 4, 0), evidence(&linker, 0, 4));
        let (strict, owned) = score_record(&linker, 0, Scope::All, None, typo.weight + 1e-9);
        assert!(strict.iter().all(|p| p.b != 2), "{strict:?}");
        assert_eq!(
            owned,
            pairs.len(),
            "pairs below the weight are still counted"
        );
    }

    #[test]
    fn random_pairs_never_pair_a_record_with_itself() {
        let pairs = random_record_pairs(3, 1000);
        assert!(pairs.len() > 500 && pairs.iter().all(|(a, b)| a != b && *a < 3 && *b < 3));
        assert!(random_record_pairs(1, 10).is_empty());
        assert!(random_record_pairs(0, 10).is_empty());
    }
}
