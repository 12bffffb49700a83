//! Token classification: BERT fine-tuned to tag the words of CoNLL-style files (named entities),
//! trained with the shared loop, scored at the entity level with conlleval's rules, saved as HF's
//! own `BertForTokenClassification`, and tagging raw text as HF's pipeline does.

#![forbid(unsafe_code)]

mod conll;
mod data;
mod entities;
mod objective;
mod predict;
mod report;
mod rnn;
mod run;
mod scheme;
mod settings;
mod tagger;
mod tags;
mod windows;

pub use conll::{TaggedFile, TaggedSentence, read_conll};
pub use data::TagFiles;
pub use entities::{Entity, entities};
pub use objective::TokenClassification;
pub use predict::{TaggedEntity, TaggedText, tag_texts};
pub use report::{TagReport, TypeScores, score};
pub use rnn::{
    LoadedRnnTagger, RnnTaggerSettings, is_rnn_tagger, load_rnn_tagger, train_rnn_tagger,
};
pub use run::{Tagger, eval_ner, is_tagger, load_tagger, train_ner};
pub use scheme::Scheme;
pub use settings::NerSettings;
pub use tagger::{Layout, Tag, WordTag, tag_words};
pub use tags::TagSet;
pub use windows::{Window, window_example, windows};
