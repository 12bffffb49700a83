//! The translator's flags (`attn train seq2seq`) and the parallel files they name.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use attn_translate::{ParallelFiles, ParallelPair};
use clap::{Args, ValueEnum};

use super::values::at_least_one;

/// How the decoder looks at the source.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionKind {
    /// Bahdanau et al. (2015): additive attention over every encoder state at every step.
    Additive,
    /// Cho et al. (2014): the encoder's final state only.
    None,
}

/// Settings and data of the translator (`attn train seq2seq`).
#[derive(Args, Debug, Clone)]
pub struct Seq2SeqArgs {
    /// seq2seq: source language, a Multi30k file extension (de, en or fr).
    #[arg(long, default_value = "de")]
    pub src: String,
    /// seq2seq: target language, a Multi30k file extension (de, en or fr).
    #[arg(long, default_value = "en")]
    pub tgt: String,
    /// seq2seq: training source sentences, one per line, instead of Multi30k (with
    /// --train-tgt, --test-src and --test-tgt).
    #[arg(long, requires_all = ["train_tgt", "test_src", "test_tgt"])]
    pub train_src: Option<PathBuf>,
    /// seq2seq: the translations of --train-src, line by line.
    #[arg(long, requires = "train_src")]
    pub train_tgt: Option<PathBuf>,
    /// seq2seq: validation source sentences (with --val-tgt), scored during training.
    #[arg(long, requires_all = ["val_tgt", "train_src"])]
    pub val_src: Option<PathBuf>,
    /// seq2seq: the translations of --val-src.
    #[arg(long, requires = "val_src")]
    pub val_tgt: Option<PathBuf>,
    /// seq2seq: test source sentences (BLEU at the end, and `attn eval`).
    #[arg(long, requires = "test_tgt")]
    pub test_src: Option<PathBuf>,
    /// seq2seq: the reference translations of --test-src.
    #[arg(long, requires = "test_src")]
    pub test_tgt: Option<PathBuf>,
    /// seq2seq: the decoder's view of the source: additive attention, or none (the encoder's
    /// final state only).
    #[arg(long, default_value = "additive")]
    pub attention: AttentionKind,
    /// seq2seq: hidden width of the decoder [default: --hidden].
    #[arg(long)]
    pub decoder_hidden: Option<usize>,
    /// seq2seq: width of the deep output's maxout layer between the decoder and the word
    /// scores (0: none) [default: 256].
    #[arg(long)]
    pub maxout: Option<usize>,
    /// seq2seq: split words into byte-pair subwords learnt on the training split, this many
    /// per language (0: whole words; 6000 scored higher on Multi30k's validation split,
    /// docs/results.md).
    #[arg(long, default_value_t = 6000)]
    pub subwords: usize,
    /// seq2seq: share of training steps fed the true previous word (teacher forcing).
    #[arg(long, default_value_t = 1.0)]
    pub teacher_forcing: f64,
    /// seq2seq: beam width of the test translations and of `attn translate` (1: greedy; 4 scored
    /// higher than greedy on Multi30k's validation split, docs/results.md).
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    pub beam: usize,
}

impl Seq2SeqArgs {
    /// The parallel files: the flags' own, else Multi30k's in `data_dir`, $MULTI30K_DIR, the
    /// cache or a download.
    pub fn files(&self, data_dir: Option<&Path>) -> Result<ParallelFiles> {
        let files = match (
            &self.train_src,
            &self.train_tgt,
            &self.test_src,
            &self.test_tgt,
        ) {
            (Some(train_src), Some(train_tgt), Some(test_src), Some(test_tgt)) => ParallelFiles {
                train: pair(train_src, train_tgt),
                validation: self
                    .val_src
                    .as_ref()
                    .zip(self.val_tgt.as_ref())
                    .map(|(s, t)| pair(s, t)),
                test: pair(test_src, test_tgt),
            },
            _ => {
                let dir = attn_hub::resolve_multi30k(data_dir)?;
                ParallelFiles::multi30k(&dir, &self.src, &self.tgt)
            }
        };
        let pairs = [
            Some(&files.train),
            files.validation.as_ref(),
            Some(&files.test),
        ];
        for pair in pairs.into_iter().flatten() {
            for file in [&pair.source, &pair.target] {
                if !file.is_file() {
                    bail!(
                        "{}: no such file (check --src/--tgt, --data-dir, or --train-src/--train-tgt/--test-src/--test-tgt)",
                        file.display()
                    );
                }
            }
        }
        Ok(files)
    }
}

fn pair(source: &Path, target: &Path) -> ParallelPair {
    ParallelPair {
        source: source.to_path_buf(),
        target: target.to_path_buf(),
    }
}
