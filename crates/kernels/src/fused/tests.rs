//! The fused ops against burn's own, forward and backward, and their fast paths counted.

use super::loss::cross_entropy_reference;
use super::*;
use burn::backend::Flex;
use burn::tensor::{Distribution, Int, Tolerance, activation};

/// Runs `draw` right after seeding `B`'s generator, which every test thread shares: the lock
/// keeps another test from drawing in between.
fn seeded<B: Backend, T>(seed: u64, draw: impl FnOnce() -> T) -> T {
    static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    B::seed(&Default::default(), seed);
    draw()
}

/// A normal(0, 2) tensor on `B`, fixed by `seed`.
fn random<B: Backend, const D: usize>(shape: [usize; D], seed: u64) -> Tensor<B, D> {
    seeded::<B, _>(seed, || {
        Tensor::random(shape, Distribution::Normal(0.0, 2.0), &Default::default())
    })
}

/// A leaf that tracks its gradient, equal to `t` but apart from it in the graph.
fn leaf<const D: usize>(t: &Tensor<Ad, D>) -> Tensor<Ad, D> {
    t.clone().detach().require_grad()
}

fn close<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>, tol: f32) {
    a.to_data()
        .assert_approx_eq::<f32>(&b.to_data(), Tolerance::absolute(tol));
}

type Grads = <Ad as burn::tensor::backend::AutodiffBackend>::Gradients;

/// The gradients of Σ w·`fast` and of Σ w·`reference`, for the same random weights w.
fn backward<const D: usize>(fast: Tensor<Ad, D>, reference: Tensor<Ad, D>) -> (Grads, Grads) {
    let w = random::<Ad, D>(fast.dims(), 7);
    (
        (fast * w.clone()).sum().backward(),
        (reference * w).sum().backward(),
    )
}

/// The gradient of `fast` in the first set equals that of `reference` in the second.
fn same_grad<const D: usize>(
    grads: &(Grads, Grads),
    fast: &Tensor<Ad, D>,
    reference: &Tensor<Ad, D>,
) {
    let fast = fast.grad(&grads.0).expect("fused gradient");
    close(
        fast,
        reference.grad(&grads.1).expect("reference gradient"),
        2e-4,
    );
}

#[test]
fn gelu_matches_burn_forward_and_backward() {
    let x = random::<Ad, 3>([4, 33, 50], 1).require_grad();
    let reference_x = leaf(&x);
    let (y, reference) = (gelu(x.clone()), activation::gelu(reference_x.clone()));
    close(y.clone(), reference.clone(), 1e-5);
    same_grad(&backward(y, reference), &x, &reference_x);
    let inference = random::<Flex, 2>([7, 300], 2);
    close(gelu(inference.clone()), activation::gelu(inference), 1e-5);
}

#[test]
fn tanh_matches_burn_forward_and_backward() {
    let x = random::<Ad, 3>([4, 33, 50], 51).require_grad();
    let reference_x = leaf(&x);
    let (y, reference) = (tanh(x.clone()), reference_x.clone().tanh());
    close(y.clone(), reference.clone(), 1e-6);
    same_grad(&backward(y, reference), &x, &reference_x);
    let inference = random::<Flex, 2>([7, 300], 52);
    close(tanh(inference.clone()), inference.tanh(), 1e-6);
}

