//! A training run as the loop takes it.

use std::path::Path;
use std::sync::Arc;

use attn_data::Example;
use burn::tensor::backend::Backend;

use crate::cluster::Cluster;
use crate::config::TrainConfig;
use crate::events::Observer;

/// A training run: its data, settings and run directory, where this process stands among the
/// run's ranks, and who hears of its progress.
#[derive(Clone)]
pub struct TrainJob<'a, B: Backend> {
    /// The training examples.
    pub examples: &'a [Example],
    /// Held-out examples scored during and after the run (may be empty).
    pub validation: &'a [Example],
    /// The run's settings.
    pub cfg: &'a TrainConfig,
    /// The id batches are padded with.
    pub pad_id: u32,
    /// The run directory (reports, checkpoints).
    pub run: &'a Path,
    /// The device to train on (the first of `cfg.devices`).
    pub device: &'a B::Device,
    /// This process's place among the ranks of an MPI job (alone: rank 0 of 1).
    pub cluster: &'a Cluster,
    /// Who hears of the run's events.
    pub observer: Arc<dyn Observer>,
}
