//! AdamW whose update is one fused pass per parameter tensor on the CPU backend.

use attn_kernels::fused::{self, AdamWStep};
use burn::optim::{AdamWState, AdaptiveMomentumState, LearningRate, SimpleOptimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};

/// AdamW as PyTorch defines it (decoupled weight decay, bias-corrected moments), computed by
/// [`attn_kernels::fused::adamw`]; its state is burn's `AdamWState`, so checkpoints stay burn's.
///
/// Gradient clipping happens in the same pass: burn's `GradientClipping::Norm` on the adaptor
/// would first write a clipped copy of every gradient.
#[derive(Debug, Clone)]
pub struct FusedAdamW {
    /// Decay of the first moment.
    pub beta_1: f64,
    /// Decay of the second moment.
    pub beta_2: f64,
    /// Added to the square root of the second moment.
    pub epsilon: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Each gradient tensor with a larger L2 norm is scaled down to it (burn's
    /// `GradientClipping::Norm`).
    pub grad_clip: Option<f32>,
}

impl<B: Backend> SimpleOptimizer<B> for FusedAdamW {
    type State<const D: usize> = AdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let time = state.as_ref().map_or(1, |s| s.momentum.time + 1);
        let moments = state.map(|s| (s.momentum.moment_1, s.momentum.moment_2));
        let h = AdamWStep {
            lr,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
            time,
            clip_norm: self.grad_clip,
        };
        let (tensor, moment_1, moment_2) = fused::adamw(tensor, grad, moments, &h);
        let momentum = AdaptiveMomentumState::new(time, moment_1, moment_2);
        (tensor, Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device<B>) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::grad_clipping::GradientClippingConfig;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::adaptor::OptimizerAdaptor;
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
    use burn::tensor::{Distribution, Tolerance};

    type B = Autodiff<Flex>;

    /// Low enough that the test's gradients are clipped.
    const CLIP: f32 = 5.0;

    #[test]
    fn five_steps_match_burns_adamw_with_its_norm_clipping() {
        let device = Default::default();
        B::seed(&device, 3);
        let start: Linear<B> = LinearConfig::new(40, 30).init(&device);
        // Initialise the lazy parameters once, so that every clone starts from the same values.
        let start = start.clone().load_record(start.into_record());
        let mut ours: OptimizerAdaptor<FusedAdamW, Linear<B>, B> = FusedAdamW {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
            grad_clip: Some(CLIP),
        }
        .into();
        let mut burns = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(0.01)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(CLIP)))
            .init::<B, Linear<B>>();
        let xs: Vec<Tensor<B, 2>> = (0..5)
            .map(|_| Tensor::random([16, 40], Distribution::Normal(0.0, 1.0), &device))
            .collect();
        // One model at a time: two live graphs over the same parameters would merge into one.
        let clipped = std::cell::Cell::new(0);
        let train = |optim: &mut dyn FnMut(Linear<B>, GradientsParams) -> Linear<B>| {
            xs.iter().fold(start.clone(), |model, x| {
                let loss = model.forward(x.clone()).powi_scalar(2).sum();
                let grads = loss.backward();
                let norm: f32 = model
                    .weight
                    .grad(&grads)
                    .unwrap()
                    .square()
                    .sum()
                    .sqrt()
                    .into_scalar();
                clipped.set(clipped.get() + usize::from(norm > CLIP));
                optim(model.clone(), GradientsParams::from_grads(grads, &model))
            })
        };
        let a = train(&mut |m, g| ours.step(1e-2, m, g));
        let b = train(&mut |m, g| burns.step(1e-2, m, g));
        let (a, b, start) = (a.weight.val(), b.weight.val(), start.weight.val());
        a.to_data()
            .assert_approx_eq::<f32>(&b.to_data(), Tolerance::absolute(1e-5));
        let moved: f32 = (a - start).abs().max().into_scalar();
        assert!(moved > 1e-2, "the weights moved by {moved}");
        assert!(clipped.get() >= 2, "the clip took effect");
    }
}
