//! A peer's gradients laid end to end in one tensor, so that one all-reduce per step carries them
//! all, with the batch's loss, hits and rows behind them.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

/// The loss (summed over rows), hits and rows of a share of a batch, or of the whole batch once
/// summed over the peers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tally {
    /// The loss summed over the rows.
    pub loss: f64,
    /// Correct predictions.
    pub hits: f64,
    /// Rows.
    pub rows: f64,
    /// Predictions scored (rows, or target tokens).
    pub scored: f64,
}

/// Elements of a [`Tally`] in a bucket.
const TALLY: usize = 4;

/// Gathers each trainable parameter's gradient (zeros where it has none), then one presence
/// flag per parameter: summed over the peers, a flag says whether any of them had a gradient.
struct Gather<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    scale: f32,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
    flags: Vec<f32>,
    device: B::Device,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Gather<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !param.val().is_require_grad() {
            return;
        }
        let n = param.lazy_shape().num_elements();
        match self.grads.remove::<B::InnerBackend, D>(param.id) {
            Some(grad) => {
                self.parts.push(grad.reshape([n]) * self.scale);
                self.flags.push(1.0);
            }
            None => {
                self.parts.push(Tensor::zeros([n], &self.device));
                self.flags.push(0.0);
            }
        }
    }
}

/// Cuts the summed bucket back into the gradients of the parameters some peer had one for.
struct Scatter<'a, B: AutodiffBackend> {
    flat: &'a Tensor<B::InnerBackend, 1>,
    flags: &'a [f32],
    offset: usize,
    index: usize,
    grads: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scatter<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !param.val().is_require_grad() {
            return;
        }
        let shape = param.lazy_shape();
        let n = shape.num_elements();
        if self.flags[self.index] > 0.0 {
            let grad = self.flat.clone().slice(self.offset..self.offset + n);
            self.grads
                .register::<B::InnerBackend, D>(param.id, grad.reshape(shape));
        }
        self.offset += n;
        self.index += 1;
    }
}

/// `grads` times `scale` (the share's part of the batch's rows), flags and `tally`, end to end.
pub(crate) fn gather<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    mut grads: GradientsParams,
    scale: f32,
    tally: Tally,
    device: &B::Device,
) -> Tensor<B::InnerBackend, 1> {
    let mut gather = Gather::<B> {
        grads: &mut grads,
        scale,
        parts: Vec::new(),
        flags: Vec::new(),
        device: device.clone(),
    };
    model.visit(&mut gather);
    let mut tail = gather.flags;
    tail.extend([tally.loss, tally.hits, tally.rows, tally.scored].map(|v| v as f32));
    let mut parts = gather.parts;
    parts.push(Tensor::from_floats(tail.as_slice(), device));
    Tensor::cat(parts, 0)
}

/// The gradients and tally of a bucket summed over the peers.
pub(crate) fn scatter<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    flat: Tensor<B::InnerBackend, 1>,
) -> (GradientsParams, Tally) {
    let trainable = sizes(model).params;
    let len = flat.dims()[0];
    let tail: Vec<f32> = flat
        .clone()
        .slice(len - trainable - TALLY..len)
        .into_data()
        .to_vec()
        .expect("f32 gradients");
    let mut scatter = Scatter::<B> {
        flat: &flat,
        flags: &tail[..trainable],
        offset: 0,
        index: 0,
        grads: GradientsParams::new(),
    };
    model.visit(&mut scatter);
    let tally = Tally {
        loss: tail[trainable] as f64,
        hits: tail[trainable + 1] as f64,
        rows: tail[trainable + 2] as f64,
        scored: tail[trainable + 3] as f64,
    };
    (scatter.grads, tally)
}

/// The trainable parameters of a model and their elements.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sizes {
    /// Trainable parameter tensors.
    pub params: usize,
    /// Their elements.
    pub elements: usize,
}

#[cfg(feature = "mpi")]
impl Sizes {
    /// Elements of the model's bucket: the weights, a flag for each, and the tally.
    pub fn bucket(self) -> usize {
        self.elements + self.params + TALLY
    }
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Sizes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if param.val().is_require_grad() {
            self.params += 1;
            self.elements += param.lazy_shape().num_elements();
        }
    }
}

/// The sizes of `model`'s trainable parameters.
pub(crate) fn sizes<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) -> Sizes {
    let mut sizes = Sizes::default();
    model.visit(&mut sizes);
    sizes
}
