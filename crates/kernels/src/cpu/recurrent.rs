//! Recurrent layers (GRU, LSTM) over whole sequences: the input projections of every time step come
//! in as one tensor (one product, done by the caller); the recurrence runs one step at a time with
//! one small matrix product and one element-wise pass over the gates, into buffers allocated once;
//! the backward pass (backpropagation through time) mirrors it step by step and computes the
//! recurrent weights' gradient with one product over all steps. Two directions run on two threads.
//!
//! Layouts (row-major, `g` = gates × hidden, `s` = state width: hidden for a GRU, hidden and cell
//! for an LSTM):
//! - `xw` [batch, seq, dirs, g]: x·W_x + b_x of every position, both directions;
//! - `wh` [dirs, hidden, g], `bh` [dirs, g]: the recurrent weights and biases;
//! - `state0` [dirs, batch, s]: the state each row starts from;
//! - the output [batch, seq, dirs, s]: the state after each position.
//!
//! Row `b` reads its first `lengths[b]` positions: direction 0 left to right, direction 1 right to
//! left (from position `lengths[b] - 1` down to 0), so the state at position p of direction 1 has
//! read p..len. Positions past a row's length are 0 in the output and get no gradient.

use super::gemm::{Operand, column_sums, matmul, transpose};
use super::simd::{sigmoid, tanh};

/// The recurrent cell, with the gate order of its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Gated recurrent unit with the reset gate applied after the hidden product (PyTorch's and
    /// burn's default): gates r, z, n; h' = (1 - z) n + z h.
    Gru,
    /// Long short-term memory: gates i, f, g, o; c' = f c + i g, h' = o tanh(c').
    Lstm,
}

impl CellKind {
    /// Projections per hidden unit.
    pub fn gates(self) -> usize {
        match self {
            Self::Gru => 3,
            Self::Lstm => 4,
        }
    }

    /// State values per hidden unit (h, and c for an LSTM).
    pub fn state(self) -> usize {
        match self {
            Self::Gru => 1,
            Self::Lstm => 2,
        }
    }
}

/// The sizes of one recurrent layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    /// The cell.
    pub cell: CellKind,
    /// Sequences.
    pub batch: usize,
    /// Positions of each (padded) sequence.
    pub seq: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Directions: 1 (left to right) or 2 (and right to left).
    pub dirs: usize,
}

impl Recurrence {
    /// The widths (g, s) of one direction's gates (gates × hidden) and state (state values ×
    /// hidden).
    pub fn widths(&self) -> (usize, usize) {
        (
            self.cell.gates() * self.hidden,
            self.cell.state() * self.hidden,
        )
    }
}

/// What [`recurrent`] keeps for [`recurrent_backward`].
#[derive(Debug, Clone)]
pub struct Saved {
    /// Rows by decreasing length: at step t the rows still reading are a prefix of this order.
    order: Vec<usize>,
    /// Per direction, the gate values of each step's reading rows [Σ rows, 4 × hidden]: step t's
    /// rows (in `order`) from row `starts[t]` of the schedule.
    gates: Vec<Vec<f32>>,
}

/// The gradients [`recurrent_backward`] returns, in the layouts of the inputs.
#[derive(Debug, Clone)]
pub struct RecurrentGrads {
    /// Of `xw`.
    pub xw: Vec<f32>,
    /// Of `wh`.
    pub wh: Vec<f32>,
    /// Of `bh`.
    pub bh: Vec<f32>,
    /// Of `state0`.
    pub state0: Vec<f32>,
}

/// The order and counts of the rows that read each step.
struct Schedule<'a> {
    lengths: &'a [usize],
    order: Vec<usize>,
    seq: usize,
    /// Where each step's rows start among all steps' reading rows (one more: their total).
    starts: Vec<usize>,
}