#[test]
fn scaled_softmax_matches_burn_forward_and_backward() {
    let scores = random::<Ad, 4>([2, 3, 5, 7], 3).require_grad();
    let bias = random::<Ad, 4>([2, 1, 1, 7], 4).require_grad();
    let (reference_scores, reference_bias) = (leaf(&scores), leaf(&bias));
    let probs = scaled_softmax(scores.clone(), bias.clone(), 0.3);
    let reference = activation::softmax(reference_scores.clone() * 0.3 + reference_bias.clone(), 3);
    close(probs.clone(), reference.clone(), 1e-6);
    let grads = backward(probs, reference);
    same_grad(&grads, &scores, &reference_scores);
    same_grad(&grads, &bias, &reference_bias);

    // A constant bias (the padding mask): only the scores' gradient, scaled in one pass.
    let (scores, reference_scores) = (leaf(&scores), leaf(&scores));
    let constant = || Tensor::<Ad, 4>::from_data(bias.to_data(), &Default::default());
    let probs = scaled_softmax(scores.clone(), constant(), 0.3);
    let reference = activation::softmax(reference_scores.clone() * 0.3 + constant(), 3);
    same_grad(&backward(probs, reference), &scores, &reference_scores);

    let masked = Tensor::<Flex, 4>::zeros([2, 1, 1, 7], &Default::default())
        .slice_fill([0..1, 0..1, 0..1, 5..7], f32::MIN);
    let inference = random::<Flex, 4>([2, 3, 5, 7], 5);
    let probs = scaled_softmax(inference.clone(), masked.clone(), 0.3);
    close(
        probs.clone(),
        activation::softmax(inference * 0.3 + masked, 3),
        1e-6,
    );
    let padded: f32 = probs.slice([0..1, 0..3, 0..5, 5..7]).sum().into_scalar();
    assert_eq!(padded, 0.0, "padded keys get no weight");
}

#[test]
fn scaled_softmax_takes_burn_ops_for_another_bias_shape() {
    let scores = random::<Ad, 4>([2, 3, 5, 7], 6);
    let bias = random::<Ad, 4>([1, 1, 5, 7], 7);
    let reference = activation::softmax(scores.clone() * 0.5 + bias.clone(), 3);
    close(scaled_softmax(scores, bias, 0.5), reference, 1e-6);
}

#[test]
fn layer_norm_matches_burn_forward_and_backward() {
    let x = random::<Ad, 3>([3, 10, 48], 8).require_grad();
    let gamma = random::<Ad, 1>([48], 9).require_grad();
    let beta = random::<Ad, 1>([48], 10).require_grad();
    let (rx, rg, rb) = (leaf(&x), leaf(&gamma), leaf(&beta));
    let y = layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-12);
    let (var, mean) = rx.clone().var_mean_bias(2);
    let reference = (rx.clone() - mean) / (var + 1e-12).sqrt() * rg.clone().unsqueeze::<3>()
        + rb.clone().unsqueeze::<3>();
    close(y.clone(), reference.clone(), 2e-5);
    let grads = backward(y, reference);
    same_grad(&grads, &x, &rx);
    same_grad(&grads, &gamma, &rg);
    same_grad(&grads, &beta, &rb);

    // Inference on Flex, alone and with the residual added in the same pass.
    let (g, b) = (gamma.inner(), beta.inner());
    let reference = |x: Tensor<Flex, 3>| {
        let (var, mean) = x.clone().var_mean_bias(2);
        (x - mean) / (var + 1e-12).sqrt() * g.clone().unsqueeze::<3>() + b.clone().unsqueeze::<3>()
    };
    let (x, residual) = (random::<Flex, 3>([3, 10, 48], 12), random([3, 10, 48], 13));
    let y = layer_norm(x.clone(), g.clone(), b.clone(), 1e-12);
    close(y, reference(x.clone()), 2e-5);
    let y = add_layer_norm(x.clone(), residual.clone(), g.clone(), b.clone(), 1e-12);
    close(y, reference(x + residual), 2e-5);
}

#[test]
fn dropout_zeroes_a_share_scales_the_rest_and_repeats_for_a_seed() {
    let run = |seed| {
        let x = Tensor::<Ad, 2>::ones([50, 400], &Default::default()).require_grad();
        let y = seeded::<Ad, _>(seed, || dropout(x.clone(), 0.25));
        let grads = (y.clone() * 3.0).sum().backward();
        (y.inner(), x.grad(&grads).expect("a gradient"))
    };
    let (y, grad) = run(1);
    let values = y.to_data().to_vec::<f32>().unwrap();
    let dropped = values.iter().filter(|&&v| v == 0.0).count() as f64 / values.len() as f64;
    assert!((dropped - 0.25).abs() < 0.01, "dropped {dropped}");
    assert!(
        values
            .iter()
            .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6)
    );
    // The gradient goes through the same mask, with the same scale.
    close(grad, y.clone() * 3.0, 1e-6);
    close(run(1).0, y.clone(), 0.0);
    assert_ne!(
        run(2).0.to_data(),
        y.to_data(),
        "another seed, another mask"
    );
    let inference = Tensor::<Flex, 2>::ones([4, 4], &Default::default());
    close(dropout(inference.clone(), 0.5), inference, 0.0);
}

