//! Multi-head (scaled dot-product) attention, each (sequence, head) one parallel task.

use burn::tensor::{Tensor, backend::Backend};

#[cfg(feature = "flex")]
use super::dropout::drop_mask;

#[cfg(feature = "flex")]
use super::{Ad, OnAd, OnFlex, Op, flex, ladder};
#[cfg(feature = "flex")]
use crate::cpu::Packed;

/// The context [batch, seq, width] and, when asked for, the probabilities [batch, heads, seq, seq]
/// of a multi-head attention.
pub type Attended<B> = (Tensor<B, 3>, Option<Tensor<B, 4>>);

/// The arguments of [`attention`], given back where it has no fused version.
pub type Unfused<B> = ([Tensor<B, 3>; 3], Tensor<B, 4>);

/// Multi-head attention softmax(q kᵀ / √dim + bias) v over `heads` heads of the projections
/// `[q, k, v]` [batch, seq, width], with the padding `bias` [batch, 1, 1, seq] and, in training,
/// dropout `prob` on the probabilities; the probabilities come back too when `keep_probs`.
///
/// On Flex and `Autodiff<Flex>` (f32) each (sequence, head) is one parallel task working on the
/// heads where they lie in the projections: no split or merge copies, one backward step. Elsewhere
/// the arguments come back as `Err`, for the caller's own attention.
pub fn attention<B: Backend>(
    qkv: [Tensor<B, 3>; 3],
    bias: Tensor<B, 4>,
    heads: usize,
    prob: f64,
    keep_probs: bool,
) -> Result<Attended<B>, Unfused<B>> {
    #[cfg(feature = "flex")]
    {
        let [batch, seq, width] = qkv[0].dims();
        let fits = bias.dims() == [batch, 1, 1, seq]
            && width % heads == 0
            && qkv
                .iter()
                .all(|t| t.dims() == [batch, seq, width] && flex::takes(t.dtype()))
            && flex::takes(bias.dtype());
        if !fits {
            return Err((qkv, bias));
        }
        let scale = 1.0 / ((width / heads) as f32).sqrt();
        let training = B::ad_enabled(&bias.device()) && prob > 0.0;
        ladder(
            Op::Attention,
            (qkv, bias),
            |(qkv, bias): Unfused<Ad>| {
                let mask = training.then(|| drop_mask(prob));
                flex::attention_autodiff(qkv, bias, heads, scale, mask, keep_probs)
            },
            |(qkv, bias): Unfused<burn::backend::Flex>| {
                flex::attention(qkv, bias, heads, scale, keep_probs)
            },
        )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (heads, prob, keep_probs);
        Err((qkv, bias))
    }
}

/// Multi-head attention softmax(q kᵀ / √dim) v over packed sequences: the projections
/// `[q, k, v]` [1, tokens, width] hold sequences of `lengths` tokens one after another (as
/// `Packing` lays them out, from a batch padded to `seq`), each token attending within its own
/// sequence, and, in training, dropout `prob` on the probabilities; returns the context
/// [1, tokens, width], equal to [`attention`]'s on the padded batch at its real tokens (the same
/// dropout mask included).
///
/// On Flex and `Autodiff<Flex>` (f32) one parallel task per (sequence, head) on its real tokens
/// alone, forward and backward, so nothing is unpacked and no work goes to padding. Elsewhere the
/// projections come back as `Err`.
pub fn packed_attention<B: Backend>(
    qkv: [Tensor<B, 3>; 3],
    lengths: &[usize],
    seq: usize,
    heads: usize,
    prob: f64,
) -> Result<Tensor<B, 3>, [Tensor<B, 3>; 3]> {
    #[cfg(feature = "flex")]
    {
        let [one, tokens, width] = qkv[0].dims();
        let fits = one == 1
            && width % heads == 0
            && lengths.iter().sum::<usize>() == tokens
            && lengths.iter().all(|&n| n <= seq)
            && qkv
                .iter()
                .all(|t| t.dims() == [1, tokens, width] && flex::takes(t.dtype()));
        if !fits {
            return Err(qkv);
        }
        let scale = 1.0 / ((width / heads) as f32).sqrt();
        let sh = Packed::new(lengths, heads, width / heads, seq);
        let training = B::ad_enabled(&qkv[0].device()) && prob > 0.0;
        ladder(
            Op::Attention,
            qkv,
            |qkv: [OnAd<3>; 3]| {
                let mask = training.then(|| drop_mask(prob));
                flex::packed_attention_autodiff(qkv, sh.clone(), scale, mask)
            },
            |qkv: [OnFlex<3>; 3]| flex::packed_attention(qkv, &sh, scale),
        )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (lengths, seq, heads, prob);
        Err(qkv)
    }
}
