//! `attn`: fetch models and data, tokenize, embed, predict, translate, train and evaluate
//! attention models.

#![deny(unsafe_code)]

mod allocator;
mod cmd;
mod flags;
mod heatmap;
mod hints;
mod inputs;
mod terminal;
mod translator;

use anyhow::Result;
use attn_backend::{BackendKind, BackendSpec, DeviceChoice};
use clap::{Parser, Subcommand};

use cmd::{
    attend, backends, bench, data, embed, eval, fetch_data, fetch_model, predict, serve, tokenize,
    train, translate,
};

/// Training allocates and frees tensors of tens of MB every step; glibc's malloc hands those
/// back to the kernel and page-faults them in again (a third of a MiniLM step), mimalloc reuses them
/// (and keeps them: see [`allocator`]).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Attention models in Rust: a hand-written BERT and a Bahdanau RNN, on burn.
#[derive(Parser, Debug)]
#[command(name = "attn", version, about)]
struct Cli {
    /// Tensor backend: flex (CPU, default), ndarray, wgpu or cuda.
    #[arg(long, global = true, default_value = "flex", env = "ATTN_BACKEND")]
    backend: BackendKind,
    /// Device of the backend: auto (the backend's default), N (as `attn backends` lists them),
    /// discrete:N, integrated:N, virtual:N or cpu.
    #[arg(long, global = true, default_value = "auto", env = "ATTN_DEVICE")]
    device: DeviceChoice,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the backends of this build, the devices they see, and what `--device` reports.
    Backends,
    /// Find or download a model into the cache and verify it.
    FetchModel(fetch_model::FetchModelArgs),
    /// Find or download AG News into the cache and verify it.
    FetchData(fetch_data::FetchDataArgs),
    /// Tokenize texts: one JSON line `{"ids", "tokens"}` per text.
    Tokenize(tokenize::TokenizeArgs),
    /// Embed texts: one JSON line `{"embedding"}` per text.
    Embed(embed::EmbedArgs),
    /// Classify texts with a fine-tuned model: one JSON line `{"label", "probs", "logits"}` per text.
    Predict(predict::PredictArgs),
    /// Serve a model over HTTP (TEI's routes: /predict, /translate, /embed, /v1/embeddings,
    /// /tokenize, /info, /health, /metrics) with dynamic batching, until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Fine-tune a model on labelled text, then evaluate it on the test set.
    Train(Box<train::TrainArgs>),
    /// Evaluate a fine-tuned model (a run directory) on a test set.
    Eval(eval::EvalArgs),
    /// Translate sentences with a trained translator: one JSON line `{"translation", "tokens",
    /// "source_tokens", "alignment"}` per text.
    Translate(translate::TranslateArgs),
    /// Draw what a model attends to in one text, as a PNG heatmap (a translator: its alignment
    /// matrix).
    Attend(attend::AttendArgs),
    /// Time fine-tuning steps or inference batches; print one JSON line.
    Bench(bench::BenchArgs),
    /// Data set tools.
    #[command(subcommand)]
    Data(data::DataCommand),
}

fn main() {
    let cli = Cli::parse();
    // A server runs for days: what it frees goes back to the OS after mimalloc's delay.
    if !matches!(cli.command, Command::Serve(_)) {
        allocator::keep_freed_memory();
    }
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ATTN_LOG").unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run(cli) {
        hints::report(&e);
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let spec = BackendSpec {
        kind: cli.backend,
        device: cli.device,
    };
    backends::use_kernel_caches(spec.kind);
    match cli.command {
        Command::Backends => backends::run(spec),
        Command::FetchModel(args) => fetch_model::run(args),
        Command::FetchData(args) => fetch_data::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Embed(args) => embed::run(spec, args),
        Command::Predict(args) => predict::run(spec, args),
        Command::Serve(args) => serve::run(spec, args),
        Command::Train(args) => train::run(spec, *args),
        Command::Eval(args) => eval::run(spec, args),
        Command::Translate(args) => translate::run(spec, args),
        Command::Attend(args) => attend::run(spec, args),
        Command::Bench(args) => bench::run(spec, args),
        Command::Data(cmd) => data::run(cmd),
    }
}
