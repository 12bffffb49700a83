//! Packed batches: the rows of a padded batch's real tokens taken out and put back, each row
//! copied once, each the other's backward step.

use std::sync::Arc;

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

#[cfg(feature = "flex")]
use super::{OnAd, OnFlex, Op, flex, ladder};

/// The rows `rows` (increasing) of `x` [positions, width]: [rows.len(), width], as
/// `x.select(0, rows)`. On Flex and `Autodiff<Flex>` one copy of each row, whose backward step
/// is [`unpack_rows`] of the gradient.
pub fn pack_rows<B: Backend>(x: Tensor<B, 2>, rows: &Arc<[usize]>) -> Tensor<B, 2> {
    #[cfg(feature = "flex")]
    let x = match ladder(
        Op::Packing,
        x,
        |x: OnAd<2>| flex::pack_rows_autodiff(x, rows),
        |x: OnFlex<2>| flex::pack_rows(x, rows),
    ) {
        Ok(y) => return y,
        Err(x) => x,
    };
    let indices = indices(rows, &x.device());
    x.select(0, indices)
}

/// `x` [rows.len(), width] at rows `rows` (increasing) of a [positions, width] tensor of zeros,
/// as `select_assign` onto zeros. On Flex and `Autodiff<Flex>` one pass writing each element
/// once, whose backward step is [`pack_rows`] of the gradient.
///
/// # Panics
/// On Flex, unless `rows` increase and lie below `positions`.
pub fn unpack_rows<B: Backend>(
    x: Tensor<B, 2>,
    rows: &Arc<[usize]>,
    positions: usize,
) -> Tensor<B, 2> {
    #[cfg(feature = "flex")]
    let x = match ladder(
        Op::Packing,
        x,
        |x: OnAd<2>| flex::unpack_rows_autodiff(x, rows, positions),
        |x: OnFlex<2>| flex::unpack_rows(x, rows, positions),
    ) {
        Ok(y) => return y,
        Err(x) => x,
    };
    let [_, width] = x.dims();
    let indices = indices(rows, &x.device());
    Tensor::zeros([positions, width], &x.device()).select_assign(
        0,
        indices,
        x,
        burn::tensor::IndexingUpdateOp::Add,
    )
}

/// `rows` as an index tensor, for burn's ops.
fn indices<B: Backend>(rows: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let rows: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let len = rows.len();
    Tensor::from_data(TensorData::new(rows, [len]), device)
}
