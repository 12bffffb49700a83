//! The comparison baseline of the lesson: Bahdanau et al. (2015) additive attention over the states
//! of a bidirectional GRU encoder, classifying a text from [final state; attention context].

#![forbid(unsafe_code)]

mod attention;
mod model;
mod recurrent;

pub use attention::AdditiveAttention;
pub use model::{Cell, RnnAttentionClassifier, RnnConfig, RnnOutput, UnknownCell};
pub use recurrent::{Recurrent, bidirectional, reverse_within_lengths};
