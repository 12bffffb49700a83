//! `cargo xtask bench --vs-pytorch-rnn`: the RNN baseline's default run (`attn train rnn`, the
//! defaults of `cargo xtask train-rnn-attention`) and the same model in PyTorch
//! (`scripts/pytorch_rnn.py`, on that run's vocabulary and sizes), alternately, training time
//! only on both sides; the ratio written into `docs/results.md`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::vs_pytorch::{json_line, median};

/// One round of both sides: (attn's summary.json, PyTorch's JSON line).
fn round(attn: &str, python: &str, defaults: &[String], run: &Path) -> Result<(Value, Value)> {
    // A finished run there would be resumed (and not trained again): start afresh.
    if run.exists() {
        std::fs::remove_dir_all(run).with_context(|| format!("removing {}", run.display()))?;
    }
    eprintln!("attn train rnn -> {}", run.display());
    let status = Command::new(attn)
        .args(["train", "rnn"])
        .args(defaults)
        .arg("--output")
        .arg(run)
        .status()
        .with_context(|| format!("starting {attn}"))?;
    anyhow::ensure!(status.success(), "attn train rnn failed: {status}");
    let summary = run.join("summary.json");
    let ours: Value = serde_json::from_str(
        &std::fs::read_to_string(&summary)
            .with_context(|| format!("reading {}", summary.display()))?,
    )
    .with_context(|| format!("parsing {}", summary.display()))?;
    eprintln!("scripts/pytorch_rnn.py --run {}", run.display());
    let theirs = json_line(
        Command::new(python)
            .arg("scripts/pytorch_rnn.py")
            .arg("--run")
            .arg(run)
            .args(pass_through(defaults)),
    )?;
    Ok((ours, theirs))
}

/// The training flags both sides take, from attn's defaults (`--batch-size` is PyTorch's
/// `--batch`).
fn pass_through(defaults: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for pair in defaults.chunks(2) {
        if let [flag, value] = pair {
            let flag = match flag.as_str() {
                "--batch-size" => "--batch",
                f @ ("--lr" | "--epochs" | "--warmup" | "--grad-clip" | "--seed") => f,
                _ => continue,
            };
            out.extend([flag.to_string(), value.clone()]);
        }
    }
    out
}

/// Runs `rounds` rounds (attn, PyTorch, attn, …) and writes the table.
pub fn run(attn: &str, python: &str, rounds: usize, defaults: &[String]) -> Result<()> {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        eprintln!("round {r}/{rounds}");
        let (a, b) = round(
            attn,
            python,
            defaults,
            Path::new(&format!("runs/vs-pytorch-rnn-{r}")),
        )?;
        ours.push(a);
        theirs.push(b);
    }
    let med =
        |runs: &[Value], key: &str| median(runs.iter().filter_map(|r| r[key].as_f64()).collect());
    let (a, b) = (
        med(&ours, "train_samples_per_s"),
        med(&theirs, "samples_per_s"),
    );
    let list = |runs: &[Value], key: &str, digits: usize| {
        runs.iter()
            .map(|r| format!("{:.*}", digits, r[key].as_f64().unwrap_or(f64::NAN)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let versions = String::from_utf8_lossy(
        &Command::new(python)
            .args(["-c", "import torch; print(torch.__version__)"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    let table = format!(
        "Measured by `cargo xtask bench --vs-pytorch-rnn --rounds {rounds}` (runs alternately: attn, \
         PyTorch, attn, …; `attn train rnn` with the defaults of `cargo xtask train-rnn-attention`, \
         then `scripts/pytorch_rnn.py` on that run's vocabulary and sizes, PyTorch {versions}, \
         packed sequences, fused AdamW; training time only, both sides; 8 epochs over the same \
         6,000 rows in batches of 32, each side shuffling with its own generator).\n\n\
         | | attn (fused GRU, Flex) | PyTorch | ratio |\n|---|---|---|---|\n\
         | training samples/s (median) | {a:.1} | {b:.1} | **{:.2}x** |\n\
         | training seconds, each round | {} | {} | |\n\
         | test accuracy (7,600 rows), each round | {} | {} | |\n",
        a / b,
        list(&ours, "train_seconds", 1),
        list(&theirs, "train_s", 1),
        list(&ours, "test_accuracy", 4),
        list(&theirs, "test_accuracy", 4),
    );
    println!("{table}");
    crate::compare::write_results(
        "vs-pytorch-rnn",
        "RNN baseline speed against PyTorch",
        &table,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_flags_pytorch_takes_pass_through() {
        let defaults: Vec<String> = ["--batch-size", "32", "--lr", "2e-3", "--report-every", "50"]
            .map(String::from)
            .to_vec();
        assert_eq!(pass_through(&defaults), ["--batch", "32", "--lr", "2e-3"]);
    }
}