impl<'a> Schedule<'a> {
    fn new(lengths: &'a [usize], seq: usize, order: Option<Vec<usize>>) -> Self {
        let order = order.unwrap_or_else(|| {
            let mut order: Vec<usize> = (0..lengths.len()).collect();
            order.sort_by_key(|&b| std::cmp::Reverse(lengths[b].min(seq)));
            order
        });
        let mut schedule = Self {
            lengths,
            order,
            seq,
            starts: vec![0],
        };
        for t in 0..schedule.steps() {
            let next = schedule.starts[t] + schedule.active(t);
            schedule.starts.push(next);
        }
        schedule
    }

    /// The reading rows of all steps.
    fn rows(&self) -> usize {
        *self.starts.last().expect("starts has a first element")
    }

    /// Steps of the longest row.
    fn steps(&self) -> usize {
        self.order
            .first()
            .map_or(0, |&b| self.lengths[b].min(self.seq))
    }

    /// Rows that read step t: the first ones of `order`.
    fn active(&self, t: usize) -> usize {
        self.order
            .partition_point(|&b| self.lengths[b].min(self.seq) > t)
    }

    /// The position row `b` reads at step t in direction `dir`.
    fn position(&self, dir: usize, t: usize, b: usize) -> usize {
        match dir {
            0 => t,
            _ => self.lengths[b].min(self.seq) - 1 - t,
        }
    }
}

/// The layer's forward pass: the state after each position [batch, seq, dirs, s], and what the
/// backward pass needs (gate values are kept only when `keep` is set).
pub fn recurrent(
    shape: &Recurrence,
    [xw, wh, bh, state0]: [&[f32]; 4],
    lengths: &[usize],
    keep: bool,
) -> (Vec<f32>, Saved) {
    let Recurrence {
        cell,
        batch,
        seq,
        hidden,
        dirs,
    } = *shape;
    let (g, s) = shape.widths();
    assert_eq!(
        xw.len(),
        batch * seq * dirs * g,
        "xw is [batch, seq, dirs, g]"
    );
    assert_eq!(wh.len(), dirs * hidden * g, "wh is [dirs, hidden, g]");
    assert_eq!(bh.len(), dirs * g, "bh is [dirs, g]");
    assert_eq!(state0.len(), dirs * batch * s, "state0 is [dirs, batch, s]");
    assert_eq!(lengths.len(), batch, "one length per row");
    let schedule = Schedule::new(lengths, seq, None);
    let direction = |dir: usize| {
        let (wh, bh) = (&wh[dir * hidden * g..][..hidden * g], &bh[dir * g..][..g]);
        let mut state = vec![0.0; batch * s];
        for (i, &b) in schedule.order.iter().enumerate() {
            state[i * s..][..s].copy_from_slice(&state0[(dir * batch + b) * s..][..s]);
        }
        let mut out = vec![0.0; batch * seq * s];
        let mut gates = vec![
            0.0;
            if keep {
                schedule.rows() * 4 * hidden
            } else {
                0
            }
        ];
        let mut scratch = vec![0.0; 4 * hidden];
        let mut hh = Vec::with_capacity(batch * g);
        for t in 0..schedule.steps() {
            let n = schedule.active(t);
            hh.clear();
            for _ in 0..n {
                hh.extend_from_slice(bh);
            }
            let h = Operand {
                data: &state,
                row_stride: s,
                col_stride: 1,
            };
            matmul(&mut hh, true, [n, hidden, g], h, Operand::rows(wh, g));
            for (i, &b) in schedule.order[..n].iter().enumerate() {
                let pos = schedule.position(dir, t, b);
                let a = &xw[((b * seq + pos) * dirs + dir) * g..][..g];
                let kept = match keep {
                    true => &mut gates[(schedule.starts[t] + i) * 4 * hidden..][..4 * hidden],
                    false => &mut scratch[..],
                };
                let row = &mut state[i * s..][..s];
                cell_forward(cell, a, &hh[i * g..][..g], row, kept);
                out[(b * seq + pos) * s..][..s].copy_from_slice(row);
            }
        }
        (out, gates)
    };
    let per_dir = both(dirs, direction);
    let out = interleave(&per_dir.iter().map(|(o, _)| &o[..]).collect::<Vec<_>>(), s);
    let gates = per_dir.into_iter().map(|(_, g)| g).collect();
    let order = schedule.order;
    (out, Saved { order, gates })
}

