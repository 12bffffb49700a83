//! `cargo xtask`: the project's workflows as cargo subcommands.
//!
//! Each command runs the release `attn` binary (or cargo itself) with the defaults of the
//! reference workflow; extra arguments are passed through to `attn`.

mod compare;
mod layers;
mod load_test;
mod ner;
mod nodes;
mod seq2seq;
mod vs_pytorch;
mod vs_pytorch_ner;
mod vs_pytorch_rnn;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project workflows")]
struct Xtask {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Fine-tune BERT on AG News as the reference run does (all-MiniLM-L6-v2 by default), then
    /// evaluate on the full test set. Extra arguments go to `attn train bert`.
    TrainBert {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Train the Bahdanau additive-attention RNN baseline on AG News.
    TrainRnnAttention {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Train the Bahdanau encoder-decoder on Multi30k, German to English (the lesson's
    /// translation), then translate the test set and print its BLEU. Extra arguments go to
    /// `attn train seq2seq`.
    TrainSeq2seq {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fine-tune BERT (all-MiniLM-L6-v2) to tag named entities on WNUT-17 ($WNUT17_DIR, else
    /// ../shared/data/wnut17), then print the per-type table and `Entity F1: X` on dev (or
    /// test where the directory has one). Extra arguments go to `attn train ner`.
    TrainNer {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Train (or read finished runs of) the BERT tagger and the BiGRU baseline (`attn train ner
    /// --arch rnn`) on WNUT-17, print entity F1 per type, time and size, and write the table
    /// into docs/results.md.
    CompareNer {
        /// A finished BERT tagger run (default: train one into runs/compare-ner-bert).
        #[arg(long)]
        bert: Option<PathBuf>,
        /// A finished BiGRU tagger run (default: train one into runs/compare-ner-rnn).
        #[arg(long)]
        rnn: Option<PathBuf>,
    },
    /// Train (or read finished runs of) the translator with additive attention and without it
    /// (`--attention none`) on the same data and seed, print BLEU overall and by source length,
    /// and write the table into docs/results.md.
    CompareSeq2seq {
        /// A finished run with attention (default: train one into runs/seq2seq-attention).
        #[arg(long)]
        attention: Option<PathBuf>,
        /// A finished run without attention (default: train one into runs/seq2seq-none).
        #[arg(long)]
        none: Option<PathBuf>,
    },
    /// Train on several processes of this machine as a run across machines would (`mpirun -np
    /// N attn train ...`, an attn built with `--features mpi`), into runs/nodes-N; the RNN
    /// baseline's defaults unless `bert` comes first. Extra arguments go to every rank.
    TrainNodes {
        /// Processes (ranks).
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fetch a model (default all-MiniLM-L6-v2) into the cache and verify it.
    FetchModel {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fetch AG News into the cache and verify it.
    FetchData {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Train (or read finished runs of) BERT and the RNN baseline on the same data and seed, print
    /// the comparison table and write it into docs/results.md.
    Compare {
        /// A finished BERT run directory (default: train one into runs/compare-bert).
        #[arg(long)]
        bert: Option<PathBuf>,
        /// A finished RNN run directory (default: train one into runs/compare-rnn).
        #[arg(long)]
        rnn: Option<PathBuf>,
    },
    /// Run the criterion benchmarks, or (--vs-pytorch) `attn bench` against PyTorch.
    Bench {
        /// Instead: `attn bench` and scripts/pytorch_baseline.py alternately on the same batches,
        /// ratios written into docs/results.md (needs torch + transformers; set AG_NEWS_DIR for
        /// real batches).
        #[arg(long)]
        vs_pytorch: bool,
        /// Instead: the RNN baseline's default training run against scripts/pytorch_rnn.py (the
        /// same model on the same files), alternately, into docs/results.md (needs torch and
        /// AG_NEWS_DIR or the fetched data).
        #[arg(long, conflicts_with = "vs_pytorch")]
        vs_pytorch_rnn: bool,
        /// Instead: `cargo xtask train-ner`'s run against scripts/pytorch_ner.py (HF's recipe on
        /// the same model and files), alternately, one seed a round (42, 1, 2, …), entity F1 and
        /// training time into docs/results.md (needs torch + transformers).
        #[arg(long, conflicts_with_all = ["vs_pytorch", "vs_pytorch_rnn"])]
        vs_pytorch_ner: bool,
        /// With --vs-pytorch, --vs-pytorch-rnn or --vs-pytorch-ner: rounds of each case on each side.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// With --vs-pytorch: the Python that has torch and transformers.
        #[arg(long, env = "PYTHON", default_value = "python3")]
        python: String,
    },
    /// Run the cargo-fuzz targets (CSV reader, config.json, checkpoint loader, tokenizer), each for
    /// a while; needs `cargo install cargo-fuzz`.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Targets to run (default: all).
        targets: Vec<String>,
    },
    /// Load-test `attn serve` against the Python way to serve the same model (FastAPI + uvicorn +
    /// HF's pipeline: scripts/serve_pytorch.py, needs fastapi, uvicorn, torch, transformers),
    /// alternately at each concurrency, on AG News test texts; the table into docs/results.md.
    LoadTest {
        /// A BERT text classifier's run (trained with `--pooling cls`, 100 iterations, if missing).
        #[arg(long, default_value = "runs/load-test")]
        model: PathBuf,
        /// Clients sending at once, one run each.
        #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
        concurrency: Vec<usize>,
        /// Seconds of load per run.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// The Python interpreter with fastapi, uvicorn, torch and transformers.
        #[arg(long, env = "PYTHON", default_value = "python3")]
        python: String,
        /// TEI's `text-embeddings-router` binary (built by scripts/build_tei.sh): serve the same
        /// model with it too, a third server at each concurrency.
        #[arg(long, env = "TEI_ROUTER")]
        tei: Option<PathBuf>,
    },
    /// Check the layering of docs/architecture.md: no import circle between the top-level
    /// modules of any crate, and no task named in attn-train's sources.
    Layers {
        /// The workspace to check (default: this one).
        root: Option<PathBuf>,
    },
    /// Formatting, the layering, lints, the GPU backends' build, every test, the GPU test group
    /// on a wgpu adapter, and a short run of each fuzz target: what CI runs.
    Ci,
}

fn main() -> Result<()> {
    match Xtask::parse().command {
        Task::TrainBert { args } => attn(&["train", "bert"], &args),
        Task::TrainRnnAttention { args } => {
            attn(&["train", "rnn"], &with_defaults(RNN_DEFAULTS, &args))
        }
        Task::Compare { bert, rnn } => compare(bert, rnn),
        Task::TrainSeq2seq { args } => attn(
            &["train", "seq2seq"],
            &with_defaults(seq2seq::DEFAULTS, &args),
        ),
        Task::TrainNer { args } => attn(
            &["train", "ner"],
            &ner::with_wnut17(args, &workspace_root()),
        ),
        Task::CompareNer { bert, rnn } => ner::compare_ner(bert, rnn, &workspace_root(), attn),
        Task::CompareSeq2seq { attention, none } => compare_seq2seq(attention, none),
        Task::TrainNodes { nodes, args } => {
            build_attn(&["mpi"])?;
            let args = match args.first().map(String::as_str) {
                Some("bert") => args,
                Some("rnn") => {
                    [vec!["rnn".into()], with_defaults(RNN_DEFAULTS, &args[1..])].concat()
                }
                _ => [vec!["rnn".into()], with_defaults(RNN_DEFAULTS, &args)].concat(),
            };
            let run = PathBuf::from(format!("runs/nodes-{nodes}"));
            nodes::run("target/release/attn", nodes, &run, &args)
        }
        Task::FetchModel { args } => attn(&["fetch-model"], &args),
        Task::FetchData { args } => attn(&["fetch-data"], &args),
        Task::Bench {
            vs_pytorch,
            vs_pytorch_rnn,
            vs_pytorch_ner,
            rounds,
            python,
        } => {
            if vs_pytorch_ner {
                build_attn(&[])?;
                let data = ner::with_wnut17(Vec::new(), &workspace_root());
                vs_pytorch_ner::run("target/release/attn", &python, rounds.max(1), &data)
            } else if vs_pytorch_rnn {
                build_attn(&[])?;
                let defaults = with_defaults(RNN_DEFAULTS, &[]);
                vs_pytorch_rnn::run("target/release/attn", &python, rounds.max(1), &defaults)
            } else if vs_pytorch {
                let features = build_attn(&[])?;
                vs_pytorch::run("target/release/attn", &python, rounds.max(1), &features)
            } else {
                cargo(&["bench", "--workspace"])
            }
        }
        Task::Fuzz { seconds, targets } => fuzz(seconds, &targets),
        Task::LoadTest {
            model,
            concurrency,
            seconds,
            python,
            tei,
        } => {
            build_attn(&[])?;
            let data = load_test::ag_news(&workspace_root());
            let servers = load_test::Servers {
                attn: "target/release/attn".into(),
                python,
                tei,
            };
            load_test::run(&servers, &model, &data, &concurrency, seconds)
        }
        Task::Layers { root } => layers::check(&root.unwrap_or_else(workspace_root)),
        Task::Ci => ci(),
    }
}

/// `attn train rnn` settings of the baseline run (the PyTorch anchor: BiGRU(128), Adam 2e-3,
/// batch 32, 8 epochs), each overridable by passing the flag again.
const RNN_DEFAULTS: &[(&str, &str)] = &[
    ("--batch-size", "32"),
    ("--lr", "2e-3"),
    ("--epochs", "8"),
    ("--warmup", "0.05"),
    ("--weight-decay", "0"),
    ("--grad-clip", "5"),
    ("--report-every", "50"),
    ("--checkpoint-every", "500"),
];

/// `defaults` followed by `args`, leaving out each default whose flag `args` sets (`--iterations`
/// and `--epochs` count as one, since they exclude each other).
fn with_defaults(defaults: &[(&str, &str)], args: &[String]) -> Vec<String> {
    let given = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let mut out: Vec<String> = Vec::new();
    for (flag, value) in defaults {
        let length_given = *flag == "--epochs" && given("--iterations");
        if !given(flag) && !length_given {
            out.extend([flag.to_string(), value.to_string()]);
        }
    }
    out.extend(args.iter().cloned());
    out
}

/// The features of every release `attn` the xtask builds: `extra`, and `blas` where pkg-config
/// finds OpenBLAS (the faster products on AVX2 CPUs), said on standard error either way.
fn attn_features(extra: &[&str]) -> String {
    let blas = Command::new("pkg-config")
        .args(["--exists", "openblas"])
        .status()
        .is_ok_and(|s| s.success());
    eprintln!(
        "xtask: attn {} OpenBLAS{}",
        if blas { "with" } else { "without" },
        if blas {
            " (pkg-config found openblas)"
        } else {
            " (apt-get install libopenblas-serial-dev pkg-config: faster products on AVX2 CPUs)"
        }
    );
    let mut features: Vec<&str> = extra.to_vec();
    if blas {
        features.push("blas");
    }
    features.join(",")
}

/// Builds the release `attn` binary with [`attn_features`], and returns them.
fn build_attn(extra: &[&str]) -> Result<String> {
    let features = attn_features(extra);
    let mut args = vec!["build", "--release", "-p", "attn-cli", "--bin", "attn"];
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    cargo(&args)?;
    Ok(features)
}

/// Runs the release `attn` binary (built with [`attn_features`]) with `fixed` then `extra`
/// arguments.
fn attn(fixed: &[&str], extra: &[String]) -> Result<()> {
    let features = attn_features(&[]);
    let mut args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "attn-cli",
        "--bin",
        "attn",
    ];
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    args.push("--");
    args.extend_from_slice(fixed);
    args.extend(extra.iter().map(String::as_str));
    cargo(&args)
}

fn compare(bert: Option<PathBuf>, rnn: Option<PathBuf>) -> Result<()> {
    let bert = match bert {
        Some(dir) => dir,
        None => {
            let dir = PathBuf::from("runs/compare-bert");
            attn(&["train", "bert", "--output", "runs/compare-bert"], &[])?;
            dir
        }
    };
    let rnn = match rnn {
        Some(dir) => dir,
        None => {
            let dir = PathBuf::from("runs/compare-rnn");
            let args = with_defaults(
                RNN_DEFAULTS,
                &["--output".into(), "runs/compare-rnn".into()],
            );
            attn(&["train", "rnn"], &args)?;
            dir
        }
    };
    let table = compare::table(&[
        ("BERT (all-MiniLM-L6-v2)", compare::read_summary(&bert)?),
        ("BiGRU + additive attention", compare::read_summary(&rnn)?),
    ]);
    println!("{table}");
    let body = format!(
        "Measured by `cargo xtask compare` (runs: `{}`, `{}`):\n\n{table}",
        bert.display(),
        rnn.display()
    );
    compare::write_results("compare", "BERT against the RNN baseline", &body)
}

fn compare_seq2seq(attention: Option<PathBuf>, none: Option<PathBuf>) -> Result<()> {
    let run = |given: Option<PathBuf>, dir: &str, extra: &[&str]| -> Result<PathBuf> {
        if let Some(dir) = given {
            return Ok(dir);
        }
        let mut args: Vec<String> = vec!["--output".into(), dir.into()];
        args.extend(extra.iter().map(|a| a.to_string()));
        attn(
            &["train", "seq2seq"],
            &with_defaults(seq2seq::DEFAULTS, &args),
        )?;
        Ok(PathBuf::from(dir))
    };
    let attention = run(attention, "runs/seq2seq-attention", &[])?;
    let none = run(none, "runs/seq2seq-none", &["--attention", "none"])?;
    let table = seq2seq::table(&[
        ("additive attention (Bahdanau et al. 2015)", &attention),
        ("no attention (Cho et al. 2014)", &none),
    ])?;
    println!("{table}");
    let body = format!(
        "Measured by `cargo xtask compare-seq2seq` (runs: `{}`, `{}`), Multi30k German to \
         English, test_2016_flickr:\n\n{table}",
        attention.display(),
        none.display()
    );
    compare::write_results("seq2seq", "Translation with and without attention", &body)
}

fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    layers::check(&workspace_root())?;
    // One lint of everything, the GPU backends' build and the GPU test group (built only with
    // `wgpu`) included: the GPU features only add code (nothing is `cfg(not(...))` on them).
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--features",
        "attn-cli/wgpu,attn-cli/cuda,attn-cli/mpi,attn-cli/blas",
        "--",
        "-D",
        "warnings",
    ])?;
    // Every test, the GPU code path's group (tests/gpu.rs) among them: one build with `wgpu`, on
    // a wgpu adapter (lavapipe, the CPU's software Vulkan, where there is no GPU); and with
    // `mpi`, the runs across processes under mpirun (tests/distributed.rs); and with `blas`, the
    // products on OpenBLAS where they are chosen (crates/kernels/tests/engines.rs compares both).
    // The default build (no MPI, no BLAS) too: its own code paths where theirs are compiled out.
    cargo(&[
        "clippy",
        "-p",
        "attn-kernels",
        "-p",
        "attn-train",
        "-p",
        "attn-cli",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&[
        "test",
        "--workspace",
        "--features",
        "attn-cli/wgpu,attn-cli/mpi,attn-cli/blas",
    ])?;
    fuzz(10, &[])
}

/// The fuzz targets and the committed files they start from.
const FUZZ_TARGETS: [(&str, &[&str]); 4] = [
    ("csv_reader", &["fuzz/seeds/csv_reader"]),
    (
        "config_json",
        &[TINY_BERT, "crates/transformer/tests/fixtures/tiny-bert-cls"],
    ),
    (
        "checkpoint",
        &[TINY_BERT, "crates/transformer/tests/fixtures/tiny-bert-f16"],
    ),
    ("tokenizer", &["fuzz/seeds/tokenizer"]),
];

/// The tiny test model whose files seed the loader targets.
const TINY_BERT: &str = "crates/transformer/tests/fixtures/tiny-bert-bare";

/// Runs each of `targets` (all when empty) for `seconds` with cargo-fuzz, without a sanitizer
/// (the code is safe Rust: the fuzzers hunt panics, hangs and huge allocations). The growing
/// corpus stays in `fuzz/corpus/<target>`; a crash leaves its input in `fuzz/artifacts`.
fn fuzz(seconds: u64, targets: &[String]) -> Result<()> {
    let max_time = format!("-max_total_time={seconds}");
    for target in targets {
        if !FUZZ_TARGETS.iter().any(|(t, _)| t == target) {
            bail!("no fuzz target {target}");
        }
    }
    let chosen = FUZZ_TARGETS
        .iter()
        .filter(|(t, _)| targets.is_empty() || targets.iter().any(|x| x == t));
    for (target, seeds) in chosen {
        let corpus = format!("fuzz/corpus/{target}");
        std::fs::create_dir_all(&corpus)?;
        let status = cargo_command()
            // cargo fuzz passes nightly-only flags; the one stable toolchain accepts them so.
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--sanitizer", "none", target, &corpus])
            .args(seeds.iter())
            .args(["--", &max_time, "-rss_limit_mb=4096", "-timeout=30"])
            .status()?;
        if !status.success() {
            bail!("fuzz target {target} failed ({status}): see fuzz/artifacts/{target}");
        }
    }
    Ok(())
}

/// Runs cargo with `args`, failing on a non-zero exit.
fn cargo(args: &[&str]) -> Result<()> {
    let started = Instant::now();
    let status: ExitStatus = cargo_command().args(args).status()?;
    let took = started.elapsed().as_secs();
    if !status.success() {
        bail!("`cargo {}` failed after {took} s: {status}", args.join(" "));
    }
    eprintln!("xtask: `cargo {}` took {took} s", args.join(" "));
    Ok(())
}

/// A cargo command without the variables `cargo run` set for this xtask process: build scripts
/// that watch them (ring's watches `CARGO_MANIFEST_DIR`) would otherwise see another value than
/// in a plain `cargo build`, and the two would rebuild each other's crates every time.
fn cargo_command() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_run = name.starts_with("CARGO_PKG_")
            || matches!(
                name.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            );
        if set_by_cargo_run {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// The workspace's root directory (this crate's parent).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