#[test]
fn linear_matches_burn_forward_and_backward() {
    // 300 x 200 x 100 is above the threshold where gemm takes both cores.
    for [rows, d_in, d_out] in [[7, 5, 3], [300, 200, 100]] {
        let x = random::<Ad, 2>([rows, d_in], 20).require_grad();
        let w = random::<Ad, 2>([d_in, d_out], 21).require_grad();
        let b = random::<Ad, 1>([d_out], 22).require_grad();
        let (rx, rw, rb) = (leaf(&x), leaf(&w), leaf(&b));
        let y = linear(x.clone(), w.clone(), Some(b.clone()));
        let reference = burn::tensor::module::linear(rx.clone(), rw.clone(), Some(rb.clone()));
        close(y.clone(), reference.clone(), 1e-3);
        let grads = backward(y, reference);
        same_grad(&grads, &x, &rx);
        same_grad(&grads, &w, &rw);
        same_grad(&grads, &b, &rb);
        let inference = |t: &Tensor<Ad, 2>| t.clone().inner();
        close(
            linear(inference(&x), inference(&w), Some(b.clone().inner())),
            reference_inner(&rx, &rw, &rb),
            1e-3,
        );
    }
}

/// burn's linear layer on the inner (Flex) values of autodiff tensors.
fn reference_inner(x: &Tensor<Ad, 2>, w: &Tensor<Ad, 2>, b: &Tensor<Ad, 1>) -> Tensor<Flex, 2> {
    burn::tensor::module::linear(
        x.clone().inner(),
        w.clone().inner(),
        Some(b.clone().inner()),
    )
}

/// Attention as the model wrote it before the fused version: heads split by a reshape and a
/// swap of dims, burn's matrix products, the fused softmax and dropout, heads merged again.
fn unfused_attention<B: Backend>(
    [q, k, v]: [Tensor<B, 3>; 3],
    bias: Tensor<B, 4>,
    heads: usize,
    prob: f64,
) -> (Tensor<B, 3>, Tensor<B, 4>) {
    let [batch, seq, width] = q.dims();
    let split = |t: Tensor<B, 3>| {
        t.reshape([batch, seq, heads, width / heads])
            .swap_dims(1, 2)
    };
    let scores = split(q).matmul(split(k).swap_dims(2, 3));
    let probs = scaled_softmax(scores, bias, 1.0 / ((width / heads) as f64).sqrt());
    let context = dropout(probs.clone(), prob)
        .matmul(split(v))
        .swap_dims(1, 2)
        .reshape([batch, seq, width]);
    (context, probs)
}

/// A [2, 1, 1, 6] padding bias: the last two keys of the first sequence are padding.
fn padding<B: Backend>() -> Tensor<B, 4> {
    Tensor::zeros([2, 1, 1, 6], &Default::default()).slice_fill([0..1, 0..1, 0..1, 4..6], -1e4)
}

