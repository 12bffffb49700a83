//! `Recurrent`: one direction of the encoder (burn's GRU or LSTM); [`bidirectional`], which runs
//! both directions as one fused layer where attn-kernels has one for the backend; and
//! [`StepWeights`], a decoder's single steps.

use attn_kernels::fused::{self, CellKind, Recurrence, RecurrentInputs};
use burn::module::Module;
use burn::nn::Linear;
use burn::nn::activation::Activation;
use burn::nn::gru::Gru;
use burn::nn::lstm::Lstm;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use std::ops::Range;

/// One direction of the encoder: a GRU or an LSTM over [batch, seq, d] -> [batch, seq, hidden].
// Built once per model: the variants' sizes do not matter (and burn modules cannot be boxed).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Recurrent<B: Backend> {
    /// A GRU.
    Gru(Gru<B>),
    /// An LSTM.
    Lstm(Lstm<B>),
}

impl<B: Backend> Recurrent<B> {
    /// The hidden state at every position, starting from zeros (burn's layer).
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        match self {
            Self::Gru(gru) => gru.forward(x, None),
            Self::Lstm(lstm) => lstm.forward(x, None).0,
        }
    }

    /// The layer's weights laid out for single steps from a given state (a decoder's), where
    /// the cell is one attn-kernels computes (the default activations, no clipping, a GRU's
    /// reset gate after the product).
    pub fn step_weights(&self) -> Option<StepWeights<B>> {
        let (cell, gates) = self.fused_gates()?;
        let (input, input_bias) = side_by_side(&gates.iter().map(|g| g[0]).collect::<Vec<_>>());
        let (wh, bh) = side_by_side(&gates.iter().map(|g| g[1]).collect::<Vec<_>>());
        Some(StepWeights {
            cell,
            input,
            blocks: Vec::new(),
            input_bias,
            recurrent: wh.unsqueeze_dim(0),
            recurrent_bias: bh.unsqueeze_dim(0),
        })
    }

    /// The cell and the (input, recurrent) transforms of its gates in the fused kernel's order,
    /// when the layer computes what the kernel does (the default activations, no clipping).
    fn fused_gates(&self) -> Option<(CellKind, Vec<[&Linear<B>; 2]>)> {
        let standard = |gate: &Activation<B>, others: &[&Activation<B>]| {
            matches!(gate, Activation::Sigmoid(_))
                && others.iter().all(|a| matches!(a, Activation::Tanh(_)))
        };
        match self {
            Self::Gru(g)
                if g.reset_after
                    && g.clip.is_none()
                    && standard(&g.gate_activation, &[&g.hidden_activation]) =>
            {
                let gates = [&g.reset_gate, &g.update_gate, &g.new_gate];
                let linears = gates.map(|c| [&c.input_transform, &c.hidden_transform]);
                Some((CellKind::Gru, linears.to_vec()))
            }
            Self::Lstm(l)
                if l.batch_first
                    && !l.reverse
                    && !l.input_forget
                    && l.clip.is_none()
                    && standard(
                        &l.gate_activation,
                        &[&l.cell_activation, &l.hidden_activation],
                    ) =>
            {
                let gates = [&l.input_gate, &l.forget_gate, &l.cell_gate, &l.output_gate];
                let linears = gates.map(|c| [&c.input_transform, &c.hidden_transform]);
                Some((CellKind::Lstm, linears.to_vec()))
            }
            _ => None,
        }
    }
}

/// The weights and biases of `linears` side by side: [d_in, Σ d_out] and [Σ d_out] (zeros for a
/// layer without a bias).
fn side_by_side<B: Backend>(linears: &[&Linear<B>]) -> (Tensor<B, 2>, Tensor<B, 1>) {
    let weights = linears.iter().map(|l| l.weight.val()).collect();
    let biases = linears
        .iter()
        .map(|l| match &l.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([l.weight.dims()[1]], &l.weight.device()),
        })
        .collect();
    (Tensor::cat(weights, 1), Tensor::cat(biases, 0))
}

/// A cell's weights laid side by side once for a run of single steps (a decoder's): every step's
/// products read the same tensors, so their gradients add up there instead of each step copying
/// the weights and splitting its gradient again.
#[derive(Debug, Clone)]
pub struct StepWeights<B: Backend> {
    cell: CellKind,
    /// The input transforms [d_in, g].
    input: Tensor<B, 2>,
    /// Row blocks of `input` cut once (see [`StepWeights::with_blocks`]), by input columns.
    blocks: Vec<(Range<usize>, Tensor<B, 2>)>,
    /// Their biases [g].
    input_bias: Tensor<B, 1>,
    /// The recurrent transforms [1, hidden, g].
    recurrent: Tensor<B, 3>,
    /// Their biases [1, g].
    recurrent_bias: Tensor<B, 2>,
}

