//! `cargo xtask compare`: BERT against the RNN baseline, from the `summary.json` of two runs.

use std::path::Path;

use anyhow::{Context, Result};

/// A row of the table: heading, summary key, and how to show the value.
type Row = (&'static str, &'static str, fn(f64) -> String);

/// The rows of the table.
const ROWS: &[Row] = &[
    ("test accuracy", "test_accuracy", |v| format!("{v:.4}")),
    ("macro-F1", "macro_f1", |v| format!("{v:.4}")),
    ("parameters", "parameters", |v| format!("{:.1} M", v / 1e6)),
    ("training wall time", "train_seconds", |v| {
        format!("{v:.0} s")
    }),
    ("training samples/s", "train_samples_per_s", |v| {
        format!("{v:.1}")
    }),
    ("inference samples/s", "inference_samples_per_s", |v| {
        format!("{v:.1}")
    }),
    ("peak memory (RSS)", "peak_rss_bytes", |v| {
        format!("{:.0} MB", v / 1e6)
    }),
];

/// Reads a JSON file (of a run directory).
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Reads a run directory's `summary.json`.
pub fn read_summary(run: &Path) -> Result<serde_json::Value> {
    read_json(&run.join("summary.json"))
}

/// A markdown table with one column per (name, summary).
pub fn table(runs: &[(&str, serde_json::Value)]) -> String {
    let mut out = String::from("| |");
    for (name, _) in runs {
        out += &format!(" {name} |");
    }
    out += "\n|---|";
    out += &"---|".repeat(runs.len());
    for (heading, key, format) in ROWS {
        out += &format!("\n| {heading} |");
        for (_, summary) in runs {
            let cell = summary[*key]
                .as_f64()
                .map_or_else(|| "n/a".to_string(), format);
            out += &format!(" {cell} |");
        }
    }
    out + "\n"
}

/// Replaces the text between the `<!-- {section}:start -->` and `<!-- {section}:end -->` markers
/// of `doc` with `body`, or appends the section under `heading` when the markers are missing.
pub fn splice(doc: &str, section: &str, heading: &str, body: &str) -> String {
    let (start, end) = (
        format!("<!-- {section}:start -->"),
        format!("<!-- {section}:end -->"),
    );
    match (doc.find(&start), doc.find(&end)) {
        (Some(s), Some(e)) if s < e => format!("{}{start}\n{body}{}", &doc[..s], &doc[e..]),
        _ => format!("{doc}\n## {heading}\n\n{start}\n{body}{end}\n"),
    }
}

/// Writes `body` into `section` of `docs/results.md` (created when missing).
pub fn write_results(section: &str, heading: &str, body: &str) -> Result<()> {
    let results = Path::new("docs/results.md");
    let doc = std::fs::read_to_string(results).unwrap_or_else(|_| "# Results\n".into());
    std::fs::write(results, splice(&doc, section, heading, body))
        .with_context(|| format!("writing {}", results.display()))?;
    println!("written into {}", results.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(acc: f64) -> serde_json::Value {
        serde_json::json!({"test_accuracy": acc, "macro_f1": acc - 0.01, "parameters": 22_700_000,
            "train_seconds": 400.0, "train_samples_per_s": 10.0, "inference_samples_per_s": 80.0,
            "peak_rss_bytes": 750_000_000u64})
    }

    #[test]
    fn the_table_parses_back_and_replaces_the_old_one() {
        let t = table(&[("BERT", summary(0.9)), ("RNN", summary(0.82))]);
        let rows: Vec<Vec<&str>> = t
            .lines()
            .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
            .collect();
        assert_eq!(rows[0], ["", "BERT", "RNN"]);
        assert_eq!(rows.len(), 2 + ROWS.len());
        let accuracy = rows.iter().find(|r| r[0] == "test accuracy").unwrap();
        assert_eq!(accuracy[1..], ["0.9000", "0.8200"]);
        assert_eq!(
            rows.iter().find(|r| r[0] == "parameters").unwrap()[1],
            "22.7 M"
        );

        let doc = splice("# Results\n", "compare", "BERT against the RNN", &t);
        assert!(doc.contains("<!-- compare:start -->") && doc.contains("<!-- compare:end -->"));
        assert!(doc.contains("## BERT against the RNN"));
        let again = splice(&doc, "compare", "BERT against the RNN", "| new |\n");
        assert!(again.contains("| new |") && !again.contains("0.8200"));
        assert_eq!(again.matches("<!-- compare:start -->").count(), 1);
        let other = splice(&again, "vs-pytorch", "Speed", "| speed |\n");
        assert!(other.contains("| new |") && other.contains("| speed |"));
    }
}