#[test]
fn attention_matches_the_unfused_heads_forward_and_backward_with_dropout() {
    for prob in [0.0, 0.3] {
        let qkv = [30, 31, 32].map(|seed| random::<Ad, 3>([2, 6, 12], seed).require_grad());
        let reference_qkv = [&qkv[0], &qkv[1], &qkv[2]].map(leaf);
        // The same seed for both: the same dropout mask.
        let (context, probs) = seeded::<Ad, _>(9, || {
            attention(qkv.clone(), padding(), 3, prob, true).expect("a fused attention")
        });
        let (reference, reference_probs) = seeded::<Ad, _>(9, || {
            unfused_attention(reference_qkv.clone(), padding(), 3, prob)
        });
        close(context.clone(), reference.clone(), 1e-5);
        close(probs.expect("kept"), reference_probs, 1e-6);
        let grads = backward(context, reference);
        for (fused, reference) in qkv.iter().zip(&reference_qkv) {
            same_grad(&grads, fused, reference);
        }
    }
    let qkv = [33, 34, 35].map(|seed| random::<Flex, 3>([2, 6, 12], seed));
    let (context, probs) = attention(qkv.clone(), padding(), 4, 0.0, false).expect("fused");
    assert!(probs.is_none());
    close(
        context,
        unfused_attention(qkv.clone(), padding(), 4, 0.0).0,
        1e-5,
    );
    // Keys masked with f32::MIN (the model's mask) are left out of the products: the same
    // context, and probabilities that are zero there.
    let min_mask = Tensor::<Flex, 4>::zeros([2, 1, 1, 6], &Default::default())
        .slice_fill([0..1, 0..1, 0..1, 3..6], f32::MIN)
        .slice_fill([1..2, 0..1, 0..1, 0..6], f32::MIN);
    let (context, probs) = attention(qkv.clone(), min_mask.clone(), 4, 0.0, true).expect("fused");
    let (reference, reference_probs) = unfused_attention(qkv.clone(), min_mask, 4, 0.0);
    close(context, reference, 1e-5);
    close(probs.expect("kept"), reference_probs, 1e-6);
    let other_bias = Tensor::<Flex, 4>::zeros([1, 1, 6, 6], &Default::default());
    assert!(
        attention(qkv, other_bias, 4, 0.0, false).is_err(),
        "another bias shape"
    );
}

#[test]
fn packed_attention_is_the_padded_attention_at_the_real_tokens_to_the_bit() {
    // Sequences of 5, 0, 2 and 7 tokens, padded at their ends to 7.
    let lengths = [5, 0, 2, 7];
    let seq = 7;
    let rows: std::sync::Arc<[usize]> = (0..lengths.len() * seq)
        .filter(|i| i % seq < lengths[i / seq])
        .collect();
    let mut bias = Tensor::<Flex, 4>::zeros([4, 1, 1, seq], &Default::default());
    for (b, &n) in lengths.iter().enumerate() {
        if n < seq {
            bias = bias.slice_fill([b..b + 1, 0..1, 0..1, n..seq], f32::MIN);
        }
    }
    let qkv = [36, 37, 38].map(|seed| random::<Flex, 3>([4, seq, 12], seed));
    let pack = |t: Tensor<Flex, 3>| pack_rows(t.reshape([4 * seq, 12]), &rows).unsqueeze::<3>();
    let (padded, _) = attention(qkv.clone(), bias.clone(), 3, 0.0, false).expect("fused");
    let packed = packed_attention(qkv.clone().map(pack), &lengths, seq, 3, 0.0).expect("fused");
    close(packed, pack(padded), 0.0);
    // Training, with dropout: the padded attention's context and gradients at the real tokens
    // (the same mask: it hashes each probability's place in the padded block).
    for prob in [0.0, 0.3] {
        let tracked = qkv
            .clone()
            .map(|t| Tensor::<Ad, 3>::from_inner(t).require_grad());
        let leaves = [&tracked[0], &tracked[1], &tracked[2]].map(leaf);
        let bias = Tensor::<Ad, 4>::from_inner(bias.clone());
        let pack = |t: Tensor<Ad, 3>| pack_rows(t.reshape([4 * seq, 12]), &rows).unsqueeze::<3>();
        let packed = seeded::<Ad, _>(9, || {
            packed_attention(tracked.clone().map(pack), &lengths, seq, 3, prob).expect("fused")
        });
        let (padded, _) = seeded::<Ad, _>(9, || {
            attention(leaves.clone(), bias.clone(), 3, prob, false).expect("fused")
        });
        let padded = pack(padded);
        close(packed.clone(), padded.clone(), 1e-5);
        let grads = backward(packed, padded);
        for (fused, reference) in tracked.iter().zip(&leaves) {
            same_grad(&grads, fused, reference);
        }
    }
    let other = [39, 40, 41].map(|seed| random::<Flex, 3>([1, 13, 12], seed));
    assert!(
        packed_attention(other, &lengths, seq, 3, 0.0).is_err(),
        "not the lengths' tokens"
    );
}

