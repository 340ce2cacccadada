//! Clusters of duplicates from scored pairs, and cluster ids that stay from pass to pass.
//!
//! Links (pairs at or above the threshold) join records strongest first, as single
//! linkage does, with two guards against chaining:
//! - every pair of records in the result is, on the evidence of its own comparison, at
//!   least as likely one entity as not, taking the cluster's weakest link as its prior.
//!   Processed strongest first, the link that joins is the weakest of the joined cluster,
//!   so the check is `weakest link + evidence(x, y) >= 0` (bits) for every member pair: a
//!   strong chain tolerates a disagreeing pair (a typo, a move), a weak one does not;
//! - the pairs across the two clusters are, on average, at least as likely one entity as
//!   not (average linkage: the prior plus their mean evidence, at even odds as above). One
//!   record of a cluster that resembles one of another is not enough when the rest of the
//!   two clusters say they differ: each record of a cluster is another witness of the one
//!   entity.
//!
//! Two single records are joined by their link alone. A link refused by a guard (or by the
//! size limit) flags both sides for review.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::dedupe::Pair;
use super::score::{hash64, Scorer};

/// Clusters never grow past this many records: a link that would make one larger is
/// refused and flagged for review. A thousand records of one entity are a data problem
/// (a placeholder value, a test account) for a person to look at, and the guard's cost
/// grows with the square of a cluster's size.
pub const MAX_CLUSTER_SIZE: usize = 1000;

/// The most bits a link of an earlier run counts for (see [`earlier_links`]): a weakest
/// link written as probability 1 would otherwise be infinite and outweigh any evidence.
const MAX_EARLIER_WEIGHT: f64 = 64.0;

/// Clusters of an earlier run, as its clusters file gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Earlier {
    /// Record id → cluster id.
    pub cluster_of: HashMap<String, String>,
    /// Cluster id → the probability of its weakest link.
    pub weakest: HashMap<String, f64>,
    /// Pairs of records (smaller id first) a steward split apart: never in one cluster.
    pub apart: HashSet<(String, String)>,
}

impl Earlier {
    /// Whether a steward split records `a` and `b` apart.
    pub fn kept_apart(&self, a: &str, b: &str) -> bool {
        !self.apart.is_empty() && {
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            self.apart.contains(&(low.to_string(), high.to_string()))
        }
    }
}

/// Links that hold the earlier clusters together in a run that scores only new records (the
/// pairs of two earlier records are not scored again): each earlier cluster's records that
/// `position` still finds, chained in the order of their positions at the cluster's weakest
/// link. New records then join or split them under the same guard as any link.
pub fn earlier_links(earlier: &Earlier, position: impl Fn(&str) -> Option<u32>) -> Vec<Pair> {
    let mut members: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (record, cluster) in &earlier.cluster_of {
        if let Some(at) = position(record) {
            members.entry(cluster).or_default().push(at);
        }
    }
    let mut links = Vec::new();
    for (cluster, mut at) in members {
        at.sort_unstable();
        let p = earlier.weakest.get(cluster).copied().unwrap_or(0.5);
        let weight = weight_of_probability(p).min(MAX_EARLIER_WEIGHT);
        links.extend(at.windows(2).map(|w| Pair {
            a: w[0],
            b: w[1],
            weight,
        }));
    }
    links
}

/// Records that are one entity, by position, with a stable id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub id: String,
    /// Positions of the records, ascending.
    pub members: Vec<u32>,
    /// The weight (bits) of the weakest link that holds the cluster together.
    pub weakest_link: f64,
    /// A link to a record outside was refused (guard or size limit): a person should look.
    pub review: bool,
}

impl Cluster {
    pub fn weakest_probability(&self) -> f64 {
        Scorer::probability(self.weakest_link)
    }
}

/// Log-odds in bits of a probability: the weight a link needs to reach it.
pub fn weight_of_probability(p: f64) -> f64 {
    (p / (1.0 - p)).log2()
}

/// One cluster while it grows.
struct Growing {
    members: Vec<u32>,
    weakest: f64,
    /// The lowest evidence between two of its members (infinite for one record).
    least_evidence: f64,
    review: bool,
}

