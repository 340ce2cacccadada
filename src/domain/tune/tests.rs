use super::*;

fn pair(score: f64, is_match: bool) -> Evidence {
    Evidence {
        score,
        is_match,
        weight: 1.0,
        source: Source::Verdict,
    }
}

/// `n` pairs evenly spread over [lo, hi), all with the same label.
fn spread(n: usize, lo: f64, hi: f64, is_match: bool) -> Vec<Evidence> {
    (0..n)
        .map(|i| pair(lo + (hi - lo) * i as f64 / n as f64, is_match))
        .collect()
}

fn thresholds(auto: f64, review: f64) -> Thresholds {
    Thresholds {
        auto_apply_min: auto,
        review_min: review,
        ambiguity_margin: 0.03,
    }
}

#[test]
fn labels_from_verdicts_and_change_decisions() {
    let w = Weights::default();
    let verdict = |record, register, score, verdict| VerdictFact {
        record_id: record,
        register_id: register,
        score,
        verdict,
    };
    let change = |record, register, score, accepted| ChangeFact {
        record_id: record,
        register_id: register,
        score,
        accepted,
    };
    // (case, verdicts, changes, weights, expected (score, is_match, weight, source))
    type Want = (f64, bool, f64, Source);
    type Case<'a> = (
        &'a str,
        Vec<VerdictFact<'a>>,
        Vec<ChangeFact<'a>>,
        Weights,
        Vec<Want>,
    );
    let cases: Vec<Case> = vec![
        (
            "a verdict counts fully",
            vec![verdict("r1", "x", 0.9, MatchVerdict::Rejected)],
            vec![],
            w,
            vec![(0.9, false, 1.0, Source::Verdict)],
        ),
        (
            "a verdict outweighs the pair's change decisions",
            vec![verdict("r1", "x", 0.9, MatchVerdict::Confirmed)],
            vec![change("r1", "x", 0.8, false)],
            w,
            vec![(0.9, true, 1.0, Source::Verdict)],
        ),
        (
            "one accepted change makes the pair a match; the latest score counts",
            vec![],
            vec![change("r1", "x", 0.8, false), change("r1", "x", 0.85, true)],
            w,
            vec![(0.85, true, 1.0, Source::Changes)],
        ),
        (
            "only rejected changes: a non-match of small weight",
            vec![],
            vec![change("r1", "x", 0.8, false), change("r1", "x", 0.8, false)],
            w,
            vec![(0.8, false, 0.25, Source::Changes)],
        ),
        (
            "another register record of the same CRM record is another pair",
            vec![verdict("r1", "x", 0.9, MatchVerdict::Rejected)],
            vec![change("r1", "y", 0.95, true)],
            w,
            vec![
                (0.9, false, 1.0, Source::Verdict),
                (0.95, true, 1.0, Source::Changes),
            ],
        ),
        (
            "weight 0 leaves rejected changes out",
            vec![],
            vec![change("r1", "x", 0.8, false), change("r2", "x", 0.9, true)],
            Weights {
                rejected_change: 0.0,
                ..w
            },
            vec![(0.9, true, 1.0, Source::Changes)],
        ),
    ];
    for (case, verdicts, changes, weights, want) in cases {
        let got: Vec<_> = evidence(&verdicts, &changes, &weights)
            .into_iter()
            .map(|e| (e.score, e.is_match, e.weight, e.source))
            .collect();
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn precision_and_recall_at_thresholds() {
    // Matches at 0.95, 0.9, 0.8; non-matches at 0.85 and 0.6.
    let pairs = [
        pair(0.95, true),
        pair(0.9, true),
        pair(0.85, false),
        pair(0.8, true),
        pair(0.6, false),
    ];
    let sweep = Sweep::new(&pairs);
    // (threshold, precision, recall, above, below, wrong above, matches below)
    let cases = [
        (1.0, None, 0.0, 0, 5, 0, 3),
        (0.95, Some(1.0), 1.0 / 3.0, 1, 4, 0, 2),
        (0.9, Some(1.0), 2.0 / 3.0, 2, 3, 0, 1),
        (0.85, Some(2.0 / 3.0), 2.0 / 3.0, 3, 2, 1, 1),
        (0.8, Some(0.75), 1.0, 4, 1, 1, 0),
        (0.5, Some(0.6), 1.0, 5, 0, 2, 0),
    ];
    for (t, precision, recall, above, below, wrong, lost) in cases {
        let p = sweep.point(t);
        assert_eq!(p.precision, precision, "precision at {t}");
        assert!((p.recall - recall).abs() < 1e-12, "recall at {t}");
        assert_eq!(
            (p.above, p.below, p.wrong_above, p.matches_below),
            (above, below, wrong, lost),
            "counts at {t}"
        );
    }
}

#[test]
fn weights_enter_precision() {
    let mut weak = pair(0.9, false);
    weak.weight = 0.25;
    let sweep = Sweep::new(&[pair(0.95, true), weak]);
    assert_eq!(sweep.point(0.9).precision, Some(0.8));
}

#[test]
fn suggested_thresholds() {
    // (case, pairs, targets, suggested auto_apply_min, suggested review_min)
    let clean: Vec<Evidence> = [spread(50, 0.5, 0.8, false), spread(50, 0.8, 1.0, true)].concat();
    let mut noisy = clean.clone();
    noisy.push(pair(0.9, false));
    noisy.push(pair(0.7, true));
    type Case<'a> = (&'a str, Vec<Evidence>, Targets, Option<f64>, Option<f64>);
    let cases: Vec<Case> = vec![
        (
            "clean cut: both land on the lowest match",
            clean.clone(),
            Targets {
                precision: 1.0,
                recall: 1.0,
            },
            Some(0.8),
            Some(0.8),
        ),
        (
            "recall 0.9 drops the lowest tenth of the matches",
            clean,
            Targets {
                precision: 1.0,
                recall: 0.9,
            },
            Some(0.8),
            Some(0.82),
        ),
        (
            "a wrong pair at 0.9 lifts the auto band above it",
            noisy.clone(),
            Targets {
                precision: 1.0,
                recall: 1.0,
            },
            Some(0.904),
            Some(0.7),
        ),
        (
            "precision 0.98 tolerates it",
            noisy,
            Targets {
                precision: 0.98,
                recall: 0.98,
            },
            Some(0.8),
            Some(0.8),
        ),
    ];
    for (case, pairs, targets, auto, review) in cases {
        let sweep = Sweep::new(&pairs);
        assert_eq!(
            sweep.auto_apply_min(targets.precision),
            auto,
            "{case}: auto"
        );
        assert_eq!(sweep.review_min(targets.recall), review, "{case}: review");
    }
}

