//! tanh and its gradient, element-wise (the additive attention's energy).

use rayon::prelude::*;

use super::CHUNK;
use super::simd;

/// `out = tanh(x)`.
pub fn tanh(x: &[f32], out: &mut [f32]) {
    kernel! {
        fn chunk(x: &[f32], out: &mut [f32]) {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = simd::tanh(x);
            }
        }
    }
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| chunk(x, o));
}

/// `out = g * (1 - y²)`: the gradient through `y = tanh(x)`, from the output.
pub fn tanh_backward(y: &[f32], g: &[f32], out: &mut [f32]) {
    kernel! {
        fn chunk(y: &[f32], g: &[f32], out: &mut [f32]) {
            for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
                *o = g * (1.0 - y * y);
            }
        }
    }
    out.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(o, (y, g))| chunk(y, g, o));
}
