//! `attn train bert` and `attn eval`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_data::{Column, CsvFormat};
use attn_train::{DataFiles, TrainConfig, eval_bert, train_bert};
use clap::{Args, ValueEnum};

/// Which model to train.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A pre-trained BERT fine-tuned with a classification head.
    Bert,
    /// The Bahdanau additive-attention RNN baseline.
    Rnn,
}

/// Where the labelled data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// AG News directory (train.csv, test.csv); else $AG_NEWS_DIR, the cache, or a download.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A labelled training CSV/TSV (instead of AG News).
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// A labelled test CSV/TSV (instead of AG News).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// With --train/--test: the files have a header row.
    #[arg(long)]
    pub header: bool,
    /// With --train/--test: label column (0-based index or header name).
    #[arg(long, default_value = "0")]
    pub label_col: Column,
    /// With --train/--test: text columns, joined by a space.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub text_col: Vec<Column>,
    /// Skip malformed rows (counted in one line) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl DataArgs {
    fn files(&self) -> Result<DataFiles> {
        let cache = attn_hub::attn_home();
        if let Some(test) = &self.test {
            let format = CsvFormat::for_path(
                test,
                self.header,
                self.label_col.clone(),
                self.text_col.clone(),
            );
            return Ok(DataFiles {
                train: self.train.clone(),
                test: test.clone(),
                format,
                labels: None,
                cache_root: cache,
            });
        }
        let dir = attn_hub::resolve_ag_news(self.data_dir.as_deref())?;
        Ok(DataFiles::ag_news(&dir, &cache))
    }
}

/// Arguments of `attn train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Model to train.
    #[arg(value_enum)]
    pub kind: ModelKind,
    /// Pre-trained model: directory, hub id or short name.
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Training iterations (mini-batches).
    #[arg(long, default_value_t = 500, conflicts_with = "epochs")]
    pub iterations: usize,
    /// Train for this many passes over the training set instead of --iterations.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Share of iterations of linear warm-up; the rate then decays linearly to 0.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// Keep the learning rate constant after warm-up (the reference run: --lr 2e-5 --warmup 0 --constant-lr --weight-decay 0).
    #[arg(long)]
    pub constant_lr: bool,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Clip the gradient norm at this value (0: off).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Longest sequence in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Pooling of the classification head: mean (of the last hidden state) or cls (HF's pooler).
    #[arg(long, default_value = "mean")]
    pub pooling: String,
    /// Print `Loss = …, Accuracy = …` every this many iterations.
    #[arg(long, default_value_t = 50)]
    pub report_every: usize,
    /// Checkpoint every this many iterations (0: none until the end).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Seed of initialisation, dropout and data order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Evaluate on the first N test rows only (the reference used 800); 0: all.
    #[arg(long, default_value_t = 0)]
    pub eval_limit: usize,
    /// Hold out this share of the training rows (stratified, seeded) for validation.
    #[arg(long, default_value_t = 0.0)]
    pub val_fraction: f64,
    /// Measure validation accuracy every this many iterations (0: at the end only).
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
    /// Group examples of similar length into batches (less padding).
    #[arg(long)]
    pub bucket: bool,
    /// Run directory (default: runs/<kind>-<unix time>).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long, conflicts_with = "output")]
    pub resume: Option<PathBuf>,
}

struct TrainTask {
    cfg: TrainConfig,
    model_dir: PathBuf,
    data: DataFiles,
    run: PathBuf,
}

impl BackendTask for TrainTask {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        train_bert::<B>(&self.cfg, &self.model_dir, &self.data, &self.run, &device)?;
        Ok(())
    }
}

pub fn train(spec: BackendSpec, args: TrainArgs) -> Result<()> {
    if args.kind == ModelKind::Rnn {
        bail!(
            "not yet implemented: issue 8 (Bahdanau additive-attention RNN baseline) is still open"
        );
    }
    let data = args.data.files()?;
    let model_dir = attn_hub::resolve_model(&args.model)?.path;
    let run = match (&args.resume, &args.output) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            PathBuf::from("runs").join(format!("bert-{now}"))
        }
    };
    let iterations = match args.epochs {
        Some(epochs) => {
            let train = data
                .train
                .as_ref()
                .context("training needs a training file")?;
            let rows = std::fs::read(train).with_context(|| train.display().to_string())?;
            let approx_rows = rows.iter().filter(|&&b| b == b'\n').count().max(1);
            epochs * approx_rows.div_ceil(args.batch_size.max(1))
        }
        None => args.iterations,
    };
    let cfg = TrainConfig {
        model: model_dir.display().to_string(),
        pooling: args.pooling,
        data_dir: data.test.parent().map(PathBuf::from),
        iterations,
        batch_size: args.batch_size,
        lr: args.lr,
        warmup: args.warmup,
        constant_lr: args.constant_lr,
        weight_decay: args.weight_decay,
        grad_clip: args.grad_clip,
        max_len: args.max_len,
        report_every: args.report_every,
        checkpoint_every: args.checkpoint_every,
        seed: args.seed,
        eval_limit: args.eval_limit,
        eval_batch_size: 32,
        bucket: args.bucket,
        skip_bad_rows: args.data.skip_bad_rows,
        val_fraction: args.val_fraction,
        eval_every: args.eval_every,
    };
    if !(0.0..1.0).contains(&cfg.val_fraction) {
        bail!("--val-fraction {} must be in [0, 1)", cfg.val_fraction);
    }
    eprintln!(
        "Model: {}\nRun directory: {}",
        model_dir.display(),
        run.display()
    );
    dispatch(
        spec,
        TrainTask {
            cfg,
            model_dir,
            data,
            run,
        },
    )?
}

/// Arguments of `attn eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory or a fine-tuned HF model directory.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Longest sequence in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Evaluate on the first N test rows only; 0: all.
    #[arg(long, default_value_t = 0)]
    pub eval_limit: usize,
    /// Write eval.json into this directory.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

struct EvalTask {
    args: EvalArgs,
    data: DataFiles,
}

impl BackendTask for EvalTask {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let cfg = TrainConfig {
            max_len: self.args.max_len,
            eval_limit: self.args.eval_limit,
            skip_bad_rows: self.args.data.skip_bad_rows,
            ..TrainConfig::default()
        };
        eval_bert::<B::InnerBackend>(
            &self.args.model,
            &self.data,
            &cfg,
            self.args.output.as_deref(),
            &device,
        )?;
        Ok(())
    }
}

pub fn eval(spec: BackendSpec, args: EvalArgs) -> Result<()> {
    let data = args.data.files()?;
    dispatch(spec, EvalTask { args, data })?
}
