//! What every inference command takes (a model and texts), how the texts become a batch, and the
//! directory of a model `attn serve` and `attn attend` read.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result};
use attn_transformer::{BertInput, BertTokenizer};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use clap::Args;

/// The directory of `--model`: a translator's or the RNN baseline's run as it is (they have no
/// HF files); anything else resolved as a HF model (a directory, the cache or the hub).
pub fn model_dir(model: &str) -> Result<PathBuf> {
    let run = PathBuf::from(model);
    match ["seq2seq.json", "rnn.json"]
        .iter()
        .any(|f| run.join(f).is_file())
    {
        true => Ok(run),
        false => Ok(attn_hub::resolve_model(model)?.path),
    }
}

/// The model and texts every inference command takes.
#[derive(Args, Debug, Clone)]
pub struct ModelTexts {
    /// Model directory or name (fetched if needed).
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,
    /// Longest sequence, in tokens; longer texts are truncated (keeping [SEP]).
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Texts; read from standard input, one per line, when none are given.
    pub texts: Vec<String>,
}

impl ModelTexts {
    /// The model's directory and tokenizer, and the texts.
    pub fn resolve(&self) -> Result<(PathBuf, BertTokenizer, Vec<String>)> {
        let dir = attn_hub::resolve_model(&self.model)?.path;
        let tokenizer = BertTokenizer::from_dir(&dir, self.max_len)?;
        Ok((dir, tokenizer, self.texts()?))
    }

    /// The texts given, or the lines of standard input.
    pub fn texts(&self) -> Result<Vec<String>> {
        if !self.texts.is_empty() {
            return Ok(self.texts.clone());
        }
        let lines = std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<Vec<_>>>();
        lines.context("reading stdin")
    }

    /// The run directory of a trained RNN baseline, when `--model` names one.
    pub fn rnn_run(&self) -> Option<PathBuf> {
        let dir = PathBuf::from(&self.model);
        dir.join("rnn.json").is_file().then_some(dir)
    }
}

/// One batch of texts as model input, padded to the longest.
pub fn batch_input<B: Backend>(
    tokenizer: &BertTokenizer,
    texts: &[String],
    device: &B::Device,
) -> Result<BertInput<B>> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encoded = tokenizer.encode_batch(&refs)?;
    Ok(BertInput::from_encoded(&encoded, tokenizer.pad_id, device))
}

/// Rows of a [n, d] tensor.
pub fn rows<B: Backend>(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [n, d] = t.dims();
    let flat: Vec<f32> = t.into_data().convert::<f32>().to_vec().expect("f32 data");
    (0..n).map(|i| flat[i * d..(i + 1) * d].to_vec()).collect()
}

/// Texts are run in chunks of this many.
pub const CHUNK: usize = 32;
