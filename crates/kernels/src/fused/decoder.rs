//! The teacher-forced attentive GRU decoder, all its steps as one op.

use burn::tensor::{Tensor, backend::Backend};

#[cfg(feature = "flex")]
use super::on_flex;
#[cfg(feature = "flex")]
use crate::cpu;

#[cfg(feature = "flex")]
use super::{OnAd, OnFlex, Op, flex, ladder};

/// The inputs of [`attentive_decoder`] (h: the decoder's hidden width, g = 3h; Σ: the step rows).
#[derive(Debug, Clone)]
pub struct AttentiveDecoderInputs<B: Backend> {
    /// The previous words' input projections x·W_x + b_x, step by step [Σ, g].
    pub forced: Tensor<B, 2>,
    /// The first states [batch, h].
    pub state0: Tensor<B, 2>,
    /// The attention's query transform W [h, align].
    pub wq: Tensor<B, 2>,
    /// The projected keys U hᵢ + b [batch, seq, align].
    pub keys: Tensor<B, 3>,
    /// The attention's v [align, 1].
    pub v: Tensor<B, 2>,
    /// The encoder states hᵢ [batch, seq, width].
    pub values: Tensor<B, 3>,
    /// The context's input transform [width, g].
    pub wc: Tensor<B, 2>,
    /// The recurrent transform [h, g].
    pub wh: Tensor<B, 2>,
    /// The recurrent bias [g].
    pub bh: Tensor<B, 1>,
}

/// A teacher-forced GRU decoder with additive attention, all its steps as one op (see
/// [`crate::cpu::decoder`]): rows come longest target first, step t advances the first
/// `active[t]` of them, row b attends over its first `lengths[b]` source positions. Returns
/// [Σ, h + width]: step by step, each advanced row's state after the step beside the context it
/// read. On Flex and `Autodiff<Flex>` (f32) one forward and one backward pass; elsewhere the
/// inputs come back as `Err`, for the caller's step-by-step ops.
pub fn attentive_decoder<B: Backend>(
    inputs: AttentiveDecoderInputs<B>,
    lengths: &[usize],
    active: &[usize],
) -> Result<Tensor<B, 2>, AttentiveDecoderInputs<B>> {
    #[cfg(feature = "flex")]
    {
        let x = &inputs;
        let [batch, seq, align] = x.keys.dims();
        let [hidden, g] = x.wh.dims();
        let width = x.values.dims()[2];
        let steps = cpu::Steps::new(active.to_vec());
        let fits = on_flex::<B>()
            && g == 3 * hidden
            && x.forced.dims() == [steps.rows(), g]
            && x.state0.dims() == [batch, hidden]
            && x.wq.dims() == [hidden, align]
            && x.v.dims() == [align, 1]
            && x.values.dims() == [batch, seq, width]
            && x.wc.dims() == [width, g]
            && x.bh.dims() == [g]
            && lengths.len() == batch
            && active.first().is_none_or(|&n| n <= batch)
            && [&x.forced, &x.state0, &x.wq, &x.v, &x.wc, &x.wh]
                .iter()
                .map(|t| t.dtype())
                .chain([x.keys.dtype(), x.values.dtype(), x.bh.dtype()])
                .all(flex::takes);
        if !fits {
            return Err(inputs);
        }
        let d = cpu::Decoder {
            batch,
            seq,
            hidden,
            align,
            width,
        };
        let AttentiveDecoderInputs {
            forced,
            state0,
            wq,
            keys,
            v,
            values,
            wc,
            wh,
            bh,
        } = inputs;
        let args = [
            forced,
            state0,
            wq,
            keys.reshape([batch * seq, align]),
            v.reshape([1, align]),
            values.reshape([batch * seq, width]),
            wc,
            wh,
            bh.reshape([1, g]),
        ];
        ladder(
            Op::AttentiveDecoder,
            args,
            |x: [OnAd<2>; 9]| flex::attentive_decoder_autodiff(&d, x, lengths, &steps),
            |x: [OnFlex<2>; 9]| flex::attentive_decoder(&d, x, lengths, &steps),
        )
        .map_err(|x: [Tensor<B, 2>; 9]| {
            let [forced, state0, wq, keys, v, values, wc, wh, bh] = x;
            AttentiveDecoderInputs {
                forced,
                state0,
                wq,
                keys: keys.reshape([batch, seq, align]),
                v: v.reshape([align, 1]),
                values: values.reshape([batch, seq, width]),
                wc,
                wh,
                bh: bh.reshape([g]),
            }
        })
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (lengths, active);
        Err(inputs)
    }
}
