//! Decoding many sources at once: batches sorted by length, greedy or beam search.

use attn_data::WordVocab;
use attn_rnn::{Seq2Seq, Translation};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

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
