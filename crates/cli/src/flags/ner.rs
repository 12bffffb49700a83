//! The tagger's flags (`attn train ner`): its files and how they are read and cut.

use std::path::PathBuf;

use anyhow::{Result, bail};
use attn_tag::{NerSettings, Scheme, TagFiles};
use clap::{Args, ValueEnum};

/// Which tagger `attn train ner` trains.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaggerArch {
    /// A pre-trained BERT with a tag for every word piece (HF's `BertForTokenClassification`).
    Bert,
    /// The recurrent baseline: a BiGRU over the training file's words, a tag for every word.
    Rnn,
}

/// Settings of a tagging run.
#[derive(Args, Debug)]
pub struct NerArgs {
    /// NER: the tagger, a fine-tuned BERT or the BiGRU baseline.
    #[arg(long, value_enum, default_value = "bert")]
    pub arch: TaggerArch,
    /// NER: a tagged development file (CoNLL style), for validation and, without --test, the
    /// final score.
    #[arg(long)]
    pub dev: Option<PathBuf>,
    /// NER: the files' tagging scheme, iob2, iob1 or bioes (read into IOB2).
    #[arg(long, default_value = "iob2", value_parser = parse_scheme)]
    pub scheme: Scheme,
    /// NER: train on every piece of a word (later pieces of a B- word as I-), not its first
    /// piece alone (HF's label_all_tokens).
    #[arg(long)]
    pub label_all_pieces: bool,
    /// NER: word pieces shared by consecutive windows of a sentence longer than --max-len
    /// [default: 32, or half a window where that is less].
    #[arg(long)]
    pub stride: Option<usize>,
}

fn parse_scheme(s: &str) -> Result<Scheme, String> {
    s.parse()
}

impl NerArgs {
    /// The run's tagging settings, the stride checked against the window of `max_len`.
    pub fn settings(&self, max_len: usize, freeze_embeddings: bool) -> Result<NerSettings> {
        let budget = max_len.saturating_sub(2);
        let stride = match self.stride {
            Some(stride) if stride * 2 > budget => bail!(
                "--stride {stride} must be at most half of the {budget} word pieces a window of --max-len {max_len} holds"
            ),
            Some(stride) => stride,
            None => NerSettings::default().stride.min(budget / 2),
        };
        Ok(NerSettings {
            scheme: self.scheme,
            label_all_pieces: self.label_all_pieces,
            stride,
            freeze_embeddings,
        })
    }

    /// The tagged files: --train with --dev and/or --test, else those of --data-dir or
    /// $WNUT17_DIR (WNUT-17's or CoNLL-2003's file names).
    pub fn files(
        &self,
        train: Option<&PathBuf>,
        test: Option<&PathBuf>,
        data_dir: Option<&PathBuf>,
    ) -> Result<TagFiles> {
        let named = [
            ("--train", train),
            ("--dev", self.dev.as_ref()),
            ("--test", test),
        ];
        for (flag, file) in named {
            if let Some(file) = file.filter(|f| !f.is_file()) {
                bail!("{flag} {}: no such file", file.display());
            }
        }
        if let Some(train) = train {
            if self.dev.is_none() && test.is_none() {
                bail!(
                    "--train {}: give --dev F or --test F to score the tagger on",
                    train.display()
                );
            }
            return Ok(TagFiles {
                train: train.clone(),
                dev: self.dev.clone(),
                test: test.cloned(),
            });
        }
        let from_env = std::env::var_os("WNUT17_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        let Some(dir) = data_dir.cloned().or(from_env) else {
            bail!(
                "no tagged data: give --data-dir DIR (WNUT-17: wnut17train.conll, emerging.dev.conll), \
                 set $WNUT17_DIR, or give --train F with --dev F and/or --test F"
            );
        };
        let mut files = TagFiles::in_dir(&dir)?;
        if self.dev.is_some() {
            files.dev = self.dev.clone();
        }
        if test.is_some() {
            files.test = test.cloned();
        }
        if files.dev.is_none() && files.test.is_none() {
            bail!(
                "{}: no dev or test file to score the tagger on",
                dir.display()
            );
        }
        Ok(files)
    }
}
