//! Subword units for translation: byte-pair encoding (Sennrich et al. 2016) learnt from the
//! training split's words (this crate's learner, [`crate::bpe`]), applied by the `tokenizers`
//! crate's BPE model. A word becomes a first piece and continuation pieces marked `##` (`läuft`
//! -> `lä`, `##uft`), so the words come back exactly.

use std::collections::BTreeMap;
use std::path::Path;

use tokenizers::Model;
use tokenizers::models::bpe::{BPE, Vocab};

use crate::bpe;
use crate::error::{DataError, Result, io_err};

/// The mark of a piece that continues the word before it.
pub const CONTINUATION: &str = "##";

/// The piece of a word whose characters were never seen in training.
const UNKNOWN: &str = "<unk>";

/// A byte-pair encoding of one language's words.
#[derive(Debug, Clone)]
pub struct Subwords {
    bpe: BPE,
}

impl Subwords {
    /// Learns merges from the words of `sentences` until there are `vocab_size` pieces (the
    /// characters included), or no pair is left to merge: the same merges for the same
    /// sentences on every run (see [`crate::bpe`]).
    pub fn learn(sentences: &[Vec<String>], vocab_size: usize) -> Result<Self> {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for word in sentences.iter().flatten() {
            *counts.entry(word).or_default() += 1;
        }
        let learnt = bpe::learn(&counts, vocab_size, &[UNKNOWN], CONTINUATION);
        let vocab: Vocab = (learnt.pieces.into_iter().enumerate())
            .map(|(i, piece)| (piece, i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, learnt.merges)
            .unk_token(UNKNOWN.into())
            .fuse_unk(true)
            .continuing_subword_prefix(CONTINUATION.into())
            .build()
            .map_err(|e| DataError::Other(format!("building subwords: {e}")))?;
        Ok(Self { bpe })
    }

    /// The pieces of `words`, in order.
    pub fn split(&self, words: &[String]) -> Vec<String> {
        // A character never seen in this place in training is unknown; inside a word it stays a
        // continuation, so that the word still comes back as one.
        let pieces = |word: &String| match self.bpe.tokenize(word) {
            Ok(tokens) if !tokens.is_empty() => (tokens.into_iter().enumerate())
                .map(|(i, t)| match i > 0 && t.value == UNKNOWN {
                    true => format!("{CONTINUATION}{UNKNOWN}"),
                    false => t.value,
                })
                .collect(),
            _ => vec![UNKNOWN.to_string()],
        };
        words.iter().flat_map(pieces).collect()
    }

    /// The words of `pieces`: each continuation joined to the piece before it (one at the start
    /// stands as a word of its own).
    pub fn join(pieces: &[String]) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for piece in pieces {
            match (piece.strip_prefix(CONTINUATION), words.last_mut()) {
                (Some(rest), Some(word)) if !rest.is_empty() => word.push_str(rest),
                (Some(rest), None) if !rest.is_empty() => words.push(rest.to_string()),
                _ => words.push(piece.clone()),
            }
        }
        words
    }

    /// Number of pieces, the unknown one included.
    pub fn len(&self) -> usize {
        self.bpe.get_vocab_size()
    }

    /// Whether there are no pieces (never, once learnt).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the encoding as JSON (the `tokenizers` BPE model's own format).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(&self.bpe).expect("serializes");
        Ok(attn_atomic::write(path, text.as_bytes())?)
    }

    /// Reads an encoding written by [`Subwords::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let bpe = serde_json::from_str(&text)
            .map_err(|e| DataError::Other(format!("{}: {e}", path.display())))?;
        Ok(Self { bpe })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences() -> Vec<Vec<String>> {
        [
            "ein hund läuft",
            "zwei hunde laufen",
            "ein mann läuft",
            "hunde laufen",
        ]
        .iter()
        .map(|s| s.split(' ').map(String::from).collect())
        .collect()
    }

    #[test]
    fn frequent_words_stay_whole_and_rare_ones_split_and_join_back() {
        let subwords = Subwords::learn(&sentences(), 40).unwrap();
        let words: Vec<String> = ["hunde", "läuft", "laufende"].map(String::from).into();
        let pieces = subwords.split(&words);
        assert!(pieces.len() > words.len(), "{pieces:?}");
        assert!(pieces.iter().any(|p| p.starts_with(CONTINUATION)));
        assert_eq!(Subwords::join(&pieces), words);
        assert!(subwords.len() <= 40);
        // `h` was only ever seen starting a word.
        let unseen: Vec<String> = ["xyz", "mannhunde"].map(String::from).into();
        let pieces = subwords.split(&unseen);
        assert_eq!(Subwords::join(&pieces), ["<unk>", "mann<unk>unde"]);
    }

    #[test]
    fn a_continuation_without_a_word_before_it_is_a_word() {
        let pieces: Vec<String> = ["##uft", "ein", "##", "hund"].map(String::from).into();
        assert_eq!(Subwords::join(&pieces), ["uft", "ein", "##", "hund"]);
    }

    #[test]
    fn save_and_load_give_the_same_pieces() {
        let subwords = Subwords::learn(&sentences(), 30).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subwords.json");
        subwords.save(&path).unwrap();
        let back = Subwords::load(&path).unwrap();
        let words: Vec<String> = ["hunde", "laufen", "mann"].map(String::from).into();
        assert_eq!(back.split(&words), subwords.split(&words));
        assert_eq!(back.len(), subwords.len());
    }
}
