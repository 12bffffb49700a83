//! What the worker runs for one input, and what it answers.

use attn_tag::TaggedText;
use attn_transformer::Encoded;
use attn_translate::Translated;

use crate::attention::{Attention, Probe};
use crate::types::EmbedPooling;

/// What the worker runs for one input.
#[derive(Debug, Clone)]
pub enum Job {
    /// A BERT classifier's word pieces.
    Classify(Encoded),
    /// The RNN classifier's word ids.
    Words(Vec<u32>),
    /// A text to tag.
    Tag(String),
    /// An encoder's word pieces and how to pool them.
    Embed(Encoded, EmbedPooling),
    /// A text to translate and the beam width.
    Translate(String, usize),
    /// A text whose attention to read (alone, unpadded).
    Attend(Probe),
}

/// What the worker answers for one input.
#[derive(Debug, Clone)]
pub enum Output {
    /// A classifier's logits.
    Logits(Vec<f32>),
    /// A tagger's entities and words.
    Tagged(TaggedText),
    /// An embedding, not normalised.
    Embedding(Vec<f32>),
    /// A translation with its alignment.
    Translated(Translated),
    /// What the model attends to in one text.
    Attention(Attention),
}

/// A job and its length in tokens (what it takes of a batch).
pub type Sized = (Job, usize);