/// The gradients of the layer from the gradient `dout` of its output; `out` is the forward
/// output, `wh` and `state0` its inputs.
pub fn recurrent_backward(
    shape: &Recurrence,
    saved: &Saved,
    [out, dout, wh, state0]: [&[f32]; 4],
    lengths: &[usize],
) -> RecurrentGrads {
    let Recurrence {
        cell,
        batch,
        seq,
        hidden,
        dirs,
    } = *shape;
    let (g, s) = shape.widths();
    let schedule = Schedule::new(lengths, seq, Some(saved.order.clone()));
    let direction = |dir: usize| {
        let wh = &wh[dir * hidden * g..][..hidden * g];
        // Read at every step: its transpose [g, hidden], row-major.
        let wh_t = transpose(wh, g);
        let gates = &saved.gates[dir];
        let at = |b: usize, pos: usize| ((b * seq + pos) * dirs + dir) * s;
        let mut dstate = vec![0.0; batch * s];
        let mut dxw = vec![0.0; batch * seq * g];
        // Per step and reading row: the gradient of the recurrent product's output, and its
        // input h.
        let mut dhh = vec![0.0; schedule.rows() * g];
        let mut h_in = vec![0.0; schedule.rows() * hidden];
        let mut dh = Vec::with_capacity(batch * hidden);
        for t in (0..schedule.steps()).rev() {
            let n = schedule.active(t);
            let start = schedule.starts[t];
            for (i, &b) in schedule.order[..n].iter().enumerate() {
                let pos = schedule.position(dir, t, b);
                let ds = &mut dstate[i * s..][..s];
                for (d, &o) in ds.iter_mut().zip(&dout[at(b, pos)..][..s]) {
                    *d += o;
                }
                let prev = match t {
                    0 => &state0[(dir * batch + b) * s..][..s],
                    _ => &out[at(b, schedule.position(dir, t - 1, b))..][..s],
                };
                h_in[(start + i) * hidden..][..hidden].copy_from_slice(&prev[..hidden]);
                let row = CellRow {
                    gates: &gates[(start + i) * 4 * hidden..][..4 * hidden],
                    prev,
                    next: &out[at(b, pos)..][..s],
                };
                let (da, dhh_row) = (
                    &mut dxw[(b * seq + pos) * g..][..g],
                    &mut dhh[(start + i) * g..][..g],
                );
                cell_backward(cell, row, ds, da, dhh_row);
            }
            let rows = Operand::rows(&dhh[start * g..][..n * g], g);
            matmul(
                &mut dh,
                false,
                [n, g, hidden],
                rows,
                Operand::rows(&wh_t, hidden),
            );
            for i in 0..n {
                for (d, &v) in dstate[i * s..][..hidden]
                    .iter_mut()
                    .zip(&dh[i * hidden..][..hidden])
                {
                    *d += v;
                }
            }
        }
        let mut dwh = Vec::new();
        let h_in = Operand::transposed(&h_in, hidden);
        let rows = schedule.rows();
        matmul(
            &mut dwh,
            false,
            [hidden, rows, g],
            h_in,
            Operand::rows(&dhh, g),
        );
        let dbh = column_sums(&dhh, g);
        let mut dstate0 = vec![0.0; batch * s];
        for (i, &b) in schedule.order.iter().enumerate() {
            dstate0[b * s..][..s].copy_from_slice(&dstate[i * s..][..s]);
        }
        [dxw, dwh, dbh, dstate0]
    };
    let per_dir = both(dirs, direction);
    let part = |k: usize| per_dir.iter().map(|p| &p[k][..]).collect::<Vec<_>>();
    RecurrentGrads {
        xw: interleave(&part(0), g),
        wh: part(1).concat(),
        bh: part(2).concat(),
        state0: part(3).concat(),
    }
}

