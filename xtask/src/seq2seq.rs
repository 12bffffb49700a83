//! `cargo xtask train-seq2seq` and `compare-seq2seq`: the Bahdanau translator on Multi30k, with
//! attention and without (Cho et al. 2014), side by side from their run directories.

use std::path::Path;

use anyhow::Result;

/// `attn train seq2seq` settings of the default run (German to English on Multi30k), each
/// overridable by passing the flag again.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("--src", "de"),
    ("--tgt", "en"),
    ("--epochs", "4"),
    ("--eval-every", "454"),
    ("--report-every", "100"),
    ("--checkpoint-every", "200"),
];

/// Reads a run directory's `name` (JSON).
fn read(run: &Path, name: &str) -> Result<serde_json::Value> {
    crate::compare::read_json(&run.join(name))
}

/// The markdown table of translator runs `(name, run directory)`: BLEU, cost, and BLEU by the
/// source's length.
pub fn table(runs: &[(&str, &Path)]) -> Result<String> {
    let mut columns = Vec::new();
    for (name, run) in runs {
        columns.push((*name, read(run, "eval.json")?, read(run, "summary.json")?));
    }
    let mut out = String::from("| |");
    for (name, ..) in &columns {
        out += &format!(" {name} |");
    }
    out += "\n|---|";
    out += &"---|".repeat(columns.len());
    let number = |v: &serde_json::Value, key: &str| v[key].as_f64();
    type Cell = fn(&serde_json::Value, &serde_json::Value) -> Option<String>;
    let rows: [(&str, Cell); 7] = [
        ("decoding", |e, _| {
            e["beam"].as_u64().map(|beam| match beam {
                1 => "greedy".into(),
                _ => format!("beam {beam}"),
            })
        }),
        ("test BLEU (lowercased tokens)", |e, _| {
            e["bleu"].as_f64().map(|v| format!("{v:.4}"))
        }),
        ("sacreBLEU 13a, lowercased", |e, _| {
            e["bleu_13a"].as_f64().map(|v| format!("{v:.4}"))
        }),
        ("parameters", |_, s| {
            s["parameters"]
                .as_f64()
                .map(|v| format!("{:.1} M", v / 1e6))
        }),
        ("training wall time", |_, s| {
            s["train_seconds"].as_f64().map(|v| format!("{v:.0} s"))
        }),
        ("training samples/s", |_, s| {
            s["train_samples_per_s"].as_f64().map(|v| format!("{v:.1}"))
        }),
        ("test sentences/s", |e, _| {
            e["sentences_per_s"].as_f64().map(|v| format!("{v:.1}"))
        }),
    ];
    for (heading, cell) in rows {
        out += &format!("\n| {heading} |");
        for (_, eval, summary) in &columns {
            out += &format!(" {} |", cell(eval, summary).unwrap_or_else(|| "n/a".into()));
        }
    }
    let buckets = columns[0].1["by_source_length"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, bucket) in buckets.iter().enumerate() {
        let from = number(bucket, "from").unwrap_or(0.0);
        let to = number(bucket, "to").unwrap_or(f64::MAX);
        let range = match to >= u32::MAX as f64 {
            true => format!("{from}+"),
            false => format!("{from}-{}", to - 1.0),
        };
        let sentences = number(bucket, "sentences").unwrap_or(0.0);
        out += &format!("\n| BLEU, source of {range} tokens ({sentences} sentences) |");
        for (_, eval, _) in &columns {
            let bleu = eval["by_source_length"][i]["bleu"].as_f64();
            out += &format!(
                " {} |",
                bleu.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
            );
        }
    }
    Ok(out + "\n")
}
