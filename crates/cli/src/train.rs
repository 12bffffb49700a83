//! `attn train bert|rnn|seq2seq` and `attn eval`.

use std::path::PathBuf;

use crate::terminal::Terminal;
use anyhow::{Result, bail};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_data::{Column, CsvFormat};
use attn_train::{
    Cluster, DataFiles, ParallelFiles, ParallelPair, RnnSettings, Seq2SeqSettings, TrainConfig,
    eval_bert, eval_rnn, eval_seq2seq, train_bert, train_rnn, train_seq2seq,
};

use crate::translate::{AttentionKind, Seq2SeqArgs};
use clap::{Args, ValueEnum};
use std::sync::Arc;

/// Which model to train.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A pre-trained BERT fine-tuned with a classification head.
    Bert,
    /// The Bahdanau additive-attention RNN baseline.
    Rnn,
    /// The Bahdanau encoder-decoder translating parallel text (Multi30k by default).
    Seq2seq,
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
    /// With --train/--test: the files have a header row (implied by a column given by name).
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
            for (flag, file) in [("--train", self.train.as_ref()), ("--test", Some(test))] {
                if let Some(file) = file.filter(|f| !f.is_file()) {
                    bail!("{flag} {}: no such file", file.display());
                }
            }
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
    #[arg(long, default_value_t = 500, conflicts_with = "epochs", value_parser = at_least_one)]
    pub iterations: usize,
    /// Train for this many passes over the training set instead of --iterations.
    #[arg(long, value_parser = at_least_one)]
    pub epochs: Option<usize>,
    /// Examples per mini-batch [default: 8; seq2seq 64].
    #[arg(long, value_parser = at_least_one)]
    pub batch_size: Option<usize>,
    /// Peak learning rate of AdamW [default: 2e-4 for BERT (with --layer-decay 0.8, the best of
    /// the sweep in docs/results.md), 2e-3 for the RNN and seq2seq].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Share of iterations of linear warm-up; the rate then decays linearly to 0.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// Keep the learning rate constant after warm-up (the reference run: --lr 2e-5 --warmup 0 --constant-lr --weight-decay 0 --grad-clip 0 --pooling cls --dropout 0.1).
    #[arg(long)]
    pub constant_lr: bool,
    /// BERT: keep the word embeddings fixed (no gradient and no AdamW update for the vocab x
    /// hidden table: faster steps; positions, segments and LayerNorm still train).
    #[arg(long)]
    pub freeze_embeddings: bool,
    /// Label smoothing of the cross-entropy loss [default: 0.1 for BERT (the best of the sweep in
    /// docs/results.md), 0 for the RNN].
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Clip the gradient norm at this value (0: off).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Longest sequence in tokens.
    #[arg(long, default_value_t = 128, value_parser = at_least_one)]
    pub max_len: usize,
    /// Pooling of the classification head: mean (of the last hidden state) or cls (HF's pooler).
    #[arg(long, default_value = "mean")]
    pub pooling: attn_transformer::Pooling,
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
    /// Layer-wise learning-rate decay: each BERT layer below the head learns at this factor of
    /// the one above it, the embeddings at the factor of the lowest layer (1: one rate for all;
    /// the RNN has one group).
    #[arg(long, default_value_t = 0.8)]
    pub layer_decay: f64,
    /// BERT: precision of the matrix products, f32, bf16 or f16 (weights and optimizer stay f32).
    #[arg(long, default_value = "f32")]
    pub precision: attn_transformer::Precision,
    /// Train data-parallel on this many devices of the backend, from --device up: each takes
    /// --batch-size rows of every global batch, and one optimizer step follows on the whole
    /// batch's gradient. The CPU backends have one device: their replicas share it (a check of
    /// the path, not a speed-up).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub devices: u64,
    /// Processes training together, one per machine or several on one (torchrun's WORLD_SIZE):
    /// each takes its share of every global batch (--nodes x --devices x --batch-size rows), and
    /// the gradients are summed through burn-collective at every step.
    #[arg(long, env = "WORLD_SIZE", default_value_t = 1, value_parser = at_least_one)]
    pub nodes: usize,
    /// This process's rank, 0 to --nodes - 1 (torchrun's RANK). Rank 0 coordinates and writes
    /// the run (reports, checkpoints, model, evaluation); the others only train.
    #[arg(long, env = "RANK", default_value_t = 0)]
    pub node_rank: usize,
    /// Rank 0's HOST:PORT [default: $MASTER_ADDR:$MASTER_PORT, else 127.0.0.1:29500]. Rank 0
    /// listens on PORT and PORT+1, rank R on PORT+2+R.
    #[arg(long)]
    pub coordinator: Option<String>,
    /// Seconds a silent rank is given before the others stop.
    #[arg(long, default_value_t = 60, value_parser = at_least_one)]
    pub peer_timeout: usize,
    /// Decay of an exponential moving average of the weights (Polyak averaging), updated after
    /// every optimizer step and saved as the trained model; 0: off, the last weights [default:
    /// 0.99 for BERT (with label smoothing, the best of the sweep in docs/results.md), else 0].
    #[arg(long)]
    pub ema: Option<f64>,
    /// GPU backends: pad each batch up to the next of these lengths (comma-separated, at most 8;
    /// past the longest, to a multiple of 16), so that a run meets few tensor shapes and compiles
    /// few kernels; `longest`: to each batch's longest row, as the CPU backends always pad.
    #[arg(long, default_value = "32,64,96,128", value_parser = pad_lengths)]
    pub pad_to: PadTo,
    /// Run directory (default: runs/<kind>-<unix time>).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long, conflicts_with = "output")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub rnn: RnnArgs,
    #[command(flatten)]
    pub seq2seq: Seq2SeqArgs,
}