#[test]
fn embedding_matches_burn_forward_and_backward() {
    let weight = random::<Ad, 2>([50, 12], 11).require_grad();
    let reference_weight = leaf(&weight);
    // Repeated ids: their gradient rows add up.
    let ids =
        || Tensor::<Ad, 2, Int>::from_data([[3, 7, 3, 0], [49, 7, 7, 1]], &Default::default());
    let (y, reference) = (
        embedding(weight.clone(), ids()),
        burn::tensor::module::embedding(reference_weight.clone(), ids()),
    );
    close(y.clone(), reference.clone(), 0.0);
    same_grad(&backward(y, reference), &weight, &reference_weight);
}

#[test]
fn packing_rows_matches_burn_select_forward_and_backward() {
    let x = random::<Ad, 2>([7, 5], 12).require_grad();
    let reference_x = leaf(&x);
    let rows: std::sync::Arc<[usize]> = [0, 2, 3, 6].into();
    let ids = || Tensor::<Ad, 1, Int>::from_data([0, 2, 3, 6], &Default::default());
    // Packed, then put back in 9 positions: both ops and both backward steps.
    let y = unpack_rows(pack_rows(x.clone(), &rows), &[1, 2, 5, 8].into(), 9);
    let placed = Tensor::<Ad, 1, Int>::from_data([1, 2, 5, 8], &Default::default());
    let reference = Tensor::zeros([9, 5], &Default::default()).select_assign(
        0,
        placed,
        reference_x.clone().select(0, ids()),
        burn::tensor::IndexingUpdateOp::Add,
    );
    close(y.clone(), reference.clone(), 0.0);
    same_grad(&backward(y, reference), &x, &reference_x);
    // Inference on Flex.
    let inner = x.inner();
    close(
        pack_rows(inner.clone(), &rows),
        inner.select(0, ids().inner()),
        0.0,
    );
}

#[test]
fn adamw_on_flex_matches_burn_ops_with_and_without_clipping() {
    // The gradients' norm is about 290: a clip at 50 scales them, one at 1e4 leaves them.
    for clip_norm in [None, Some(50.0), Some(1e4)] {
        let mut h = AdamWStep {
            lr: 1e-2,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
            time: 0,
            clip_norm,
        };
        // Flex takes the fused pass; Autodiff<Flex> tensors (untracked) take burn's ops.
        let on_ad =
            |t: &Tensor<Flex, 2>| Tensor::<Ad, 2>::from_data(t.to_data(), &Default::default());
        let back =
            |t: Tensor<Ad, 2>| Tensor::<Flex, 2>::from_data(t.to_data(), &Default::default());
        let mut fast = (random::<Flex, 2>([30, 700], 11), None);
        let mut slow = (on_ad(&fast.0), None);
        for seed in 12..15 {
            h.time += 1;
            let grad = random::<Flex, 2>([30, 700], seed);
            let (p, m, v) = adamw(fast.0, grad.clone(), fast.1, &h);
            fast = (p, Some((m, v)));
            let (p, m, v) = adamw(slow.0, on_ad(&grad), slow.1, &h);
            slow = (p, Some((m, v)));
        }
        close(fast.0.clone(), back(slow.0), 1e-6);
        let ((m, v), (sm, sv)) = (fast.1.unwrap(), slow.1.unwrap());
        close(m, back(sm), 1e-6);
        close(v, back(sv), 1e-5);
        assert!(fast.0.to_data().iter::<f32>().all(f32::is_finite));
    }
}

#[test]
fn moving_average_on_flex_matches_burn_ops_and_leaves_a_shared_average_alone() {
    let (average, value) = (
        random::<Flex, 2>([30, 700], 21),
        random::<Flex, 2>([30, 700], 22),
    );
    let on_ad = |t: &Tensor<Flex, 2>| Tensor::<Ad, 2>::from_data(t.to_data(), &Default::default());
    let slow = moving_average(on_ad(&average), on_ad(&value), 0.9);
    let before = average.to_data();
    // `average` is shared with the clone kept here: the pass must write a copy.
    let fast = moving_average(average.clone(), value, 0.9);
    close(
        fast,
        Tensor::from_data(slow.to_data(), &Default::default()),
        1e-6,
    );
    assert_eq!(average.to_data(), before);
}

