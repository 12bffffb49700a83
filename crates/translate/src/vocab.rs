//! A translator's vocabularies: source and target tokens (words or byte-pair subwords), with the
//! target's start and end tokens.

use std::path::Path;

use attn_data::{Example, Subwords, WordVocab, translation_tokens};
use attn_rnn::Decoding;
use attn_train::Result;

use crate::settings::Seq2SeqSettings;

/// The start token of every target sentence.
pub const BOS: &str = "<bos>";
/// The end token of every target sentence.
pub const EOS: &str = "<eos>";
/// The target ids of [`BOS`] and [`EOS`]: the first specials, after `<pad>` and `<unk>`.
const BOS_ID: u32 = 2;
const EOS_ID: u32 = 3;

/// A translator's vocabularies: source tokens and target tokens with start and end tokens, the
/// tokens being lowercased words or their byte-pair subwords.
#[derive(Debug, Clone)]
pub struct Vocabularies {
    /// Source tokens.
    pub source: WordVocab,
    /// Target tokens; [`BOS`] and [`EOS`] are ids 2 and 3.
    pub target: WordVocab,
    /// The subwords of source and target words (none: the tokens are whole words).
    pub subwords: Option<(Subwords, Subwords)>,
}

impl Vocabularies {
    /// Both vocabularies of the training pairs (and their subwords, when the settings ask).
    pub fn build(
        pairs: &[(String, String)],
        settings: &Seq2SeqSettings,
        max_len: usize,
    ) -> Result<Self> {
        let words = |side: fn(&(String, String)) -> &String| -> Vec<Vec<String>> {
            pairs.iter().map(|p| translation_tokens(side(p))).collect()
        };
        let (source_words, target_words) = (words(|p| &p.0), words(|p| &p.1));
        let subwords = match settings.subwords {
            0 => None,
            n => Some((
                Subwords::learn(&source_words, n)?,
                Subwords::learn(&target_words, n)?,
            )),
        };
        let min_freq = match subwords {
            Some(_) => 1,
            None => settings.min_freq,
        };
        let vocab = |sentences: Vec<Vec<String>>, split: Option<&Subwords>, specials: &[&str]| {
            let tokens = sentences.into_iter().map(|s| match split {
                Some(subwords) => subwords.split(&s),
                None => s,
            });
            WordVocab::of_tokens(tokens, min_freq, settings.max_vocab, max_len, specials)
        };
        Ok(Self {
            source: vocab(source_words, subwords.as_ref().map(|s| &s.0), &[]),
            target: vocab(target_words, subwords.as_ref().map(|s| &s.1), &[BOS, EOS]),
            subwords,
        })
    }

    /// The start and end ids, and the longest translation of a source of `source_len` tokens.
    pub fn decoding(&self, source_len: usize) -> Decoding {
        Decoding {
            bos: BOS_ID,
            eos: EOS_ID,
            max_words: (2 * source_len + 10).min(self.target.max_len),
        }
    }

    /// A pair as the loop trains on it: source ids, and `<bos>` target ids `<eos>`.
    pub fn example(&self, source: &str, target: &str) -> Example {
        let mut tokens = translation_tokens(target);
        if let Some((_, subwords)) = &self.subwords {
            tokens = subwords.split(&tokens);
        }
        let mut ids = vec![BOS_ID];
        ids.extend(self.target.encode_tokens(&tokens));
        ids.push(EOS_ID);
        Example {
            ids: self.source_ids(source),
            label: 0,
            target: ids,
            tags: Vec::new(),
        }
    }

    /// The tokens of a source sentence, however many.
    fn all_source_tokens(&self, source: &str) -> Vec<String> {
        let tokens = translation_tokens(source);
        match &self.subwords {
            Some((subwords, _)) => subwords.split(&tokens),
            None => tokens,
        }
    }

    /// How many tokens a source sentence has before [`Vocabularies::source_tokens`] cuts it to
    /// the model's `max_len`.
    pub fn source_len(&self, source: &str) -> usize {
        self.all_source_tokens(source).len()
    }

    /// The tokens of a source sentence as the model reads them: at most `max_len`, at least one
    /// (`<unk>` for an empty sentence).
    pub fn source_tokens(&self, source: &str) -> Vec<String> {
        let mut tokens = self.all_source_tokens(source);
        tokens.truncate(self.source.max_len);
        if tokens.is_empty() {
            tokens.push(self.source.words[WordVocab::UNK as usize].clone());
        }
        tokens
    }

