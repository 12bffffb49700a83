//! `attn train bert|rnn|seq2seq|ner`: fine-tune or train a model, then evaluate it on the test set.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_classify::{BertSettings, DataFiles, RnnSettings, train_bert, train_rnn};
use attn_tag::{NerSettings, RnnTaggerSettings, TagFiles, train_ner, train_rnn_tagger};
use attn_train::{Cluster, TrainConfig, TrainError};
use attn_translate::{ParallelFiles, Seq2SeqSettings, train_seq2seq};
use clap::{Args, ValueEnum};

use crate::flags::data::DataArgs;
use crate::flags::ner::{NerArgs, TaggerArch};
use crate::flags::rnn::RnnArgs;
use crate::flags::seq2seq::{AttentionKind, Seq2SeqArgs};
use crate::flags::values::{PadTo, at_least_one, pad_lengths};
use crate::terminal::Terminal;

/// Which model to train.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A pre-trained BERT fine-tuned with a classification head.
    Bert,
    /// The Bahdanau additive-attention RNN baseline.
    Rnn,
    /// The Bahdanau encoder-decoder translating parallel text (Multi30k by default).
    Seq2seq,
    /// A pre-trained BERT fine-tuned to tag the words of CoNLL-style files (named entities;
    /// WNUT-17 from --data-dir or $WNUT17_DIR), scored by entity F1.
    Ner,
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
    /// Training iterations (mini-batches) [default: 500; ner: 3 epochs, 30 with --arch rnn].
    #[arg(long, conflicts_with = "epochs", value_parser = at_least_one)]
    pub iterations: Option<usize>,
    /// Train for this many passes over the training set instead of --iterations.
    #[arg(long, value_parser = at_least_one)]
    pub epochs: Option<usize>,
    /// Examples per mini-batch [default: 8; seq2seq 64; ner 16].
    #[arg(long, value_parser = at_least_one)]
    pub batch_size: Option<usize>,
    /// Peak learning rate of AdamW [default: 2e-4 for BERT (with --layer-decay 0.8, the best of
    /// the sweep in docs/results.md; ner too), 2e-3 for the RNN and seq2seq, 5e-3 for the BiGRU
    /// tagger].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Share of iterations of linear warm-up; the rate then decays linearly to 0.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// Keep the learning rate constant after warm-up (the reference run: --lr 2e-5 --warmup 0 --constant-lr --weight-decay 0 --grad-clip 0 --pooling cls --dropout 0.1).
    #[arg(long)]
    pub constant_lr: bool,
    /// BERT and ner: keep the word embeddings fixed (no gradient and no AdamW update for the vocab x
    /// hidden table: faster steps; positions, segments and LayerNorm still train) [default: on for
    /// ner's BERT tagger (the same dev F1, docs/results.md), off otherwise; `=false` turns it off].
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub freeze_embeddings: Option<bool>,
    /// Label smoothing of the cross-entropy loss [default: 0.1 for BERT (the best of the sweep in
    /// docs/results.md), 0 for ner and the RNN].
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
    /// Group examples of similar length into batches (less padding) [default: on for ner's BERT
    /// tagger, off otherwise; `=false` turns it off].
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub bucket: Option<bool>,
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
    /// Gone: training across processes is launched with `mpirun -np N attn train ...`; kept to
    /// say so.
    #[arg(long, hide = true)]
    pub nodes: Option<String>,
    /// Gone, as --nodes.
    #[arg(long, hide = true)]
    pub node_rank: Option<String>,
    /// Gone, as --nodes.
    #[arg(long, hide = true)]
    pub coordinator: Option<String>,
    /// Gone, as --nodes.
    #[arg(long, hide = true)]
    pub peer_timeout: Option<String>,
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
    #[command(flatten)]
    pub ner: NerArgs,
}

struct TrainTask {
    cluster: Arc<Cluster>,
    cfg: TrainConfig,
    bert: BertSettings,
    rnn: RnnSettings,
    model_dir: Option<PathBuf>,
    data: Data,
    run: PathBuf,
}

/// What a run trains on: labelled text, parallel text and the translator's settings, or
/// tagged text and the tagger's.
enum Data {
    Labelled(DataFiles),
    Parallel(ParallelFiles, Box<Seq2SeqSettings>),
    Tagged(TagFiles, NerSettings, Option<RnnTaggerSettings>),
}

