//! LayerNorm, with BERT's residual sum taken in the same pass.

use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};

#[cfg(feature = "flex")]
use super::{Ad, Op, flex, ladder};

/// LayerNorm over the last dim with weight `gamma`, bias `beta` and `eps` (as `burn::nn::LayerNorm`).
pub fn layer_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    norm_of_sum(x, None, gamma, beta, eps)
}

/// [`layer_norm`] of `x + residual` (BERT's residual connection). On Flex the sum is taken in the
/// LayerNorm's own pass; elsewhere (`Autodiff<Flex>` included, where the sum's backward step is a
/// copy) it is a separate add.
pub fn add_layer_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    residual: Tensor<B, D>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    norm_of_sum(x, Some(residual), gamma, beta, eps)
}

/// The arguments of [`norm_of_sum`] on one backend.
#[cfg(feature = "flex")]
type NormArgs<B, const D: usize> = (
    Tensor<B, D>,
    Option<Tensor<B, D>>,
    Tensor<B, 1>,
    Tensor<B, 1>,
);

/// LayerNorm of `x` (+ `residual`): the fused pass on Flex (sum included) and on `Autodiff<Flex>`
/// (after a separate add), burn's LayerNorm elsewhere.
fn norm_of_sum<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    residual: Option<Tensor<B, D>>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let (x, residual, gamma, beta) = if flex::takes(x.dtype())
        && flex::takes(gamma.dtype())
        && residual
            .as_ref()
            .is_none_or(|r| flex::takes(r.dtype()) && r.dims() == x.dims())
    {
        let on_ad = |(x, r, g, b): NormArgs<Ad, D>| {
            let x = match r {
                Some(r) => x + r,
                None => x,
            };
            flex::layer_norm_autodiff(x, g, b, eps)
        };
        let on_flex =
            |(x, r, g, b): NormArgs<burn::backend::Flex, D>| flex::layer_norm(x, r, g, b, eps);
        match ladder(Op::LayerNorm, (x, residual, gamma, beta), on_ad, on_flex) {
            Ok(y) => return y,
            Err(args) => args,
        }
    } else {
        (x, residual, gamma, beta)
    };
    let x = match residual {
        Some(r) => x + r,
        None => x,
    };
    let [x, gamma, beta] = [
        x.into_primitive(),
        gamma.into_primitive(),
        beta.into_primitive(),
    ]
    .map(TensorPrimitive::tensor);
    Tensor::from_primitive(TensorPrimitive::Float(
        <B as burn::tensor::ops::ModuleOps<B>>::layer_norm(x, gamma, Some(beta), eps),
    ))
}
