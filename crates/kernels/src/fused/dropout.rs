//! Dropout with a hashed mask whose seed comes from the backend's seeded generator.

use burn::tensor::{Tensor, backend::Backend};

#[cfg(feature = "flex")]
use crate::cpu;

#[cfg(feature = "flex")]
use super::{Ad, OnAd, Op, fast, flex};

/// Dropout with probability `prob` in training (an autodiff backend), the identity otherwise, as
/// `burn::nn::Dropout`. On `Autodiff<Flex>` the mask comes from a hash of the element index and a
/// seed drawn from the backend's seeded generator, so a run stays deterministic for its seed.
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    if prob == 0.0 || !B::ad_enabled(&x.device()) {
        return x;
    }
    #[cfg(feature = "flex")]
    let x = if flex::takes(x.dtype()) {
        match fast(Op::Dropout, x, |x: OnAd<D>| {
            flex::dropout_autodiff(x, drop_mask(prob))
        }) {
            Ok(y) => return y,
            Err(x) => x,
        }
    } else {
        x
    };
    burn::nn::Dropout { prob }.forward(x)
}

/// A dropout mask with probability `prob`, its seed drawn from the backend's seeded generator.
#[cfg(feature = "flex")]
pub(super) fn drop_mask(prob: f64) -> cpu::DropMask {
    let draws = Tensor::<Ad, 1>::random(
        [2],
        burn::tensor::Distribution::Default,
        &Default::default(),
    );
    let seed = draws.to_data().to_vec::<f32>().expect("f32 draws");
    cpu::DropMask {
        seed: [seed[0], seed[1]].map(|u| (u as f64 * 4_294_967_296.0) as u32),
        keep: ((1.0 - prob) * 4_294_967_296.0).min(u32::MAX as f64) as u32,
        scale: (1.0 / (1.0 - prob)) as f32,
    }
}