/// Settings of the RNN baseline (`attn train rnn`).
#[derive(Args, Debug)]
pub struct RnnArgs {
    /// RNN: the recurrent cell, gru or lstm.
    #[arg(long, default_value = "gru")]
    pub cell: attn_rnn::Cell,
    /// RNN and seq2seq: width of the word embeddings [default: 128; seq2seq 256].
    #[arg(long)]
    pub embed_dim: Option<usize>,
    /// RNN and seq2seq: hidden width of each encoder GRU direction [default: 128; seq2seq 256].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// RNN and seq2seq: width of the additive attention's alignment layer [default: 128;
    /// seq2seq 256].
    #[arg(long)]
    pub attention_dim: Option<usize>,
    /// Dropout [default: BERT 0, instead of the checkpoint's 0.1, which measured worse for a
    /// 500-iteration fine-tune; RNN 0.3, on embeddings and the classifier input].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// RNN and seq2seq: words seen fewer times in training become <unk> [default: 1; seq2seq 2].
    #[arg(long)]
    pub min_freq: Option<usize>,
    /// RNN and seq2seq: vocabulary size cap (per language).
    #[arg(long, default_value_t = 50_000)]
    pub max_vocab: usize,
}

struct TrainTask {
    cluster: Cluster,
    cfg: TrainConfig,
    rnn: RnnSettings,
    model_dir: Option<PathBuf>,
    data: Data,
    run: PathBuf,
}

/// What a run trains on: labelled text, or parallel text and the translator's settings.
enum Data {
    Labelled(DataFiles),
    Parallel(ParallelFiles, Box<Seq2SeqSettings>),
}

impl BackendTask for TrainTask {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let terminal = Arc::new(Terminal);
        let (cfg, run, cluster) = (&self.cfg, &self.run, &self.cluster);
        match (&self.data, &self.model_dir) {
            (Data::Parallel(files, settings), _) => {
                train_seq2seq::<B>(cfg, settings, files, run, &device, cluster, terminal)?;
            }
            (Data::Labelled(data), Some(dir)) => {
                train_bert::<B>(cfg, dir, data, run, &device, cluster, terminal)?;
            }
            (Data::Labelled(data), None) => {
                train_rnn::<B>(cfg, &self.rnn, data, run, &device, cluster, terminal)?;
            }
        }
        Ok(())
    }
}

