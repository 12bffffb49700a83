//! `attn bench train|infer`: time fine-tuning steps or inference batches, print one JSON line.

use std::path::PathBuf;

use anyhow::Result;
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_classify::{BenchSpec, bench_bert};
use clap::{Args, ValueEnum};

use crate::flags::values::at_least_one;

/// What to time.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchMode {
    /// Fine-tuning steps: forward, loss, backward, AdamW.
    Train,
    /// Inference batches: forward pass to predicted classes.
    Infer,
}

/// Arguments of `attn bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Fine-tuning steps or inference batches.
    #[arg(value_enum)]
    pub mode: BenchMode,
    /// Pre-trained model: directory, hub id or short name (its tokenizer also reads real batches).
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,
    /// A preset with random weights instead of the model's: bert-base, bert-large or minilm-l6.
    #[arg(long)]
    pub config: Option<String>,
    /// Examples per batch [default: 8 for train, 32 for infer].
    #[arg(long, value_parser = at_least_one)]
    pub batch: Option<usize>,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 20, value_parser = at_least_one)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Longest sequence in tokens.
    #[arg(long, default_value_t = 128, value_parser = at_least_one)]
    pub max_len: usize,
    /// AG News directory for real batches (train.csv in file order); else $AG_NEWS_DIR; without
    /// either, synthetic batches of 24..=72 tokens.
    #[arg(long, env = "AG_NEWS_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seed of random weights, synthetic batches and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep the word embeddings fixed, as `attn train --freeze-embeddings`.
    #[arg(long)]
    pub freeze_embeddings: bool,
    /// Precision of the matrix products: f32, bf16 or f16 (as `attn train --precision`).
    #[arg(long, default_value = "f32")]
    pub precision: attn_transformer::Precision,
}

struct BenchTask(BenchSpec);

impl BackendTask for BenchTask {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let report = bench_bert::<B>(&self.0, &device)?;
        println!("{}", serde_json::to_string(&report)?);
        Ok(())
    }
}

/// Prints one JSON line of timings.
pub fn run(spec: BackendSpec, args: BenchArgs) -> Result<()> {
    let train = args.mode == BenchMode::Train;
    let train_csv = args.data_dir.map(|d| d.join("train.csv"));
    // The model directory gives the tokenizer for real batches even when a preset gives the weights.
    let model_dir = if args.config.is_none() || train_csv.is_some() {
        Some(attn_hub::resolve_model(&args.model)?.path)
    } else {
        None
    };
    let bench = BenchSpec {
        train,
        model_dir,
        preset: args.config,
        train_csv,
        cache_root: attn_hub::attn_home(),
        batch: args.batch.unwrap_or(if train { 8 } else { 32 }),
        steps: args.steps,
        warmup: args.warmup,
        max_len: args.max_len,
        seed: args.seed,
        freeze_embeddings: args.freeze_embeddings,
        precision: args.precision,
    };
    dispatch(spec, BenchTask(bench))?
}