impl BackendTask for TrainTask {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let terminal = Arc::new(Terminal {
            rank: self.cluster.rank(),
        });
        let (cfg, run, cluster) = (&self.cfg, &self.run, &self.cluster);
        match (&self.data, &self.model_dir) {
            (Data::Parallel(files, settings), _) => {
                train_seq2seq::<B>(cfg, settings, files, run, &device, cluster, terminal)?;
            }
            (Data::Tagged(files, settings, Some(rnn)), _) => {
                let model = (rnn, settings);
                train_rnn_tagger::<B>(cfg, model, files, run, &device, cluster, terminal)?;
            }
            (Data::Tagged(files, settings, None), Some(dir)) => {
                let model = (dir.as_path(), settings);
                train_ner::<B>(cfg, model, files, run, &device, cluster, terminal)?;
            }
            (Data::Tagged(_, _, None), None) => {
                unreachable!("a BERT tagger fine-tunes a pre-trained BERT")
            }
            (Data::Labelled(data), Some(dir)) => {
                let model = (dir.as_path(), &self.bert);
                train_bert::<B>(cfg, model, data, run, &device, cluster, terminal)?;
            }
            (Data::Labelled(data), None) => {
                train_rnn::<B>(cfg, &self.rnn, data, run, &device, cluster, terminal)?;
            }
        }
        Ok(())
    }
}

/// Trains the model `args` name, then scores it on the test set; as one rank of an MPI job when
/// `mpirun` (or `srun`) started it.
pub fn run(spec: BackendSpec, args: TrainArgs) -> Result<()> {
    let legacy = [
        ("--nodes", &args.nodes),
        ("--node-rank", &args.node_rank),
        ("--coordinator", &args.coordinator),
        ("--peer-timeout", &args.peer_timeout),
    ];
    if let Some((flag, _)) = legacy.iter().find(|(_, value)| value.is_some()) {
        bail!(
            "{flag} is gone: start the ranks of a run with `mpirun -np N [-H HOSTS] attn train \
             ...` (or Slurm's srun), which gives each its rank and the number of ranks (an attn \
             built with `--features mpi`)"
        );
    }
    let cluster = Arc::new(Cluster::from_launcher()?);
    let result = train(spec, args, cluster.clone());
    if let Err(e) = &result
        && cluster.size() > 1
        && !matches!(e.downcast_ref(), Some(TrainError::RanksDiffer(_)))
    {
        // The other ranks wait for this one in their next all-reduce: end them all.
        crate::hints::report(e);
        cluster.abort(1);
    }
    result
}