pub fn train(spec: BackendSpec, args: TrainArgs) -> Result<()> {
    let kind = args.kind;
    let parallel = match kind {
        ModelKind::Seq2seq => Some(args.seq2seq.files(args.data.data_dir.as_deref())?),
        _ => None,
    };
    let labelled = match kind {
        ModelKind::Seq2seq => None,
        _ => Some(args.data.files()?),
    };
    let data = match (&parallel, &labelled) {
        (Some(files), _) => files.test.source.clone(),
        (None, Some(files)) => files.test.clone(),
        (None, None) => unreachable!("a run reads labelled or parallel text"),
    };
    let model_dir = match kind {
        ModelKind::Bert => Some(attn_hub::resolve_model(&args.model)?.path),
        _ => None,
    };
    let kind_name = match kind {
        ModelKind::Bert => "bert",
        ModelKind::Rnn => "rnn",
        ModelKind::Seq2seq => "seq2seq",
    };
    let run = match (&args.resume, &args.output) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            PathBuf::from("runs").join(format!("{kind_name}-{now}"))
        }
    };
    // BERT's defaults are the recipe `TrainConfig::default()` holds.
    let bert = TrainConfig::default();
    let translator = Seq2SeqSettings::default();
    let dropout = args.rnn.dropout.unwrap_or(match kind {
        ModelKind::Bert => 0.0,
        ModelKind::Rnn => 0.3,
        ModelKind::Seq2seq => translator.dropout,
    });
    let cfg = TrainConfig {
        model: model_dir
            .as_ref()
            .map_or_else(|| kind_name.to_string(), |d| d.display().to_string()),
        pooling: args.pooling,
        precision: args.precision,
        layer_decay: args.layer_decay,
        data_dir: data.parent().map(PathBuf::from),
        iterations: args.iterations,
        epochs: args.epochs,
        dropout: Some(dropout),
        label_smoothing: args.label_smoothing.unwrap_or(match kind {
            ModelKind::Bert => bert.label_smoothing,
            _ => 0.0,
        }),
        batch_size: args.batch_size.unwrap_or(match kind {
            ModelKind::Seq2seq => 64,
            _ => 8,
        }),
        lr: args.lr.unwrap_or(match kind {
            ModelKind::Bert => bert.lr,
            _ => 2e-3,
        }),
        warmup: args.warmup,
        constant_lr: args.constant_lr,
        freeze_embeddings: args.freeze_embeddings,
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
        devices: args.devices as usize,
        nodes: args.nodes,
        pad_to: args.pad_to.0.clone(),
        ema: args.ema.unwrap_or(match kind {
            ModelKind::Bert => bert.ema,
            _ => 0.0,
        }),
    };
    check_ranges(&cfg)?;
    // Ranks other than 0 write no run.json: rank 0 sends them its checkpoint.
    if let Some(dir) = &args.resume
        && args.node_rank == 0
        && !dir.join("run.json").is_file()
    {
        bail!(
            "--resume {}: no run to resume there (no run.json); start one with --output {0}",
            dir.display()
        );
    }
    eprintln!("Model: {}\nRun directory: {}", cfg.model, run.display());
    let a = &args.rnn;
    let classifier = RnnSettings::default();
    let rnn = RnnSettings {
        cell: a.cell,
        embed_dim: a.embed_dim.unwrap_or(classifier.embed_dim),
        hidden: a.hidden.unwrap_or(classifier.hidden),
        attention_dim: a.attention_dim.unwrap_or(classifier.attention_dim),
        dropout,
        min_freq: a.min_freq.unwrap_or(classifier.min_freq),
        max_vocab: a.max_vocab,
    };
    let data = match (parallel, labelled) {
        (Some(files), _) => {
            let s = &args.seq2seq;
            if !(0.0..=1.0).contains(&s.teacher_forcing) {
                bail!("--teacher-forcing {} must be in [0, 1]", s.teacher_forcing);
            }
            let hidden = a.hidden.unwrap_or(translator.encoder_hidden);
            let settings = Seq2SeqSettings {
                embed_dim: a.embed_dim.unwrap_or(translator.embed_dim),
                encoder_hidden: hidden,
                decoder_hidden: s.decoder_hidden.unwrap_or(hidden),
                attention_dim: a.attention_dim.unwrap_or(translator.attention_dim),
                dropout,
                attention: s.attention == AttentionKind::Additive,
                teacher_forcing: s.teacher_forcing,
                maxout: s.maxout.unwrap_or(translator.maxout),
                subwords: s.subwords,
                min_freq: a.min_freq.unwrap_or(translator.min_freq),
                max_vocab: a.max_vocab,
                beam: s.beam,
            };
            Data::Parallel(files, Box::new(settings))
        }
        (None, Some(files)) => Data::Labelled(files),
        (None, None) => unreachable!("a run reads labelled or parallel text"),
    };
    let task = TrainTask {
        cluster: cluster(&args),
        cfg,
        rnn,
        model_dir,
        data,
        run,
    };
    dispatch(spec, task)?
}

/// This process's place in a multi-node run, from the flags and torchrun's variables.
fn cluster(args: &TrainArgs) -> Cluster {
    let from_env = || {
        let addr = std::env::var("MASTER_ADDR").ok()?;
        let port = std::env::var("MASTER_PORT").unwrap_or_else(|_| "29500".into());
        Some(format!("{addr}:{port}"))
    };
    let default = Cluster::default();
    Cluster {
        rank: args.node_rank,
        coordinator: args
            .coordinator
            .clone()
            .or_else(from_env)
            .unwrap_or(default.coordinator),
        peer_timeout: std::time::Duration::from_secs(args.peer_timeout as u64),
        ..default
    }
}

