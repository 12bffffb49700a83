//! `cargo xtask bench --vs-pytorch-ner`: `cargo xtask train-ner`'s run and HF transformers' own
//! token-classification recipe (`scripts/pytorch_ner.py`: the same model and files, 3 epochs,
//! batch 16, max length 128, first piece labelled), alternately, one seed a round; entity F1 on
//! dev and training time written into `docs/results.md`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::compare::read_json;
use crate::vs_pytorch::json_line;

/// Seeds of the rounds, in order.
const SEEDS: [u64; 5] = [42, 1, 2, 3, 4];

/// One round at `seed`: attn's run (its `summary.json` and the model it fine-tuned), then
/// PyTorch's JSON line.
fn round(attn: &str, python: &str, data: &[String], seed: u64) -> Result<(Value, Value)> {
    let run = format!("runs/vs-pytorch-ner/attn-seed{seed}");
    // A finished run there would be resumed (and not trained again): start afresh.
    if Path::new(&run).exists() {
        std::fs::remove_dir_all(&run).with_context(|| format!("removing {run}"))?;
    }
    eprintln!("attn train ner --seed {seed} -> {run}");
    let status = Command::new(attn)
        .args(["train", "ner"])
        .args(data)
        .args(["--seed", &seed.to_string(), "--output", &run])
        .status()
        .with_context(|| format!("starting {attn}"))?;
    anyhow::ensure!(status.success(), "attn train ner failed: {status}");
    let ours = read_json(&Path::new(&run).join("summary.json"))?;
    let cfg = read_json(&Path::new(&run).join("run.json"))?;
    let model = cfg["model"].as_str().context("run.json names no model")?;
    eprintln!("scripts/pytorch_ner.py --seed {seed}");
    let mut cmd = Command::new(python);
    cmd.arg("scripts/pytorch_ner.py")
        .args(["--model", model, "--seed", &seed.to_string()]);
    if let Some(dir) = data
        .iter()
        .position(|a| a == "--data-dir")
        .and_then(|i| data.get(i + 1))
    {
        cmd.env("WNUT17_DIR", dir);
    }
    Ok((ours, json_line(&mut cmd)?))
}

/// The mean of a field over runs.
fn mean(runs: &[Value], key: &str) -> f64 {
    let v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Runs `rounds` rounds (attn, PyTorch, attn, …; seeds 42, 1, 2, …) with attn's data flags
/// `data` and writes the table.
pub fn run(attn: &str, python: &str, rounds: usize, data: &[String]) -> Result<()> {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for &seed in SEEDS.iter().cycle().take(rounds) {
        let (a, b) = round(attn, python, data, seed)?;
        ours.push(a);
        theirs.push(b);
    }
    let list = |runs: &[Value], key: &str, digits: usize| {
        runs.iter()
            .map(|r| format!("{:.*}", digits, r[key].as_f64().unwrap_or(f64::NAN)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (f1_a, f1_b) = (mean(&ours, "entity_f1"), mean(&theirs, "f1"));
    let (s_a, s_b) = (mean(&ours, "train_seconds"), mean(&theirs, "train_seconds"));
    let versions = theirs.first().map_or(String::new(), |t| {
        format!(
            "PyTorch {}, transformers {}",
            t["torch"].as_str().unwrap_or("?"),
            t["transformers"].as_str().unwrap_or("?")
        )
    });
    let seeds: Vec<String> = SEEDS
        .iter()
        .cycle()
        .take(rounds)
        .map(u64::to_string)
        .collect();
    let table = format!(
        "Measured by `cargo xtask bench --vs-pytorch-ner --rounds {rounds}` (runs alternately: \
         attn, PyTorch, attn, …, seeds {}; `attn train ner` with its defaults — all-MiniLM-L6-v2, \
         3 epochs of batch 16 grouped by length, lr 2e-4 with layer decay 0.8 and 10 % warm-up, \
         the word-piece table fixed, max length 128 — \
         against `scripts/pytorch_ner.py`, HF's recipe on the same model and files — 3 epochs of \
         batch 16, lr 5e-5, max length 128, first piece labelled — {versions}; entity F1 on \
         WNUT-17 dev, conlleval's rules on both sides; training time only).\n\n\
         | | attn | HF transformers (PyTorch) | ratio |\n|---|---|---|---|\n\
         | entity F1 on dev (mean) | **{f1_a:.4}** | {f1_b:.4} | {:+.4} |\n\
         | entity F1, each seed | {} | {} | |\n\
         | training seconds (mean) | {s_a:.1} | {s_b:.1} | **{:.2}x** faster |\n\
         | training seconds, each seed | {} | {} | |\n",
        seeds.join(", "),
        f1_a - f1_b,
        list(&ours, "entity_f1", 4),
        list(&theirs, "f1", 4),
        s_b / s_a,
        list(&ours, "train_seconds", 1),
        list(&theirs, "train_seconds", 1),
    );
    println!("{table}");
    crate::compare::write_results(
        "vs-pytorch-ner",
        "Named entities against HF transformers' recipe",
        &table,
    )
}