#[test]
fn unreachable_precision_keeps_the_current_threshold() {
    // The best-scored pair is wrong: no threshold is 100 % precise.
    let pairs = [
        vec![pair(0.99, false)],
        spread(30, 0.8, 0.98, true),
        spread(20, 0.3, 0.8, false),
    ]
    .concat();
    let current = thresholds(0.92, 0.75);
    let t = tune(
        &pairs,
        &current,
        &Targets {
            precision: 1.0,
            recall: 0.9,
        },
    )
    .unwrap();
    assert!(t.precision_unreachable);
    assert!(!t.recall_unreachable);
    assert_eq!(t.suggested.auto_apply_min, 0.92);
    assert!(t.suggested.review_min <= t.suggested.auto_apply_min);
}

#[test]
fn thresholds_cut_short_without_crossing_the_next_score() {
    let cases = [
        (0.8312, Some(0.5), 0.831),
        (0.83127, Some(0.8311), 0.8312),
        (0.8312751, Some(0.83127), 0.831275),
        (0.83, Some(0.82), 0.83),
        (0.9, None, 0.9),
    ];
    for (t, next, want) in cases {
        assert_eq!(tidy(t, next), want, "{t} above {next:?}");
    }
}

#[test]
fn queue_shift_counts_pairs_moving_between_bands() {
    let pairs = [
        pair(0.95, true),  // auto → auto
        pair(0.90, true),  // review → auto under the suggestion
        pair(0.88, false), // review → auto, wrongly
        pair(0.80, true),  // review → review
        pair(0.76, false), // review → not found
        pair(0.72, true),  // not found → review
    ];
    let q = queue_shift(&pairs, &thresholds(0.92, 0.75), &thresholds(0.85, 0.70));
    let shift = |s: &PairCounts| (s.pairs, s.matches, s.non_matches);
    assert_eq!(shift(&q.auto_applied), (2, 1, 1));
    assert_eq!(shift(&q.rejected_outright), (0, 0, 0));
    assert_eq!(shift(&q.added_to_review), (1, 1, 0));
    let q = queue_shift(&pairs, &thresholds(0.92, 0.75), &thresholds(0.92, 0.78));
    assert_eq!(shift(&q.rejected_outright), (1, 0, 1));
}

