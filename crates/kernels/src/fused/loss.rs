//! The cross-entropy loss with label smoothing, and its hits.

use burn::tensor::{ElementConversion, Int, Tensor, activation, backend::Backend};

#[cfg(feature = "flex")]
use super::{OnAd, OnFlex, Op, flex, ladder, on_flex};

/// The mean cross-entropy of `logits` [rows, classes] against `labels` [rows], the targets
/// smoothed as (1 - `smoothing`) · one-hot + `smoothing` / classes (burn's `CrossEntropyLoss` on
/// logits, and PyTorch's), and how many rows' largest logit is their label's: (loss [1], hits).
///
/// On Flex and `Autodiff<Flex>` (f32) one parallel pass over the rows and one backward step
/// (softmax minus the targets), where burn's ops pass over every logit several times in each
/// direction; elsewhere burn's ops. Panics when a label is not below `classes`.
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    smoothing: f32,
) -> (Tensor<B, 1>, usize) {
    #[cfg(feature = "flex")]
    let logits = match on_flex::<B>() && flex::takes(logits.dtype()) {
        true => {
            let host = labels.to_data().convert::<i64>();
            let host: Vec<usize> = host.iter::<i64>().map(|l| l as usize).collect();
            match ladder(
                Op::CrossEntropy,
                logits,
                |x: OnAd<2>| flex::cross_entropy_autodiff(x, &host, smoothing),
                |x: OnFlex<2>| flex::cross_entropy(x, &host, smoothing),
            ) {
                Ok(scored) => return scored,
                Err(logits) => logits,
            }
        }
        false => logits,
    };
    cross_entropy_reference(logits, labels, smoothing)
}

/// [`cross_entropy`] in burn's ops.
pub(super) fn cross_entropy_reference<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    smoothing: f32,
) -> (Tensor<B, 1>, usize) {
    let [rows, classes] = logits.dims();
    let hits: i64 = (logits.clone().argmax(1).reshape([rows]))
        .equal(labels.clone())
        .int()
        .sum()
        .into_scalar()
        .elem();
    let log_p = activation::log_softmax(logits, 1);
    let label_term = log_p.clone().gather(1, labels.reshape([rows, 1])).mean() * (1.0 - smoothing);
    let loss = match smoothing > 0.0 {
        true => label_term + log_p.sum() * (smoothing / (rows * classes) as f32),
        false => label_term,
    };
    (loss.neg(), hits as usize)
}
