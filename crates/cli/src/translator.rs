//! A translator's run directory opened at the command line, and its alignment as a heatmap.

use std::path::Path;

use anyhow::{Context, Result, bail};
use attn_translate::{LoadedSeq2Seq, load_seq2seq, translate_texts};

use crate::heatmap::Heatmap;

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

/// The alignment matrix of `text` under the translator in `run`: source tokens across, output
/// tokens (and the end) down, in grey levels.
pub fn alignment<B: attn_backend::Backend>(
    run: &Path,
    text: &str,
    device: &B::Device,
) -> Result<Heatmap> {
    let loaded = open::<B>(run, device)?;
    let t = translate_texts(&loaded, &[text], None, 1, device).remove(0);
    if t.alignment.is_empty() {
        bail!(
            "--model {}: this translator has no attention (trained with --attention none)",
            run.display()
        );
    }
    let mut rows = t.tokens;
    rows.push("<eos>".into());
    Ok(Heatmap {
        title: "alignment: output tokens (down) attend to source tokens (across)".into(),
        rows,
        columns: t.source,
        values: t.alignment,
        grey: true,
    })
}
