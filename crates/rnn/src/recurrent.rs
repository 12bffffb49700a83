//! `Recurrent`: one direction of the encoder (burn's GRU or LSTM), and [`bidirectional`], which
//! runs both directions as one fused layer where attn-kernels has one for the backend.

use attn_kernels::fused::{self, CellKind, Recurrence, RecurrentInputs};
use burn::module::Module;
use burn::nn::Linear;
use burn::nn::activation::Activation;
use burn::nn::gru::Gru;
use burn::nn::lstm::{Lstm, LstmState};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

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

    /// One step of the cell from `state` [batch, s] with input `x` [batch, d]: the next state
    /// [batch, s], where s is the hidden width for a GRU and [h; c] (twice it) for an LSTM (a
    /// decoder's step). Through attn-kernels' fused layer where it runs, burn's layer elsewhere.
    pub fn step(&self, x: Tensor<B, 2>, state: Tensor<B, 2>) -> Tensor<B, 2> {
        let [batch, d] = x.dims();
        let x = x.reshape([batch, 1, d]);
        let args = match (fused::fuses_recurrent::<B>(), self.fused_gates()) {
            (true, Some((cell, gates))) => match fused_step(cell, gates, x, state) {
                Ok(next) => return next,
                Err(args) => args,
            },
            _ => (x, state),
        };
        unfused_step(self, args)
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

/// [`Recurrent::step`] through burn's layer, from `x` [batch, 1, d] and the state.
fn unfused_step<B: Backend>(
    layer: &Recurrent<B>,
    (x, state): (Tensor<B, 3>, Tensor<B, 2>),
) -> Tensor<B, 2> {
    let batch = x.dims()[0];
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

/// [`Recurrent::step`] through the fused layer (one direction, one position); the arguments back
/// where the op does not take them.
fn fused_step<B: Backend>(
    cell: CellKind,
    gates: Vec<[&Linear<B>; 2]>,
    x: Tensor<B, 3>,
    state: Tensor<B, 2>,
) -> Result<Tensor<B, 2>, (Tensor<B, 3>, Tensor<B, 2>)> {
    let [batch, s] = state.dims();
    let state0 = state.clone().reshape([1, batch, s]);
    match fused_layer(cell, &[gates], x.clone(), state0, &vec![1; batch]) {
        Ok(next) => Ok(next.reshape([batch, s])),
        Err(_) => Err((x, state)),
    }
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
    use burn::nn::lstm::LstmConfig;
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

    /// One step from a given state, fused and through burn's layer: the next state and the
    /// gradients of the input and the state.
    #[test]
    fn a_fused_step_equals_burns_step_forward_and_backward() {
        let device = Default::default();
        let (batch, d, hidden) = (4, 5, 6);
        for cell in [CellKind::Gru, CellKind::Lstm] {
            let layer = layer(cell, d, hidden);
            let s = cell.state() * hidden;
            let x = Tensor::<Ad, 2>::random([batch, d], Distribution::Normal(0.0, 1.0), &device);
            let state =
                Tensor::<Ad, 2>::random([batch, s], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<Ad, 2>::random([batch, s], Distribution::Normal(0.0, 1.0), &device);
            let run = |fused_path: bool| {
                let (x, state) = (
                    x.clone().detach().require_grad(),
                    state.clone().detach().require_grad(),
                );
                let next = match fused_path {
                    true => layer.step(x.clone(), state.clone()),
                    false => {
                        unfused_step(&layer, (x.clone().reshape([batch, 1, d]), state.clone()))
                    }
                };
                let grads = (next.clone() * w.clone()).sum().backward();
                (
                    next.inner(),
                    x.grad(&grads).unwrap(),
                    state.grad(&grads).unwrap(),
                )
            };
            let before = fused::taken(fused::Op::Recurrent);
            let (next, dx, ds) = run(true);
            assert!(
                fused::taken(fused::Op::Recurrent) > before,
                "the fused op ran"
            );
            let (ref_next, ref_dx, ref_ds) = run(false);
            close(next, ref_next, "next state");
            close(dx, ref_dx, "input gradient");
            close(ds, ref_ds, "state gradient");
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