/// `f` of each direction, the two on two threads.
fn both<T: Send>(dirs: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    match dirs {
        1 => vec![f(0)],
        2 => {
            let (a, b) = rayon::join(|| f(0), || f(1));
            vec![a, b]
        }
        _ => panic!("a recurrent layer has 1 or 2 directions, not {dirs}"),
    }
}

/// Rows of `width` from each part in turn: [rows, width] per part -> [rows, parts, width].
fn interleave(parts: &[&[f32]], width: usize) -> Vec<f32> {
    if let [only] = parts {
        return only.to_vec();
    }
    let rows = parts[0].len() / width;
    let mut out = Vec::with_capacity(rows * width * parts.len());
    for r in 0..rows {
        for p in parts {
            out.extend_from_slice(&p[r * width..][..width]);
        }
    }
    out
}

kernel! {
    /// One step of one row: the gates from `a` (input part) and `hh` (recurrent part), `state`
    /// updated in place, the gate values written to `kept` (GRU: r, z, n, the recurrent part of n;
    /// LSTM: i, f, g, o).
    pub(super) fn cell_forward(cell: CellKind, a: &[f32], hh: &[f32], state: &mut [f32], kept: &mut [f32]) {
        let h = kept.len() / 4;
        let (a, hh) = (&a[..cell.gates() * h], &hh[..cell.gates() * h]);
        match cell {
            CellKind::Gru => {
                for j in 0..h {
                    let r = sigmoid(a[j] + hh[j]);
                    let z = sigmoid(a[h + j] + hh[h + j]);
                    let hn = hh[2 * h + j];
                    let n = tanh(a[2 * h + j] + r * hn);
                    state[j] = (1.0 - z) * n + z * state[j];
                    kept[j] = r;
                    kept[h + j] = z;
                    kept[2 * h + j] = n;
                    kept[3 * h + j] = hn;
                }
            }
            CellKind::Lstm => {
                let (hs, cs) = state.split_at_mut(h);
                for j in 0..h {
                    let i = sigmoid(a[j] + hh[j]);
                    let f = sigmoid(a[h + j] + hh[h + j]);
                    let g = tanh(a[2 * h + j] + hh[2 * h + j]);
                    let o = sigmoid(a[3 * h + j] + hh[3 * h + j]);
                    let c = f * cs[j] + i * g;
                    cs[j] = c;
                    hs[j] = o * tanh(c);
                    kept[j] = i;
                    kept[h + j] = f;
                    kept[2 * h + j] = g;
                    kept[3 * h + j] = o;
                }
            }
        }
    }
}

/// What one backward step of one row reads: the kept gate values and the states around the step.
#[derive(Clone, Copy)]
pub(super) struct CellRow<'a> {
    pub gates: &'a [f32],
    pub prev: &'a [f32],
    pub next: &'a [f32],
}

