//! One training and evaluation loop for the BERT and RNN classifiers.

mod encoder;

pub use encoder::WordPieceEncoder;