/// Additive attention in burn's ops, with the padding as a mask.
fn additive_reference<B: Backend>(
    (q, k, v, h): AdditiveInputs<B>,
    lengths: &[usize],
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let [batch, seq, hidden] = k.dims();
    let width = h.dims()[2];
    let energy = (q.unsqueeze_dim::<3>(1) + k).tanh();
    let scores = energy
        .reshape([batch * seq, hidden])
        .matmul(v)
        .reshape([batch, seq]);
    let padding: Vec<bool> = lengths
        .iter()
        .flat_map(|&n| (0..seq).map(move |t| t >= n))
        .collect();
    let padding = Tensor::<B, 2, burn::tensor::Bool>::from_bool(
        burn::tensor::TensorData::new(padding, [batch, seq]),
        &Default::default(),
    );
    let weights = activation::softmax(scores.mask_fill(padding, f32::MIN), 1);
    let context = weights
        .clone()
        .unsqueeze_dim::<3>(1)
        .matmul(h)
        .reshape([batch, width]);
    (context, weights)
}

#[test]
fn additive_attention_matches_burn_forward_and_backward() {
    let (batch, seq, hidden, width) = (3, 7, 5, 6);
    let lengths = [7, 2, 4];
    let scaled = |t: Tensor<Ad, 3>| (t * 0.3).detach().require_grad();
    let q = scaled(random::<Ad, 3>([batch, 1, hidden], 50)).reshape([batch, hidden]);
    let q = q.detach().require_grad();
    let k = scaled(random::<Ad, 3>([batch, seq, hidden], 51));
    let v = scaled(random::<Ad, 3>([1, hidden, 1], 52)).reshape([hidden, 1]);
    let v = v.detach().require_grad();
    let h = scaled(random::<Ad, 3>([batch, seq, width], 53));
    let inputs = (q.clone(), k.clone(), v.clone(), h.clone());
    let (context, weights) = additive_attention(inputs, &lengths).expect("fused");
    let leaves = (leaf(&q), leaf(&k), leaf(&v), leaf(&h));
    let (reference, reference_weights) = additive_reference(leaves.clone(), &lengths);
    close(context.clone(), reference.clone(), 1e-5);
    close(weights.clone(), reference_weights, 1e-6);
    let row: Vec<f32> = weights.to_data().to_vec().unwrap();
    assert!(row[seq + 2..2 * seq].iter().all(|&w| w == 0.0), "{row:?}");
    let grads = backward(context, reference);
    same_grad(&grads, &q, &leaves.0);
    same_grad(&grads, &k, &leaves.1);
    same_grad(&grads, &v, &leaves.2);
    same_grad(&grads, &h, &leaves.3);
    // Inference on Flex.
    let inner = (q.inner(), k.inner(), v.inner(), h.inner());
    let (fast, _) = additive_attention(inner.clone(), &lengths).expect("fused");
    close(fast, additive_reference(inner, &lengths).0, 1e-5);
}

