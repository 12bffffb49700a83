//! Text classification data: AG News and any labelled CSV/TSV, tokenization with a cache,
//! `pad_bert`-style batching, seeded shuffling and splits, and a word vocabulary for the RNN.
//!
//! AG News text is `title + " " + description`, as in the reference workflow; the data's own
//! escapes (`\\` for line breaks, `#39;` for apostrophes) are kept as they are, since the
//! pre-trained tokenizers saw such text and cleaning would change the published benchmark (it also
//! measured worse: docs/results.md).

#![forbid(unsafe_code)]

mod batch;
mod bpe;
mod cache;
mod csv_rows;
mod error;
mod labels;
mod padding;
mod parallel;
mod sampling;
mod stats;
mod subwords;
mod vocab;

pub use batch::{TagBatch, TargetBatch, TextBatch, TextBatcher};
pub use cache::{TokenizedSet, tokenize_cached};
pub use csv_rows::{Column, CsvFormat, RawRow, RawTable, TextRow, read_raw};
pub use error::{DataError, Result};
pub use labels::{AG_NEWS_CLASSES, LabelMap, load_ag_news};
pub use padding::{MAX_PAD_LENGTHS, PadLengths};
pub use parallel::{read_parallel, translation_tokens};
pub use sampling::{bucketed_batches, shortest_first, shuffled, stratified_split};
pub use stats::{LengthStats, length_stats};
pub use subwords::{CONTINUATION, Subwords};
pub use vocab::{WordVocab, basic_english};

/// What a [`TextEncoder`] fails with: its own error type.
pub type EncodeError = Box<dyn std::error::Error + Send + Sync>;

/// Turns texts into token ids; implemented by the BERT tokenizer (in `attn-classify`) and by
/// [`WordVocab`].
pub trait TextEncoder: Send + Sync {
    /// Token ids of each text, truncated to the encoder's maximum length (the error is the
    /// encoder's own).
    fn encode_batch(&self, texts: &[&str]) -> std::result::Result<Vec<Vec<u32>>, EncodeError>;
    /// A stable fingerprint of the vocabulary and settings, keying the token cache.
    fn fingerprint(&self) -> u64;
    /// The id used for padding.
    fn pad_id(&self) -> u32;
}

/// One tokenized example: a text and its class, a source sentence and its translation, or a
/// tagged sentence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Example {
    /// Token ids (already truncated).
    pub ids: Vec<u32>,
    /// Class id (0 for a sequence-to-sequence pair).
    pub label: usize,
    /// The output sequence of a sequence-to-sequence pair, its start token first and its end
    /// token last (empty for a classifier's example).
    pub target: Vec<u32>,
    /// A tagged sentence's tag of each token in `ids` (`None`: not scored, such as a special
    /// token or a word's later pieces); empty for other examples.
    pub tags: Vec<Option<u32>>,
}

/// FNV-1a, a stable 64-bit hash for cache keys.
pub fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
