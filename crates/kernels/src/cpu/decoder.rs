//! A whole teacher-forced attentive GRU decoder (Bahdanau et al. 2015) as one forward and one
//! backward pass: at each step the state attends over its row's encoder states (additive
//! attention) and advances on [previous word; context]. Every step's query and recurrent
//! products are one product with the two weights side by side, the context's input transform one
//! more, and the weights' gradients one product each over all steps, where a step-by-step graph
//! records a dozen small ops per step and slices the encoder's states as rows finish.
//!
//! Rows come longest target first: step t advances the first `active[t]` rows (a prefix, never
//! growing). Per step and row ("step rows", step by step, `starts[t]` the first of step t):
//! - `forced` [Σ, g]: the previous word's input projection x·W_x + b_x (g = 3 × hidden);
//! - the output [Σ, hidden + width]: the state after the step beside the context it read.
//!
//! Per row: `state0` [batch, hidden], `keys` U hᵢ + b [batch, seq, align], `values` hᵢ [batch,
//! seq, width], the row reading its first `lengths[b]` positions. Weights: `wq` [hidden, align]
//! (the query's W), `v` [align], `wc` [width, g] (the context's input transform), `wh` [hidden,
//! g] and `bh` [g] (the recurrent transform).

use rayon::prelude::*;

use super::additive::{BackwardRow, backward_row, forward_row};
use super::gemm::{Operand, column_sums, matmul, transpose};
use super::recurrent::{CellKind, CellRow, cell_backward, cell_forward};

/// The sizes of one decoder run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    /// Rows (sentences), longest target first.
    pub batch: usize,
    /// Source positions of each row (padded).
    pub seq: usize,
    /// The decoder state's width.
    pub hidden: usize,
    /// The alignment layer's width.
    pub align: usize,
    /// The encoder states' width.
    pub width: usize,
}

impl Decoder {
    /// Gate values per row: 3 × hidden (r, z, n).
    fn gates(&self) -> usize {
        3 * self.hidden
    }

    /// The output's row width: the state beside the context.
    pub fn out_width(&self) -> usize {
        self.hidden + self.width
    }

    /// The widths a pass reads: the gates (g), an output row, and [W s | W_h s] (align + g).
    fn widths(&self) -> (usize, usize, usize) {
        (self.gates(), self.out_width(), self.align + self.gates())
    }
}

/// The decoder's inputs, in the module's layouts.
#[derive(Clone, Copy)]
pub struct DecoderInputs<'a> {
    /// The previous words' input projections [Σ, g].
    pub forced: &'a [f32],
    /// The first states [batch, hidden].
    pub state0: &'a [f32],
    /// The query's transform [hidden, align].
    pub wq: &'a [f32],
    /// The projected keys [batch, seq, align].
    pub keys: &'a [f32],
    /// The alignment's v [align].
    pub v: &'a [f32],
    /// The encoder states [batch, seq, width].
    pub values: &'a [f32],
    /// The context's input transform [width, g].
    pub wc: &'a [f32],
    /// The recurrent transform [hidden, g].
    pub wh: &'a [f32],
    /// The recurrent bias [g].
    pub bh: &'a [f32],
}

/// Which rows each step advances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps {
    /// Rows advanced at each step (non-increasing).
    active: Vec<usize>,
    /// Where each step's rows start among all step rows (one more: their total).
    starts: Vec<usize>,
}

impl Steps {
    /// The schedule of `active[t]` rows at step t; panics unless the counts never grow.
    pub fn new(active: Vec<usize>) -> Self {
        assert!(
            active.windows(2).all(|w| w[0] >= w[1]),
            "rows still decoding never grow: {active:?}"
        );
        let mut starts = vec![0];
        for n in &active {
            starts.push(starts[starts.len() - 1] + n);
        }
        Self { active, starts }
    }

    /// Step rows of all steps.
    pub fn rows(&self) -> usize {
        self.starts[self.active.len()]
    }
}

/// What [`decoder`] keeps for [`decoder_backward`].
#[derive(Debug, Clone)]
pub struct DecoderSaved {
    /// The output [Σ, hidden + width].
    out: Vec<f32>,
    /// tanh(W s + U hᵢ) per step row and position [Σ, seq, align].
    energy: Vec<f32>,
    /// The attention weights per step row [Σ, seq] (0 on padding).
    weights: Vec<f32>,
    /// The GRU's gate values per step row [Σ, 4 × hidden] (r, z, n, the recurrent part of n).
    gates: Vec<f32>,
}

