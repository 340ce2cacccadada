//! The precision/recall chart of a [`Tuning`]: a self-contained SVG for web pages and
//! files, and a few lines of text for terminals.

use std::fmt::Write;

use super::{Point, Tuning};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 620.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 300.0;
const PRECISION_COLOUR: &str = "#1f5fa8";
const RECALL_COLOUR: &str = "#c2410c";

/// The first and last threshold of the curve (0 to 1 without one).
fn x_range(t: &Tuning) -> (f64, f64) {
    match (t.curve.first(), t.curve.last()) {
        (Some(a), Some(b)) if b.threshold > a.threshold => (a.threshold, b.threshold),
        _ => (0.0, 1.0),
    }
}

/// Both curves, the current (dashed) and suggested (solid) thresholds and a legend, in
/// one SVG document with no external references.
pub fn svg(t: &Tuning) -> String {
    let (lo, hi) = x_range(t);
    let x = |v: f64| LEFT + (v - lo) / (hi - lo) * (RIGHT - LEFT);
    let y = |v: f64| BOTTOM - v * (BOTTOM - TOP);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    out.push_str("<title>Precision and recall of the match thresholds</title>");
    let _ = write!(
        out,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    for i in 0..=5 {
        let v = f64::from(i) / 5.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#dddddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{v:.1}</text>"##,
            y = y(v),
            tx = LEFT - 6.0,
            ty = y(v) + 4.0
        );
    }
    let step = if hi - lo > 0.3 { 10 } else { 5 };
    let first = (lo * 100.0).ceil() as u32;
    for h in (first..=(hi * 100.0).round() as u32).filter(|h| h % step == 0) {
        let v = f64::from(h) / 100.0;
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{BOTTOM}" x2="{x:.1}" y2="{tick}" stroke="#333333"/><text x="{x:.1}" y="{ty}" text-anchor="middle">{v:.2}</text>"##,
            x = x(v),
            tick = BOTTOM + 4.0,
            ty = BOTTOM + 16.0
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="#333333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{BOTTOM}" stroke="#333333"/><text x="{cx}" y="{ly}" text-anchor="middle">threshold (match probability)</text>"##,
        cx = (LEFT + RIGHT) / 2.0,
        ly = BOTTOM + 32.0
    );
    let markers = [
        ("current auto_apply_min", t.current.auto_apply_min, "4 3"),
        ("current review_min", t.current.review_min, "4 3"),
        (
            "suggested auto_apply_min",
            t.suggested.auto_apply_min,
            "none",
        ),
        ("suggested review_min", t.suggested.review_min, "none"),
    ];
    for (name, v, dash) in markers.into_iter().filter(|m| (lo..=hi).contains(&m.1)) {
        let _ = write!(
            out,
            r##"<line class="marker" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="#555555" stroke-dasharray="{dash}"><title>{name} {v:.3}</title></line>"##,
            x = x(v)
        );
    }
    let curve = |pick: fn(&Point) -> Option<f64>| -> String {
        let points: Vec<String> = t
            .curve
            .iter()
            .filter_map(|p| pick(p).map(|v| format!("{:.1},{:.1}", x(p.threshold), y(v))))
            .collect();
        points.join(" ")
    };
    for (id, colour, points) in [
        ("precision", PRECISION_COLOUR, curve(|p| p.precision)),
        ("recall", RECALL_COLOUR, curve(|p| Some(p.recall))),
    ] {
        let _ = write!(
            out,
            r#"<polyline id="{id}" fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>"#
        );
    }
    let ly = HEIGHT - 14.0;
    let _ = write!(
        out,
        r#"<rect x="{LEFT}" y="{ry}" width="14" height="4" fill="{PRECISION_COLOUR}"/><text x="{tx}" y="{ly}">precision</text><rect x="{rx2}" y="{ry}" width="14" height="4" fill="{RECALL_COLOUR}"/><text x="{tx2}" y="{ly}">recall</text><text x="{RIGHT}" y="{ly}" text-anchor="end">dashed: current · solid: suggested</text>"#,
        ry = ly - 5.0,
        tx = LEFT + 18.0,
        rx2 = LEFT + 90.0,
        tx2 = LEFT + 108.0
    );
    out.push_str("</svg>\n");
    out
}

/// The curves in text: `P` precision, `R` recall, `*` both, rows from 1.0 down to 0.0,
/// at most 60 columns.
pub fn text(t: &Tuning) -> String {
    const ROWS: usize = 10;
    let every = t.curve.len().div_ceil(60).max(1);
    let columns: Vec<&Point> = t.curve.iter().step_by(every).collect();
    let row = |v: f64| ((1.0 - v) * ROWS as f64).round() as usize;
    let mut out = String::new();
    for r in 0..=ROWS {
        let label = 1.0 - r as f64 / ROWS as f64;
        let cells: String = columns
            .iter()
            .map(|p| {
                let precision = p.precision.is_some_and(|v| row(v) == r);
                match (precision, row(p.recall) == r) {
                    (true, true) => '*',
                    (true, false) => 'P',
                    (false, true) => 'R',
                    (false, false) => ' ',
                }
            })
            .collect();
        let _ = writeln!(out, "{label:>4.1} |{}", cells.trim_end());
    }
    let _ = writeln!(out, "     +{}", "-".repeat(columns.len()));
    if let (Some(first), Some(last)) = (columns.first(), columns.last()) {
        let (a, b) = (
            format!("{:.2}", first.threshold),
            format!("{:.2}", last.threshold),
        );
        let gap = (columns.len() + 1).saturating_sub(a.len() + b.len()).max(1);
        let _ = writeln!(out, "      {a}{}{b}  threshold", " ".repeat(gap));
    }
    out
}