impl<B: Backend> StepWeights<B> {
    /// `x` [rows, columns.len()] times the input transforms' rows `columns`: the share of a step's
    /// input projection that those input columns make (no bias).
    pub fn project(&self, x: Tensor<B, 2>, columns: Range<usize>) -> Tensor<B, 2> {
        fused::linear(x, self.input_rows(columns), None)
    }

    /// The input transforms' rows `columns` [columns.len(), g]: a block cut once by
    /// [`StepWeights::with_blocks`], else a slice of the whole.
    pub fn input_rows(&self, columns: Range<usize>) -> Tensor<B, 2> {
        let g = self.input.dims()[1];
        match self.blocks.iter().find(|(block, _)| *block == columns) {
            Some((_, w)) => w.clone(),
            None => self.input.clone().slice([columns, 0..g]),
        }
    }

    /// The recurrent transforms [hidden, g] and their biases [g].
    pub fn recurrent(&self) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let [_, hidden, g] = self.recurrent.dims();
        (
            self.recurrent.clone().reshape([hidden, g]),
            self.recurrent_bias.clone().reshape([g]),
        )
    }

    /// These weights with the input transforms' rows for each of `blocks` (input columns) cut
    /// once: a step's [`StepWeights::project`] of a block then reads it, where slicing the whole
    /// at every step would write a gradient of the whole transform back at every step.
    pub fn with_blocks(mut self, blocks: &[Range<usize>]) -> Self {
        let g = self.input.dims()[1];
        self.blocks = (blocks.iter())
            .map(|b| (b.clone(), self.input.clone().slice([b.clone(), 0..g])))
            .collect();
        self
    }

    /// The input bias [g], added once to a step's input projection.
    pub fn input_bias(&self) -> Tensor<B, 1> {
        self.input_bias.clone()
    }

    /// One step from `state` [batch, s] given the step's input projection `xw` [batch, g]
    /// (x·W_x + b_x): the next state. Through attn-kernels' fused layer where it runs, the cell's
    /// equations in burn's ops elsewhere.
    pub fn step(&self, xw: Tensor<B, 2>, state: Tensor<B, 2>) -> Tensor<B, 2> {
        let [batch, g] = xw.dims();
        let s = state.dims()[1];
        let shape = Recurrence {
            cell: self.cell,
            batch,
            seq: 1,
            hidden: self.recurrent.dims()[1],
            dirs: 1,
        };
        let inputs = RecurrentInputs {
            xw: xw.reshape([batch, 1, g]),
            wh: self.recurrent.clone(),
            bh: self.recurrent_bias.clone(),
            state0: state.reshape([1, batch, s]),
        };
        match fused::recurrent(&shape, inputs, &vec![1; batch]) {
            Ok(next) => next.reshape([batch, s]),
            Err(inputs) => self.cell_step(
                inputs.xw.reshape([batch, g]),
                inputs.state0.reshape([batch, s]),
            ),
        }
    }

    /// [`StepWeights::step`] in burn's ops: burn's GRU (reset gate after the product) or LSTM.
    fn cell_step(&self, xw: Tensor<B, 2>, state: Tensor<B, 2>) -> Tensor<B, 2> {
        let [batch, g] = xw.dims();
        let hidden = self.recurrent.dims()[1];
        let gate =
            |t: &Tensor<B, 2>, i: usize| t.clone().slice([0..batch, i * hidden..(i + 1) * hidden]);
        let h = gate(&state, 0);
        let recurrent = self.recurrent.clone().reshape([hidden, g]);
        let hw = h.clone().matmul(recurrent) + self.recurrent_bias.clone();
        match self.cell {
            CellKind::Gru => {
                let r = sigmoid(gate(&xw, 0) + gate(&hw, 0));
                let z = sigmoid(gate(&xw, 1) + gate(&hw, 1));
                let n = (gate(&xw, 2) + r * gate(&hw, 2)).tanh();
                n.clone() - z.clone() * n + z * h
            }
            CellKind::Lstm => {
                let [i, f, c, o] = [0, 1, 2, 3].map(|k| gate(&xw, k) + gate(&hw, k));
                let cell = sigmoid(f) * gate(&state, 1) + sigmoid(i) * c.tanh();
                let h = sigmoid(o) * cell.clone().tanh();
                Tensor::cat(vec![h, cell], 1)
            }
        }
    }
}

