//! `cargo xtask train-ner` and `compare-ner`: the BERT tagger and the BiGRU baseline on WNUT-17.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::compare;

/// `args` with `--data-dir` at the shared WNUT-17 copy beside the workspace where neither the
/// arguments nor $WNUT17_DIR name the data.
pub fn with_wnut17(args: Vec<String>, root: &Path) -> Vec<String> {
    let named = args
        .iter()
        .any(|a| ["--data-dir", "--train"].iter().any(|f| a.starts_with(f)));
    let from_env = std::env::var_os("WNUT17_DIR").is_some_and(|d| !d.is_empty());
    let shared = root.join("../shared/data/wnut17");
    match named || from_env || !shared.is_dir() {
        true => args,
        false => [
            vec!["--data-dir".into(), shared.display().to_string()],
            args,
        ]
        .concat(),
    }
}

/// A row of the table: heading, key, whether `eval.json` (else `summary.json`) has it, and how
/// to show the value.
type Field = (&'static str, &'static str, bool, fn(f64) -> String);

/// A run's `eval.json`.
fn read_eval(run: &Path) -> Result<serde_json::Value> {
    compare::read_json(&run.join("eval.json"))
}

/// The comparison table of tagger runs (name, run directory): entity F1 per type and overall,
/// precision, recall, token accuracy, then size and speed from `summary.json`.
pub fn table(runs: &[(&str, &Path)]) -> Result<String> {
    let mut columns = Vec::new();
    for (name, run) in runs {
        columns.push((*name, read_eval(run)?, compare::read_summary(run)?));
    }
    let mut kinds: Vec<String> = Vec::new();
    for (_, eval, _) in &columns {
        for t in eval["per_type"].as_array().into_iter().flatten() {
            let kind = t["kind"].as_str().unwrap_or("?").to_string();
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    let mut out = String::from("| |");
    for (name, _, _) in &columns {
        out += &format!(" {name} |");
    }
    out += "\n|---|";
    out += &"---|".repeat(columns.len());
    let row = |out: &mut String,
               heading: &str,
               cell: &dyn Fn(&serde_json::Value, &serde_json::Value) -> String| {
        *out += &format!("\n| {heading} |");
        for (_, eval, summary) in &columns {
            *out += &format!(" {} |", cell(eval, summary));
        }
    };
    let number = |v: &serde_json::Value, f: fn(f64) -> String| v.as_f64().map_or("n/a".into(), f);
    for kind in &kinds {
        row(&mut out, &format!("F1 {kind}"), &|eval, _| {
            let t = (eval["per_type"].as_array().into_iter().flatten())
                .find(|t| t["kind"] == kind.as_str());
            t.map_or("n/a".into(), |t| number(&t["f1"], |v| format!("{v:.4}")))
        });
    }
    let fields: [Field; 8] = [
        ("**entity F1 (micro)**", "f1", true, |v| {
            format!("**{v:.4}**")
        }),
        ("entity precision", "precision", true, |v| format!("{v:.4}")),
        ("entity recall", "recall", true, |v| format!("{v:.4}")),
        ("token accuracy", "token_accuracy", true, |v| {
            format!("{v:.4}")
        }),
        ("parameters", "parameters", false, |v| {
            format!("{:.2} M", v / 1e6)
        }),
        ("training wall time", "train_seconds", false, |v| {
            format!("{v:.0} s")
        }),
        ("training sentences/s", "train_samples_per_s", false, |v| {
            format!("{v:.1}")
        }),
        (
            "tagging sentences/s",
            "inference_samples_per_s",
            false,
            |v| format!("{v:.1}"),
        ),
    ];
    for (heading, key, from_eval, format) in fields {
        row(&mut out, heading, &|eval, summary| {
            number(if from_eval { &eval[key] } else { &summary[key] }, format)
        });
    }
    Ok(out + "\n")
}

/// Trains (or reads) the BERT tagger and the BiGRU baseline and writes their table into
/// docs/results.md.
pub fn compare_ner(
    bert: Option<PathBuf>,
    rnn: Option<PathBuf>,
    root: &Path,
    attn: impl Fn(&[&str], &[String]) -> Result<()>,
) -> Result<()> {
    let run = |given: Option<PathBuf>, dir: &str, extra: &[&str]| -> Result<PathBuf> {
        if let Some(dir) = given {
            return Ok(dir);
        }
        let mut args: Vec<String> = vec!["--output".into(), dir.into()];
        args.extend(extra.iter().map(|a| a.to_string()));
        attn(&["train", "ner"], &with_wnut17(args, root))?;
        Ok(PathBuf::from(dir))
    };
    let bert = run(bert, "runs/compare-ner-bert", &[])?;
    let rnn = run(rnn, "runs/compare-ner-rnn", &["--arch", "rnn"])?;
    let table = table(&[
        ("BERT (all-MiniLM-L6-v2)", &bert),
        ("BiGRU (no attention)", &rnn),
    ])?;
    println!("{table}");
    let body = format!(
        "Measured by `cargo xtask compare-ner` on WNUT-17 dev (runs: `{}`, `{}`):\n\n{table}",
        bert.display(),
        rnn.display()
    );
    compare::write_results(
        "compare-ner",
        "Named entities: BERT against the BiGRU baseline",
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_type_and_the_micro_scores() {
        let dir = tempfile::tempdir().unwrap();
        for (name, f1) in [("a", 0.5), ("b", 0.25)] {
            let run = dir.path().join(name);
            std::fs::create_dir_all(&run).unwrap();
            let eval = serde_json::json!({"f1": f1, "precision": 0.6, "recall": 0.4,
                "token_accuracy": 0.9, "per_type": [{"kind": "person", "f1": f1}]});
            let summary = serde_json::json!({"parameters": 22_700_000, "train_seconds": 200.0,
                "train_samples_per_s": 50.0, "inference_samples_per_s": 300.0});
            std::fs::write(run.join("eval.json"), eval.to_string()).unwrap();
            std::fs::write(run.join("summary.json"), summary.to_string()).unwrap();
        }
        let t = table(&[("A", &dir.path().join("a")), ("B", &dir.path().join("b"))]).unwrap();
        let rows: Vec<Vec<&str>> = t
            .lines()
            .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
            .collect();
        assert_eq!(rows[0], ["", "A", "B"]);
        assert_eq!(rows[2], ["F1 person", "0.5000", "0.2500"]);
        assert!(
            rows.iter()
                .any(|r| r[..] == ["**entity F1 (micro)**", "**0.5000**", "**0.2500**"])
        );
        assert!(
            rows.iter()
                .any(|r| r[..] == ["parameters", "22.70 M", "22.70 M"])
        );
    }
}
