//! One query's additive attention (Bahdanau et al. 2015) over a row's keys, and its gradient:
//! eᵢ = tanh(q + kᵢ), scoreᵢ = v·eᵢ, α = softmax over the row's real positions, context = Σ αᵢ hᵢ.
//! One parallel task per row of the batch; the decoder calls it once per step.

use rayon::prelude::*;

use super::simd;
use super::softmax::normalise;

/// The sizes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Additive {
    /// Rows (sentences).
    pub batch: usize,
    /// Key positions per row (padded).
    pub seq: usize,
    /// Width of the query and of the projected keys (the alignment layer).
    pub hidden: usize,
    /// Width of the values (the encoder states).
    pub width: usize,
}

/// What the forward pass returns: context [batch, width], weights [batch, seq] (0 past each
/// row's length) and, when kept for the backward pass, the energies tanh(q + kᵢ) [batch, seq,
/// hidden].
pub struct AdditiveOut {
    /// Σ αᵢ hᵢ per row.
    pub context: Vec<f32>,
    /// α per row.
    pub weights: Vec<f32>,
    /// tanh(q + kᵢ) per row and position (empty unless kept).
    pub energy: Vec<f32>,
}

/// The forward pass over `query` [batch, hidden], `keys` [batch, seq, hidden], `v` [hidden] and
/// `values` [batch, seq, width]; row b attends to its first `lengths[b]` positions (a row of
/// length 0 gets zero weights and context).
pub fn additive(
    a: Additive,
    [query, keys, v, values]: [&[f32]; 4],
    lengths: &[usize],
    keep: bool,
) -> AdditiveOut {
    let Additive {
        seq, hidden, width, ..
    } = a;
    let mut context = vec![0.0; a.batch * width];
    let mut weights = vec![0.0; a.batch * seq];
    let mut energy = vec![0.0; if keep { a.batch * seq * hidden } else { 0 }];
    let mut scratch = vec![0.0; if keep { 0 } else { a.batch * seq * hidden }];
    let energies = if keep { &mut energy } else { &mut scratch };
    context
        .par_chunks_mut(width)
        .zip(weights.par_chunks_mut(seq))
        .zip(energies.par_chunks_mut(seq * hidden))
        .enumerate()
        .for_each(|(b, ((ctx, w), e))| {
            let len = lengths[b].min(seq);
            let q = &query[b * hidden..(b + 1) * hidden];
            let k = &keys[b * seq * hidden..(b * seq + len) * hidden];
            let h = &values[b * seq * width..(b * seq + len) * width];
            forward_row(q, k, v, h, &mut e[..len * hidden], &mut w[..len], ctx);
        });
    AdditiveOut {
        context,
        weights,
        energy,
    }
}

kernel! {
    /// One row of [`additive`] over its `w.len()` real positions (the context added to `ctx`).
    pub(super) fn forward_row(q: &[f32], k: &[f32], v: &[f32], h: &[f32], e: &mut [f32], w: &mut [f32], ctx: &mut [f32]) {
        if w.is_empty() {
            return;
        }
        let hidden = q.len();
        for (i, score) in w.iter_mut().enumerate() {
            let e = &mut e[i * hidden..(i + 1) * hidden];
            for ((e, &q), &k) in e.iter_mut().zip(q).zip(&k[i * hidden..]) {
                *e = simd::tanh(q + k);
            }
            *score = simd::sum_of(e, v, |e, v| e * v);
        }
        normalise(w);
        let width = ctx.len();
        for (i, &alpha) in w.iter().enumerate() {
            for (c, &h) in ctx.iter_mut().zip(&h[i * width..(i + 1) * width]) {
                *c += alpha * h;
            }
        }
    }
}

/// The gradients of [`additive`]'s inputs from the context's gradient.
pub struct AdditiveGrads {
    /// Of the query [batch, hidden].
    pub query: Vec<f32>,
    /// Of the keys [batch, seq, hidden] (0 on padding).
    pub keys: Vec<f32>,
    /// Of v [hidden].
    pub v: Vec<f32>,
    /// Of the values [batch, seq, width] (0 on padding).
    pub values: Vec<f32>,
}

/// The backward pass from `d_context` [batch, width], with the forward pass's kept energies and
/// weights, `v` and `values`.
pub fn additive_backward(
    a: Additive,
    [energy, weights, v, values, d_context]: [&[f32]; 5],
    lengths: &[usize],
) -> AdditiveGrads {
    let Additive {
        batch,
        seq,
        hidden,
        width,
    } = a;
    let mut grads = AdditiveGrads {
        query: vec![0.0; batch * hidden],
        keys: vec![0.0; batch * seq * hidden],
        v: vec![0.0; hidden],
        values: vec![0.0; batch * seq * width],
    };
    let mut dv_rows = vec![0.0; batch * hidden];
    grads
        .query
        .par_chunks_mut(hidden)
        .zip(grads.keys.par_chunks_mut(seq * hidden))
        .zip(grads.values.par_chunks_mut(seq * width))
        .zip(dv_rows.par_chunks_mut(hidden))
        .enumerate()
        .for_each(|(b, (((dq, dk), dh), dv))| {
            let len = lengths[b].min(seq);
            let inputs = BackwardRow {
                e: &energy[b * seq * hidden..(b * seq + len) * hidden],
                w: &weights[b * seq..b * seq + len],
                v,
                h: &values[b * seq * width..(b * seq + len) * width],
                dc: &d_context[b * width..(b + 1) * width],
            };
            backward_row(
                &inputs,
                dq,
                &mut dk[..len * hidden],
                &mut dh[..len * width],
                dv,
            );
        });
    for row in dv_rows.chunks(hidden) {
        for (g, &x) in grads.v.iter_mut().zip(row) {
            *g += x;
        }
    }
    grads
}

