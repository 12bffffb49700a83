//! `cargo xtask bench --vs-pytorch`: `attn bench` and `scripts/pytorch_baseline.py` on the same
//! batches, run alternately (A B A B …), and their ratios written into `docs/results.md`.

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One measured case: a heading and the arguments both sides take.
struct Case {
    heading: &'static str,
    args: &'static [&'static str],
}

/// The cases of the table: MiniLM-L6 (real weights) and bert-base (a random preset).
const CASES: &[Case] = &[
    Case {
        heading: "all-MiniLM-L6-v2 fine-tune step, batch 8",
        args: &["train", "--steps", "20", "--warmup", "3"],
    },
    Case {
        heading: "all-MiniLM-L6-v2 inference, batch 32",
        args: &["infer", "--steps", "10", "--warmup", "2"],
    },
    Case {
        heading: "bert-base fine-tune step, batch 8",
        args: &[
            "train",
            "--config",
            "bert-base",
            "--steps",
            "6",
            "--warmup",
            "1",
        ],
    },
    Case {
        heading: "bert-base inference, batch 32",
        args: &[
            "infer",
            "--config",
            "bert-base",
            "--steps",
            "4",
            "--warmup",
            "1",
        ],
    },
];

/// Runs a command and parses the last line of its standard output as JSON.
pub fn json_line(cmd: &mut Command) -> Result<Value> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("parsing the output of {shown}: {line}"))
}

/// The median of `v` (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The median over rounds of one field.
fn field(runs: &[Value], key: &str) -> f64 {
    median(runs.iter().filter_map(|r| r[key].as_f64()).collect())
}

fn text_of(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Measures every case `rounds` times on each side, alternating, and writes the ratio table
/// (`features`: those `attn` was built with).
pub fn run(attn: &str, python: &str, rounds: usize, features: &str) -> Result<()> {
    let model = text_of(Command::new(attn).arg("fetch-model"));
    let model = model
        .split(" (")
        .next()
        .filter(|m| !m.is_empty())
        .context("`attn fetch-model` printed no model directory")?
        .to_string();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for case in CASES {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            eprintln!("{} (round {round}/{rounds}): attn", case.heading);
            ours.push(json_line(
                Command::new(attn)
                    .arg("bench")
                    .args(case.args)
                    .args(["--model", &model]),
            )?);
            eprintln!("{} (round {round}/{rounds}): PyTorch", case.heading);
            theirs.push(json_line(
                Command::new(python)
                    .arg("scripts/pytorch_baseline.py")
                    .args(case.args)
                    .args(["--model", &model, "--threads", &threads.to_string()]),
            )?);
        }
        let (a, b) = (
            field(&ours, "samples_per_s"),
            field(&theirs, "samples_per_s"),
        );
        let (ra, rb) = (
            field(&ours, "peak_rss_bytes"),
            field(&theirs, "peak_rss_bytes"),
        );
        let phases = |runs: &[Value]| {
            if runs[0]["forward_s"].is_null() {
                return "-".to_string();
            }
            format!(
                "{:.3} / {:.3} / {:.3}",
                field(runs, "forward_s"),
                field(runs, "backward_s"),
                field(runs, "optimizer_s")
            )
        };
        rows.push(format!(
            "| {} | {a:.1} | {b:.1} | **{:.2}x** | {} | {} | {:.0} / {:.0} MB |",
            case.heading,
            a / b,
            phases(&ours),
            phases(&theirs),
            ra / 1e6,
            rb / 1e6
        ));
    }
    let versions = text_of(Command::new(python).args([
        "-c",
        "import torch, transformers; print(f'PyTorch {torch.__version__}, transformers {transformers.__version__}')",
    ]));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let data = std::env::var("AG_NEWS_DIR").map_or_else(
        |_| "synthetic batches (AG_NEWS_DIR unset)".to_string(),
        |d| format!("AG News train.csv in file order ({d})"),
    );
    let engine = std::env::var("ATTN_MATMUL").unwrap_or_else(|_| "gemm".into());
    let products = match (features.contains("blas"), engine.as_str()) {
        (true, "fastest") => {
            "`ATTN_MATMUL=fastest`: products on OpenBLAS or the gemm crate, as chosen per shape"
        }
        (true, "blas") => "`ATTN_MATMUL=blas`: products on OpenBLAS",
        _ => "products on the gemm crate",
    };
    let table = format!(
        "Measured by `cargo xtask bench --vs-pytorch --rounds {rounds}` on {threads} cores of {cpu}; \
         attn {} (burn 0.21.0, Flex backend; {products}) against {versions} ({threads} threads); \
         {data}; medians over rounds run alternately (attn, PyTorch, attn, …).\n\n\
         | case | attn samples/s | PyTorch samples/s | ratio | attn fwd / bwd / optim s | PyTorch fwd / bwd / optim s | peak RSS attn / PyTorch |\n\
         |---|---|---|---|---|---|---|\n{}\n",
        env!("CARGO_PKG_VERSION"),
        rows.join("\n")
    );
    println!("{table}");
    super::compare::write_results("vs-pytorch", "Speed against PyTorch + transformers", &table)
}
