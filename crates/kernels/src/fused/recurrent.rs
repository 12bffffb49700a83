//! The recurrent layer (GRU or LSTM, one or two directions) over whole sequences.

use burn::tensor::{Tensor, backend::Backend};

use super::on_flex;
use crate::cpu::Recurrence;

#[cfg(feature = "flex")]
use super::{Ad, Op, flex, ladder};

/// The inputs of [`recurrent`], in the layouts of [`crate::cpu::recurrent`] (`g` = gates ×
/// hidden, `s` = state values × hidden).
#[derive(Debug, Clone)]
pub struct RecurrentInputs<B: Backend> {
    /// x·W_x + b_x of every position and direction [batch, seq, dirs × g].
    pub xw: Tensor<B, 3>,
    /// The recurrent weights [dirs, hidden, g].
    pub wh: Tensor<B, 3>,
    /// The recurrent biases [dirs, g].
    pub bh: Tensor<B, 2>,
    /// The state each row starts from [dirs, batch, s].
    pub state0: Tensor<B, 3>,
}

/// Whether [`recurrent`] runs this crate's kernel on backend `B` (Flex and `Autodiff<Flex>`), so
/// that a caller builds its inputs only where they are taken.
pub fn fuses_recurrent<B: Backend>() -> bool {
    on_flex::<B>()
}

/// A GRU or LSTM layer over whole sequences, one or two directions (see [`crate::cpu::recurrent`]
/// for what each position's state has read): the state after each position [batch, seq, dirs ×
/// s]. On Flex and `Autodiff<Flex>` (f32) one op, whose backward step runs through time in one
/// pass; elsewhere the inputs come back as `Err`, for the caller's own layers.
pub fn recurrent<B: Backend>(
    shape: &Recurrence,
    inputs: RecurrentInputs<B>,
    lengths: &[usize],
) -> Result<Tensor<B, 3>, RecurrentInputs<B>> {
    #[cfg(feature = "flex")]
    {
        let RecurrentInputs { xw, wh, bh, state0 } = &inputs;
        let (g, s) = shape.widths();
        let Recurrence {
            batch, seq, dirs, ..
        } = *shape;
        let fits = xw.dims() == [batch, seq, dirs * g]
            && wh.dims() == [dirs, shape.hidden, g]
            && bh.dims() == [dirs, g]
            && state0.dims() == [dirs, batch, s]
            && lengths.len() == batch
            && [xw.dtype(), wh.dtype(), bh.dtype(), state0.dtype()]
                .into_iter()
                .all(flex::takes);
        if !fits {
            return Err(inputs);
        }
        ladder(
            Op::Recurrent,
            inputs,
            |i: RecurrentInputs<Ad>| flex::recurrent_autodiff(shape, i, lengths),
            |i: RecurrentInputs<burn::backend::Flex>| flex::recurrent(shape, i, lengths),
        )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (shape, lengths);
        Err(inputs)
    }
}