    /// The ids of a source sentence's [`Vocabularies::source_tokens`].
    pub fn source_ids(&self, source: &str) -> Vec<u32> {
        self.source.encode_tokens(&self.source_tokens(source))
    }

    /// The tokens of target ids (subwords where the vocabularies have them).
    pub fn target_tokens(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&i| {
                self.target
                    .words
                    .get(i as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The words of target ids: their tokens, subwords joined into words.
    pub fn target_words(&self, ids: &[u32]) -> Vec<String> {
        let tokens = self.target_tokens(ids);
        match self.subwords {
            Some(_) => Subwords::join(&tokens),
            None => tokens,
        }
    }

    /// Writes the vocabularies (and subwords) into a run directory.
    pub(crate) fn save(&self, run: &Path) -> Result<()> {
        self.source.save(&run.join("source_vocab.json"))?;
        self.target.save(&run.join("target_vocab.json"))?;
        if let Some((source, target)) = &self.subwords {
            source.save(&run.join("source_subwords.json"))?;
            target.save(&run.join("target_subwords.json"))?;
        }
        Ok(())
    }

    /// Reads what [`Vocabularies::save`] wrote for a run trained with `settings`.
    pub(crate) fn load(run: &Path, settings: &Seq2SeqSettings) -> Result<Self> {
        let subwords = match settings.subwords {
            0 => None,
            _ => Some((
                Subwords::load(&run.join("source_subwords.json"))?,
                Subwords::load(&run.join("target_subwords.json"))?,
            )),
        };
        Ok(Self {
            source: WordVocab::load(&run.join("source_vocab.json"))?,
            target: WordVocab::load(&run.join("target_vocab.json"))?,
            subwords,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(String, String)> {
        vec![
            ("Ein Hund läuft.".into(), "A dog runs.".into()),
            ("Ein Mann.".into(), "A man.".into()),
        ]
    }

    #[test]
    fn a_pair_becomes_source_ids_and_a_target_between_start_and_end() {
        let settings = Seq2SeqSettings {
            min_freq: 1,
            subwords: 0,
            ..Seq2SeqSettings::default()
        };
        let vocabs = Vocabularies::build(&pairs(), &settings, 64).unwrap();
        assert_eq!(vocabs.target.id(BOS), Some(2));
        assert_eq!(vocabs.target.id(EOS), Some(3));
        let example = vocabs.example("Ein Hund.", "A dog.");
        assert_eq!(example.ids.len(), 3);
        assert_eq!(example.target.first(), Some(&2));
        assert_eq!(example.target.last(), Some(&3));
        let words = vocabs.target_words(&example.target[1..example.target.len() - 1]);
        assert_eq!(words, ["a", "dog", "."]);
        assert_eq!(vocabs.source_ids("   "), [WordVocab::UNK]);
        assert_eq!(vocabs.decoding(3).max_words, 16);
    }

    #[test]
    fn subword_vocabularies_split_the_words_give_them_back_and_reload() {
        let settings = Seq2SeqSettings {
            subwords: 1,
            ..Seq2SeqSettings::default()
        };
        let vocabs = Vocabularies::build(&pairs(), &settings, 64).unwrap();
        let example = vocabs.example("Ein Hund.", "A dog runs.");
        let inner = &example.target[1..example.target.len() - 1];
        assert_eq!(vocabs.target_words(inner), ["a", "dog", "runs", "."]);
        let tokens = vocabs.target_tokens(inner);
        assert!(tokens.contains(&"##o".to_string()), "{tokens:?}");
        let source = vocabs.source_tokens("Ein Hund.");
        assert_eq!(source[..3], ["e", "##i", "##n"]);
        assert_eq!(example.ids.len(), source.len());
        let dir = tempfile::tempdir().unwrap();
        vocabs.save(dir.path()).unwrap();
        let back = Vocabularies::load(dir.path(), &settings).unwrap();
        assert_eq!(back.source_ids("Ein Hund."), vocabs.source_ids("Ein Hund."));
        assert_eq!(back.target_words(inner), vocabs.target_words(inner));
    }
}