impl DecoderSaved {
    /// The output [Σ, hidden + width]: each step row's state after the step and its context.
    pub fn out(&self) -> &[f32] {
        &self.out
    }
}

/// The gradients of [`decoder_backward`], in the inputs' layouts.
#[derive(Debug, Clone)]
pub struct DecoderGrads {
    /// Of `forced`.
    pub forced: Vec<f32>,
    /// Of `state0`.
    pub state0: Vec<f32>,
    /// Of `wq`.
    pub wq: Vec<f32>,
    /// Of `keys` (0 on padding).
    pub keys: Vec<f32>,
    /// Of `v`.
    pub v: Vec<f32>,
    /// Of `values` (0 on padding).
    pub values: Vec<f32>,
    /// Of `wc`.
    pub wc: Vec<f32>,
    /// Of `wh`.
    pub wh: Vec<f32>,
    /// Of `bh`.
    pub bh: Vec<f32>,
}

/// [wq | wh] [hidden, align + g]: the query's and the recurrent transform side by side, so that a
/// step's two products from the state are one.
fn side_by_side(d: &Decoder, wq: &[f32], wh: &[f32]) -> Vec<f32> {
    let (a, g) = (d.align, d.gates());
    let mut both = Vec::with_capacity(d.hidden * (a + g));
    for (q, h) in wq.chunks_exact(a).zip(wh.chunks_exact(g)) {
        both.extend_from_slice(q);
        both.extend_from_slice(h);
    }
    both
}

/// The forward pass through every step; the output is [`DecoderSaved::out`].
pub fn decoder(d: &Decoder, x: DecoderInputs, lengths: &[usize], steps: &Steps) -> DecoderSaved {
    let Decoder {
        batch,
        seq,
        hidden,
        align,
        width,
    } = *d;
    let (g, o, ag) = d.widths();
    assert_eq!(x.forced.len(), steps.rows() * g, "forced is [Σ, g]");
    assert_eq!(x.state0.len(), batch * hidden, "state0 is [batch, hidden]");
    assert_eq!(
        x.keys.len(),
        batch * seq * align,
        "keys are [batch, seq, align]"
    );
    assert_eq!(
        x.values.len(),
        batch * seq * width,
        "values are [batch, seq, width]"
    );
    assert_eq!(lengths.len(), batch, "one source length per row");
    assert!(steps.active.first().is_none_or(|&n| n <= batch));
    let wqh = side_by_side(d, x.wq, x.wh);
    let total = steps.rows();
    let mut saved = DecoderSaved {
        out: vec![0.0; total * o],
        energy: vec![0.0; total * seq * align],
        weights: vec![0.0; total * seq],
        gates: vec![0.0; total * 4 * hidden],
    };
    let mut state = x.state0.to_vec();
    let (mut qh, mut gx) = (
        Vec::with_capacity(batch * ag),
        Vec::with_capacity(batch * g),
    );
    for (t, &n) in steps.active.iter().enumerate() {
        let start = steps.starts[t];
        // [W s | W_h s + b_h] of the rows still decoding.
        qh.clear();
        for _ in 0..n {
            qh.resize(qh.len() + align, 0.0);
            qh.extend_from_slice(x.bh);
        }
        let s = Operand::rows(&state[..n * hidden], hidden);
        matmul(&mut qh, true, [n, hidden, ag], s, Operand::rows(&wqh, ag));
        // Each row's attention, its context written into the output.
        let out = &mut saved.out[start * o..(start + n) * o];
        let energy = &mut saved.energy[start * seq * align..(start + n) * seq * align];
        let weights = &mut saved.weights[start * seq..(start + n) * seq];
        out.par_chunks_mut(o)
            .zip(energy.par_chunks_mut(seq * align))
            .zip(weights.par_chunks_mut(seq))
            .enumerate()
            .for_each(|(b, ((out, e), w))| {
                let len = lengths[b].min(seq);
                forward_row(
                    &qh[b * ag..][..align],
                    &x.keys[b * seq * align..][..len * align],
                    x.v,
                    &x.values[b * seq * width..][..len * width],
                    &mut e[..len * align],
                    &mut w[..len],
                    &mut out[hidden..],
                );
            });
        // The gates' input part: the word's projection plus the context's.
        gx.clear();
        gx.extend_from_slice(&x.forced[start * g..(start + n) * g]);
        let contexts = Operand {
            data: &saved.out[start * o + hidden..],
            row_stride: o,
            col_stride: 1,
        };
        matmul(
            &mut gx,
            true,
            [n, width, g],
            contexts,
            Operand::rows(x.wc, g),
        );
        for b in 0..n {
            let row = &mut state[b * hidden..][..hidden];
            let kept = &mut saved.gates[(start + b) * 4 * hidden..][..4 * hidden];
            let hh = &qh[b * ag + align..][..g];
            cell_forward(CellKind::Gru, &gx[b * g..][..g], hh, row, kept);
            saved.out[(start + b) * o..][..hidden].copy_from_slice(row);
        }
    }
    saved
}