/// The clusters of two or more records among `count` records that `pairs` at or above
/// `threshold` (a probability) link, under the guards in the module's description.
/// `evidence(a, b)` is what a comparison of two records says without the prior (see
/// [`super::dedupe::evidence`]); it is asked only for records about to share a cluster.
/// `prior` is the prior log-odds (bits) that two records are one entity, which a link's
/// weight includes. Ids are `[stable_ids]` against `previous` (record id → cluster id)
/// with `id_of`.
pub fn cluster<'a>(
    count: usize,
    pairs: &[Pair],
    threshold: f64,
    prior: f64,
    evidence: impl Fn(u32, u32) -> f64,
    id_of: impl Fn(u32) -> &'a str,
    previous: &HashMap<String, String>,
) -> Vec<Cluster> {
    let min_weight = weight_of_probability(threshold);
    let mut links: Vec<&Pair> = pairs
        .iter()
        .filter(|p| p.weight >= min_weight && p.a != p.b && (p.a as usize) < count)
        .filter(|p| (p.b as usize) < count)
        .collect();
    links.sort_by(|x, y| {
        y.weight
            .total_cmp(&x.weight)
            .then_with(|| (x.a.min(x.b), x.a.max(x.b)).cmp(&(y.a.min(y.b), y.a.max(y.b))))
    });
    // Each record's cluster, by the number of the cluster in `growing`.
    let mut of: Vec<usize> = (0..count).collect();
    let mut growing: Vec<Option<Growing>> = (0..count)
        .map(|i| {
            Some(Growing {
                members: vec![u32::try_from(i).unwrap_or(u32::MAX)],
                weakest: f64::INFINITY,
                least_evidence: f64::INFINITY,
                review: false,
            })
        })
        .collect();
    for link in links {
        let (x, y) = (of[link.a as usize], of[link.b as usize]);
        if x == y {
            continue;
        }
        let (Some(left), Some(right)) = (&growing[x], &growing[y]) else {
            continue;
        };
        let size = left.members.len() + right.members.len();
        let mut least = left.least_evidence.min(right.least_evidence);
        let mut across = 0.0;
        let fits = size <= MAX_CLUSTER_SIZE
            && link.weight + least >= 0.0
            && left.members.iter().all(|&a| {
                right.members.iter().all(|&b| {
                    let e = evidence(a, b);
                    least = least.min(e);
                    across += e;
                    link.weight + least >= 0.0
                })
            })
            && (size == 2
                || prior + across / (left.members.len() * right.members.len()) as f64 >= 0.0);
        if !fits {
            for at in [x, y] {
                if let Some(g) = growing[at].as_mut() {
                    g.review = true;
                }
            }
            continue;
        }
        // The smaller cluster moves into the larger one.
        let (keep, gone) = if left.members.len() >= right.members.len() {
            (x, y)
        } else {
            (y, x)
        };
        let Some(moved) = growing[gone].take() else {
            continue;
        };
        for &m in &moved.members {
            of[m as usize] = keep;
        }
        if let Some(g) = growing[keep].as_mut() {
            g.members.extend(moved.members);
            g.weakest = g.weakest.min(moved.weakest).min(link.weight);
            g.least_evidence = least;
            g.review |= moved.review;
        }
    }
    let mut found: Vec<Growing> = growing
        .into_iter()
        .flatten()
        .filter(|g| g.members.len() >= 2)
        .collect();
    for g in &mut found {
        g.members.sort_unstable();
    }
    let groups: Vec<Vec<&str>> = found
        .iter()
        .map(|g| g.members.iter().map(|&m| id_of(m)).collect())
        .collect();
    let ids = stable_ids(&groups, previous);
    let mut clusters: Vec<Cluster> = found
        .into_iter()
        .zip(ids)
        .map(|(g, id)| Cluster {
            id,
            members: g.members,
            weakest_link: g.weakest,
            review: g.review,
        })
        .collect();
    clusters.sort_by(|a, b| a.id.cmp(&b.id));
    clusters
}

