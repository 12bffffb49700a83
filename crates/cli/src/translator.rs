//! A translator's run directory opened at the command line: translations with their
//! alignments, and the alignment as a heatmap.

use std::path::Path;

use anyhow::{Context, Result, bail};
use attn_translate::{LoadedSeq2Seq, load_seq2seq, translate_ids};

use crate::heatmap::Heatmap;

/// A sentence's translation with what produced it.
pub struct Translated {
    /// The source's tokens as the model read them.
    pub source: Vec<String>,
    /// The output tokens (subwords where the translator has them).
    pub tokens: Vec<String>,
    /// The output words.
    pub words: Vec<String>,
    /// One row per output token and one for the end, over the source tokens (empty without
    /// attention).
    pub alignment: Vec<Vec<f32>>,
}

/// Translates `texts` with a loaded translator.
pub fn translate_texts<B: attn_backend::Backend>(
    loaded: &LoadedSeq2Seq<B>,
    texts: &[String],
    beam: Option<usize>,
    device: &B::Device,
) -> Vec<Translated> {
    let vocabs = &loaded.vocabs;
    let sources: Vec<Vec<u32>> = texts.iter().map(|t| vocabs.source_ids(t)).collect();
    let beam = beam.unwrap_or(loaded.settings.beam);
    let out = translate_ids(&loaded.model, vocabs, &sources, beam, 32, device);
    texts
        .iter()
        .zip(out)
        .map(|(text, t)| Translated {
            source: vocabs.source_tokens(text),
            tokens: vocabs.target_tokens(&t.tokens),
            words: vocabs.target_words(&t.tokens),
            alignment: t.alignment,
        })
        .collect()
}

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
    let t = translate_texts(&loaded, &[text.to_string()], None, device).remove(0);
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
