//! Text classification: BERT fine-tuning and the Bahdanau RNN baseline on labelled text, trained
//! with the shared loop; prediction, evaluation reports and the `attn bench` timings.

#![forbid(unsafe_code)]

mod bench;
mod bert;
mod data;
mod encoder;
mod fit;
mod logits;
mod metrics;
mod objective;
mod predict;
mod rnn;

pub use bench::{
    BenchReport, BenchSpec, bench_bert, bench_infer, bench_train, file_order_batches,
    synthetic_batches,
};
pub use bert::{BertSettings, eval_bert, train_bert};
pub use data::DataFiles;
pub use encoder::WordPieceEncoder;
pub use logits::Classify;
pub use metrics::{ClassScores, EvalReport};
pub use objective::TextClassification;
pub use predict::{accuracy, predict};
pub use rnn::{RnnSettings, eval_rnn, load_rnn, train_rnn};