/// An id for each group of record ids that stays while its records stay: each group takes
/// the previous cluster id (from `previous`, record id → cluster id) it shares most records
/// with, each old id going to one group at most (most shared records first, then the
/// smaller old id, then the group whose smallest record id is smaller). A group left over
/// gets a new id made from its smallest record id, so the same records get the same id on
/// any run; an old id is never given to a group that did not inherit it.
pub fn stable_ids(groups: &[Vec<&str>], previous: &HashMap<String, String>) -> Vec<String> {
    fn key<'a>(group: &[&'a str]) -> &'a str {
        group.iter().min().copied().unwrap_or_default()
    }
    let mut offers: Vec<(usize, &str, &str, usize)> = Vec::new();
    for (at, group) in groups.iter().enumerate() {
        let mut shared: BTreeMap<&str, usize> = BTreeMap::new();
        for record in group {
            if let Some(old) = previous.get(*record) {
                *shared.entry(old.as_str()).or_default() += 1;
            }
        }
        offers.extend(shared.into_iter().map(|(old, n)| (n, old, key(group), at)));
    }
    offers.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)).then(x.2.cmp(y.2)));
    let mut ids: Vec<Option<String>> = vec![None; groups.len()];
    let taken: HashSet<&str> = previous.values().map(String::as_str).collect();
    let mut given: HashSet<&str> = HashSet::new();
    for (_, old, _, at) in offers {
        if ids[at].is_none() && given.insert(old) {
            ids[at] = Some(old.to_string());
        }
    }
    let mut fresh: Vec<usize> = (0..groups.len()).filter(|&g| ids[g].is_none()).collect();
    fresh.sort_by_key(|&g| key(&groups[g]));
    // A set, not a list: a million records make a hundred thousand new ids.
    let mut made: HashSet<String> = HashSet::new();
    for g in fresh {
        let base = format!("c{:012x}", hash64(&[key(&groups[g]).as_bytes()]) >> 16);
        let mut id = base.clone();
        let mut n = 2;
        while taken.contains(id.as_str()) || made.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        made.insert(id.clone());
        ids[g] = Some(id);
    }
    ids.into_iter().map(Option::unwrap_or_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IDS: [&str; 8] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];

    fn pair(a: u32, b: u32, weight: f64) -> Pair {
        Pair { a, b, weight }
    }

    /// Members as record ids and the review flag, per cluster, in id order.
    fn shape(clusters: &[Cluster]) -> Vec<(Vec<&'static str>, bool)> {
        let mut out: Vec<(Vec<&str>, bool)> = clusters
            .iter()
            .map(|c| {
                let ids = c.members.iter().map(|&m| IDS[m as usize]).collect();
                (ids, c.review)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn clusters_follow_the_links_and_the_guards_break_chains() {
        // Evidence between two records: what the case says for the pairs it lists, a
        // linked pair's weight (the prior is 0 here), else 0 (nothing said).
        type Case = (
            &'static str,
            Vec<Pair>,
            Vec<(u32, u32, f64)>,
            Vec<(Vec<&'static str>, bool)>,
        );
        let cases: Vec<Case> = vec![
            ("no pairs, no clusters", vec![], vec![], vec![]),
            (
                "a pair below the threshold links nothing",
                vec![pair(0, 1, 1.0)],
                vec![],
                vec![],
            ),
            (
                "links chain into one cluster",
                vec![pair(0, 1, 20.0), pair(1, 2, 15.0), pair(3, 4, 10.0)],
                vec![],
                vec![(vec!["r0", "r1", "r2"], false), (vec!["r3", "r4"], false)],
            ),
            (
                "a chain whose ends clearly differ breaks at its weakest link",
                vec![pair(0, 1, 20.0), pair(1, 2, 15.0), pair(2, 3, 25.0)],
                vec![(0, 3, -30.0)],
                vec![(vec!["r0", "r1"], true), (vec!["r2", "r3"], true)],
            ),
            (
                "a strong chain outweighs a mild disagreement",
                vec![pair(0, 1, 40.0), pair(1, 2, 35.0)],
                vec![(0, 2, -20.0)],
                vec![(vec!["r0", "r1", "r2"], false)],
            ),
            (
                "a refused single record flags the cluster it would have joined",
                vec![pair(0, 1, 20.0), pair(2, 1, 5.0)],
                vec![(0, 2, -30.0)],
                vec![(vec!["r0", "r1"], true)],
            ),
            (
                "one resemblance does not join two clusters whose other records differ",
                vec![pair(0, 1, 20.0), pair(2, 3, 20.0), pair(1, 2, 5.0)],
                vec![(0, 2, -2.0), (0, 3, -2.0), (1, 3, -2.0)],
                vec![(vec!["r0", "r1"], true), (vec!["r2", "r3"], true)],
            ),
            (
                "two clusters join where their records agree on average",
                vec![pair(0, 1, 20.0), pair(2, 3, 20.0), pair(1, 2, 5.0)],
                vec![(0, 2, 4.0), (0, 3, 3.0), (1, 3, 2.0)],
                vec![(vec!["r0", "r1", "r2", "r3"], false)],
            ),
        ];
        for (label, pairs, said, want) in cases {
            let evidence = |a: u32, b: u32| {
                let same = |x: u32, y: u32| (x.min(y), x.max(y)) == (a.min(b), a.max(b));
                if let Some(&(_, _, e)) = said.iter().find(|(x, y, _)| same(*x, *y)) {
                    e
                } else if let Some(p) = pairs.iter().find(|p| same(p.a, p.b)) {
                    p.weight
                } else {
                    0.0
                }
            };
            let got = cluster(
                8,
                &pairs,
                0.9,
                0.0,
                evidence,
                |i| IDS[i as usize],
                &HashMap::new(),
            );
            assert_eq!(shape(&got), want, "{label}");
        }
    }

    #[test]
    fn two_single_records_are_joined_by_their_link_alone_whatever_the_threshold() {
        // A threshold under even odds: a link of -1 bit (p 0.33) is a link, and the
        // average guard, which asks even odds of clusters, does not refuse it.
        let got = cluster(
            2,
            &[pair(0, 1, -1.0)],
            0.3,
            -4.0,
            |_, _| 3.0,
            |i| IDS[i as usize],
            &HashMap::new(),
        );
        assert_eq!(shape(&got), [(vec!["r0", "r1"], false)]);
    }

    #[test]
    fn the_weakest_link_is_reported() {
        let got = cluster(
            3,
            &[pair(0, 1, 20.0), pair(1, 2, 6.0), pair(0, 2, 9.0)],
            0.9,
            0.0,
            |a, b| match (a.min(b), a.max(b)) {
                (0, 1) => 20.0,
                (0, 2) => 9.0,
                _ => 6.0,
            },
            |i| IDS[i as usize],
            &HashMap::new(),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].weakest_link, 9.0, "the spanning links are 20 and 9");
        assert!((got[0].weakest_probability() - 512.0 / 513.0).abs() < 1e-12);
    }

    fn previous(rows: &[(&str, String)]) -> HashMap<String, String> {
        rows.iter()
            .map(|(r, c)| (r.to_string(), c.clone()))
            .collect()
    }

    #[test]
    fn earlier_clusters_are_chained_at_their_weakest_link() {
        let earlier = Earlier {
            cluster_of: previous(&[
                ("r1", "X".into()),
                ("r4", "X".into()),
                ("r2", "X".into()),
                ("r5", "Y".into()),
                ("r6", "Y".into()),
                ("gone", "Y".into()),
            ]),
            weakest: HashMap::from([("X".into(), 0.9), ("Y".into(), 1.0)]),
            ..Earlier::default()
        };
        let position = |id: &str| IDS.iter().position(|i| *i == id).map(|p| p as u32);
        let links = earlier_links(&earlier, position);
        let x = weight_of_probability(0.9);
        assert_eq!(
            links,
            [pair(1, 2, x), pair(2, 4, x), pair(5, 6, MAX_EARLIER_WEIGHT)]
        );
        // Clustered again with nothing new, they are the earlier clusters with their ids.
        let again = cluster(
            8,
            &links,
            0.9,
            0.0,
            |_, _| 10.0,
            |i| IDS[i as usize],
            &earlier.cluster_of,
        );
        let ids: Vec<(&str, Vec<u32>)> = again
            .iter()
            .map(|c| (c.id.as_str(), c.members.clone()))
            .collect();
        assert_eq!(ids, [("X", vec![1, 2, 4]), ("Y", vec![5, 6])]);
    }

    #[test]
    fn cluster_ids_stay_while_their_members_stay() {
        let fresh = |key: &str| format!("c{:012x}", hash64(&[key.as_bytes()]) >> 16);
        type Case = (
            &'static str,
            Vec<Vec<&'static str>>,
            Vec<(&'static str, String)>,
            Vec<String>,
        );
        let old = |rows: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            rows.iter().map(|(r, c)| (*r, c.to_string())).collect()
        };
        let cases: Vec<Case> = vec![
            (
                "nothing changed",
                vec![vec!["a", "b"], vec!["c", "d", "e"]],
                old(&[("a", "X"), ("b", "X"), ("c", "Y"), ("d", "Y"), ("e", "Y")]),
                vec!["X".into(), "Y".into()],
            ),
            (
                "a new record joins an existing cluster",
                vec![vec!["a", "b", "n"]],
                old(&[("a", "X"), ("b", "X")]),
                vec!["X".into()],
            ),
            (
                "a split: the part with more old members keeps the id",
                vec![vec!["a"], vec!["b", "c"]],
                old(&[("a", "X"), ("b", "X"), ("c", "X")]),
                vec![fresh("a"), "X".into()],
            ),
            (
                "a merge keeps the id of the larger old cluster, the other is retired",
                vec![vec!["a", "b", "c", "d", "e"]],
                old(&[("a", "X"), ("b", "X"), ("c", "Y"), ("d", "Y"), ("e", "Y")]),
                vec!["Y".into()],
            ),
            (
                "a tie goes to the smaller old id",
                vec![vec!["a", "b", "c", "d"]],
                old(&[("a", "Y"), ("b", "Y"), ("c", "X"), ("d", "X")]),
                vec!["X".into()],
            ),
            (
                "new clusters get ids from their smallest record id",
                vec![vec!["q", "p"], vec!["z", "y"]],
                vec![],
                vec![fresh("p"), fresh("y")],
            ),
            (
                "a made id never takes an old one",
                vec![vec!["a", "b"], vec!["c", "d"]],
                old(&[("c", "X"), ("d", "X"), ("x", &fresh("a"))]),
                vec![format!("{}-2", fresh("a")), "X".into()],
            ),
        ];
        for (label, groups, rows, want) in cases {
            assert_eq!(stable_ids(&groups, &previous(&rows)), want, "{label}");
        }
    }

    /// The prior of the property test's records: links then carry their evidence and more.
    const PRIOR: f64 = -4.0;

    /// Up to eight records, pairs with weights around the threshold, and evidence per
    /// record pair that is sometimes clearly against.
    fn graph() -> impl Strategy<Value = (Vec<Pair>, Vec<f64>)> {
        let pairs = prop::collection::vec((0u32..8, 0u32..8, -5.0f64..40.0), 0..20)
            .prop_map(|v| v.into_iter().map(|(a, b, w)| pair(a, b, w)).collect());
        (pairs, prop::collection::vec(-50.0f64..10.0, 64))
    }

    proptest! {
        #[test]
        fn clusters_are_linked_guarded_and_keep_their_ids((pairs, table) in graph()) {
            let evidence = |a: u32, b: u32| table[(a.min(b) * 8 + a.max(b)) as usize];
            let id_of = |i: u32| IDS[i as usize];
            let first = cluster(8, &pairs, 0.9, PRIOR, evidence, id_of, &HashMap::new());
            let min_weight = weight_of_probability(0.9);
            let mut seen = HashSet::new();
            for c in &first {
                prop_assert!(c.members.len() >= 2);
                prop_assert!(c.members.iter().all(|m| seen.insert(*m)), "a record in two clusters");
                // Every member pair is at least as likely one entity as not, with the
                // weakest link as the prior.
                for (i, &a) in c.members.iter().enumerate() {
                    for &b in &c.members[i + 1..] {
                        prop_assert!(c.weakest_link + evidence(a, b) >= 0.0);
                    }
                }
                // Links at or above the threshold inside the cluster connect it, and the
                // weakest of those it needs is the one reported.
                let mut reached = vec![c.members[0]];
                let mut grew = true;
                while grew {
                    grew = false;
                    for p in &pairs {
                        let inside = c.members.contains(&p.a) && c.members.contains(&p.b);
                        if inside && p.weight >= c.weakest_link.max(min_weight)
                            && reached.contains(&p.a) != reached.contains(&p.b)
                        {
                            reached.push(if reached.contains(&p.a) { p.b } else { p.a });
                            grew = true;
                        }
                    }
                }
                prop_assert_eq!(reached.len(), c.members.len());
            }
            // Run again with this run's ids as the previous ones: nothing changes.
            let old: HashMap<String, String> = first
                .iter()
                .flat_map(|c| c.members.iter().map(|&m| (IDS[m as usize].to_string(), c.id.clone())))
                .collect();
            let again = cluster(8, &pairs, 0.9, PRIOR, evidence, id_of, &old);
            prop_assert_eq!(&again, &first);
            // Ids are unique.
            let ids: HashSet<&str> = first.iter().map(|c| c.id.as_str()).collect();
            prop_assert_eq!(ids.len(), first.len());
        }
    }
}
