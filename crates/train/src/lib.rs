//! One training and evaluation loop for the text classifiers, and the BERT fine-tuning workflow.

#![forbid(unsafe_code)]

mod adamw;
mod bench;
mod bert;
mod classify;
mod config;
mod curves;
mod data_parallel;
mod ema;
mod encoder;
mod error;
mod metrics;
mod reports;
mod rnn;
mod trainer;
mod workflow;

pub use adamw::FusedAdamW;
pub use bench::{
    BenchReport, BenchSpec, bench_bert, bench_infer, bench_train, file_order_batches,
    synthetic_batches,
};
pub use bert::{eval_bert, train_bert};
pub use classify::Classify;
pub use config::TrainConfig;
pub use curves::{plot_curves, plot_run, register_font};
pub use ema::Ema;
pub use encoder::WordPieceEncoder;
pub use error::{Result, TrainError};
pub use metrics::{ClassScores, EvalReport};
pub use reports::Report;
pub use rnn::{RnnSettings, eval_rnn, load_rnn, train_rnn};
pub use trainer::{CheckpointState, accuracy, batch_at, predict, train};
pub use workflow::{DataFiles, peak_rss_bytes};
