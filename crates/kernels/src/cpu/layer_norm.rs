//! LayerNorm over rows (with the residual added in the same pass) and its gradients.

use rayon::prelude::*;

use super::rows_per_task;
use super::simd::sum_of;

/// LayerNorm over rows of `n` of `x` (+ `residual`, added first): `out = x̂ γ + β` with
/// `x̂ = (x - mean) / √(var + eps)`; also writes x̂ and 1/√(var + eps) per row when `saved` is
/// given (for the backward pass).
pub fn layer_norm(
    x: &[f32],
    residual: Option<&[f32]>,
    [gamma, beta]: [&[f32]; 2],
    eps: f32,
    out: &mut [f32],
    saved: Option<(&mut [f32], &mut [f32])>,
) {
    let n = gamma.len();
    let rows = rows_per_task(n);
    let res = |task: usize, len: usize| residual.map(|r| &r[task * rows * n..][..len]);
    match saved {
        Some((xhat, rstd)) => out
            .par_chunks_mut(rows * n)
            .zip(x.par_chunks(rows * n))
            .zip(xhat.par_chunks_mut(rows * n).zip(rstd.par_chunks_mut(rows)))
            .enumerate()
            .for_each(|(t, ((o, x), (h, r)))| {
                let x = (x, res(t, o.len()));
                layer_norm_rows(x, [gamma, beta], eps, o, Some((h, r)))
            }),
        None => out
            .par_chunks_mut(rows * n)
            .zip(x.par_chunks(rows * n))
            .enumerate()
            .for_each(|(t, (o, x))| {
                layer_norm_rows((x, res(t, o.len())), [gamma, beta], eps, o, None)
            }),
    }
}

kernel! {
    /// Rows of [`layer_norm`].
    fn layer_norm_rows(
        (x, residual): (&[f32], Option<&[f32]>),
        [gamma, beta]: [&[f32]; 2],
        eps: f32,
        out: &mut [f32],
        saved: Option<(&mut [f32], &mut [f32])>,
    ) {
        let n = gamma.len();
        match residual {
            Some(r) => out
                .iter_mut()
                .zip(x.iter().zip(r))
                .for_each(|(o, (&x, &r))| *o = x + r),
            None => out.copy_from_slice(x),
        }
        let (mut xhat, mut rstd) = match saved {
            Some((h, r)) => (Some(h.chunks_mut(n)), Some(r.iter_mut())),
            None => (None, None),
        };
        for out in out.chunks_mut(n) {
            let mean = sum_of(out, out, |x, _| x) / n as f32;
            let var = sum_of(out, out, |x, _| (x - mean) * (x - mean)) / n as f32;
            let r = 1.0 / (var + eps).sqrt();
            if let (Some(xhat), Some(rstd)) = (xhat.as_mut(), rstd.as_mut()) {
                for (h, &x) in xhat
                    .next()
                    .expect("a row of x̂ per row")
                    .iter_mut()
                    .zip(&*out)
                {
                    *h = (x - mean) * r;
                }
                *rstd.next().expect("a 1/σ per row") = r;
            }
            for ((o, &g), &b) in out.iter_mut().zip(gamma).zip(beta) {
                *o = (*o - mean) * r * g + b;
            }
        }
    }
}

/// Gradients of [`layer_norm`] from the saved x̂ and 1/σ per row and the output gradient `g`:
/// writes dx into `dx` and returns (dγ, dβ).
pub fn layer_norm_backward(
    g: &[f32],
    xhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    dx: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let n = gamma.len();
    let rows = rows_per_task(n);
    // One partial (dγ, dβ) per chunk of rows, summed in chunk order: the same result whichever
    // thread ran which chunk (training is deterministic for a seed).
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(rows * n)
        .zip(g.par_chunks(rows * n))
        .zip(xhat.par_chunks(rows * n).zip(rstd.par_chunks(rows)))
        .map(|((dx, g), (h, r))| layer_norm_backward_rows(g, h, r, gamma, dx))
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; n]);
    for (pg, pb) in partials {
        dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
        dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (dgamma, dbeta)
}