/// Both directions over `x` [batch, seq, d] whose rows hold `lengths` real positions: the states
/// [batch, seq, 2 × hidden] (at position p, the forward state after 0..=p beside the backward
/// state after len-1 down to p) and the final states [batch, 2 × hidden] (the forward one at
/// len - 1, the backward one at 0).
///
/// On a backend with a fused recurrent layer (attn-kernels on Flex) the input projections of
/// both directions are one product and the recurrence one op; elsewhere burn's layers run, the
/// backward one over each row reversed within its length.
pub fn bidirectional<B: Backend>(
    forward: &Recurrent<B>,
    backward: &Recurrent<B>,
    x: Tensor<B, 3>,
    lengths: &[usize],
) -> (Tensor<B, 3>, Tensor<B, 2>) {
    let x = match (
        fused::fuses_recurrent::<B>(),
        forward.fused_gates(),
        backward.fused_gates(),
    ) {
        (true, Some((cell, f)), Some((other, b))) if cell == other => {
            match fused_bidirectional(cell, [f, b], x, lengths) {
                Ok(encoded) => return encoded,
                Err(x) => x,
            }
        }
        _ => x,
    };
    unfused(forward, backward, x, lengths)
}

/// [`bidirectional`] through burn's layers.
fn unfused<B: Backend>(
    forward: &Recurrent<B>,
    backward: &Recurrent<B>,
    x: Tensor<B, 3>,
    lengths: &[usize],
) -> (Tensor<B, 3>, Tensor<B, 2>) {
    let states = forward.forward(x.clone());
    let reversed = backward.forward(reverse_within_lengths(x, lengths));
    let last = Tensor::cat(
        vec![
            last_states(states.clone(), lengths),
            last_states(reversed.clone(), lengths),
        ],
        1,
    );
    let states = Tensor::cat(vec![states, reverse_within_lengths(reversed, lengths)], 2);
    (states, last)
}

/// The fused op over `x` [batch, seq, d] for one direction per entry of `gates`, from `state0`
/// [dirs, batch, s]: the input projections of all directions as one product, then the
/// recurrence; the full states [batch, seq, dirs × s], or `x` back where the op does not run.
fn fused_layer<B: Backend>(
    cell: CellKind,
    gates: &[Vec<[&Linear<B>; 2]>],
    x: Tensor<B, 3>,
    state0: Tensor<B, 3>,
    lengths: &[usize],
) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    let [batch, seq, d] = x.dims();
    let dirs = gates.len();
    let shape = Recurrence {
        cell,
        batch,
        seq,
        hidden: gates[0][0][1].weight.dims()[0],
        dirs,
    };
    let inputs: Vec<&Linear<B>> = gates.iter().flatten().map(|g| g[0]).collect();
    let (wx, bx) = side_by_side(&inputs);
    let (wh, bh): (Vec<_>, Vec<_>) = gates
        .iter()
        .map(|dir| side_by_side(&dir.iter().map(|g| g[1]).collect::<Vec<_>>()))
        .unzip();
    let xw = fused::linear(x.clone().reshape([batch * seq, d]), wx, Some(bx));
    let inputs = RecurrentInputs {
        xw: xw.reshape([batch, seq, dirs * shape.widths().0]),
        wh: Tensor::stack(wh, 0),
        bh: Tensor::stack(bh, 0),
        state0,
    };
    fused::recurrent(&shape, inputs, lengths).map_err(|_| x)
}

/// [`bidirectional`] through the fused layer, from each direction's gate transforms; `x` back
/// where the op does not take its inputs.
fn fused_bidirectional<B: Backend>(
    cell: CellKind,
    gates: [Vec<[&Linear<B>; 2]>; 2],
    x: Tensor<B, 3>,
    lengths: &[usize],
) -> Result<(Tensor<B, 3>, Tensor<B, 2>), Tensor<B, 3>> {
    let [batch, seq, _] = x.dims();
    let hidden = gates[0][0][1].weight.dims()[0];
    let state0 = Tensor::zeros([2, batch, cell.state() * hidden], &x.device());
    let states = fused_layer(cell, &gates, x, state0, lengths)?;
    // An LSTM's state is [h; c] per direction: the encoder's states are the h halves.
    let states = match cell {
        CellKind::Gru => states,
        CellKind::Lstm => states
            .reshape([batch, seq, 2, 2 * hidden])
            .slice([0..batch, 0..seq, 0..2, 0..hidden])
            .reshape([batch, seq, 2 * hidden]),
    };
    let last = Tensor::cat(
        vec![
            last_states(states.clone(), lengths).slice([0..batch, 0..hidden]),
            states
                .clone()
                .slice([0..batch, 0..1, hidden..2 * hidden])
                .reshape([batch, hidden]),
        ],
        1,
    );
    Ok((states, last))
}

