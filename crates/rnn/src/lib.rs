//! The comparison baseline of the lesson: Bahdanau et al. (2015) additive attention over the states
//! of a bidirectional GRU encoder, classifying a text from [final state; attention context].

#![forbid(unsafe_code)]

mod attention;
mod model;

pub use attention::AdditiveAttention;
pub use model::{
    Cell, Recurrent, RnnAttentionClassifier, RnnConfig, RnnOutput, UnknownCell,
    reverse_within_lengths,
};