kernel! {
    /// Rows of [`layer_norm_backward`]: writes their dx and returns their part of (dγ, dβ).
    fn layer_norm_backward_rows(
        g: &[f32],
        xhat: &[f32],
        rstd: &[f32],
        gamma: &[f32],
        dx: &mut [f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let n = gamma.len();
        let (mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; n]);
        for (((dx, g), h), &r) in dx
            .chunks_mut(n)
            .zip(g.chunks(n))
            .zip(xhat.chunks(n))
            .zip(rstd)
        {
            for ((&g, &h), (dgamma, dbeta)) in g.iter().zip(h).zip(dgamma.iter_mut().zip(&mut dbeta)) {
                *dgamma += g * h;
                *dbeta += g;
            }
            // dx's own x̂ row holds g·γ for a moment, so that Σ g·γ·x̂ is a two-input sum.
            for ((dx, &g), &gamma) in dx.iter_mut().zip(g).zip(gamma) {
                *dx = g * gamma;
            }
            let mean_gh = sum_of(dx, dx, |gg, _| gg) / n as f32;
            let mean_ghx = sum_of(dx, h, |gg, h| gg * h) / n as f32;
            for (dx, &h) in dx.iter_mut().zip(h) {
                *dx = r * (*dx - mean_gh - h * mean_ghx);
            }
        }
        (dgamma, dbeta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::{close, data};

    #[test]
    fn layer_norm_and_its_gradients_match_finite_differences() {
        let (rows, n) = (50, 24);
        let x = data(rows * n, 6);
        let g = data(rows * n, 7);
        let gamma: Vec<f32> = data(n, 8).iter().map(|v| 1.0 + v / 8.0).collect();
        let beta = data(n, 9);
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            let mut y = vec![0.0; x.len()];
            layer_norm(x, None, [gamma, beta], 1e-12, &mut y, None);
            y.iter().zip(&g).map(|(y, g)| (*y * *g) as f64).sum()
        };
        let (mut y, mut xhat, mut rstd) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; rows]);
        layer_norm(
            &x,
            None,
            [&gamma, &beta],
            1e-12,
            &mut y,
            Some((&mut xhat, &mut rstd)),
        );
        for (y, x) in y.chunks(n).zip(x.chunks(n)) {
            let mean = x.iter().sum::<f32>() / n as f32;
            let sd = (x.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
            let want: Vec<f32> = (0..n)
                .map(|j| (x[j] - mean) / sd * gamma[j] + beta[j])
                .collect();
            close(y, &want, 1e-5);
        }
        let mut dx = vec![0.0; x.len()];
        let (dgamma, dbeta) = layer_norm_backward(&g, &xhat, &rstd, &gamma, &mut dx);
        let numeric = |f: &dyn Fn(f32) -> f64| ((f(1e-2) - f(-1e-2)) / 2e-2) as f32;
        for i in (0..x.len()).step_by(7) {
            let d = numeric(&|h| {
                let mut x = x.clone();
                x[i] += h;
                loss(&x, &gamma, &beta)
            });
            assert!(
                (dx[i] - d).abs() < 1e-2 * (1.0 + d.abs()),
                "dx at {i}: {} vs {d}",
                dx[i]
            );
        }
        for j in 0..n {
            let dg = numeric(&|h| {
                let mut gamma = gamma.clone();
                gamma[j] += h;
                loss(&x, &gamma, &beta)
            });
            let db = numeric(&|h| {
                let mut beta = beta.clone();
                beta[j] += h;
                loss(&x, &gamma, &beta)
            });
            assert!(
                (dgamma[j] - dg).abs() < 1e-2 * (1.0 + dg.abs()),
                "dγ at {j}"
            );
            assert!((dbeta[j] - db).abs() < 1e-2 * (1.0 + db.abs()), "dβ at {j}");
        }
    }
}
