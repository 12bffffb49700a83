//! One optimizer step of a classifier, and the optimizer and loss it uses.

use std::time::{Duration, Instant};

use attn_data::TextBatch;
use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::ElementConversion;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::classify::Classify;
use crate::error::Result;
use crate::{FusedAdamW, TrainConfig};

/// AdamW as PyTorch sets it up (eps 1e-8, not burn's 1e-5), with the run's decay and clipping.
pub(crate) fn adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    cfg: &TrainConfig,
) -> impl Optimizer<M, B> + use<B, M> {
    OptimizerAdaptor::from(FusedAdamW {
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        weight_decay: cfg.weight_decay,
        grad_clip: (cfg.grad_clip > 0.0).then_some(cfg.grad_clip as f32),
    })
}

/// The run's cross-entropy loss (with its label smoothing).
pub(crate) fn cross_entropy<B: Backend>(
    cfg: &TrainConfig,
    device: &B::Device,
) -> CrossEntropyLoss<B> {
    let smoothing = (cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing as f32);
    CrossEntropyLossConfig::new()
        .with_smoothing(smoothing)
        .init(device)
}

/// Time spent in each phase of a training step.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StepTimes {
    /// Forward pass and loss, up to reading the loss back.
    pub forward: Duration,
    /// Backward pass.
    pub backward: Duration,
    /// Gradient clipping and the optimizer update.
    pub optimizer: Duration,
}

/// One training step on `batch`.
pub(crate) struct Step<M> {
    /// The updated model (unchanged when the loss is not finite).
    pub model: M,
    /// The batch's mean loss.
    pub loss: f32,
    /// Correct predictions in the batch.
    pub hits: usize,
    /// Where the step's time went.
    pub times: StepTimes,
}

/// One optimizer step on `batch` at learning rate `lr`, times `layer_decay^depth` for each of the
/// model's gradient groups below the output; no update when the loss is NaN or infinite. With `sync`, waits
/// for that device after the backward pass and the update, so that the phase times of an
/// asynchronous (GPU) backend are device times rather than launch times.
pub(crate) fn train_step<B, M, O>(
    model: M,
    optim: &mut O,
    batch: &TextBatch<B>,
    lr: f64,
    layer_decay: f64,
    loss_fn: &CrossEntropyLoss<B>,
    sync: Option<&B::Device>,
) -> Result<Step<M>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classify<B>,
    O: Optimizer<M, B>,
{
    let started = Instant::now();
    let logits = model.logits(batch)?;
    let loss = loss_fn.forward(logits.clone(), batch.labels.clone());
    let loss_value: f32 = loss.clone().into_scalar().elem();
    let rows = batch.lengths.len();
    let hits: i64 = logits
        .argmax(1)
        .reshape([rows])
        .equal(batch.labels.clone())
        .int()
        .sum()
        .into_scalar()
        .elem();
    let forward_done = Instant::now();
    let mut step = Step {
        model,
        loss: loss_value,
        hits: hits as usize,
        times: StepTimes {
            forward: forward_done - started,
            ..StepTimes::default()
        },
    };
    if !loss_value.is_finite() {
        return Ok(step);
    }
    let wait = || {
        if let Some(device) = sync {
            // A device that cannot sync has failed; the next read of a tensor reports it.
            let _ = B::sync(device);
        }
    };
    let grads = GradientsParams::from_grads(loss.backward(), &step.model);
    let groups = step.model.grads_by_depth(grads);
    wait();
    let backward_done = Instant::now();
    step.times.backward = backward_done - forward_done;
    for (depth, grads) in groups {
        step.model = optim.step(lr * layer_decay.powi(depth), step.model, grads);
    }
    wait();
    step.times.optimizer = backward_done.elapsed();
    Ok(step)
}