/// Parses a count that must be at least 1.
pub fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Refuses settings outside their meaningful range, naming the flag.
fn check_ranges(cfg: &TrainConfig) -> Result<()> {
    let unit = 0.0..1.0;
    let dropout = cfg.dropout.unwrap_or(0.0);
    let checks = [
        ("--lr", cfg.lr, cfg.lr > 0.0, "must be positive"),
        (
            "--warmup",
            cfg.warmup,
            (0.0..=1.0).contains(&cfg.warmup),
            "must be in [0, 1]",
        ),
        (
            "--weight-decay",
            cfg.weight_decay,
            cfg.weight_decay >= 0.0,
            "must be 0 or more",
        ),
        (
            "--grad-clip",
            cfg.grad_clip,
            cfg.grad_clip >= 0.0,
            "must be 0 (off) or more",
        ),
        (
            "--layer-decay",
            cfg.layer_decay,
            (0.0..=1.0).contains(&cfg.layer_decay),
            "must be in [0, 1]",
        ),
        (
            "--label-smoothing",
            cfg.label_smoothing,
            unit.contains(&cfg.label_smoothing),
            "must be in [0, 1)",
        ),
        (
            "--dropout",
            dropout,
            unit.contains(&dropout),
            "must be in [0, 1)",
        ),
        (
            "--ema",
            cfg.ema,
            unit.contains(&cfg.ema),
            "must be in [0, 1)",
        ),
        (
            "--val-fraction",
            cfg.val_fraction,
            unit.contains(&cfg.val_fraction),
            "must be in [0, 1)",
        ),
    ];
    for (flag, value, ok, rule) in checks {
        if !ok || !value.is_finite() {
            bail!("{flag} {value} {rule}");
        }
    }
    Ok(())
}

/// `--pad-to`'s lengths (empty: pad to the longest row).
#[derive(Debug, Clone)]
pub struct PadTo(Vec<usize>);

/// Parses `--pad-to`: `longest`, or comma-separated lengths.
fn pad_lengths(s: &str) -> Result<PadTo, String> {
    if s.trim() == "longest" {
        return Ok(PadTo(Vec::new()));
    }
    let lengths = s
        .split(',')
        .map(|l| l.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("`{s}`: expected `longest` or lengths such as 32,64,96,128"))?;
    attn_data::PadLengths::new(&lengths).map_err(|e| e.to_string())?;
    Ok(PadTo(lengths))
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
    /// A translator: the source sentences to translate and score (with --test-tgt).
    #[arg(long, requires = "test_tgt")]
    pub test_src: Option<PathBuf>,
    /// A translator: the reference translations of --test-src.
    #[arg(long, requires = "test_src")]
    pub test_tgt: Option<PathBuf>,
    /// A translator: beam width (1: greedy) [default: the run's].
    #[arg(long, value_parser = at_least_one)]
    pub beam: Option<usize>,
    /// Write eval.json into this directory.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

struct EvalTask {
    args: EvalArgs,
    data: Option<DataFiles>,
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
        let (dir, out) = (&self.args.model, self.args.output.as_deref());
        let Some(data) = &self.data else {
            let (Some(source), Some(target)) = (&self.args.test_src, &self.args.test_tgt) else {
                bail!(
                    "--model {}: a translator is scored on --test-src F --test-tgt F",
                    dir.display()
                );
            };
            let test = ParallelPair {
                source: source.clone(),
                target: target.clone(),
            };
            let beam = self.args.beam;
            eval_seq2seq::<B::InnerBackend>(dir, &test, beam, 32, out, &device, &Terminal)?;
            return Ok(());
        };
        if dir.join("rnn.json").is_file() {
            eval_rnn::<B::InnerBackend>(dir, data, &cfg, out, &device, &Terminal)?;
        } else {
            eval_bert::<B::InnerBackend>(dir, data, &cfg, out, &device, &Terminal)?;
        }
        Ok(())
    }
}

pub fn eval(spec: BackendSpec, args: EvalArgs) -> Result<()> {
    if !args.model.is_dir() {
        bail!(
            "--model {}: no such directory (give a run directory of `attn train`, or a fine-tuned \
             model directory)",
            args.model.display()
        );
    }
    let data = match args.model.join("seq2seq.json").is_file() {
        true => None,
        false => Some(args.data.files()?),
    };
    dispatch(spec, EvalTask { args, data })?
}
