//! The optimizer's steps: AdamW and the weights' exponential moving average.

use burn::tensor::{ElementConversion, Tensor, backend::Backend};

use crate::cpu::AdamWStep;

#[cfg(feature = "flex")]
use super::{OnFlex, Op, fast, flex};

/// The factor that brings a gradient of L2 norm `norm` down to `max` (burn's `clip_by_norm`).
pub(super) fn clip_coefficient(max: f32, norm: f32) -> f32 {
    (max / (norm + f32::MIN_POSITIVE)).min(1.0)
}

/// One AdamW step of a parameter tensor: returns the new parameter and first and second moments
/// (`moments` is `None` on the first step, as if they were zero). On Flex (f32) one in-place pass.
pub fn adamw<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    grad: Tensor<B, D>,
    moments: Option<(Tensor<B, D>, Tensor<B, D>)>,
    h: &AdamWStep,
) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
    let (m, v) = moments.unwrap_or_else(|| (param.zeros_like(), param.zeros_like()));
    #[cfg(feature = "flex")]
    let (param, grad, m, v) = if [&param, &grad, &m, &v]
        .iter()
        .all(|t| flex::takes(t.dtype()))
    {
        let on_flex =
            |(p, g, m, v): (OnFlex<D>, OnFlex<D>, OnFlex<D>, OnFlex<D>)| flex::adamw(p, g, m, v, h);
        match fast(Op::AdamW, (param, grad, m, v), on_flex) {
            Ok(stepped) => return stepped,
            Err(args) => args,
        }
    } else {
        (param, grad, m, v)
    };
    let grad = match h.clip_norm {
        Some(max) => {
            let norm: f32 = grad.clone().square().sum().sqrt().into_scalar().elem();
            grad * clip_coefficient(max, norm)
        }
        None => grad,
    };
    let m = m * h.beta_1 + grad.clone() * (1.0 - h.beta_1);
    let v = v * h.beta_2 + grad.square() * (1.0 - h.beta_2);
    let m_hat = m.clone() / (1.0 - h.beta_1.powi(h.time as i32));
    let v_hat = v.clone() / (1.0 - h.beta_2.powi(h.time as i32));
    let step = m_hat / (v_hat.sqrt() + h.epsilon);
    (param * (1.0 - h.lr * h.weight_decay) - step * h.lr, m, v)
}

/// `average + (value - average) * (1 - decay)`: one step of an exponential moving average (a
/// parameter that did not move stays exactly as it was). On Flex (f32) one parallel pass, in
/// place where `average` is not shared.
pub fn moving_average<B: Backend, const D: usize>(
    average: Tensor<B, D>,
    value: Tensor<B, D>,
    decay: f64,
) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let (average, value) = if flex::takes(average.dtype()) && flex::takes(value.dtype()) {
        let on_flex = |(a, v): (OnFlex<D>, OnFlex<D>)| flex::moving_average(a, v, decay);
        match fast(Op::MovingAverage, (average, value), on_flex) {
            Ok(averaged) => return averaged,
            Err(args) => args,
        }
    } else {
        (average, value)
    };
    average.clone() + (value - average) * (1.0 - decay)
}