#[test]
fn too_few_decisions_are_refused_with_the_counts() {
    let current = thresholds(0.92, 0.75);
    let cases = [
        ("too few pairs", spread(20, 0.5, 1.0, true), 20, 20, 0),
        ("no non-matches", spread(60, 0.5, 1.0, true), 60, 60, 0),
        (
            "four non-matches",
            [spread(56, 0.8, 1.0, true), spread(4, 0.5, 0.8, false)].concat(),
            60,
            56,
            4,
        ),
    ];
    for (case, pairs, n, m, nm) in cases {
        let err = tune(&pairs, &current, &Targets::default()).unwrap_err();
        assert_eq!(
            err,
            PairCounts {
                pairs: n,
                matches: m,
                non_matches: nm
            },
            "{case}"
        );
    }
    let enough = [spread(35, 0.8, 1.0, true), spread(5, 0.5, 0.8, false)].concat();
    assert!(tune(&enough, &current, &Targets::default()).is_ok());
}

#[test]
fn curve_runs_from_below_the_lowest_score_to_one() {
    let pairs = [spread(30, 0.8, 1.0, true), spread(20, 0.634, 0.8, false)].concat();
    let t = tune(&pairs, &thresholds(0.92, 0.75), &Targets::default()).unwrap();
    let first = t.curve.first().unwrap();
    assert_eq!(first.threshold, 0.63);
    assert_eq!((first.above, first.below), (50, 0));
    assert_eq!(t.curve.last().unwrap().threshold, 1.0);
    assert_eq!(t.curve.len(), 38);
    assert_eq!(t.suggested.auto_apply_min, 0.8);
}

#[test]
fn text_chart_draws_both_curves() {
    let pairs = [spread(30, 0.8, 1.0, true), spread(20, 0.5, 0.8, false)].concat();
    let t = tune(&pairs, &thresholds(0.92, 0.75), &Targets::default()).unwrap();
    let chart = chart::text(&t);
    assert!(chart.contains('P') && chart.contains('R'), "{chart}");
    assert!(
        chart.lines().next().unwrap().starts_with(" 1.0 |"),
        "{chart}"
    );
    assert!(chart.contains("0.50") && chart.contains("1.00"), "{chart}");
}

#[test]
fn svg_chart_is_well_formed_with_both_curves_and_the_thresholds() {
    let pairs = [spread(30, 0.8, 1.0, true), spread(20, 0.5, 0.8, false)].concat();
    let t = tune(&pairs, &thresholds(0.92, 0.75), &Targets::default()).unwrap();
    let svg = chart::svg(&t);
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}:\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let points = |id: &str| {
        doc.descendants()
            .find(|n| n.tag_name().name() == "polyline" && n.attribute("id") == Some(id))
            .and_then(|n| n.attribute("points"))
            .map(|p| p.split(' ').count())
    };
    // 0.50 to 1.00: 51 thresholds; precision has none at 1.00 (nothing above).
    assert_eq!(points("recall"), Some(51));
    assert_eq!(points("precision"), Some(50));
    let markers = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("marker"))
        .count();
    assert_eq!(
        markers, 4,
        "current and suggested auto_apply_min and review_min"
    );
    assert!(
        !svg.contains("href"),
        "self-contained: no external references"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn labelled() -> impl Strategy<Value = Vec<Evidence>> {
        prop::collection::vec((0.0..=1.0f64, any::<bool>(), 0.1..=1.0f64), 40..200).prop_map(
            |pairs| {
                pairs
                    .into_iter()
                    .map(|(score, is_match, weight)| Evidence {
                        score,
                        is_match,
                        weight,
                        source: Source::Changes,
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #[test]
        fn suggestions_keep_their_promises(pairs in labelled(), precision in 0.5..=1.0f64, recall in 0.5..=1.0f64) {
            let targets = Targets { precision, recall };
            let Ok(t) = tune(&pairs, &thresholds(0.92, 0.75), &targets) else {
                return Ok(());
            };
            prop_assert!(t.suggested.validate().is_ok(), "{:?}", t.suggested);
            if !t.precision_unreachable {
                let p = t.at_suggested.auto_apply_min.precision.unwrap();
                prop_assert!(p >= precision - 1e-12, "precision {} < {}", p, precision);
            }
            if !t.recall_unreachable && t.suggested.review_min < t.suggested.auto_apply_min {
                let r = t.at_suggested.review_min.recall;
                prop_assert!(r >= recall - 1e-12, "recall {} < {}", r, recall);
            }
            for w in t.curve.windows(2) {
                prop_assert!(w[1].recall <= w[0].recall + 1e-12);
                prop_assert!(w[1].above <= w[0].above);
            }
            for p in &t.curve {
                prop_assert_eq!(p.above + p.below, pairs.len());
            }
        }
    }
}
