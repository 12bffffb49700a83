//! What the loop needs of a task: the loss of its model on a batch, and the model's gradients
//! grouped by depth for layer-wise learning rates.

use attn_data::TextBatch;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use attn_kernels::fused;
use attn_transformer::BertModel;

use crate::error::Result;

/// A batch's mean loss and how many of the predictions it scores are right.
pub struct Scored<B: Backend> {
    /// The mean loss over the scored predictions, [1].
    pub loss: Tensor<B, 1>,
    /// Right predictions.
    pub hits: usize,
    /// Predictions scored (rows of labels, or target tokens).
    pub scored: usize,
}

/// The loss the loop trains on: cross-entropy, the targets smoothed as (1 - `smoothing`) ·
/// one-hot + `smoothing` / classes (PyTorch's `label_smoothing`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropy {
    /// The label smoothing (0: none).
    pub smoothing: f32,
}

/// What a task tells the loop about its model `M` on backend `B`; implemented by a task's own
/// type (one task may train several architectures), so the loop names no model.
pub trait Objective<B: Backend, M>: Sync {
    /// The loss of `model` on a padded batch under `loss_fn` (its label smoothing), and its hits.
    fn objective(
        &self,
        model: &M,
        batch: &TextBatch<B>,
        loss_fn: CrossEntropy,
    ) -> Result<Scored<B>>;

    /// The gradients in groups, each with its depth from the output (a group at depth `d` learns
    /// at `lr * decay^d` under layer-wise learning-rate decay); one group at depth 0 unless the
    /// model has layers to tell apart.
    fn grads_by_depth(&self, model: &M, grads: GradientsParams) -> Vec<(i32, GradientsParams)>
    where
        B: AutodiffBackend,
    {
        let _ = model;
        vec![(0, grads)]
    }
}

/// Moves the gradients of `module`'s parameters out of `grads` into a group of their own (for
/// [`Objective::grads_by_depth`]).
pub fn take_grads<B: AutodiffBackend, M: Module<B>>(
    grads: &mut GradientsParams,
    module: &M,
) -> GradientsParams {
    struct Take<'a>(&'a mut GradientsParams, GradientsParams);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Take<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.0.remove::<B::InnerBackend, D>(param.id) {
                self.1.register(param.id, grad);
            }
        }
    }
    let mut take = Take(grads, GradientsParams::new());
    module.visit(&mut take);
    take.1
}

/// A BERT's gradients by depth under a task's `head` (at depth 0 with the pooler, if any): the
/// encoder layers from the top at depths 1, 2, ..., L, the embeddings at L + 1 (for
/// [`Objective::grads_by_depth`]).
pub fn bert_grads_by_depth<B: AutodiffBackend>(
    bert: &BertModel<B>,
    mut grads: GradientsParams,
    head: GradientsParams,
) -> Vec<(i32, GradientsParams)> {
    let mut groups = vec![(0, head)];
    if let Some(pooler) = &bert.pooler {
        groups.push((0, take_grads(&mut grads, pooler)));
    }
    for (depth, layer) in (1..).zip(bert.encoder.layer.iter().rev()) {
        groups.push((depth, take_grads(&mut grads, layer)));
    }
    let bottom = bert.encoder.layer.len() as i32 + 1;
    groups.push((bottom, take_grads(&mut grads, &bert.embeddings)));
    groups
}

/// The cross-entropy of `logits` [rows, classes] against `labels` [rows], with its hits.
pub fn scored<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    loss_fn: CrossEntropy,
) -> Scored<B> {
    let rows = labels.dims()[0];
    let (loss, hits) = fused::cross_entropy(logits, labels, loss_fn.smoothing);
    Scored {
        loss,
        hits,
        scored: rows,
    }
}
