//! Mixed precision in the manner of `torch.autocast`: matrix products in bf16 or f16 over f32
//! weights and activations (the master copy stays f32), chosen per thread for a scope.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use attn_kernels::fused;
use burn::nn::Linear;
use burn::tensor::{FloatDType, Tensor, backend::Backend, module::linear as linear_op};

use crate::BertError;

/// The dtype of the model's matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the default).
    #[default]
    F32,
    /// Matrix products in bfloat16, their results cast back to f32.
    Bf16,
    /// Matrix products in float16, their results cast back to f32.
    F16,
}

impl Precision {
    /// The name used on the command line and in run configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        }
    }

    fn dtype(self) -> Option<FloatDType> {
        match self {
            Self::F32 => None,
            Self::Bf16 => Some(FloatDType::BF16),
            Self::F16 => Some(FloatDType::F16),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = BertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::F32, Self::Bf16, Self::F16]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                BertError::Input(format!(
                    "unknown precision `{s}`: expected f32, bf16 or f16"
                ))
            })
    }
}

thread_local! {
    static AUTOCAST: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// Restores the previous precision of the thread when dropped.
#[must_use = "the precision reverts when the guard is dropped"]
#[derive(Debug)]
pub struct AutocastGuard {
    previous: Precision,
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|p| p.set(self.previous));
    }
}

/// Runs this thread's matrix products in `precision` until the returned guard is dropped.
pub fn autocast(precision: Precision) -> AutocastGuard {
    AutocastGuard {
        previous: AUTOCAST.with(|p| p.replace(precision)),
    }
}

/// The precision of this thread's matrix products.
pub fn current_precision() -> Precision {
    AUTOCAST.with(Cell::get)
}

/// `a · b` in the autocast precision, returned in `a`'s dtype.
pub fn matmul<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> Tensor<B, D> {
    match current_precision().dtype() {
        None => a.matmul(b),
        Some(low) => {
            let out = FloatDType::from(a.dtype());
            a.cast(low).matmul(b.cast(low)).cast(out)
        }
    }
}

/// `layer.forward(x)` with its product (and bias) in the autocast precision, returned in `x`'s dtype.
///
/// Leading dimensions are folded into one first, as PyTorch does: the product is then one
/// [tokens, d_in] x [d_in, d_out] matrix product, and the weight's gradient one product over all
/// tokens, instead of one per sequence summed afterwards.
pub fn linear<B: Backend, const D: usize>(layer: &Linear<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let mut dims = x.dims();
    let x = x.reshape([-1, dims[D - 1] as i32]);
    let bias = layer.bias.as_ref().map(|b| b.val());
    let y = match current_precision().dtype() {
        None => fused::linear(x, layer.weight.val(), bias),
        Some(low) => {
            let out = FloatDType::from(x.dtype());
            let bias = bias.map(|b| b.cast(low));
            linear_op(x.cast(low), layer.weight.val().cast(low), bias).cast(out)
        }
    };
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::LinearConfig;
    use burn::tensor::{DType, Distribution};

    type B = Autodiff<Flex>;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for p in [Precision::F32, Precision::Bf16, Precision::F16] {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        let err = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("fp8") && err.contains("bf16"), "{err}");
    }

    #[test]
    fn the_guard_scopes_the_precision_to_its_thread() {
        assert_eq!(current_precision(), Precision::F32);
        {
            let _bf16 = autocast(Precision::Bf16);
            assert_eq!(current_precision(), Precision::Bf16);
            {
                let _f16 = autocast(Precision::F16);
                assert_eq!(current_precision(), Precision::F16);
            }
            assert_eq!(current_precision(), Precision::Bf16);
            let other = std::thread::spawn(current_precision).join().unwrap();
            assert_eq!(other, Precision::F32);
        }
        assert_eq!(current_precision(), Precision::F32);
    }

    #[test]
    fn low_precision_products_stay_close_and_return_f32_with_f32_gradients() {
        let device = Default::default();
        let layer = LinearConfig::new(64, 32).init::<B>(&device);
        let x =
            Tensor::<B, 2>::random([8, 64], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let exact = linear(&layer, x.clone());
        for p in [Precision::Bf16, Precision::F16] {
            let _guard = autocast(p);
            let low = linear(&layer, x.clone());
            assert_eq!(low.dtype(), DType::F32);
            let err: f32 = (low.clone() - exact.clone()).abs().max().into_scalar();
            let scale: f32 = exact.clone().abs().max().into_scalar();
            // bf16 keeps 8 mantissa bits (relative error about 2^-8), f16 keeps 11.
            assert!(err <= scale * 2e-2, "{p}: {err} against {scale}");
            assert!(err > 0.0, "{p}: the product did not run in low precision");
            let grads = low.sum().backward();
            let gw = layer.weight.grad(&grads).unwrap();
            assert_eq!(gw.dtype(), DType::F32);
            assert_eq!(gw.dims(), [64, 32]);
            assert_eq!(x.grad(&grads).unwrap().dtype(), DType::F32);
        }
        let p = matmul(x.clone(), layer.weight.val());
        let _guard = autocast(Precision::Bf16);
        let q = matmul(x, layer.weight.val());
        let err: f32 = (p.clone() - q).abs().max().into_scalar();
        assert!(err > 0.0 && err <= p.abs().max().into_scalar() * 2e-2);
    }
}
