//! Plain aligned tables and JSON for list commands.

use serde::Serialize;

use super::Format;

/// Prints `rows` as JSON, or as a table with `headers` where `cells` renders one row.
pub fn print_list<T: Serialize>(
    format: Format,
    headers: &[&str],
    rows: &[T],
    cells: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Format::Table => {
            let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
            let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
            for row in &body {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: Vec<String>| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                padded.join("  ").trim_end().to_string()
            };
            println!("{}", line(headers.iter().map(|h| h.to_string()).collect()));
            for row in body {
                println!("{}", line(row));
            }
        }
    }
    Ok(())
}

/// Shortens long values so tables stay readable.
pub fn clip(value: Option<&str>, max: usize) -> String {
    match value {
        None => "∅".to_string(),
        Some(v) if v.chars().count() > max => {
            format!("{}…", v.chars().take(max - 1).collect::<String>())
        }
        Some(v) => v.to_string(),
    }
}
