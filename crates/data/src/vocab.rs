//! A word-level vocabulary for the RNN baseline, with torchtext's `basic_english` tokenizer.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::EncodeError;
use crate::error::{DataError, Result, io_err};
use crate::{TextEncoder, fnv1a};

/// Splits text into words: lower-cased, split on anything but letters, digits and `'`.
pub fn basic_english(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Words by id; id 0 is `<pad>` and id 1 is `<unk>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordVocab {
    /// The words, by id.
    pub words: Vec<String>,
    /// Texts are cut to this many words.
    pub max_len: usize,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl WordVocab {
    /// Id of `<pad>`.
    pub const PAD: u32 = 0;
    /// Id of `<unk>`.
    pub const UNK: u32 = 1;

    /// Builds the vocabulary of `texts`: words seen at least `min_freq` times, the `max_size`
    /// most frequent (ties broken alphabetically), after `<pad>` and `<unk>`.
    pub fn build<'a>(
        texts: impl Iterator<Item = &'a str>,
        min_freq: usize,
        max_size: usize,
        max_len: usize,
    ) -> Self {
        let sentences = texts.map(|t| basic_english(t).collect());
        Self::of_tokens(sentences, min_freq, max_size, max_len, &[])
    }

    /// The vocabulary of already tokenized `sentences`, as [`WordVocab::build`] ranks words,
    /// with `specials` right after `<pad>` and `<unk>` (ids 2, 3, ...).
    pub fn of_tokens(
        sentences: impl Iterator<Item = Vec<String>>,
        min_freq: usize,
        max_size: usize,
        max_len: usize,
        specials: &[&str],
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for word in sentences.flatten() {
            *counts.entry(word).or_default() += 1;
        }
        let mut ranked: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(w, c)| *c >= min_freq && !specials.contains(&w.as_str()))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let fixed = ["<pad>", "<unk>"]
            .iter()
            .chain(specials)
            .map(|w| w.to_string());
        let words = fixed
            .chain(ranked.into_iter().map(|(w, _)| w))
            .take(max_size.max(2 + specials.len()))
            .collect();
        Self::from_words(words, max_len)
    }

    /// The id of `word`, if it is in the vocabulary.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// Ids of `tokens`, unknown ones as `<unk>`, cut to `max_len`.
    pub fn encode_tokens(&self, tokens: &[String]) -> Vec<u32> {
        let known = |w: &String| self.id(w).unwrap_or(Self::UNK);
        tokens.iter().take(self.max_len).map(known).collect()
    }

    fn from_words(words: Vec<String>, max_len: usize) -> Self {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Self {
            words,
            max_len,
            index,
        }
    }

    /// Number of words, `<pad>` and `<unk>` included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Ids of the words of `text`, unknown words as `<unk>`, cut to `max_len` (at least one id).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = basic_english(text)
            .take(self.max_len)
            .map(|w| self.index.get(&w).copied().unwrap_or(Self::UNK))
            .collect();
        if ids.is_empty() {
            ids.push(Self::UNK);
        }
        ids
    }

    /// Writes the vocabulary as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(self).expect("serializes");
        Ok(attn_atomic::write(path, text.as_bytes())?)
    }

    /// Reads a vocabulary written by [`WordVocab::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let v: Self = serde_json::from_str(&text)
            .map_err(|e| DataError::Other(format!("{}: {e}", path.display())))?;
        Ok(Self::from_words(v.words, v.max_len))
    }
}

impl TextEncoder for WordVocab {
    fn encode_batch(&self, texts: &[&str]) -> std::result::Result<Vec<Vec<u32>>, EncodeError> {
        Ok(texts.iter().map(|t| self.encode(t)).collect())
    }

    fn fingerprint(&self) -> u64 {
        let joined = self.words.join("\n");
        fnv1a(joined.as_bytes(), self.max_len as u64)
    }

    fn pad_id(&self) -> u32 {
        Self::PAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_english_lowercases_and_keeps_apostrophes() {
        let words: Vec<String> = basic_english("Don't STOP-believing, 3.14!").collect();
        assert_eq!(words, ["don't", "stop", "believing", "3", "14"]);
    }

    #[test]
    fn min_freq_max_size_unk_and_round_trip() {
        let texts = ["a a a b b c", "a b d"];
        let v = WordVocab::build(texts.into_iter(), 2, 10, 50);
        assert_eq!(v.words, ["<pad>", "<unk>", "a", "b"]);
        assert_eq!(v.encode("A c b"), [2, WordVocab::UNK, 3]);
        assert_eq!(v.encode("!!!"), [WordVocab::UNK]);
        let capped = WordVocab::build(texts.into_iter(), 1, 3, 50);
        assert_eq!(capped.words, ["<pad>", "<unk>", "a"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        v.save(&path).unwrap();
        let back = WordVocab::load(&path).unwrap();
        assert_eq!(back.encode("a b"), v.encode("a b"));
    }

    #[test]
    fn specials_follow_pad_and_unk() {
        let sentences = [vec![
            "b".to_string(),
            "a".into(),
            "b".into(),
            "<bos>".into(),
        ]];
        let v = WordVocab::of_tokens(sentences.into_iter(), 1, 10, 5, &["<bos>", "<eos>"]);
        assert_eq!(v.words, ["<pad>", "<unk>", "<bos>", "<eos>", "b", "a"]);
        assert_eq!(
            v.encode_tokens(&["a".into(), "z".into()]),
            [5, WordVocab::UNK]
        );
    }
}
