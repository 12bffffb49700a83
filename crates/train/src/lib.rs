//! The training loop every task shares: a run's settings, the loop and its step, AdamW and the
//! weight average, checkpoints and resume, events and reports, data-parallel training over
//! devices and processes. A task implements [`Objective`] for its models and calls [`fit`].

#![forbid(unsafe_code)]

mod adamw;
mod checkpoint;
mod cluster;
mod config;
mod curves;
mod distributed;
mod ema;
mod error;
mod events;
mod fit;
mod job;
mod memory;
mod objective;
mod report;
mod report_log;
mod scores;
mod step;
mod train_loop;
mod validate;

pub use adamw::FusedAdamW;
pub use checkpoint::{CheckpointState, latest_checkpoint};
pub use cluster::Cluster;
pub use config::TrainConfig;
pub use curves::{plot_curves, plot_run, register_font};
pub use ema::Ema;
pub use error::{Result, TrainError, io_err};
pub use events::{Event, Observer, Quiet, Summary};
pub use fit::fit;
pub use job::TrainJob;
pub use memory::peak_rss_bytes;
pub use objective::{CrossEntropy, Objective, Scored, bert_grads_by_depth, scored, take_grads};
pub use report::Report;
pub use scores::show_scores;
pub use step::{Step, StepTimes, adamw, train_step};
pub use train_loop::{Trained, batch_at, train};
