//! A translator's run directory opened at the command line.

use std::path::Path;

use anyhow::{Context, Result, bail};
use attn_translate::{LoadedSeq2Seq, load_seq2seq};

/// Opens a translator's run directory, naming the flag when it is not one.
pub fn open<B: attn_backend::Backend>(run: &Path, device: &B::Device) -> Result<LoadedSeq2Seq<B>> {
    if !run.join("seq2seq.json").is_file() {
        bail!(
            "--model {}: not a translator's run directory (no seq2seq.json; train one with `attn train seq2seq`)",
            run.display()
        );
    }
    load_seq2seq::<B>(run, device).with_context(|| format!("--model {}", run.display()))
}
