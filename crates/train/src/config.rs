//! `TrainConfig`: every setting of a run, saved as the run's `config.json`.

use std::path::PathBuf;

use attn_data::{PadLengths, TextBatcher};
use attn_transformer::Precision;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The settings of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model: a pre-trained model's directory or name, or the architecture trained from
    /// scratch.
    pub model: String,
    /// Directory of the data files.
    pub data_dir: Option<PathBuf>,
    /// Training iterations (mini-batches).
    pub iterations: usize,
    /// Dropout of the model (none: a pre-trained model's own).
    #[serde(default)]
    pub dropout: Option<f64>,
    /// Label smoothing of the cross-entropy loss (0: none).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Passes over the training set; when set, it decides `iterations`.
    #[serde(default)]
    pub epochs: Option<usize>,
    /// Examples per mini-batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Share of iterations spent warming the learning rate up linearly from 0 (then it decays
    /// linearly to 0); 0 with `constant_lr` for the reference's plain Adam.
    pub warmup: f64,
    /// Keep the learning rate constant after warm-up (the reference run) instead of decaying it.
    pub constant_lr: bool,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Gradient norm clipping (0: none).
    pub grad_clip: f64,
    /// Longest sequence in tokens.
    pub max_len: usize,
    /// Print the averaged loss and accuracy every this many iterations.
    pub report_every: usize,
    /// Write a checkpoint every this many iterations (0: only at the end).
    pub checkpoint_every: usize,
    /// Seed of initialisation, dropout and shuffling.
    pub seed: u64,
    /// Evaluate on at most this many test rows (0: all).
    pub eval_limit: usize,
    /// Mini-batch size for evaluation.
    pub eval_batch_size: usize,
    /// Group training examples of similar length into batches.
    pub bucket: bool,
    /// Skip malformed rows instead of stopping at the first.
    pub skip_bad_rows: bool,
    /// Share of the training rows held out (stratified, seeded) as a validation set.
    #[serde(default)]
    pub val_fraction: f64,
    /// Measure validation accuracy every this many iterations (0: only at the end).
    #[serde(default)]
    pub eval_every: usize,
    /// Precision of the matrix products (`f32`, `bf16`, `f16`); weights, optimizer state and the
    /// other operations stay f32. Each peer thread of the loop sets it.
    #[serde(default)]
    pub precision: Precision,
    /// Layer-wise learning-rate decay: a group `d` layers below the head learns at `lr * decay^d`
    /// (the task's objective groups the layers; 1: one rate for all).
    /// A run.json from before this setting existed had one rate for all, hence the serde default of
    /// 1 (the `Default` recipe uses 0.8).
    #[serde(default = "one")]
    pub layer_decay: f64,
    /// Devices of each process to train on data-parallel: each takes its share of every global
    /// batch of `global_batch()` rows, and one optimizer step follows on the whole batch's
    /// gradient (1: one device).
    #[serde(default = "one_device")]
    pub devices: usize,
    /// Processes (one per machine, or several on one) training data-parallel, the ranks of an
    /// MPI job (the size of [`crate::Cluster`]); their gradients are summed through MPI.
    #[serde(default = "one_device")]
    pub nodes: usize,
    /// Decay of an exponential moving average of the weights, updated after every optimizer step
    /// and used as the trained model (0: none; the last weights are the model).
    #[serde(default)]
    pub ema: f64,
    /// GPU backends: lengths batches are padded up to (`--pad-to`), so that a run meets few
    /// tensor shapes (empty: to the longest row, as the CPU backends always pad).
    #[serde(default = "standard_pad")]
    pub pad_to: Vec<usize>,
    /// The task's own settings (set with [`TrainConfig::with_task`]), written into `run.json`
    /// beside the loop's, compared on resume and between ranks as they are.
    #[serde(flatten)]
    pub task: serde_json::Map<String, serde_json::Value>,
}

fn standard_pad() -> Vec<usize> {
    PadLengths::standard().lengths().to_vec()
}

fn one_device() -> usize {
    1
}