/// Reverses each row of `x` [batch, seq, d] within its length (padding stays in place), so that a
/// left-to-right pass over the result reads each sequence right to left without seeing padding.
/// The function is its own inverse.
pub fn reverse_within_lengths<B: Backend>(x: Tensor<B, 3>, lengths: &[usize]) -> Tensor<B, 3> {
    let [batch, seq, d] = x.dims();
    let mut idx = Vec::with_capacity(batch * seq);
    for &len in lengths {
        idx.extend((0..seq).map(|t| {
            if t < len {
                (len - 1 - t) as i64
            } else {
                t as i64
            }
        }));
    }
    let idx = Tensor::<B, 2, Int>::from_data(TensorData::new(idx, [batch, seq]), &x.device());
    x.gather(1, idx.unsqueeze_dim::<3>(2).expand([batch, seq, d]))
}

/// The state at position `len - 1` of each row of `states` [batch, seq, d] -> [batch, d].
fn last_states<B: Backend>(states: Tensor<B, 3>, lengths: &[usize]) -> Tensor<B, 2> {
    let [batch, _, d] = states.dims();
    let idx: Vec<i64> = lengths.iter().map(|&l| l.max(1) as i64 - 1).collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [batch]), &states.device());
    states
        .gather(1, idx.reshape([batch, 1, 1]).expand([batch, 1, d]))
        .reshape([batch, d])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::gru::GruConfig;
    use burn::nn::lstm::{LstmConfig, LstmState};
    use burn::tensor::{Distribution, Tolerance};

    type Ad = Autodiff<Flex>;

    fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().to_vec().unwrap()
    }

    #[test]
    fn reversal_within_lengths_keeps_padding_in_place() {
        let x = Tensor::<Flex, 3>::from_data(
            TensorData::new((0..8).map(|v| v as f32).collect::<Vec<_>>(), [2, 4, 1]),
            &Default::default(),
        );
        let r = reverse_within_lengths(x.clone(), &[3, 4]);
        assert_eq!(floats(r.clone()), [2.0, 1.0, 0.0, 3.0, 7.0, 6.0, 5.0, 4.0]);
        assert_eq!(floats(reverse_within_lengths(r, &[3, 4])), floats(x));
    }

    fn layer(cell: CellKind, d: usize, hidden: usize) -> Recurrent<Ad> {
        let device = Default::default();
        match cell {
            CellKind::Gru => Recurrent::Gru(GruConfig::new(d, hidden, true).init(&device)),
            CellKind::Lstm => Recurrent::Lstm(LstmConfig::new(d, hidden, true).init(&device)),
        }
    }

    /// One step from a given state, through the fused op, the cell's equations in burn's ops
    /// and burn's layer: the next state and the gradients of the input and the state.
    #[test]
    fn a_step_equals_burns_layer_forward_and_backward() {
        let device = Default::default();
        let (batch, d, hidden) = (4, 5, 6);
        for cell in [CellKind::Gru, CellKind::Lstm] {
            let layer = layer(cell, d, hidden);
            let weights = layer.step_weights().expect("a standard cell");
            let s = cell.state() * hidden;
            let x = Tensor::<Ad, 2>::random([batch, d], Distribution::Normal(0.0, 1.0), &device);
            let state =
                Tensor::<Ad, 2>::random([batch, s], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<Ad, 2>::random([batch, s], Distribution::Normal(0.0, 1.0), &device);
            let run = |path: usize| {
                let (x, state) = (
                    x.clone().detach().require_grad(),
                    state.clone().detach().require_grad(),
                );
                let xw = || weights.project(x.clone(), 0..d) + weights.input_bias().unsqueeze();
                let next = match path {
                    0 => weights.step(xw(), state.clone()),
                    1 => weights.cell_step(xw(), state.clone()),
                    _ => burns_step(&layer, x.clone(), state.clone()),
                };
                let grads = (next.clone() * w.clone()).sum().backward();
                (
                    next.inner(),
                    x.grad(&grads).unwrap(),
                    state.grad(&grads).unwrap(),
                )
            };
            let before = fused::taken(fused::Op::Recurrent);
            let fused_step = run(0);
            assert!(
                fused::taken(fused::Op::Recurrent) > before,
                "the fused op ran"
            );
            let (ref_next, ref_dx, ref_ds) = run(2);
            for (path, (next, dx, ds)) in [(0, fused_step), (1, run(1))] {
                close(
                    next,
                    ref_next.clone(),
                    &format!("{cell:?} {path}: next state"),
                );
                close(
                    dx,
                    ref_dx.clone(),
                    &format!("{cell:?} {path}: input gradient"),
                );
                close(
                    ds,
                    ref_ds.clone(),
                    &format!("{cell:?} {path}: state gradient"),
                );
            }
        }
    }

    /// burn's layer over one position from `state` ([h; c] for an LSTM).
    fn burns_step(layer: &Recurrent<Ad>, x: Tensor<Ad, 2>, state: Tensor<Ad, 2>) -> Tensor<Ad, 2> {
        let [batch, d] = x.dims();
        let x = x.reshape([batch, 1, d]);
        match layer {
            Recurrent::Gru(gru) => gru.forward(x, Some(state)).reshape([batch, gru.d_hidden]),
            Recurrent::Lstm(lstm) => {
                let h = lstm.d_hidden;
                let (hidden, cell) = (
                    state.clone().slice([0..batch, 0..h]),
                    state.slice([0..batch, h..2 * h]),
                );
                let (_, next) = lstm.forward(x, Some(LstmState::new(cell, hidden)));
                Tensor::cat(vec![next.hidden, next.cell], 1)
            }
        }
    }

    fn close<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>, what: &str) {
        let (a, b) = (a.to_data(), b.to_data());
        assert_eq!(a.shape, b.shape, "{what}");
        a.assert_approx_eq::<f32>(&b, Tolerance::absolute(1e-5));
    }

    /// The fused layer against burn's GRU and LSTM: the states within each length, the final
    /// states, and the gradients of the input and of every weight and bias.
    #[test]
    fn the_fused_layer_equals_burns_layers_forward_and_backward() {
        let device = Default::default();
        let (batch, seq, d, hidden) = (3, 7, 5, 6);
        let lengths = [7, 3, 5];
        for cell in [CellKind::Gru, CellKind::Lstm] {
            let (forward, backward) = (layer(cell, d, hidden), layer(cell, d, hidden));
            let x =
                Tensor::<Ad, 3>::random([batch, seq, d], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<Ad, 3>::random(
                [batch, seq, 2 * hidden],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let w_last = Tensor::<Ad, 2>::random(
                [batch, 2 * hidden],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let within: Vec<f32> = lengths
                .iter()
                .flat_map(|&l| (0..seq).map(move |t| if t < l { 1.0 } else { 0.0 }))
                .collect();
            let within =
                Tensor::<Ad, 3>::from_data(TensorData::new(within, [batch, seq, 1]), &device);
            let run = |fused_path: bool| {
                let x = x.clone().detach().require_grad();
                let (states, last) = match fused_path {
                    true => fused_bidirectional(
                        cell,
                        [&forward, &backward].map(|r| r.fused_gates().expect("standard").1),
                        x.clone(),
                        &lengths,
                    )
                    .expect("the fused op on Autodiff<Flex>"),
                    false => unfused(&forward, &backward, x.clone(), &lengths),
                };
                let states = states * within.clone();
                let loss =
                    (states.clone() * w.clone()).sum() + (last.clone() * w_last.clone()).sum();
                let grads = loss.backward();
                let mut params = vec![x.grad(&grads).expect("dx").reshape([batch * seq, d])];
                for r in [&forward, &backward] {
                    for [input, recurrent] in r.fused_gates().unwrap().1 {
                        for l in [input, recurrent] {
                            params.push(l.weight.grad(&grads).expect("dW"));
                            let db = l.bias.as_ref().unwrap().grad(&grads).expect("db");
                            params.push(db.unsqueeze());
                        }
                    }
                }
                (states.inner(), last.inner(), params)
            };
            let before = fused::taken(fused::Op::Recurrent);
            let (states, last, grads) = run(true);
            assert!(
                fused::taken(fused::Op::Recurrent) > before,
                "the fused op ran"
            );
            let (ref_states, ref_last, ref_grads) = run(false);
            close(states, ref_states, "states");
            close(last, ref_last, "final states");
            assert_eq!(grads.len(), ref_grads.len());
            for (i, (g, r)) in grads.into_iter().zip(ref_grads).enumerate() {
                close(g, r, &format!("{cell:?} gradient {i}"));
            }
        }
    }
}
