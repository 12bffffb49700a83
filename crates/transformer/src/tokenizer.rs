//! BERT's WordPiece tokenizer, from `tokenizer.json` or rebuilt from `vocab.txt`.

use std::path::{Path, PathBuf};

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

use crate::{BertError, Result};

/// One tokenized text: ids with [CLS] and [SEP], their segment ids and token strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// WordPiece ids.
    pub ids: Vec<u32>,
    /// Segment ids (0 for a single text).
    pub type_ids: Vec<u32>,
    /// The tokens, as strings.
    pub tokens: Vec<String>,
}

/// A word of a text as BERT's pre-tokenizer splits it (at whitespace and punctuation), with its
/// word pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Offset of its first character in the text, in characters.
    pub start: usize,
    /// Offset just past its last character, in characters.
    pub end: usize,
    /// Its WordPiece ids.
    pub ids: Vec<u32>,
}

/// A token of a text as the tokenizer cut it: its id, its piece, whether it is a special token,
/// and its span of the text in bytes (none for a special token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Its id.
    pub id: u32,
    /// Its piece (`##ing`, `[CLS]`).
    pub piece: String,
    /// Whether it is a special token.
    pub special: bool,
    /// Its first byte in the text and the byte just past it.
    pub span: Option<(usize, usize)>,
}

/// A BERT WordPiece tokenizer that truncates to a maximum length (keeping [SEP]) and never pads.
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    /// The same tokenizer without truncation, for words.
    whole: Tokenizer,
    path: PathBuf,
    /// Id of the padding token.
    pub pad_id: u32,
}

impl std::fmt::Debug for BertTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertTokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl BertTokenizer {
    /// Loads `tokenizer.json` from `dir`, or builds BERT's tokenizer from `vocab.txt` and
    /// `tokenizer_config.json` (lower-casing, accent stripping, CJK splitting) when it is absent.
    pub fn from_dir(dir: &Path, max_len: usize) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        let (inner, path) = if json.is_file() {
            let inner = Tokenizer::from_file(&json).map_err(|e| BertError::Tokenizer {
                path: json.clone(),
                reason: e.to_string(),
            })?;
            (inner, json)
        } else {
            let vocab = dir.join("vocab.txt");
            (
                from_vocab(&vocab, &dir.join("tokenizer_config.json"))?,
                vocab,
            )
        };
        Self::new(inner, path, max_len)
    }

    fn new(mut inner: Tokenizer, path: PathBuf, max_len: usize) -> Result<Self> {
        let fail = |reason: String| BertError::Tokenizer {
            path: path.clone(),
            reason,
        };
        if max_len < 2 {
            return Err(fail(format!(
                "max length {max_len} leaves no room for [CLS] and [SEP]"
            )));
        }
        inner.with_padding(None);
        let mut whole = inner.clone();
        whole
            .with_truncation(None)
            .map_err(|e| fail(e.to_string()))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                ..Default::default()
            }))
            .map_err(|e| fail(e.to_string()))?;
        let pad_id = inner
            .token_to_id("[PAD]")
            .ok_or_else(|| fail("the vocabulary has no [PAD] token".into()))?;
        Ok(Self {
            inner,
            whole,
            path,
            pad_id,
        })
    }

    /// The error of a failed call of the tokenizers library.
    fn failed(&self, reason: impl ToString) -> BertError {
        BertError::Tokenizer {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// The id of a special token (`[CLS]`, `[SEP]`), or an error naming it.
    pub fn special_id(&self, token: &str) -> Result<u32> {
        self.inner
            .token_to_id(token)
            .ok_or_else(|| self.failed(format!("the vocabulary has no {token} token")))
    }

    /// Each word's WordPiece ids, without special tokens, for text already split into words (as
    /// HF's `is_split_into_words`: each word is normalised and pre-tokenized on its own, so a
    /// word may become several pieces, or none when normalisation removes all of it).
    pub fn word_pieces(&self, words: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encoded = (self.whole)
            .encode_batch(words.to_vec(), false)
            .map_err(|e| self.failed(e))?;
        Ok(encoded.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// The words of a raw text as BERT's pre-tokenizer splits it, with their character offsets
    /// and pieces (no truncation; characters normalisation removes belong to no word).
    pub fn words(&self, text: &str) -> Result<Vec<Word>> {
        let e = (self.whole)
            .encode_char_offsets(text, false)
            .map_err(|e| self.failed(e))?;
        let mut words: Vec<(u32, Word)> = Vec::new();
        let pieces = e
            .get_word_ids()
            .iter()
            .zip(e.get_offsets())
            .zip(e.get_ids());
        for ((word, &(start, end)), &id) in pieces {
            let Some(word) = *word else { continue };
            match words.last_mut() {
                Some((last, w)) if *last == word => {
                    w.end = w.end.max(end);
                    w.ids.push(id);
                }
                _ => words.push((
                    word,
                    Word {
                        start,
                        end,
                        ids: vec![id],
                    },
                )),
            }
        }
        Ok(words.into_iter().map(|(_, w)| w).collect())
    }

    /// Number of tokens in the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Fails unless every id this tokenizer produces fits a model with `model_vocab` embeddings.
    pub fn check_fits(&self, model_vocab: usize) -> Result<()> {
        if self.vocab_size() > model_vocab {
            return Err(BertError::Tokenizer {
                path: self.path.clone(),
                reason: format!(
                    "vocabulary of {} tokens does not fit the model's {model_vocab} embeddings",
                    self.vocab_size()
                ),
            });
        }
        Ok(())
    }

    /// Tokenizes one text with [CLS] … [SEP], truncated to the maximum length.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let e = self
            .inner
            .encode(text, true)
            .map_err(|e| BertError::Tokenizer {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        Ok(to_encoded(&e))
    }

    /// Tokenizes `text` (with `pair` as segment 1: [CLS] a [SEP] b [SEP]) truncated to the
    /// maximum length when `truncate` (the longer text first), else whole however long.
    pub fn encode_with(&self, text: &str, pair: Option<&str>, truncate: bool) -> Result<Encoded> {
        let tokenizer = if truncate { &self.inner } else { &self.whole };
        let encoded = match pair {
            Some(pair) => tokenizer.encode((text, pair), true),
            None => tokenizer.encode(text, true),
        };
        let e = encoded.map_err(|e| BertError::Tokenizer {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(to_encoded(&e))
    }

    /// The tokens of `text`, untruncated, with [CLS] and [SEP] when `specials`.
    pub fn tokens(&self, text: &str, specials: bool) -> Result<Vec<Token>> {
        let e = (self.whole.encode(text, specials)).map_err(|e| BertError::Tokenizer {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let special = e.get_special_tokens_mask();
        Ok((0..e.len())
            .map(|i| Token {
                id: e.get_ids()[i],
                piece: e.get_tokens()[i].clone(),
                special: special[i] == 1,
                span: (special[i] == 0).then(|| e.get_offsets()[i]),
            })
            .collect())
    }

    /// Tokenizes many texts in parallel.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Encoded>> {
        let all =
            self.inner
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| BertError::Tokenizer {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
        Ok(all.iter().map(to_encoded).collect())
    }
}

fn to_encoded(e: &tokenizers::Encoding) -> Encoded {
    Encoded {
        ids: e.get_ids().to_vec(),
        type_ids: e.get_type_ids().to_vec(),
        tokens: e.get_tokens().to_vec(),
    }
}

/// BERT's tokenizer pipeline over a `vocab.txt`, configured by `tokenizer_config.json` if present.
fn from_vocab(vocab: &Path, config: &Path) -> Result<Tokenizer> {
    let fail = |path: &Path, reason: String| BertError::Tokenizer {
        path: path.to_path_buf(),
        reason,
    };
    let settings: serde_json::Value = match std::fs::read_to_string(config) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| fail(config, e.to_string()))?,
        Err(_) => serde_json::Value::Null,
    };
    let lowercase = settings["do_lower_case"].as_bool().unwrap_or(true);
    let strip_accents = settings["strip_accents"].as_bool();
    let chinese = settings["tokenize_chinese_chars"].as_bool().unwrap_or(true);
    let vocab_path = vocab
        .to_str()
        .ok_or_else(|| fail(vocab, "path is not UTF-8".into()))?;
    if !vocab.is_file() {
        return Err(fail(
            vocab,
            "neither tokenizer.json nor vocab.txt exists".into(),
        ));
    }
    let model = WordPiece::from_file(vocab_path)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| fail(vocab, e.to_string()))?;
    let id = |token: &str| {
        model_token_id(&model, token)
            .ok_or_else(|| fail(vocab, format!("the vocabulary has no {token} token")))
    };
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            chinese,
            strip_accents,
            lowercase,
        )))
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )))
        .with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
    Ok(tokenizer)
}

