//! The attention probabilities: one scaled, biased softmax over the keys.

use burn::tensor::{Tensor, activation, backend::Backend};

#[cfg(feature = "flex")]
use super::{OnAd, OnFlex, Op, flex, ladder};

/// softmax(scale · scores + bias) over the keys: attention probabilities from raw `scores`
/// [batch, heads, queries, keys] and an additive `bias` [batch, 1, 1, keys] (the padding mask).
pub fn scaled_softmax<B: Backend>(
    scores: Tensor<B, 4>,
    bias: Tensor<B, 4>,
    scale: f64,
) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    let (scores, bias) = match flex::softmax_rows(&scores.shape(), &bias.shape()) {
        Some(rows) if flex::takes(scores.dtype()) && flex::takes(bias.dtype()) => {
            let scale = scale as f32;
            match ladder(
                Op::ScaledSoftmax,
                (scores, bias),
                |(s, b): (OnAd<4>, OnAd<4>)| flex::scaled_softmax_autodiff(s, b, scale, rows),
                |(s, b): (OnFlex<4>, OnFlex<4>)| flex::scaled_softmax(s, b, scale, rows),
            ) {
                Ok(probs) => return probs,
                Err(args) => args,
            }
        }
        _ => (scores, bias),
    };
    activation::softmax(scores * scale + bias, 3)
}
