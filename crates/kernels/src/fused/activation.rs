//! Element-wise activations: BERT's exact GELU and tanh.

use burn::tensor::{Tensor, activation, backend::Backend};

#[cfg(feature = "flex")]
use super::{Op, flex, ladder};

/// The exact (erf) GELU of BERT, as `burn::tensor::activation::gelu`.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let x = if flex::takes(x.dtype()) {
        match ladder(Op::Gelu, x, flex::gelu_autodiff::<D>, flex::gelu::<D>) {
            Ok(y) => return y,
            Err(x) => x,
        }
    } else {
        x
    };
    activation::gelu(x)
}

/// tanh, as `Tensor::tanh`.
pub fn tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let x = if flex::takes(x.dtype()) {
        match ladder(Op::Tanh, x, flex::tanh_autodiff::<D>, flex::tanh::<D>) {
            Ok(y) => return y,
            Err(x) => x,
        }
    } else {
        x
    };
    x.tanh()
}
