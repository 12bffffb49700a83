//! The translator's sizes and vocabulary settings.

use serde::{Deserialize, Serialize};

/// The encoder-decoder's sizes and vocabulary settings (saved as `seq2seq.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqSettings {
    /// Width of the word embeddings.
    pub embed_dim: usize,
    /// Hidden width of each encoder direction.
    pub encoder_hidden: usize,
    /// Hidden width of the decoder.
    pub decoder_hidden: usize,
    /// Width of the attention's alignment layer.
    pub attention_dim: usize,
    /// Dropout on the embeddings.
    pub dropout: f64,
    /// Additive attention (false: the decoder sees only the encoder's final state).
    pub attention: bool,
    /// Share of training steps fed the true previous word.
    pub teacher_forcing: f64,
    /// Width of the deep output's maxout layer (0: word scores straight from the features).
    #[serde(default)]
    pub maxout: usize,
    /// Byte-pair subwords per language, learnt on the training split (0: whole words, and what
    /// runs saved before subwords read as).
    #[serde(default)]
    pub subwords: usize,
    /// Words seen fewer times than this in training become `<unk>` (whole words only).
    pub min_freq: usize,
    /// At most this many words per language (specials included).
    pub max_vocab: usize,
    /// Beam width of the test translations (1: greedy).
    pub beam: usize,
}

impl Default for Seq2SeqSettings {
    fn default() -> Self {
        Self {
            embed_dim: 256,
            encoder_hidden: 256,
            decoder_hidden: 256,
            attention_dim: 256,
            dropout: 0.3,
            attention: true,
            teacher_forcing: 1.0,
            maxout: 256,
            subwords: 6000,
            min_freq: 2,
            max_vocab: 50_000,
            beam: 4,
        }
    }
}
