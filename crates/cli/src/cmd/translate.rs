//! `attn translate`: one JSON line `{"translation", "tokens", "source_tokens", "alignment"}` per
//! text.

use std::path::PathBuf;

use anyhow::Result;
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_translate::{detokenize, translate_texts};
use clap::Args;

use crate::flags::values::at_least_one;
use crate::translator::open;

/// Arguments of `attn translate`.
#[derive(Args, Debug)]
pub struct TranslateArgs {
    /// A run directory of `attn train seq2seq`.
    #[arg(long)]
    pub model: PathBuf,
    /// Beam width (1: greedy) [default: the run's --beam].
    #[arg(long, value_parser = at_least_one)]
    pub beam: Option<usize>,
    /// The sentences to translate.
    #[arg(required = true)]
    pub text: Vec<String>,
}

struct Translate(TranslateArgs);

impl BackendTask for Translate {
    type Output = Result<()>;
    fn run<AD: AutodiffBackend>(self, device: AD::Device) -> Result<()> {
        let loaded = open::<AD::InnerBackend>(&self.0.model, &device)?;
        for t in translate_texts(&loaded, &self.0.text, self.0.beam, 32, &device) {
            let line = serde_json::json!({
                "translation": detokenize(&t.words),
                "tokens": t.tokens,
                "source_tokens": t.source,
                "alignment": t.alignment,
            });
            println!("{line}");
        }
        Ok(())
    }
}

/// `attn translate`: one JSON line per text.
pub fn run(spec: BackendSpec, args: TranslateArgs) -> Result<()> {
    dispatch(spec, Translate(args))?
}
