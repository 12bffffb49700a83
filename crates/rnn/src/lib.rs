//! The lesson's RNNs: Bahdanau et al. (2015) additive attention over the states of a
//! bidirectional GRU encoder, classifying a text from [final state; attention context], and the
//! encoder-decoder that translates with it (`Seq2Seq`).

#![forbid(unsafe_code)]

mod attention;
mod model;
mod recurrent;
mod seq2seq;
mod tagger;

pub use attention::AdditiveAttention;
pub use model::{Cell, RnnAttentionClassifier, RnnConfig, RnnOutput, UnknownCell};
pub use recurrent::{Recurrent, bidirectional, reverse_within_lengths};
pub use seq2seq::{DecoderStep, Decoding, Encoded, Seq2Seq, Seq2SeqConfig, Translation};
pub use tagger::{RnnTagger, RnnTaggerConfig};
