//! Bahdanau et al.'s additive attention of one query per row.

use burn::tensor::{Tensor, backend::Backend};

#[cfg(feature = "flex")]
use super::{OnAd, OnFlex, Op, flex, ladder};

/// The arguments of [`additive_attention`]: query, projected keys, v and values.
pub type AdditiveInputs<B> = (Tensor<B, 2>, Tensor<B, 3>, Tensor<B, 2>, Tensor<B, 3>);

/// Bahdanau et al.'s additive attention of one query per row: eᵢ = tanh(`query` + `keys`ᵢ)
/// ([batch, hidden] and [batch, seq, hidden], the keys already projected), scoreᵢ = eᵢ · `v`
/// ([hidden, 1]), the weights α = softmax over each row's first `lengths[b]` positions (0
/// beyond), and the context Σ αᵢ `values`ᵢ ([batch, seq, width]): (context [batch, width],
/// weights [batch, seq]).
///
/// On Flex and `Autodiff<Flex>` (f32) one parallel pass over the rows, and one backward step for
/// the context (the weights come back without a gradient there); elsewhere the inputs come back
/// as `Err`, for the caller's own ops.
pub fn additive_attention<B: Backend>(
    inputs: AdditiveInputs<B>,
    lengths: &[usize],
) -> Result<(Tensor<B, 2>, Tensor<B, 2>), AdditiveInputs<B>> {
    #[cfg(feature = "flex")]
    {
        let (query, keys, v, values) = &inputs;
        let [batch, seq, hidden] = keys.dims();
        let fits = query.dims() == [batch, hidden]
            && v.dims() == [hidden, 1]
            && values.dims()[..2] == [batch, seq]
            && lengths.len() == batch
            && [query.dtype(), keys.dtype(), v.dtype(), values.dtype()]
                .into_iter()
                .all(flex::takes);
        if !fits {
            return Err(inputs);
        }
        let (query, keys, v, values) = inputs;
        let args = [
            query.reshape([batch, 1, hidden]),
            keys,
            v.reshape([1, 1, hidden]),
            values,
        ];
        ladder(
            Op::AdditiveAttention,
            args,
            |args: [OnAd<3>; 4]| flex::additive_attention_autodiff(args, lengths),
            |args: [OnFlex<3>; 4]| flex::additive_attention(args, lengths),
        )
        .map_err(|[q, k, v, h]: [Tensor<B, 3>; 4]| {
            (q.reshape([batch, hidden]), k, v.reshape([hidden, 1]), h)
        })
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = lengths;
        Err(inputs)
    }
}
