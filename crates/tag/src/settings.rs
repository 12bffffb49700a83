//! How a tagger reads its files and cuts sentences (saved in `run.json` beside the loop's
//! settings).

use serde::{Deserialize, Serialize};

use crate::scheme::Scheme;

/// A tagging run's own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NerSettings {
    /// The tagging scheme of the files, read into IOB2.
    pub scheme: Scheme,
    /// Train on every piece of a word (the later ones with `I-` of a `B-` word's type), not its
    /// first alone (HF's `label_all_tokens`).
    #[serde(default)]
    pub label_all_pieces: bool,
    /// Pieces consecutive windows of a sentence longer than the model's length share.
    pub stride: usize,
    /// BERT: keep the word-piece embeddings fixed (no gradient, no optimizer update).
    #[serde(default)]
    pub freeze_embeddings: bool,
}

impl Default for NerSettings {
    fn default() -> Self {
        Self {
            scheme: Scheme::Iob2,
            label_all_pieces: false,
            stride: 32,
            freeze_embeddings: false,
        }
    }
}
