//! The BERT tokenizer as a data-crate `TextEncoder`.

use attn_data::{EncodeError, TextEncoder, fnv1a};
use attn_transformer::BertTokenizer;

/// Adapts [`BertTokenizer`] to [`TextEncoder`], fingerprinted by its files and maximum length.
#[derive(Debug, Clone)]
pub struct WordPieceEncoder {
    /// The tokenizer.
    pub tokenizer: BertTokenizer,
    fingerprint: u64,
}

impl WordPieceEncoder {
    /// Wraps a tokenizer loaded from `dir` with `max_len`.
    pub fn new(tokenizer: BertTokenizer, dir: &std::path::Path, max_len: usize) -> Self {
        let mut fingerprint = fnv1a(b"wordpiece", max_len as u64);
        for file in ["tokenizer.json", "vocab.txt", "tokenizer_config.json"] {
            if let Ok(bytes) = std::fs::read(dir.join(file)) {
                fingerprint = fnv1a(&bytes, fingerprint);
            }
        }
        Self {
            tokenizer,
            fingerprint,
        }
    }
}

impl TextEncoder for WordPieceEncoder {
    fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EncodeError> {
        let encoded = self.tokenizer.encode_batch(texts)?;
        Ok(encoded.into_iter().map(|e| e.ids).collect())
    }

    fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn pad_id(&self) -> u32 {
        self.tokenizer.pad_id
    }
}
