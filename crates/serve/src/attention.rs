//! `/attend`: what a model attends to in one text, as the explorer page (and `attn attend`)
//! draws it: BERT's every layer x head matrix over the word pieces, the RNN classifier's strip
//! over the words, a translator's alignment matrix.

use attn_transformer::Encoded;
use serde::Serialize;

/// What the served model's attention is, as the frontend checks a request against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heads {
    /// BERT's self-attention: layers x heads matrices.
    SelfAttention {
        /// The layers.
        layers: usize,
        /// The heads per layer.
        heads: usize,
    },
    /// The RNN classifier's additive attention over the encoder's states.
    Additive,
    /// A translator's alignment (target x source).
    Alignment,
    /// A translator trained without attention.
    None,
}

/// One `/attend` input, tokenized, for the worker.
#[derive(Debug, Clone)]
pub enum Probe {
    /// BERT's word pieces and, when asked for, the one (layer, head).
    Pieces(Encoded, Option<(usize, usize)>),
    /// The RNN classifier's words and their ids.
    Words(Vec<String>, Vec<u32>),
    /// A translator's source text.
    Source(String),
}

/// BERT's attention matrices: every layer's heads, or the one asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Matrices {
    /// `[layer][head][query][key]`.
    All(Vec<Vec<Vec<Vec<f32>>>>),
    /// `[query][key]` of one layer and head.
    One(Vec<Vec<f32>>),
}

/// `/attend`'s answer: the numbers under `attention`, and what labels their axes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attention {
    /// BERT: each row (a query piece) sums to 1 over the columns (the key pieces).
    SelfAttention {
        /// The word pieces, special tokens included.
        tokens: Vec<String>,
        /// The model's layers.
        layers: usize,
        /// Its heads per layer.
        heads: usize,
        /// The layer asked for.
        #[serde(skip_serializing_if = "Option::is_none")]
        layer: Option<usize>,
        /// The head asked for.
        #[serde(skip_serializing_if = "Option::is_none")]
        head: Option<usize>,
        /// The matrices.
        attention: Matrices,
    },
    /// The RNN classifier: one weight per word, summing to 1.
    Additive {
        /// The words as the model read them.
        words: Vec<String>,
        /// Their weights.
        attention: Vec<f32>,
    },
    /// A translator: one row per output token and one for the end, over the source tokens.
    Alignment {
        /// The output words, detokenized.
        translation: String,
        /// The output tokens.
        tokens: Vec<String>,
        /// The source's tokens as the model read them.
        source_tokens: Vec<String>,
        /// The matrix.
        attention: Vec<Vec<f32>>,
    },
}
