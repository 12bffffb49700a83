//! The embedding lookup, whose gradient is built from the batch's rows alone.

use burn::tensor::{Int, Tensor, backend::Backend};

#[cfg(feature = "flex")]
use super::{Ad, OnAd, Op, fast, flex};

/// The rows of `weight` [vocab, hidden] at `ids` [batch, seq]: [batch, seq, hidden], as
/// `burn::nn::Embedding`. On `Autodiff<Flex>` the gradient is built from the batch's rows alone.
pub fn embedding<B: Backend>(weight: Tensor<B, 2>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    #[cfg(feature = "flex")]
    let (weight, ids) = if flex::takes(weight.dtype()) {
        let on_ad = |(w, ids): (OnAd<2>, Tensor<Ad, 2, Int>)| flex::embedding_autodiff(w, ids);
        match fast(Op::Embedding, (weight, ids), on_ad) {
            Ok(y) => return y,
            Err(args) => args,
        }
    } else {
        (weight, ids)
    };
    burn::tensor::module::embedding(weight, ids)
}
