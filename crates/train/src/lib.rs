//! One training and evaluation loop for the text classifiers and the translator, and the
//! workflows of BERT fine-tuning, the RNN baseline and the encoder-decoder.

#![forbid(unsafe_code)]

mod adamw;
mod bench;
mod bert;
mod bleu;
mod checkpoint;
mod classify;
mod config;
mod curves;
mod distributed;
mod ema;
mod encoder;
mod error;
mod events;
mod memory;
mod metrics;
mod predict;
mod reports;
mod rnn;
mod seq2seq;
mod step;
mod train_loop;
mod workflow;

pub use adamw::FusedAdamW;
pub use bench::{
    BenchReport, BenchSpec, bench_bert, bench_infer, bench_train, file_order_batches,
    synthetic_batches,
};
pub use bert::{eval_bert, train_bert};
pub use bleu::{corpus_bleu, detokenize, tokenize_13a};
pub use checkpoint::CheckpointState;
pub use classify::Classify;
pub use config::TrainConfig;
pub use curves::{plot_curves, plot_run, register_font};
pub use distributed::Cluster;
pub use ema::Ema;
pub use encoder::WordPieceEncoder;
pub use error::{Result, TrainError};
pub use events::{Event, Observer, Quiet};
pub use memory::peak_rss_bytes;
pub use metrics::{ClassScores, EvalReport};
pub use predict::{accuracy, predict};
pub use reports::Report;
pub use rnn::{RnnSettings, eval_rnn, load_rnn, train_rnn};
pub use seq2seq::{
    BOS, BleuReport, EOS, LengthBucket, LoadedSeq2Seq, ParallelFiles, ParallelPair,
    Seq2SeqSettings, Vocabularies, eval_seq2seq, load_seq2seq, score_bleu, train_seq2seq,
    translate_ids,
};
pub use train_loop::{TrainJob, Trained, batch_at, train};
pub use workflow::DataFiles;
