//! Translation: the Bahdanau encoder-decoder trained on parallel text with the shared loop,
//! its vocabularies (words or byte-pair subwords), decoding, and corpus BLEU.

#![forbid(unsafe_code)]

mod bleu;
mod decode;
mod files;
mod objective;
mod report;
mod run;
mod saved;
mod settings;
mod vocab;

pub use bleu::{corpus_bleu, detokenize, tokenize_13a};
pub use decode::{Translated, translate_ids, translate_texts};
pub use files::{ParallelFiles, ParallelPair};
pub use objective::MachineTranslation;
pub use report::{BleuReport, LengthBucket, score_bleu};
pub use run::{eval_seq2seq, train_seq2seq};
pub use saved::{LoadedSeq2Seq, load_seq2seq};
pub use settings::Seq2SeqSettings;
pub use vocab::{BOS, EOS, Vocabularies};
