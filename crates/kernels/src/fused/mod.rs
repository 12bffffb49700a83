//! Fused BERT ops: one parallel pass where burn 0.21 runs several serial ones.
//!
//! Each function is generic over the backend and computes what burn's ops compute. On the `Flex` CPU
//! backend and on `Autodiff<Flex>` (f32 tensors) it runs this crate's kernels instead: row kernels
//! parallel over both cores with vectorisable `exp`/`erf`, and one backward step per op where burn's
//! autodiff would record five to ten element-wise ones. Every other backend gets burn's ops. The
//! backend is recognised by its type at run time, so model code keeps a plain `B: Backend` bound;
//! [`taken`] counts the fast paths that ran, so that a test sees one that stopped being taken.

mod activation;
mod additive;
mod attention;
mod decoder;
mod dropout;
mod embedding;
#[cfg(feature = "flex")]
mod flex;
mod linear;
mod loss;
mod norm;
mod optimizer;
mod packing;
mod recurrent;
mod softmax;
#[cfg(all(test, feature = "flex"))]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "flex")]
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

pub use crate::cpu::{AdamWStep, CellKind, Recurrence};
pub use activation::{gelu, tanh};
pub use additive::{AdditiveInputs, additive_attention};
pub use attention::{Attended, Unfused, attention, packed_attention};
pub use decoder::{AttentiveDecoderInputs, attentive_decoder};
pub use dropout::dropout;
pub use embedding::embedding;
pub use linear::linear;
pub use loss::cross_entropy;
pub use norm::{add_layer_norm, layer_norm};
pub use optimizer::{adamw, moving_average};
pub use packing::{pack_rows, unpack_rows};
pub use recurrent::{RecurrentInputs, fuses_recurrent, recurrent};
pub use softmax::scaled_softmax;

/// A fused op, for [`taken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`gelu`].
    Gelu,
    /// [`scaled_softmax`].
    ScaledSoftmax,
    /// [`layer_norm`] and [`add_layer_norm`].
    LayerNorm,
    /// [`dropout`].
    Dropout,
    /// [`linear`].
    Linear,
    /// [`embedding`].
    Embedding,
    /// [`attention`] and [`packed_attention`].
    Attention,
    /// [`adamw`].
    AdamW,
    /// [`moving_average`].
    MovingAverage,
    /// [`recurrent`].
    Recurrent,
    /// [`tanh`].
    Tanh,
    /// [`additive_attention`].
    AdditiveAttention,
    /// [`cross_entropy`].
    CrossEntropy,
    /// [`attentive_decoder`].
    AttentiveDecoder,
    /// [`pack_rows`] and [`unpack_rows`].
    Packing,
}

/// Calls of each [`Op`] that took a fast path, in this process.
static TAKEN: [AtomicU64; 15] = [const { AtomicU64::new(0) }; 15];

/// How many calls of `op` have run this crate's kernels so far in this process (0 on a build
/// without the `flex` feature).
pub fn taken(op: Op) -> u64 {
    TAKEN[op as usize].load(Ordering::Relaxed)
}

/// One rung of the ladder "`Autodiff<Flex>`, then `Flex`, then burn's ops", written once: runs
/// `kernel` when `args` are of its argument type `F` and returns its result as `R` (the type it
/// has then: a fast path returns the type it was given), else gives `args` back.
#[cfg(feature = "flex")]
fn fast<A: 'static, F: 'static, S: 'static, R: 'static>(
    op: Op,
    args: A,
    kernel: impl FnOnce(F) -> S,
) -> Result<R, A> {
    let args = cast::<A, F>(args)?;
    TAKEN[op as usize].fetch_add(1, Ordering::Relaxed);
    Ok(cast(kernel(args)).unwrap_or_else(|_| unreachable!("a fast path changed the tensor type")))
}

/// `value` as a `To` when that is its type, else `value` back.
#[cfg(feature = "flex")]
fn cast<From: 'static, To: 'static>(value: From) -> Result<To, From> {
    let mut slot = Some(value);
    match (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<To>>() {
        Some(to) => Ok(to.take().expect("the slot was filled above")),
        None => Err(slot.expect("the slot was left untouched")),
    }
}

#[cfg(feature = "flex")]
type Ad = burn::backend::Autodiff<burn::backend::Flex>;
/// A float tensor on Flex.
#[cfg(feature = "flex")]
type OnFlex<const D: usize> = Tensor<burn::backend::Flex, D>;
/// A float tensor on `Autodiff<Flex>`.
#[cfg(feature = "flex")]
type OnAd<const D: usize> = Tensor<Ad, D>;

/// The ladder "`Autodiff<Flex>`, then `Flex`, then burn's ops": `on_ad` or `on_flex`, whichever
/// takes `args`, else `args` back for burn's ops.
#[cfg(feature = "flex")]
fn ladder<A: 'static, F: 'static, G: 'static, S: 'static, T: 'static, R: 'static>(
    op: Op,
    args: A,
    on_ad: impl FnOnce(F) -> S,
    on_flex: impl FnOnce(G) -> T,
) -> Result<R, A> {
    fast(op, args, on_ad).or_else(|args| fast(op, args, on_flex))
}

/// Whether `B` is Flex or `Autodiff<Flex>`, the backends this crate's kernels run on.
fn on_flex<B: Backend>() -> bool {
    #[cfg(feature = "flex")]
    {
        use std::any::TypeId;
        [TypeId::of::<Ad>(), TypeId::of::<burn::backend::Flex>()].contains(&TypeId::of::<B>())
    }
    #[cfg(not(feature = "flex"))]
    false
}
