//! Flag groups and value parsers that several commands share.

pub mod data;
pub mod ner;
pub mod rnn;
pub mod seq2seq;
pub mod values;