fn one() -> f64 {
    1.0
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: "all-MiniLM-L6-v2".into(),
            data_dir: None,
            iterations: 500,
            epochs: None,
            dropout: Some(0.0),
            label_smoothing: 0.1,
            batch_size: 8,
            lr: 2e-4,
            warmup: 0.1,
            constant_lr: false,
            weight_decay: 0.01,
            grad_clip: 1.0,
            max_len: 128,
            report_every: 50,
            checkpoint_every: 100,
            seed: 42,
            eval_limit: 0,
            eval_batch_size: 32,
            bucket: false,
            skip_bad_rows: false,
            val_fraction: 0.0,
            eval_every: 0,
            precision: Precision::F32,
            layer_decay: 0.8,
            devices: 1,
            nodes: 1,
            ema: 0.99,
            pad_to: standard_pad(),
            task: serde_json::Map::new(),
        }
    }
}

impl TrainConfig {
    /// This config with `settings` (a task's, serialized to an object) as its task settings.
    /// Panics when `settings` do not serialize to a JSON object (a struct with named fields does).
    pub fn with_task(&self, settings: &impl Serialize) -> Self {
        let task = match serde_json::to_value(settings).expect("settings serialize") {
            serde_json::Value::Object(map) => map,
            other => panic!("task settings must serialize to an object, not {other}"),
        };
        Self {
            task,
            ..self.clone()
        }
    }

    /// Refuses a reduced precision for `model` (in words), which trains in f32 only.
    pub fn require_f32(&self, model: &'static str) -> Result<()> {
        match self.precision {
            Precision::F32 => Ok(()),
            other => Err(TrainError::Precision {
                precision: other.name(),
                model,
            }),
        }
    }

    /// Rows of one iteration's batch over all peers: `batch_size` on each device of each node.
    pub fn global_batch(&self) -> usize {
        (self.batch_size * self.devices * self.nodes).max(1)
    }

    /// How batches on backend `B` are padded: to their longest row on the CPU backends, up to
    /// the next of `pad_to`'s lengths on the others.
    pub fn batcher<B: Backend>(&self, pad_id: u32) -> Result<TextBatcher> {
        let pad_to = match attn_backend::is_cpu::<B>() || self.pad_to.is_empty() {
            true => None,
            false => Some(
                PadLengths::new(&self.pad_to)
                    .map_err(|e| TrainError::Settings(format!("--pad-to: {e}")))?,
            ),
        };
        Ok(TextBatcher {
            pad_to,
            ..TextBatcher::longest(pad_id, self.max_len)
        })
    }

    /// This config with `iterations` set from `epochs` over `train_rows` rows, when epochs are set
    /// (an iteration takes one global batch).
    pub fn resolve_epochs(&self, train_rows: usize) -> Self {
        let mut resolved = self.clone();
        if let Some(epochs) = self.epochs {
            resolved.iterations = epochs * train_rows.div_ceil(self.global_batch());
        }
        resolved
    }

    /// The learning rate at iteration `it` (0-based): linear warm-up, then constant or linear decay.
    pub fn lr_at(&self, it: usize) -> f64 {
        let total = self.iterations.max(1) as f64;
        let warm = (self.warmup * total).round();
        let step = it as f64 + 1.0;
        if step <= warm {
            return self.lr * step / warm;
        }
        if self.constant_lr {
            return self.lr;
        }
        self.lr * ((total - step + 1.0) / (total - warm).max(1.0)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_linear_decay() {
        let c = TrainConfig {
            iterations: 100,
            lr: 1.0,
            warmup: 0.1,
            ..TrainConfig::default()
        };
        assert!((c.lr_at(0) - 0.1).abs() < 1e-12);
        assert!((c.lr_at(9) - 1.0).abs() < 1e-12);
        assert!(c.lr_at(50) < 1.0 && c.lr_at(50) > c.lr_at(90));
        assert!(c.lr_at(99) > 0.0);
        let constant = TrainConfig {
            warmup: 0.0,
            constant_lr: true,
            ..c
        };
        assert_eq!(constant.lr_at(0), 1.0);
        assert_eq!(constant.lr_at(99), 1.0);
    }

    #[test]
    fn run_json_keeps_its_words_and_the_tasks_settings_beside_the_loops() {
        #[derive(Serialize)]
        struct Task {
            pooling: &'static str,
        }
        let cfg = TrainConfig::default().with_task(&Task { pooling: "mean" });
        let json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(
            (&json["pooling"], &json["precision"]),
            (&"mean".into(), &"f32".into())
        );
        // A run.json written before the precision setting existed reads as f32.
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("precision");
        let read: TrainConfig = serde_json::from_value(old).unwrap();
        assert_eq!((read.precision, &read.task), (Precision::F32, &cfg.task));
        assert_eq!(read, cfg);
    }
}
