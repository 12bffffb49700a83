//! The optimizer's passes over a parameter: the gradient's L2 norm, AdamW, a moving average.

use rayon::prelude::*;

use super::CHUNK;
use super::simd::sum_of;

/// The L2 norm of `x`: sums of squares of fixed chunks, added in chunk order (in f64).
pub fn l2_norm(x: &[f32]) -> f32 {
    kernel! {
        fn squares(x: &[f32]) -> f32 {
            sum_of(x, x, |x, _| x * x)
        }
    }
    let partial: Vec<f32> = x.par_chunks(CHUNK).map(squares).collect();
    partial.iter().map(|&s| s as f64).sum::<f64>().sqrt() as f32
}

/// The hyper-parameters of one AdamW step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta_1: f64,
    /// Decay of the second moment.
    pub beta_2: f64,
    /// Added to the square root of the second moment.
    pub epsilon: f64,
    /// Decoupled weight decay (the parameter shrinks by `lr * weight_decay`).
    pub weight_decay: f64,
    /// The step's number, from 1 (for the bias correction of the moments).
    pub time: usize,
    /// A gradient whose L2 norm is above this is scaled down to it first (per tensor, as burn's
    /// `GradientClipping::Norm`).
    pub clip_norm: Option<f32>,
}

/// One AdamW step (PyTorch's and burn's: decoupled decay, bias-corrected moments) in place, with
/// the gradient multiplied by `grad_scale` (the clipping coefficient, or 1).
pub fn adamw(
    param: &mut [f32],
    grad: &[f32],
    grad_scale: f32,
    m: &mut [f32],
    v: &mut [f32],
    h: &AdamWStep,
) {
    let c = AdamWConstants {
        grad_scale,
        b1: h.beta_1 as f32,
        b2: h.beta_2 as f32,
        correction_1: 1.0 / (1.0 - h.beta_1.powi(h.time as i32)) as f32,
        correction_2: 1.0 / (1.0 - h.beta_2.powi(h.time as i32)) as f32,
        decay: (1.0 - h.lr * h.weight_decay) as f32,
        lr: h.lr as f32,
        eps: h.epsilon as f32,
    };
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| adamw_chunk(p, g, m, v, c));
}

/// The numbers of one [`adamw`] step, in f32.
#[derive(Clone, Copy)]
struct AdamWConstants {
    grad_scale: f32,
    b1: f32,
    b2: f32,
    correction_1: f32,
    correction_2: f32,
    decay: f32,
    lr: f32,
    eps: f32,
}

kernel! {
    /// A chunk of [`adamw`].
    fn adamw_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: AdamWConstants) {
        for ((p, &g), (m, v)) in p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
            let g = g * c.grad_scale;
            *m = c.b1 * *m + (1.0 - c.b1) * g;
            *v = c.b2 * *v + (1.0 - c.b2) * g * g;
            let step = (*m * c.correction_1) / ((*v * c.correction_2).sqrt() + c.eps);
            *p = *p * c.decay - c.lr * step;
        }
    }
}

/// `average += (value - average) * (1 - decay)`, in place (an average equal to the value stays
/// exactly as it is).
pub fn moving_average(average: &mut [f32], value: &[f32], decay: f32) {
    kernel! {
        fn chunk(a: &mut [f32], v: &[f32], rate: f32) {
            for (a, &v) in a.iter_mut().zip(v) {
                *a += (v - *a) * rate;
            }
        }
    }
    average
        .par_chunks_mut(CHUNK)
        .zip(value.par_chunks(CHUNK))
        .for_each(|(a, v)| chunk(a, v, 1.0 - decay));
}
