//! The linear layer: one matrix product written straight into the output, bias included.

use burn::tensor::{Tensor, backend::Backend};

#[cfg(feature = "flex")]
use super::{OnAd, OnFlex, Op, flex, ladder};

/// `x` [rows, d_in] · `weight` [d_in, d_out] + `bias`, as `burn::tensor::module::linear`. On Flex
/// and `Autodiff<Flex>` (f32, with a bias) one matrix product writes straight into the output,
/// and the backward step computes the input's and weight's gradients with one product each.
pub fn linear<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    #[cfg(feature = "flex")]
    let (x, weight, bias) = match bias {
        Some(b)
            if [x.dtype(), weight.dtype(), b.dtype()]
                .into_iter()
                .all(flex::takes) =>
        {
            match ladder(
                Op::Linear,
                (x, weight, b),
                |(x, w, b): (OnAd<2>, OnAd<2>, OnAd<1>)| flex::linear_autodiff(x, w, b),
                |(x, w, b): (OnFlex<2>, OnFlex<2>, OnFlex<1>)| flex::linear(x, w, b),
            ) {
                Ok(y) => return y,
                Err((x, w, b)) => (x, w, Some(b)),
            }
        }
        bias => (x, weight, bias),
    };
    burn::tensor::module::linear(x, weight, bias)
}