/// The backward pass from the output's gradient `dout` [Σ, hidden + width].
pub fn decoder_backward(
    d: &Decoder,
    x: DecoderInputs,
    lengths: &[usize],
    steps: &Steps,
    saved: &DecoderSaved,
    dout: &[f32],
) -> DecoderGrads {
    let Decoder {
        batch,
        seq,
        hidden,
        align,
        width,
    } = *d;
    let (g, o, ag) = d.widths();
    let total = steps.rows();
    assert_eq!(
        dout.len(),
        total * o,
        "the output's gradient is [Σ, hidden + width]"
    );
    // The transposes the steps read, [align + g, hidden] and [g, width].
    let (wqh, wc) = (
        transpose(&side_by_side(d, x.wq, x.wh), ag),
        transpose(x.wc, g),
    );
    let mut dstate = vec![0.0; batch * hidden];
    // Per step row: the gradients of the gates' input part, and of [W s | W_h s + b_h].
    let mut dgx = vec![0.0; total * g];
    let mut dqh = vec![0.0; total * ag];
    // Per step row, the state the step started from (the weights' gradients read them).
    let mut previous = vec![0.0; total * hidden];
    let mut keys = vec![0.0; batch * seq * align];
    let mut values = vec![0.0; batch * seq * width];
    let mut dv_rows = vec![0.0; batch * align];
    let mut dcontext = Vec::with_capacity(batch * width);
    for (t, &n) in steps.active.iter().enumerate().rev() {
        let start = steps.starts[t];
        for b in 0..n {
            let ds = &mut dstate[b * hidden..][..hidden];
            for (s, &d) in ds.iter_mut().zip(&dout[(start + b) * o..][..hidden]) {
                *s += d;
            }
            let prev = match t {
                0 => &x.state0[b * hidden..][..hidden],
                _ => &saved.out[(steps.starts[t - 1] + b) * o..][..hidden],
            };
            previous[(start + b) * hidden..][..hidden].copy_from_slice(prev);
            let row = CellRow {
                gates: &saved.gates[(start + b) * 4 * hidden..][..4 * hidden],
                prev,
                next: &saved.out[(start + b) * o..][..hidden],
            };
            let da = &mut dgx[(start + b) * g..][..g];
            let dhh = &mut dqh[(start + b) * ag + align..][..g];
            cell_backward(CellKind::Gru, row, ds, da, dhh);
        }
        // The context's gradient: from the output and through its input transform.
        dcontext.clear();
        for b in 0..n {
            dcontext.extend_from_slice(&dout[(start + b) * o + hidden..][..width]);
        }
        let gates = Operand::rows(&dgx[start * g..(start + n) * g], g);
        matmul(
            &mut dcontext,
            true,
            [n, g, width],
            gates,
            Operand::rows(&wc, width),
        );
        // Each row's attention backward, into its query's gradient and the row's sums.
        let dq = &mut dqh[start * ag..(start + n) * ag];
        dq.par_chunks_mut(ag)
            .zip(keys.par_chunks_mut(seq * align))
            .zip(values.par_chunks_mut(seq * width))
            .zip(dv_rows.par_chunks_mut(align))
            .enumerate()
            .for_each(|(b, (((dq, dk), dh), dv))| {
                let len = lengths[b].min(seq);
                let row = BackwardRow {
                    e: &saved.energy[(start + b) * seq * align..][..len * align],
                    w: &saved.weights[(start + b) * seq..][..len],
                    v: x.v,
                    h: &x.values[b * seq * width..][..len * width],
                    dc: &dcontext[b * width..][..width],
                };
                let (dk, dh) = (&mut dk[..len * align], &mut dh[..len * width]);
                backward_row(&row, &mut dq[..align], dk, dh, dv);
            });
        // The state's share through the query and the recurrent product.
        let rows = Operand::rows(&dqh[start * ag..(start + n) * ag], ag);
        let mut ds = dstate[..n * hidden].to_vec();
        matmul(
            &mut ds,
            true,
            [n, ag, hidden],
            rows,
            Operand::rows(&wqh, hidden),
        );
        dstate[..n * hidden].copy_from_slice(&ds);
    }
    let mut dwqh = Vec::new();
    let prev = Operand::transposed(&previous, hidden);
    matmul(
        &mut dwqh,
        false,
        [hidden, total, ag],
        prev,
        Operand::rows(&dqh, ag),
    );
    let mut dwc = Vec::new();
    let contexts = Operand {
        data: &saved.out[hidden..],
        row_stride: 1,
        col_stride: o,
    };
    matmul(
        &mut dwc,
        false,
        [width, total, g],
        contexts,
        Operand::rows(&dgx, g),
    );
    let (mut wq, mut wh) = (Vec::new(), Vec::new());
    for row in dwqh.chunks_exact(ag) {
        wq.extend_from_slice(&row[..align]);
        wh.extend_from_slice(&row[align..]);
    }
    let sums = column_sums(&dqh, ag);
    DecoderGrads {
        forced: dgx,
        state0: dstate,
        wq,
        keys,
        v: column_sums(&dv_rows, align),
        values,
        wc: dwc,
        wh,
        bh: sums[align..].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::{close, data};

    const D: Decoder = Decoder {
        batch: 3,
        seq: 4,
        hidden: 3,
        align: 2,
        width: 4,
    };

    /// The inputs in [`DecoderInputs`]' order, for `rows` step rows.
    fn inputs(rows: usize) -> Vec<Vec<f32>> {
        let g = D.gates();
        let sizes = [
            rows * g,
            D.batch * D.hidden,
            D.hidden * D.align,
            D.batch * D.seq * D.align,
            D.align,
            D.batch * D.seq * D.width,
            D.width * g,
            D.hidden * g,
            g,
        ];
        let scaled =
            |(i, n): (usize, usize)| data(n, i as u32 + 1).iter().map(|v| v * 0.3).collect();
        sizes.into_iter().enumerate().map(scaled).collect()
    }

    fn view(i: &[Vec<f32>]) -> DecoderInputs<'_> {
        DecoderInputs {
            forced: &i[0],
            state0: &i[1],
            wq: &i[2],
            keys: &i[3],
            v: &i[4],
            values: &i[5],
            wc: &i[6],
            wh: &i[7],
            bh: &i[8],
        }
    }

    /// Every gradient of [`decoder_backward`] against central differences of Σ w · out.
    #[test]
    fn gradients_match_finite_differences() {
        let steps = Steps::new(vec![3, 2, 2, 1]);
        let lengths = [4, 2, 3];
        let mut x = inputs(steps.rows());
        let w = data(steps.rows() * D.out_width(), 11);
        let loss = |x: &[Vec<f32>]| -> f64 {
            let out = decoder(&D, view(x), &lengths, &steps);
            out.out
                .iter()
                .zip(&w)
                .map(|(&o, &w)| o as f64 * w as f64)
                .sum()
        };
        let saved = decoder(&D, view(&x), &lengths, &steps);
        let grads = decoder_backward(&D, view(&x), &lengths, &steps, &saved, &w);
        let analytic = [
            grads.forced,
            grads.state0,
            grads.wq,
            grads.keys,
            grads.v,
            grads.values,
            grads.wc,
            grads.wh,
            grads.bh,
        ];
        for (k, analytic) in analytic.iter().enumerate() {
            let mut numeric = vec![0.0; x[k].len()];
            for e in 0..x[k].len() {
                let value = x[k][e];
                let eps = 1e-2;
                x[k][e] = value + eps;
                let up = loss(&x);
                x[k][e] = value - eps;
                let down = loss(&x);
                x[k][e] = value;
                numeric[e] = ((up - down) / (2.0 * eps as f64)) as f32;
            }
            close(analytic, &numeric, 5e-3);
        }
    }

    /// Source padding gets no weight and no gradient; rows past their last step keep their
    /// state out of later steps.
    #[test]
    fn padding_and_finished_rows_are_left_alone() {
        let steps = Steps::new(vec![3, 1]);
        let lengths = [4, 2, 3];
        let x = inputs(steps.rows());
        let saved = decoder(&D, view(&x), &lengths, &steps);
        for (r, b) in [(0, 0), (1, 1), (2, 2), (3, 0)] {
            let w = &saved.weights[r * D.seq..][..D.seq];
            assert!(w[lengths[b]..].iter().all(|&w| w == 0.0), "{w:?}");
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{w:?}");
        }
        let dout = vec![1.0; steps.rows() * D.out_width()];
        let grads = decoder_backward(&D, view(&x), &lengths, &steps, &saved, &dout);
        let padded = &grads.values[(D.seq + 2) * D.width..2 * D.seq * D.width];
        assert!(padded.iter().all(|&g| g == 0.0));
    }
}
