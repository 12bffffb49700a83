//! Decoding many sources at once: batches sorted by length, greedy or beam search; texts in,
//! words and alignments out.

use attn_data::WordVocab;
use attn_rnn::{Seq2Seq, Translation};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::saved::LoadedSeq2Seq;
use crate::vocab::Vocabularies;

/// Translates `sources` (each as ids) in batches of `batch_size` sorted by length: greedy
/// decoding for a beam of 1 (the batch's longest source sets its cap), else beam search (each
/// source its own cap).
pub fn translate_ids<B: Backend>(
    model: &Seq2Seq<B>,
    vocabs: &Vocabularies,
    sources: &[Vec<u32>],
    beam: usize,
    batch_size: usize,
    device: &B::Device,
) -> Vec<Translation> {
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].len());
    let mut out = vec![Translation::default(); sources.len()];
    for rows in order.chunks(batch_size.max(1)) {
        let lengths: Vec<usize> = rows.iter().map(|&i| sources[i].len()).collect();
        let longest = lengths.iter().copied().max().unwrap_or(1);
        let mut ids = vec![WordVocab::PAD as i64; rows.len() * longest];
        for (r, &i) in rows.iter().enumerate() {
            for (t, &id) in sources[i].iter().enumerate() {
                ids[r * longest + t] = id as i64;
            }
        }
        let ids =
            Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows.len(), longest]), device);
        let translated = match beam > 1 {
            true => {
                let decodings: Vec<_> = lengths.iter().map(|&l| vocabs.decoding(l)).collect();
                model.beam_search(ids, &lengths, beam, &decodings)
            }
            false => model.greedy(ids, &lengths, vocabs.decoding(longest)),
        };
        for (&i, t) in rows.iter().zip(translated) {
            out[i] = t;
        }
    }
    out
}

/// A sentence's translation with what produced it.
#[derive(Debug, Clone, PartialEq)]
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

/// Translates `texts` with a loaded translator, with beam width `beam` (the run's own when
/// `None`), in batches of `batch_size`.
pub fn translate_texts<B: Backend, S: AsRef<str>>(
    loaded: &LoadedSeq2Seq<B>,
    texts: &[S],
    beam: Option<usize>,
    batch_size: usize,
    device: &B::Device,
) -> Vec<Translated> {
    let vocabs = &loaded.vocabs;
    let sources: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| vocabs.source_ids(t.as_ref()))
        .collect();
    let beam = beam.unwrap_or(loaded.settings.beam);
    let out = translate_ids(&loaded.model, vocabs, &sources, beam, batch_size, device);
    (texts.iter().zip(out))
        .map(|(text, t)| Translated {
            source: vocabs.source_tokens(text.as_ref()),
            tokens: vocabs.target_tokens(&t.tokens),
            words: vocabs.target_words(&t.tokens),
            alignment: t.alignment,
        })
        .collect()
}
