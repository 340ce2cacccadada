//! `refsync tune`: precision and recall of a job's thresholds on the stewards' decisions,
//! and suggested thresholds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::output::print_list;
use super::Format;
use crate::config::Config;
use crate::domain::tune::{chart, PairCounts, Point, Targets, Weights};
use crate::store::Store;
use crate::sync::tune::{report, TuneReport};

#[derive(Debug, Args)]
pub struct TuneArgs {
    #[arg(long)]
    job: String,
    /// Share of the matches at or above the suggested `auto_apply_min` that must be right.
    #[arg(long, default_value_t = Targets::default().precision, value_parser = share)]
    target_precision: f64,
    /// Share of the right matches that must stay at or above the suggested `review_min`.
    #[arg(long, default_value_t = Targets::default().recall, value_parser = share)]
    target_recall: f64,
    /// Weight of a match whose changes a steward accepted (0 leaves such matches out).
    #[arg(long, default_value_t = Weights::default().accepted_change, value_parser = share)]
    accepted_change_weight: f64,
    /// Weight of a match whose changes were all rejected: weak evidence against it.
    #[arg(long, default_value_t = Weights::default().rejected_change, value_parser = share)]
    rejected_change_weight: f64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the precision/recall chart to this file as SVG.
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// A number in 0..=1.
fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number from 0 to 1")),
    }
}

pub async fn run(config: &Config, store: &Store, args: TuneArgs) -> anyhow::Result<ExitCode> {
    let job = super::job(config, &args.job)?;
    let targets = Targets {
        precision: args.target_precision,
        recall: args.target_recall,
    };
    let weights = Weights {
        accepted_change: args.accepted_change_weight,
        rejected_change: args.rejected_change_weight,
        ..Weights::default()
    };
    let report = report(store, &args.job, job, targets, weights).await?;
    if let Some(path) = &args.svg {
        std::fs::write(path, chart::svg(&report.tuning))
            .with_context(|| format!("cannot write the chart to {}", path.display()))?;
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => print_report(&report, args.svg.as_ref())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn share_cell(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.3}"))
}

fn point_cells(p: &Point) -> Vec<String> {
    vec![
        format!("{:.2}", p.threshold),
        share_cell(p.precision),
        format!("{:.3}", p.recall),
        share_cell(p.f1),
        p.above.to_string(),
        p.below.to_string(),
        p.wrong_above.to_string(),
        p.matches_below.to_string(),
    ]
}

const HEADERS: &[&str] = &[
    "threshold",
    "precision",
    "recall",
    "F1",
    "above",
    "below",
    "wrong above",
    "right below",
];

fn print_report(r: &TuneReport, svg: Option<&PathBuf>) -> anyhow::Result<()> {
    let t = &r.tuning;
    println!(
        "job `{}`: {} decided matches ({} right, {} wrong): {} by match verdict, {} by {} \
         change decisions (weights: accepted {}, rejected {})",
        r.job,
        t.decided.pairs,
        t.decided.matches,
        t.decided.non_matches,
        r.sources.verdicts,
        r.sources.change_pairs,
        r.sources.change_decisions,
        r.weights.accepted_change,
        r.weights.rejected_change
    );
    println!();
    // A row only where a decided match crosses the threshold: the rest repeat it.
    let rows: Vec<&Point> = t
        .curve
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == 0 || t.curve[i - 1].above != p.above)
        .map(|(_, p)| p)
        .collect();
    print_list(Format::Table, HEADERS, &rows, |p| point_cells(p))?;
    println!();
    print!("{}", chart::text(t));
    println!();
    println!("                current  (precision, recall)  suggested  (precision, recall)");
    let quality = |p: &Point| format!("({}, {:.3})", share_cell(p.precision), p.recall);
    for (name, current, suggested, target, unreachable) in [
        (
            "auto_apply_min",
            (t.current.auto_apply_min, &t.at_current.auto_apply_min),
            (t.suggested.auto_apply_min, &t.at_suggested.auto_apply_min),
            format!("precision ≥ {}", t.targets.precision),
            t.precision_unreachable,
        ),
        (
            "review_min",
            (t.current.review_min, &t.at_current.review_min),
            (t.suggested.review_min, &t.at_suggested.review_min),
            format!("recall ≥ {}", t.targets.recall),
            t.recall_unreachable,
        ),
    ] {
        println!(
            "{name:<14}  {:<7.3}  {:<19}  {:<9.3}  {:<19}  for {target}{}",
            current.0,
            quality(current.1),
            suggested.0,
            quality(suggested.1),
            if unreachable {
                "  (no threshold reaches it; kept)"
            } else {
                ""
            }
        );
    }
    println!();
    let shift = |s: &PairCounts| {
        format!(
            "{} ({} right matches, {} wrong)",
            s.pairs, s.matches, s.non_matches
        )
    };
    println!("Under the suggestion, of the decided matches:");
    println!(
        "  review band now, applied automatically:   {}",
        shift(&t.queue.auto_applied)
    );
    println!(
        "  review band now, rejected outright:       {}",
        shift(&t.queue.rejected_outright)
    );
    println!(
        "  not reviewed now, added to review:        {}",
        shift(&t.queue.added_to_review)
    );
    println!();
    println!(
        "To use it: [job.{}.thresholds] auto_apply_min = {}, review_min = {}",
        r.job, t.suggested.auto_apply_min, t.suggested.review_min
    );
    if let Some(path) = svg {
        println!("Chart written to {}", path.display());
    }
    Ok(())
}
