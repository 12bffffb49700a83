//! The exact (erf) GELU of BERT and its gradient.

use rayon::prelude::*;

use super::CHUNK;
use super::simd::{FRAC_1_SQRT_2, FRAC_1_SQRT_2PI, erf, exp};

/// `out = gelu(x)`, the exact (erf) GELU of BERT.
pub fn gelu(x: &[f32], out: &mut [f32]) {
    kernel! {
        fn chunk(x: &[f32], out: &mut [f32]) {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
            }
        }
    }
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| chunk(x, o));
}

/// `out = g * gelu'(x)`.
pub fn gelu_backward(x: &[f32], g: &[f32], out: &mut [f32]) {
    kernel! {
        fn chunk(x: &[f32], g: &[f32], out: &mut [f32]) {
            for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
                let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
                let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
                *o = g * (cdf + x * pdf);
            }
        }
    }
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(o, (x, g))| chunk(x, g, o));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::{close, data, libm_erf};

    #[test]
    fn gelu_and_its_gradient_match_the_definition() {
        let x = data(40_000, 1);
        let g = data(40_000, 2);
        let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        gelu(&x, &mut y);
        gelu_backward(&x, &g, &mut dx);
        let gelu64 = |x: f64| 0.5 * x * (1.0 + libm_erf(x / 2f64.sqrt()));
        let want: Vec<f32> = x.iter().map(|&x| gelu64(x as f64) as f32).collect();
        close(&y, &want, 1e-6);
        let h = 1e-3;
        let numeric: Vec<f32> = x
            .iter()
            .zip(&g)
            .map(|(&x, &g)| {
                let x = x as f64;
                (g as f64 * (gelu64(x + h) - gelu64(x - h)) / (2.0 * h)) as f32
            })
            .collect();
        close(&dx, &numeric, 1e-5);
    }
}
