//! `attn data stats|batches`: rows per class and token lengths of a data set; the training order.

use std::path::PathBuf;

use anyhow::Result;
use attn_classify::WordPieceEncoder;
use attn_data::{AG_NEWS_CLASSES, length_stats, load_ag_news, tokenize_cached};
use attn_train::{TrainConfig, batch_at};
use attn_transformer::BertTokenizer;
use clap::{Args, Subcommand};

/// Data set tools.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Rows per class of each split, token-length percentiles and the share truncated.
    Stats(StatsArgs),
    /// The training rows of each iteration of `attn train` (without --bucket or --val-fraction):
    /// one JSON line `{"iteration", "rows"}` per iteration, rows 0-based in train.csv order.
    Batches(BatchesArgs),
}

/// Arguments of `attn data batches`.
#[derive(Args, Debug)]
pub struct BatchesArgs {
    /// Directory with AG News train.csv (else $AG_NEWS_DIR, the cache, a download).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Iterations.
    #[arg(long, default_value_t = 500)]
    pub iterations: usize,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Seed of the data order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

fn batches(args: BatchesArgs) -> Result<()> {
    let dir = attn_hub::resolve_ag_news(args.data_dir.as_deref())?;
    let rows = load_ag_news(&dir, "train", false)?;
    let cfg = TrainConfig {
        batch_size: args.batch_size,
        seed: args.seed,
        bucket: false,
        ..TrainConfig::default()
    };
    // Without bucketing the order depends on the number of rows only, not on their lengths.
    let lengths = vec![0; rows.len()];
    for it in 0..args.iterations {
        let line = serde_json::json!({"iteration": it + 1, "rows": batch_at(it, &lengths, &cfg)});
        println!("{line}");
    }
    Ok(())
}

/// Arguments of `attn data stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Directory with AG News train.csv and test.csv (else $AG_NEWS_DIR, the cache, a download).
    #[arg(long, alias = "data")]
    pub data_dir: Option<PathBuf>,
    /// Tokenizer to measure lengths with.
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,
    /// Length at which texts are truncated.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Skip malformed rows instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

pub fn run(cmd: DataCommand) -> Result<()> {
    let args = match cmd {
        DataCommand::Stats(args) => args,
        DataCommand::Batches(args) => return batches(args),
    };
    let dir = attn_hub::resolve_ag_news(args.data_dir.as_deref())?;
    let model = attn_hub::resolve_model(&args.model)?.path;
    let encoder = WordPieceEncoder::new(
        BertTokenizer::from_dir(&model, args.max_len)?,
        &model,
        args.max_len,
    );
    for split in ["train", "test"] {
        let path = dir.join(format!("{split}.csv"));
        if !path.is_file() {
            println!("{split}: {} missing", path.display());
            continue;
        }
        let rows = load_ag_news(&dir, split, args.skip_bad_rows)?;
        let mut per_class = [0usize; 4];
        rows.iter().for_each(|r| per_class[r.label] += 1);
        let classes: Vec<String> = AG_NEWS_CLASSES
            .iter()
            .zip(per_class)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!("{split}: {} rows ({})", rows.len(), classes.join(", "));
        let set = tokenize_cached(&path, &rows, &encoder, &attn_hub::attn_home())?;
        let s = length_stats(&set.examples, args.max_len);
        println!(
            "  tokens: p50 {} p90 {} p95 {} p99 {} max {}; {:.1}% at max-len {}",
            s.p50,
            s.p90,
            s.p95,
            s.p99,
            s.max,
            100.0 * s.truncated_share,
            args.max_len
        );
    }
    Ok(())
}