kernel! {
    /// One backward step of one row: `ds` holds the gradient of the state after the step and
    /// becomes that of the state before it, less the recurrent product's share (which the caller
    /// adds); `da` and `dhh` get the gradients of the gates' input and recurrent parts.
    pub(super) fn cell_backward(cell: CellKind, row: CellRow, ds: &mut [f32], da: &mut [f32], dhh: &mut [f32]) {
        let CellRow { gates, prev, next } = row;
        let h = gates.len() / 4;
        match cell {
            CellKind::Gru => {
                for j in 0..h {
                    let (r, z, n, hn) = (gates[j], gates[h + j], gates[2 * h + j], gates[3 * h + j]);
                    let d = ds[j];
                    let dn = d * (1.0 - z) * (1.0 - n * n);
                    let dz = d * (prev[j] - n) * z * (1.0 - z);
                    let dr = dn * hn * r * (1.0 - r);
                    ds[j] = d * z;
                    da[j] = dr;
                    da[h + j] = dz;
                    da[2 * h + j] = dn;
                    dhh[j] = dr;
                    dhh[h + j] = dz;
                    dhh[2 * h + j] = dn * r;
                }
            }
            CellKind::Lstm => {
                let (dh, dc) = ds.split_at_mut(h);
                for j in 0..h {
                    let (i, f, g, o) = (gates[j], gates[h + j], gates[2 * h + j], gates[3 * h + j]);
                    let tc = tanh(next[h + j]);
                    let c = dc[j] + dh[j] * o * (1.0 - tc * tc);
                    let values = [
                        c * g * i * (1.0 - i),
                        c * prev[h + j] * f * (1.0 - f),
                        c * i * (1.0 - g * g),
                        dh[j] * tc * o * (1.0 - o),
                    ];
                    for (k, v) in values.into_iter().enumerate() {
                        da[k * h + j] = v;
                        dhh[k * h + j] = v;
                    }
                    dh[j] = 0.0;
                    dc[j] = c * f;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::{close, data};

    /// The loss Σ w · out of a forward pass, in f64 from the f32 outputs.
    fn loss(shape: &Recurrence, inputs: [&[f32]; 4], lengths: &[usize], w: &[f32]) -> f64 {
        let (out, _) = recurrent(shape, inputs, lengths, false);
        out.iter().zip(w).map(|(&o, &w)| o as f64 * w as f64).sum()
    }

    fn view(i: &[Vec<f32>; 4]) -> [&[f32]; 4] {
        [&i[0][..], &i[1][..], &i[2][..], &i[3][..]]
    }

    /// Every gradient of [`recurrent_backward`] against central differences of the loss.
    #[test]
    fn gradients_match_finite_differences_for_both_cells_and_directions() {
        for (cell, dirs) in [(CellKind::Gru, 2), (CellKind::Lstm, 2), (CellKind::Gru, 1)] {
            let shape = Recurrence {
                cell,
                batch: 3,
                seq: 5,
                hidden: 4,
                dirs,
            };
            let (g, s) = (cell.gates() * 4, cell.state() * 4);
            let scaled = |len: usize, seed: u32| -> Vec<f32> {
                data(len, seed).iter().map(|v| v * 0.25).collect()
            };
            let mut inputs = [
                scaled(3 * 5 * dirs * g, 1),
                scaled(dirs * 4 * g, 2),
                scaled(dirs * g, 3),
                scaled(dirs * 3 * s, 4),
            ];
            let lengths = [5, 2, 4];
            let w = data(3 * 5 * dirs * s, 5);

            let (out, saved) = recurrent(&shape, view(&inputs), &lengths, true);
            // Padding positions are zero.
            for d in 0..dirs {
                let at = ((5 + 3) * dirs + d) * s;
                assert!(out[at..][..s].iter().all(|&v| v == 0.0));
            }
            let grads =
                recurrent_backward(&shape, &saved, [&out, &w, &inputs[1], &inputs[3]], &lengths);
            let analytic = [grads.xw, grads.wh, grads.bh, grads.state0];
            for k in 0..4 {
                let mut numeric = vec![0.0; inputs[k].len()];
                for e in 0..inputs[k].len() {
                    let x = inputs[k][e];
                    let eps = 1e-2;
                    inputs[k][e] = x + eps;
                    let up = loss(&shape, view(&inputs), &lengths, &w);
                    inputs[k][e] = x - eps;
                    let down = loss(&shape, view(&inputs), &lengths, &w);
                    inputs[k][e] = x;
                    numeric[e] = ((up - down) / (2.0 * eps as f64)) as f32;
                }
                close(&analytic[k], &numeric, 5e-3);
            }
        }
    }
}
