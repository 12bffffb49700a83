//! One optimizer step of a model, and the optimizer and loss it uses.

use std::time::{Duration, Instant};

use attn_data::TextBatch;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;

use crate::adamw::FusedAdamW;
use crate::config::TrainConfig;
use crate::error::Result;
use crate::objective::{CrossEntropy, Objective};

/// AdamW as PyTorch sets it up (eps 1e-8, not burn's 1e-5), with the run's decay and clipping.
pub fn adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
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
pub(crate) fn cross_entropy(cfg: &TrainConfig) -> CrossEntropy {
    CrossEntropy {
        smoothing: cfg.label_smoothing as f32,
    }
}

/// Time spent in each phase of a training step.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimes {
    /// Forward pass and loss, up to reading the loss back.
    pub forward: Duration,
    /// Backward pass.
    pub backward: Duration,
    /// Gradient clipping and the optimizer update.
    pub optimizer: Duration,
}

/// One training step on `batch`.
pub struct Step<M> {
    /// The updated model (unchanged when the loss is not finite).
    pub model: M,
    /// The batch's mean loss.
    pub loss: f32,
    /// Correct predictions in the batch.
    pub hits: usize,
    /// Predictions scored in the batch.
    pub scored: usize,
    /// Where the step's time went.
    pub times: StepTimes,
}

/// One optimizer step on `batch` at learning rate `lr`, times `layer_decay^depth` for each of the
/// model's gradient groups below the output; no update when the loss is NaN or infinite. With `sync`, waits
/// for that device after the backward pass and the update, so that the phase times of an
/// asynchronous (GPU) backend are device times rather than launch times.
pub fn train_step<B, M, T, O>(
    model: M,
    task: &T,
    optim: &mut O,
    batch: &TextBatch<B>,
    (lr, layer_decay): (f64, f64),
    loss_fn: CrossEntropy,
    sync: Option<&B::Device>,
) -> Result<Step<M>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Objective<B, M>,
    O: Optimizer<M, B>,
{
    let wait = || {
        if let Some(device) = sync {
            // A device that cannot sync has failed; the next read of a tensor reports it.
            let _ = B::sync(device);
        }
    };
    let started = Instant::now();
    let gradients = backward(&model, task, batch, loss_fn, wait)?;
    let backward_done = Instant::now();
    let mut step = Step {
        model,
        loss: gradients.loss,
        hits: gradients.hits,
        scored: gradients.scored,
        times: StepTimes {
            forward: gradients.forward,
            backward: backward_done - started - gradients.forward,
            ..StepTimes::default()
        },
    };
    if let Some(grads) = gradients.grads {
        step.model = update(step.model, task, optim, grads, lr, layer_decay);
        wait();
        step.times.optimizer = backward_done.elapsed();
    }
    Ok(step)
}

/// The loss of one batch and its gradients.
pub(crate) struct Gradients {
    /// The gradients of the batch's mean loss (none when the loss is not finite).
    pub grads: Option<GradientsParams>,
    /// The batch's mean loss.
    pub loss: f32,
    /// Correct predictions in the batch.
    pub hits: usize,
    /// Predictions scored in the batch.
    pub scored: usize,
    /// Time of the forward pass, up to reading the loss back.
    pub forward: Duration,
}

/// The forward and backward pass of `batch` (no backward pass when the loss is not finite);
/// `wait` is called after the backward pass.
pub(crate) fn backward<B, M, T>(
    model: &M,
    task: &T,
    batch: &TextBatch<B>,
    loss_fn: CrossEntropy,
    wait: impl Fn(),
) -> Result<Gradients>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Objective<B, M>,
{
    let started = Instant::now();
    let scored = task.objective(model, batch, loss_fn)?;
    let loss_value: f32 = scored.loss.clone().into_scalar().elem();
    let forward = started.elapsed();
    let grads = loss_value
        .is_finite()
        .then(|| GradientsParams::from_grads(scored.loss.backward(), model));
    wait();
    Ok(Gradients {
        grads,
        loss: loss_value,
        hits: scored.hits,
        scored: scored.scored,
        forward,
    })
}

/// One optimizer step with `grads`, at `lr * layer_decay^depth` for each gradient group.
pub(crate) fn update<B, M, T, O>(
    mut model: M,
    task: &T,
    optim: &mut O,
    grads: GradientsParams,
    lr: f64,
    layer_decay: f64,
) -> M
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Objective<B, M>,
    O: Optimizer<M, B>,
{
    for (depth, grads) in task.grads_by_depth(&model, grads) {
        model = optim.step(lr * layer_decay.powi(depth), model, grads);
    }
    model
}
