//! `attn eval`: score a trained model (a run directory) on a test set: accuracy, BLEU or entity F1.

use std::path::PathBuf;

use anyhow::{Result, bail};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_classify::{DataFiles, eval_bert, eval_rnn};
use attn_tag::{eval_ner, is_tagger};
use attn_train::TrainConfig;
use attn_translate::{ParallelPair, eval_seq2seq};
use clap::Args;

use crate::flags::data::DataArgs;
use crate::flags::values::at_least_one;
use crate::terminal::Terminal;

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
        if is_tagger(dir) {
            let Some(test) = &self.args.data.test else {
                bail!(
                    "--model {}: a tagger is scored on a tagged file: --test F (CoNLL style)",
                    dir.display()
                );
            };
            eval_ner::<B::InnerBackend>(dir, test, &cfg, out, &device, &Terminal::default())?;
            return Ok(());
        }
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
            eval_seq2seq::<B::InnerBackend>(
                dir,
                &test,
                beam,
                32,
                out,
                &device,
                &Terminal::default(),
            )?;
            return Ok(());
        };
        if dir.join("rnn.json").is_file() {
            eval_rnn::<B::InnerBackend>(dir, data, &cfg, out, &device, &Terminal::default())?;
        } else {
            eval_bert::<B::InnerBackend>(dir, data, &cfg, out, &device, &Terminal::default())?;
        }
        Ok(())
    }
}

/// Scores a run directory on a test set.
pub fn run(spec: BackendSpec, args: EvalArgs) -> Result<()> {
    if !args.model.is_dir() {
        bail!(
            "--model {}: no such directory (give a run directory of `attn train`, or a fine-tuned \
             model directory)",
            args.model.display()
        );
    }
    let data = match args.model.join("seq2seq.json").is_file() || is_tagger(&args.model) {
        true => None,
        false => Some(args.data.files()?),
    };
    dispatch(spec, EvalTask { args, data })?
}