/// [`run`] on `cluster`.
fn train(spec: BackendSpec, args: TrainArgs, cluster: Arc<Cluster>) -> Result<()> {
    let kind = args.kind;
    let parallel = match kind {
        ModelKind::Seq2seq => Some(args.seq2seq.files(args.data.data_dir.as_deref())?),
        _ => None,
    };
    let ner = kind == ModelKind::Ner;
    let rnn_tagger = ner && args.ner.arch == TaggerArch::Rnn;
    // Both speed the tagger's steps at the same dev F1 (docs/results.md).
    let freeze_embeddings = args.freeze_embeddings.unwrap_or(ner && !rnn_tagger);
    let bucket = args.bucket.unwrap_or(ner && !rnn_tagger);
    let tagged = match kind {
        ModelKind::Ner => Some((
            args.ner.files(
                args.data.train.as_ref(),
                args.data.test.as_ref(),
                args.data.data_dir.as_ref(),
            )?,
            args.ner.settings(args.max_len, freeze_embeddings)?,
        )),
        _ => None,
    };
    let labelled = match kind {
        ModelKind::Seq2seq | ModelKind::Ner => None,
        _ => Some(args.data.files()?),
    };
    let data = match (&parallel, &labelled, &tagged) {
        (Some(files), _, _) => files.test.source.clone(),
        (None, Some(files), _) => files.test.clone(),
        (None, None, Some((files, _))) => files.train.clone(),
        (None, None, None) => unreachable!("a run reads labelled, parallel or tagged text"),
    };
    let model_dir = match kind {
        ModelKind::Ner if rnn_tagger => None,
        ModelKind::Bert | ModelKind::Ner => Some(attn_hub::resolve_model(&args.model)?.path),
        _ => None,
    };
    let bert = BertSettings {
        pooling: args.pooling,
        freeze_embeddings,
    };
    let kind_name = match kind {
        ModelKind::Bert => "bert",
        ModelKind::Rnn => "rnn",
        ModelKind::Seq2seq => "seq2seq",
        ModelKind::Ner if args.ner.arch == TaggerArch::Rnn => "ner-rnn",
        ModelKind::Ner => "ner",
    };
    let run = match (&args.resume, &args.output) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir.clone(),
        (None, None) if cluster.size() > 1 => bail!(
            "--output DIR: the {} ranks of an MPI job need one run directory, named alike on \
             every machine",
            cluster.size()
        ),
        (None, None) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            PathBuf::from("runs").join(format!("{kind_name}-{now}"))
        }
    };
    // BERT's defaults are the recipe `TrainConfig::default()` holds.
    let recipe = TrainConfig::default();
    let translator = Seq2SeqSettings::default();
    let dropout = args.rnn.dropout.or(match kind {
        ModelKind::Bert => Some(0.0),
        ModelKind::Ner if rnn_tagger => Some(0.3),
        // The checkpoint's own, as HF's recipe keeps it.
        ModelKind::Ner => None,
        ModelKind::Rnn => Some(0.3),
        ModelKind::Seq2seq => Some(translator.dropout),
    });
    let cfg = TrainConfig {
        model: model_dir
            .as_ref()
            .map_or_else(|| kind_name.to_string(), |d| d.display().to_string()),
        precision: args.precision,
        layer_decay: args.layer_decay,
        data_dir: data.parent().map(PathBuf::from),
        iterations: args.iterations.unwrap_or(recipe.iterations),
        epochs: match (args.epochs, args.iterations) {
            (None, None) if rnn_tagger => Some(30),
            (None, None) if ner => Some(3),
            (epochs, _) => epochs,
        },
        dropout,
        label_smoothing: args.label_smoothing.unwrap_or(match kind {
            ModelKind::Bert => recipe.label_smoothing,
            _ => 0.0,
        }),
        batch_size: args.batch_size.unwrap_or(match kind {
            ModelKind::Seq2seq => 64,
            ModelKind::Ner => 16,
            _ => 8,
        }),
        lr: args.lr.unwrap_or(match kind {
            ModelKind::Ner if rnn_tagger => 5e-3,
            ModelKind::Bert | ModelKind::Ner => recipe.lr,
            ModelKind::Rnn | ModelKind::Seq2seq => 2e-3,
        }),
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
        bucket,
        skip_bad_rows: args.data.skip_bad_rows,
        val_fraction: args.val_fraction,
        eval_every: args.eval_every,
        devices: args.devices as usize,
        nodes: cluster.size(),
        pad_to: args.pad_to.0.clone(),
        ema: args.ema.unwrap_or(match kind {
            ModelKind::Bert => recipe.ema,
            _ => 0.0,
        }),
        // The task's own settings join at its start (`train_bert` adds BERT's).
        task: Default::default(),
    };
    check_ranges(&cfg)?;
    if ner && cfg.val_fraction > 0.0 {
        bail!(
            "--val-fraction {}: a tagger validates on its --dev file",
            cfg.val_fraction
        );
    }
    if rnn_tagger && args.freeze_embeddings == Some(true) {
        bail!(
            "--freeze-embeddings: the BiGRU tagger's embeddings are its own, trained from scratch"
        );
    }
    // Ranks other than 0 write no run.json: rank 0 sends them its checkpoint.
    if let Some(dir) = &args.resume
        && cluster.rank() == 0
        && !dir.join("run.json").is_file()
    {
        bail!(
            "--resume {}: no run to resume there (no run.json); start one with --output {0}",
            dir.display()
        );
    }
    if cluster.rank() == 0 {
        eprintln!("Model: {}\nRun directory: {}", cfg.model, run.display());
    }
    let a = &args.rnn;
    let classifier = RnnSettings::default();
    let rnn = RnnSettings {
        cell: a.cell,
        embed_dim: a.embed_dim.unwrap_or(classifier.embed_dim),
        hidden: a.hidden.unwrap_or(classifier.hidden),
        attention_dim: a.attention_dim.unwrap_or(classifier.attention_dim),
        dropout: dropout.unwrap_or(classifier.dropout),
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
                dropout: dropout.unwrap_or(translator.dropout),
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
        (None, None) => {
            let (files, settings) = tagged.expect("a run reads labelled, parallel or tagged text");
            let recurrent = RnnTaggerSettings::default();
            let rnn = rnn_tagger.then(|| RnnTaggerSettings {
                cell: a.cell,
                embed_dim: a.embed_dim.unwrap_or(recurrent.embed_dim),
                hidden: a.hidden.unwrap_or(recurrent.hidden),
                min_freq: a.min_freq.unwrap_or(recurrent.min_freq),
                max_vocab: a.max_vocab,
            });
            Data::Tagged(files, settings, rnn)
        }
    };
    if cluster.size() > 1 {
        on_signal_say_resume(cluster.rank(), &run)?;
    }
    let task = TrainTask {
        cluster,
        cfg,
        bert,
        rnn,
        model_dir,
        data,
        run,
    };
    dispatch(spec, task)?
}

/// When mpirun ends the job (a rank died or failed, or the job was cancelled), says so on
/// SIGTERM or SIGINT and how to go on, then exits: the all-reduce this rank waits in would never
/// return.
fn on_signal_say_resume(rank: usize, run: &std::path::Path) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    let run = run.display().to_string();
    std::thread::Builder::new()
        .name("attn signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!(
                    "Rank {rank}: training stopped by signal {signal}: the job is ending (when \
                     mpirun ends it, its message names the rank that ended first). The last \
                     checkpoint in {run} is kept: run the same mpirun command with --resume {run} \
                     (in place of --output) to go on."
                );
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
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