fn model_token_id(model: &WordPiece, token: &str) -> Option<u32> {
    use tokenizers::Model;
    model.token_to_id(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncafe\nis\nopen\n##s\n,\n.\n中\n国\n";
        std::fs::write(dir.path().join("vocab.txt"), vocab).unwrap();
        dir
    }

    #[test]
    fn vocab_txt_gets_bert_normalisation() {
        let dir = vocab_dir();
        let t = BertTokenizer::from_dir(dir.path(), 128).unwrap();
        let e = t.encode("The CAFÉ opens, 中国.").unwrap();
        assert_eq!(
            e.tokens,
            [
                "[CLS]", "the", "cafe", "open", "##s", ",", "中", "国", ".", "[SEP]"
            ]
        );
        assert_eq!(e.ids, [2, 5, 6, 8, 9, 10, 12, 13, 11, 3]);
        assert!(e.type_ids.iter().all(|&t| t == 0));
    }

    #[test]
    fn truncation_keeps_sep() {
        let dir = vocab_dir();
        let t = BertTokenizer::from_dir(dir.path(), 4).unwrap();
        let e = t.encode("the cafe is open").unwrap();
        assert_eq!(e.tokens, ["[CLS]", "the", "cafe", "[SEP]"]);
    }

    #[test]
    fn a_vocab_larger_than_the_model_is_refused() {
        let dir = vocab_dir();
        let t = BertTokenizer::from_dir(dir.path(), 8).unwrap();
        t.check_fits(14).unwrap();
        let err = t.check_fits(10).unwrap_err().to_string();
        assert!(
            err.contains("vocab.txt") && err.contains("does not fit"),
            "{err}"
        );
    }
}
