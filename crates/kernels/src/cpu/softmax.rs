//! Softmax over rows with a scale and an additive bias (the attention mask), and its gradient.

use rayon::prelude::*;

use super::rows_per_task;
use super::simd::{exp, max_of, sum_of};

/// `out = softmax(scale * x + bias)` over rows of `n`; row `r` adds bias row `r / rows_per_bias`.
pub fn scaled_softmax(
    x: &[f32],
    bias: &[f32],
    rows_per_bias: usize,
    n: usize,
    scale: f32,
    out: &mut [f32],
) {
    let rows = rows_per_task(n);
    out.par_chunks_mut(rows * n)
        .zip(x.par_chunks(rows * n))
        .enumerate()
        .for_each(|(task, (o, x))| softmax_rows(x, bias, n, task * rows, rows_per_bias, scale, o));
}

kernel! {
    /// Rows of [`scaled_softmax`], the first of them row `first` of the whole.
    fn softmax_rows(
        x: &[f32],
        bias: &[f32],
        n: usize,
        first: usize,
        rows_per_bias: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        for (i, (out, x)) in out.chunks_mut(n).zip(x.chunks(n)).enumerate() {
            let b = (first + i) / rows_per_bias;
            for ((o, &x), &b) in out.iter_mut().zip(x).zip(&bias[b * n..(b + 1) * n]) {
                *o = scale * x + b;
            }
            normalise(out);
        }
    }
}

/// softmax(`row`) in place.
#[inline(always)]
pub(super) fn normalise(row: &mut [f32]) {
    let max = max_of(row);
    row.iter_mut().for_each(|o| *o = exp(*o - max));
    let inv = 1.0 / sum_of(row, row, |o, _| o);
    row.iter_mut().for_each(|o| *o *= inv);
}

/// `out = scale * y * (g - Σ g y)` over rows of `n`: the gradient of [`scaled_softmax`] for its x,
/// from its output `y` and the gradient `g` of that output.
pub fn scaled_softmax_backward(y: &[f32], g: &[f32], n: usize, scale: f32, out: &mut [f32]) {
    let rows = rows_per_task(n);
    out.par_chunks_mut(rows * n)
        .zip(y.par_chunks(rows * n).zip(g.par_chunks(rows * n)))
        .for_each(|(o, (y, g))| softmax_backward_rows(y, g, n, scale, o));
}

kernel! {
    /// Rows of [`scaled_softmax_backward`].
    pub(super) fn softmax_backward_rows(y: &[f32], g: &[f32], n: usize, scale: f32, out: &mut [f32]) {
        for ((o, y), g) in out.chunks_mut(n).zip(y.chunks(n)).zip(g.chunks(n)) {
            let dot = sum_of(y, g, |y, g| y * g);
            for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
                *o = scale * y * (g - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::{close, data};

    #[test]
    fn scaled_softmax_matches_the_definition_and_masks() {
        let (rows, n, per_bias) = (6 * 37, 37, 37);
        let x = data(rows * n, 3);
        let mut bias = vec![0.0; 6 * n];
        bias[n - 3..n].fill(f32::MIN);
        let mut y = vec![0.0; x.len()];
        scaled_softmax(&x, &bias, per_bias, n, 0.125, &mut y);
        for (r, (y, x)) in y.chunks(n).zip(x.chunks(n)).enumerate() {
            let b = &bias[(r / per_bias) * n..][..n];
            let s: Vec<f64> = x
                .iter()
                .zip(b)
                .map(|(x, b)| 0.125 * *x as f64 + *b as f64)
                .collect();
            let max = s.iter().cloned().fold(f64::MIN, f64::max);
            let sum: f64 = s.iter().map(|s| (s - max).exp()).sum();
            let want: Vec<f32> = s.iter().map(|s| ((s - max).exp() / sum) as f32).collect();
            close(y, &want, 1e-6);
            if r < per_bias {
                assert!(
                    y[n - 3..].iter().all(|&p| p == 0.0),
                    "masked keys get no weight"
                );
            }
        }
    }

    #[test]
    fn scaled_softmax_backward_matches_finite_differences() {
        let n = 9;
        let x = data(2 * n, 4);
        let g = data(2 * n, 5);
        let bias = vec![0.0; n];
        let loss = |x: &[f32]| -> f64 {
            let mut y = vec![0.0; x.len()];
            scaled_softmax(x, &bias, 2, n, 0.5, &mut y);
            y.iter().zip(&g).map(|(y, g)| (*y * *g) as f64).sum()
        };
        let mut y = vec![0.0; x.len()];
        scaled_softmax(&x, &bias, 2, n, 0.5, &mut y);
        let mut dx = vec![0.0; x.len()];
        scaled_softmax_backward(&y, &g, n, 0.5, &mut dx);
        for i in 0..x.len() {
            let (mut hi, mut lo) = (x.clone(), x.clone());
            hi[i] += 1e-2;
            lo[i] -= 1e-2;
            let numeric = ((loss(&hi) - loss(&lo)) / 2e-2) as f32;
            assert!(
                (dx[i] - numeric).abs() < 2e-3,
                "at {i}: {} vs {numeric}",
                dx[i]
            );
        }
    }
}
