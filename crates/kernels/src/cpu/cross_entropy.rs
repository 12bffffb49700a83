//! Cross-entropy of rows of logits against one label each, with label smoothing, and its
//! gradient: one pass over each row forward (its maximum, log-sum-exp, loss and whether its
//! largest logit is the label's) and one backward, where burn's ops take a log-softmax, a gather
//! and their gradients, each a pass over every logit.

use rayon::prelude::*;

use super::rows_per_task;
use super::simd::{exp, max_of, sum_of};

/// Per row of [`cross_entropy`]: what its loss and backward step need.
#[derive(Debug, Clone, Default)]
pub struct CrossEntropyRows {
    /// Each row's log Σ e^x (what its backward step needs).
    pub log_sum_exp: Vec<f32>,
    /// Each row's loss: -((1 - s) log p_label + s / n Σ log p).
    pub loss: Vec<f32>,
    /// Whether each row's largest logit (the first of equal ones) is its label's.
    pub hit: Vec<bool>,
}

/// The cross-entropy of each row of `logits` (rows of `n`) against its `labels` entry, the
/// targets smoothed as (1 - `smoothing`) · one-hot + `smoothing` / n; parallel over the rows.
///
/// Panics when a label is not below `n`.
pub fn cross_entropy(
    logits: &[f32],
    labels: &[usize],
    n: usize,
    smoothing: f32,
) -> CrossEntropyRows {
    let rows = labels.len();
    assert_eq!(logits.len(), rows * n, "{rows} rows of {n} logits");
    if let Some(&label) = labels.iter().find(|&&l| l >= n) {
        panic!("label {label} of {n} classes");
    }
    let mut out = CrossEntropyRows {
        log_sum_exp: vec![0.0; rows],
        loss: vec![0.0; rows],
        hit: vec![false; rows],
    };
    let task = rows_per_task(n);
    out.log_sum_exp
        .par_chunks_mut(task)
        .zip(out.loss.par_chunks_mut(task))
        .zip(out.hit.par_chunks_mut(task))
        .zip(logits.par_chunks(task * n).zip(labels.par_chunks(task)))
        .for_each(|(((lse, loss), hit), (x, labels))| {
            forward_rows(x, labels, n, smoothing, lse, loss, hit)
        });
    out
}

kernel! {
    /// Rows of [`cross_entropy`].
    fn forward_rows(
        x: &[f32],
        labels: &[usize],
        n: usize,
        smoothing: f32,
        lse: &mut [f32],
        loss: &mut [f32],
        hit: &mut [bool],
    ) {
        for (r, x) in x.chunks(n).enumerate() {
            let max = max_of(x);
            let log_sum_exp = max + sum_of(x, x, |x, _| exp(x - max)).ln();
            let label = labels[r];
            let mean = match smoothing > 0.0 {
                true => sum_of(x, x, |x, _| x) / n as f32,
                false => 0.0,
            };
            lse[r] = log_sum_exp;
            loss[r] = log_sum_exp - (1.0 - smoothing) * x[label] - smoothing * mean;
            hit[r] = x.iter().position(|&v| v == max) == Some(label);
        }
    }
}

/// `out` = `scale` · (softmax(row) - targets) per row: the gradient of `scale` × the sum of the
/// rows' [`cross_entropy`] for the logits, from the forward pass's log-sum-exps.
pub fn cross_entropy_backward(
    logits: &[f32],
    labels: &[usize],
    log_sum_exp: &[f32],
    n: usize,
    smoothing: f32,
    scale: f32,
    out: &mut [f32],
) {
    let task = rows_per_task(n);
    out.par_chunks_mut(task * n)
        .zip(logits.par_chunks(task * n))
        .zip(labels.par_chunks(task).zip(log_sum_exp.par_chunks(task)))
        .for_each(|((out, x), (labels, lse))| {
            backward_rows(x, labels, lse, n, smoothing, scale, out)
        });
}

kernel! {
    /// Rows of [`cross_entropy_backward`].
    fn backward_rows(
        x: &[f32],
        labels: &[usize],
        lse: &[f32],
        n: usize,
        smoothing: f32,
        scale: f32,
        out: &mut [f32],
    ) {
        let floor = smoothing / n as f32;
        for (r, (out, x)) in out.chunks_mut(n).zip(x.chunks(n)).enumerate() {
            let log_sum_exp = lse[r];
            for (o, &x) in out.iter_mut().zip(x) {
                *o = scale * (exp(x - log_sum_exp) - floor);
            }
            out[labels[r]] -= scale * (1.0 - smoothing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::data;

    /// The loss of one row by its definition, in f64.
    fn by_definition(x: &[f32], label: usize, smoothing: f64) -> f64 {
        let max = x.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
        let lse = max + x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        let log_p: Vec<f64> = x.iter().map(|&v| v as f64 - lse).collect();
        let n = x.len() as f64;
        -((1.0 - smoothing) * log_p[label] + smoothing / n * log_p.iter().sum::<f64>())
    }

    #[test]
    fn losses_and_hits_match_the_definition() {
        let (rows, n) = (37, 301);
        let mut x = data(rows * n, 11);
        let labels: Vec<usize> = (0..rows).map(|r| (r * 97) % n).collect();
        // Row 0's label holds its largest logit; row 1's largest is elsewhere.
        x[labels[0]] = 9.0;
        x[n + (labels[1] + 1) % n] = 9.0;
        for smoothing in [0.0, 0.1] {
            let out = cross_entropy(&x, &labels, n, smoothing);
            for (r, row) in x.chunks(n).enumerate() {
                let want = by_definition(row, labels[r], smoothing as f64);
                assert!(
                    (out.loss[r] as f64 - want).abs() < 1e-5 * (1.0 + want),
                    "row {r}"
                );
            }
            assert!(out.hit[0] && !out.hit[1]);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (rows, n) = (3, 11);
        let x = data(rows * n, 12);
        let labels = [4, 0, 10];
        for smoothing in [0.0, 0.2] {
            let total = |x: &[f32]| -> f64 {
                let out = cross_entropy(x, &labels, n, smoothing);
                out.loss.iter().map(|&l| l as f64).sum::<f64>() * 0.5
            };
            let forward = cross_entropy(&x, &labels, n, smoothing);
            let mut dx = vec![0.0; x.len()];
            cross_entropy_backward(
                &x,
                &labels,
                &forward.log_sum_exp,
                n,
                smoothing,
                0.5,
                &mut dx,
            );
            for i in 0..x.len() {
                let (mut hi, mut lo) = (x.clone(), x.clone());
                hi[i] += 1e-2;
                lo[i] -= 1e-2;
                let numeric = ((total(&hi) - total(&lo)) / 2e-2) as f32;
                assert!(
                    (dx[i] - numeric).abs() < 1e-3,
                    "at {i}: {} vs {numeric}",
                    dx[i]
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "label 5 of 5 classes")]
    fn a_label_beyond_the_classes_is_refused() {
        cross_entropy(&[0.0; 10], &[0, 5], 5, 0.0);
    }
}