#[test]
fn every_op_takes_its_fast_path_on_flex_and_counts_it() {
    let before = ALL_OPS.map(taken);
    let x = random::<Ad, 2>([4, 8], 40).require_grad();
    let (w, b) = (random::<Ad, 2>([8, 8], 41), random::<Ad, 1>([8], 42));
    let y = linear(x.clone(), w.clone(), Some(b.clone()));
    let y = layer_norm(gelu(y), b.clone(), b.clone(), 1e-12);
    let probs = scaled_softmax(y.clone().reshape([1, 1, 4, 8]), padding_of(8), 0.5);
    let qkv = [0, 1, 2].map(|_| y.clone().reshape([1, 4, 8]));
    let (context, _) = attention(qkv, padding_of(4), 2, 0.0, false).expect("fused");
    let ids = Tensor::<Ad, 2, Int>::from_data([[0, 3]], &Default::default());
    let rows = embedding(w.clone(), ids);
    let packed = unpack_rows(pack_rows(y.clone(), &[1, 3].into()), &[0, 2].into(), 5);
    let shape = Recurrence {
        cell: CellKind::Gru,
        batch: 1,
        seq: 4,
        hidden: 2,
        dirs: 1,
    };
    let inputs = RecurrentInputs {
        xw: y.clone().slice([0..4, 0..6]).reshape([1, 4, 6]),
        wh: w.clone().slice([0..2, 0..6]).reshape([1, 2, 6]),
        bh: b.clone().slice(0..6).reshape([1, 6]),
        state0: Tensor::zeros([1, 1, 2], &Default::default()),
    };
    let states = recurrent(&shape, inputs, &[3]).expect("a fused recurrence");
    let keys = y.clone().reshape([1, 4, 8]);
    let additive = (
        y.clone().slice([0..1, 0..8]),
        keys.clone(),
        w.clone().slice([0..8, 0..1]),
        keys,
    );
    let (aligned, _) = additive_attention(additive, &[3]).expect("fused");
    let labels = Tensor::<Ad, 1, Int>::from_data([1, 7, 0, 2], &Default::default());
    let (scored, _) = cross_entropy(y.clone(), labels, 0.0);
    let loss = dropout(probs, 0.1).sum()
        + context.sum()
        + rows.sum()
        + tanh(states).sum()
        + aligned.sum()
        + packed.sum()
        + scored;
    let _ = loss.backward();
    let step = AdamWStep {
        lr: 1e-3,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        weight_decay: 0.0,
        time: 1,
        clip_norm: None,
    };
    let p = w.inner();
    let _ = adamw(p.clone(), p.clone(), None, &step);
    let _ = moving_average(p.clone(), p, 0.9);
    for ((op, before), after) in ALL_OPS.iter().zip(before).zip(ALL_OPS.map(taken)) {
        assert!(
            after > before,
            "{op:?} fell back to burn's ops on (Autodiff<)Flex"
        );
    }
}

/// Every op.
const ALL_OPS: [Op; 14] = [
    Op::Gelu,
    Op::ScaledSoftmax,
    Op::LayerNorm,
    Op::Dropout,
    Op::Linear,
    Op::Embedding,
    Op::Attention,
    Op::AdamW,
    Op::MovingAverage,
    Op::Recurrent,
    Op::Tanh,
    Op::AdditiveAttention,
    Op::CrossEntropy,
    Op::Packing,
];

#[test]
fn cross_entropy_matches_burn_forward_and_backward() {
    use burn::nn::loss::CrossEntropyLossConfig;
    let (rows, classes) = (37, 301);
    let x = random::<Ad, 2>([rows, classes], 60).require_grad();
    let ids: Vec<i64> = (0..rows as i64)
        .map(|r| (r * 97) % classes as i64)
        .collect();
    let labels = Tensor::<Ad, 1, Int>::from_data(ids.as_slice(), &Default::default());
    let argmax: Vec<i64> = x
        .clone()
        .argmax(1)
        .to_data()
        .convert::<i64>()
        .to_vec()
        .unwrap();
    let want_hits = argmax.iter().zip(&ids).filter(|(a, b)| a == b).count();
    for smoothing in [0.0, 0.1] {
        let burn_loss = CrossEntropyLossConfig::new()
            .with_smoothing((smoothing > 0.0).then_some(smoothing))
            .init(&Default::default());
        let reference_x = leaf(&x);
        let reference = burn_loss.forward(reference_x.clone(), labels.clone());
        let (loss, hits) = cross_entropy(x.clone(), labels.clone(), smoothing);
        close(loss.clone(), reference.clone(), 1e-5);
        assert_eq!(hits, want_hits);
        let grads = (loss.backward(), reference.backward());
        same_grad(&grads, &x, &reference_x);
        // burn's ops, as other backends run them; and inference on Flex.
        let (ops, ops_hits) = cross_entropy_reference(leaf(&x), labels.clone(), smoothing);
        close(ops, reference.clone(), 1e-5);
        assert_eq!(ops_hits, want_hits);
        let (fast, _) = cross_entropy(x.clone().inner(), labels.clone().inner(), smoothing);
        close(fast, reference.inner(), 1e-5);
    }
}

/// A [1, 1, 1, keys] bias that keeps every key.
fn padding_of<B: Backend>(keys: usize) -> Tensor<B, 4> {
    Tensor::zeros([1, 1, 1, keys], &Default::default())
}