/// What one row's backward pass reads: its energies, weights, v, values and the context's
/// gradient.
pub(super) struct BackwardRow<'a> {
    pub e: &'a [f32],
    pub w: &'a [f32],
    pub v: &'a [f32],
    pub h: &'a [f32],
    pub dc: &'a [f32],
}

kernel! {
    /// One row of [`additive_backward`], its gradients added to `dq`, `dk`, `dh` and `dv`.
    pub(super) fn backward_row<'a>(r: &BackwardRow<'a>, dq: &mut [f32], dk: &mut [f32], dh: &mut [f32], dv: &mut [f32]) {
        let (hidden, width) = (r.v.len(), r.dc.len());
        // dα_i = dc · h_i, then the softmax: ds_i = α_i (dα_i - Σ α_j dα_j).
        let dalpha: Vec<f32> = (0..r.w.len())
            .map(|i| simd::sum_of(&r.h[i * width..(i + 1) * width], r.dc, |h, d| h * d))
            .collect();
        let mean = simd::sum_of(r.w, &dalpha, |w, d| w * d);
        for (i, (&alpha, &da)) in r.w.iter().zip(&dalpha).enumerate() {
            for (g, &d) in dh[i * width..(i + 1) * width].iter_mut().zip(r.dc) {
                *g += alpha * d;
            }
            let ds = alpha * (da - mean);
            let e = &r.e[i * hidden..(i + 1) * hidden];
            let dk = &mut dk[i * hidden..(i + 1) * hidden];
            for ((((k, q), dv), &e), &v) in dk.iter_mut().zip(dq.iter_mut()).zip(dv.iter_mut()).zip(e).zip(r.v) {
                let pre = ds * v * (1.0 - e * e);
                *k += pre;
                *q += pre;
                *dv += ds * e;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::{close, data};

    /// The forward pass in plain f64 loops.
    fn reference(
        a: Additive,
        [q, k, v, h]: [&[f32]; 4],
        lengths: &[usize],
    ) -> (Vec<f64>, Vec<f64>) {
        let mut ctx = vec![0.0; a.batch * a.width];
        let mut weights = vec![0.0; a.batch * a.seq];
        for b in 0..a.batch {
            let len = lengths[b];
            let scores: Vec<f64> = (0..len)
                .map(|i| {
                    (0..a.hidden)
                        .map(|j| {
                            let x = q[b * a.hidden + j] as f64
                                + k[(b * a.seq + i) * a.hidden + j] as f64;
                            x.tanh() * v[j] as f64
                        })
                        .sum()
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::MIN, f64::max);
            let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            for i in 0..len {
                let alpha = (scores[i] - max).exp() / total;
                weights[b * a.seq + i] = alpha;
                for d in 0..a.width {
                    ctx[b * a.width + d] += alpha * h[(b * a.seq + i) * a.width + d] as f64;
                }
            }
        }
        (ctx, weights)
    }

    const A: Additive = Additive {
        batch: 3,
        seq: 5,
        hidden: 4,
        width: 6,
    };

    fn inputs() -> [Vec<f32>; 4] {
        let scaled = |n, seed| {
            data(n, seed)
                .into_iter()
                .map(|x| x * 0.3)
                .collect::<Vec<_>>()
        };
        [
            scaled(A.batch * A.hidden, 1),
            scaled(A.batch * A.seq * A.hidden, 2),
            scaled(A.hidden, 3),
            scaled(A.batch * A.seq * A.width, 4),
        ]
    }

    #[test]
    fn forward_matches_the_definition_and_is_zero_on_padding() {
        let [q, k, v, h] = inputs();
        let lengths = [5, 2, 3];
        let out = additive(A, [&q, &k, &v, &h], &lengths, true);
        let (ctx, weights) = reference(A, [&q, &k, &v, &h], &lengths);
        let f = |x: &[f64]| x.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        close(&out.context, &f(&ctx), 1e-5);
        close(&out.weights, &f(&weights), 1e-5);
        assert!(out.weights[A.seq + 2..2 * A.seq].iter().all(|&w| w == 0.0));
    }

    #[test]
    fn backward_matches_finite_differences() {
        let [q, k, v, h] = inputs();
        let lengths = [5, 2, 3];
        let dc = data(A.batch * A.width, 9);
        // The loss Σ dc · context, in f64 through the reference.
        let loss = |q: &[f32], k: &[f32], v: &[f32], h: &[f32]| -> f64 {
            let (ctx, _) = reference(A, [q, k, v, h], &lengths);
            ctx.iter().zip(&dc).map(|(c, &d)| c * d as f64).sum()
        };
        let out = additive(A, [&q, &k, &v, &h], &lengths, true);
        let g = additive_backward(A, [&out.energy, &out.weights, &v, &h, &dc], &lengths);
        let inputs = [q, k, v, h];
        let analytic = [&g.query, &g.keys, &g.v, &g.values];
        for (which, grad) in analytic.iter().enumerate() {
            for i in 0..grad.len() {
                let eps = 1e-3;
                let mut plus = inputs.clone();
                plus[which][i] += eps;
                let mut minus = inputs.clone();
                minus[which][i] -= eps;
                let numeric = (loss(&plus[0], &plus[1], &plus[2], &plus[3])
                    - loss(&minus[0], &minus[1], &minus[2], &minus[3]))
                    / (2.0 * eps as f64);
                let tol = 2e-3 * (1.0 + numeric.abs());
                assert!(
                    (grad[i] as f64 - numeric).abs() < tol,
                    "input {which} at {i}: {} vs {numeric}",
                    grad[i]
                );
            }
        }
    }
}
