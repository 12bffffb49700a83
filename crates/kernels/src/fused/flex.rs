//! The fused ops on burn's `Flex` CPU backend, and on `Autodiff<Flex>` with their backward steps.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::{Autodiff, Flex};
use burn::tensor::ops::{FloatTensor, FloatTensorOps, ModuleOps};
use burn::tensor::{
    DType, FloatDType, Int, Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive,
};
use burn_flex::FlexTensor;

use super::RecurrentInputs;
use crate::cpu::{self as kernels, DropMask, Heads, Packed, Recurrence};

/// The autodiff backend over Flex that `crate::dispatch` runs.
type Ad = Autodiff<Flex>;

/// The primitive of a float tensor of any rank.
fn primitive<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// A tensor of any rank from its primitive.
fn tensor<B: burn::tensor::backend::Backend, const D: usize>(p: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// `t` as a contiguous f32 tensor whose storage is exactly its elements.
fn contiguous_f32(t: FlexTensor) -> FlexTensor {
    let t = match t.dtype() {
        DType::F32 => t,
        _ => Flex::float_cast(t, FloatDType::F32),
    };
    t.to_contiguous()
}

/// A contiguous f32 tensor of `shape` holding `data`.
fn from_vec(data: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// Runs a kernel that writes a tensor of `x`'s shape from `x`'s elements.
fn map(x: &FlexTensor, kernel: impl FnOnce(&[f32], &mut [f32])) -> FlexTensor {
    let mut out = vec![0.0; x.shape().num_elements()];
    kernel(x.storage(), &mut out);
    from_vec(out, x.shape())
}

/// Whether the fast path takes a tensor of this dtype (f32 only; other dtypes use burn's ops).
pub fn takes(dtype: DType) -> bool {
    dtype == DType::F32
}

/// GELU on Flex.
pub fn gelu<const D: usize>(x: Tensor<Flex, D>) -> Tensor<Flex, D> {
    let x = contiguous_f32(primitive(x));
    tensor(map(&x, kernels::gelu))
}

/// GELU on `Autodiff<Flex>`; its backward step keeps the input.
pub fn gelu_autodiff<const D: usize>(x: Tensor<Ad, D>) -> Tensor<Ad, D> {
    #[derive(Debug)]
    struct Gelu;

    impl Backward<Flex, 1> for Gelu {
        type State = FlexTensor;

        fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let x = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
                let g = contiguous_f32(g);
                map(&x, |x, out| kernels::gelu_backward(x, g.storage(), out))
            });
        }
    }

    let x = primitive(x);
    let input = contiguous_f32(x.primitive.clone());
    let output = map(&input, kernels::gelu);
    tensor(
        match Gelu
            .prepare::<NoCheckpointing>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(input, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}

/// tanh on Flex.
pub fn tanh<const D: usize>(x: Tensor<Flex, D>) -> Tensor<Flex, D> {
    let x = contiguous_f32(primitive(x));
    tensor(map(&x, kernels::tanh))
}

/// tanh on `Autodiff<Flex>`; its backward step keeps the output.
pub fn tanh_autodiff<const D: usize>(x: Tensor<Ad, D>) -> Tensor<Ad, D> {
    #[derive(Debug)]
    struct Tanh;

    impl Backward<Flex, 1> for Tanh {
        type State = FlexTensor;

        fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let y = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
                let g = contiguous_f32(g);
                map(&y, |y, out| kernels::tanh_backward(y, g.storage(), out))
            });
        }
    }

    let x = primitive(x);
    let output = map(&contiguous_f32(x.primitive.clone()), kernels::tanh);
    tensor(
        match Tanh
            .prepare::<NoCheckpointing>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(output.clone(), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}

/// Shape checks of the scaled softmax: `[batch, heads, queries, keys]` scores and a
/// `[batch, 1, 1, keys]` bias; returns (keys, score rows per bias row).
pub fn softmax_rows(scores: &Shape, bias: &Shape) -> Option<(usize, usize)> {
    let [b, h, q, k] = scores.dims::<4>();
    (bias.dims::<4>() == [b, 1, 1, k]).then_some((k, h * q))
}

/// softmax(scale · scores + bias) on Flex, for the `(keys, per_bias)` of [`softmax_rows`].
pub fn scaled_softmax(
    scores: Tensor<Flex, 4>,
    bias: Tensor<Flex, 4>,
    scale: f32,
    (n, per_bias): (usize, usize),
) -> Tensor<Flex, 4> {
    let (scores, bias) = (
        contiguous_f32(primitive(scores)),
        contiguous_f32(primitive(bias)),
    );
    tensor(map(&scores, |x, out| {
        kernels::scaled_softmax(x, bias.storage(), per_bias, n, scale, out)
    }))
}

/// [`scaled_softmax`] on `Autodiff<Flex>`; its backward step keeps the output.
pub fn scaled_softmax_autodiff(
    scores: Tensor<Ad, 4>,
    bias: Tensor<Ad, 4>,
    scale: f32,
    (n, per_bias): (usize, usize),
) -> Tensor<Ad, 4> {
    /// Its state: the output, the row length and the scale.
    #[derive(Debug)]
    struct ScaledSoftmax;

    impl Backward<Flex, 2> for ScaledSoftmax {
        type State = (FlexTensor, usize, f32);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_scores, node_bias] = ops.parents;
            let (y, n, scale) = ops.state;
            let g = contiguous_f32(grads.consume::<Flex>(&ops.node));
            let backward = |scale| {
                map(&y, |y, out| {
                    kernels::scaled_softmax_backward(y, g.storage(), n, scale, out)
                })
            };
            // The bias (a padding mask) rarely asks for a gradient: the scores' one is then
            // written scaled in one pass.
            let Some(node_bias) = node_bias else {
                if let Some(node) = node_scores {
                    grads.register::<Flex>(node.id, backward(scale));
                }
                return;
            };
            let ds = backward(1.0);
            let summed = Flex::float_sum_dim(Flex::float_sum_dim(ds.clone(), 1), 2);
            grads.register::<Flex>(node_bias.id, summed);
            if let Some(node) = node_scores {
                grads.register::<Flex>(node.id, Flex::float_mul_scalar(ds, scale.into()));
            }
        }
    }

    let (scores, bias) = (primitive(scores), primitive(bias));
    let forward = scaled_softmax(
        tensor(scores.primitive.clone()),
        tensor(bias.primitive.clone()),
        scale,
        (n, per_bias),
    );
    let output = primitive(forward);
    tensor(
        match ScaledSoftmax
            .prepare::<NoCheckpointing>([scores.node.clone(), bias.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((output.clone(), n, scale), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}

/// LayerNorm over the last dim of `x` (+ `residual`, added in the same pass) on Flex.
pub fn layer_norm<const D: usize>(
    x: Tensor<Flex, D>,
    residual: Option<Tensor<Flex, D>>,
    gamma: Tensor<Flex, 1>,
    beta: Tensor<Flex, 1>,
    eps: f64,
) -> Tensor<Flex, D> {
    let x = contiguous_f32(primitive(x));
    let residual = residual.map(|r| contiguous_f32(primitive(r)));
    let [g, b] = [gamma, beta].map(|t| contiguous_f32(primitive(t)));
    tensor(map(&x, |x, out| {
        let r = residual.as_ref().map(|r| r.storage());
        kernels::layer_norm(x, r, [g.storage(), b.storage()], eps as f32, out, None)
    }))
}

/// LayerNorm over the last dim on `Autodiff<Flex>`; its backward step keeps x̂, 1/σ and γ.
pub fn layer_norm_autodiff<const D: usize>(
    x: Tensor<Ad, D>,
    gamma: Tensor<Ad, 1>,
    beta: Tensor<Ad, 1>,
    eps: f64,
) -> Tensor<Ad, D> {
    #[derive(Debug)]
    struct LayerNorm;

    impl Backward<Flex, 3> for LayerNorm {
        type State = (FlexTensor, FlexTensor, FlexTensor);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_gamma, node_beta] = ops.parents;
            let (xhat, rstd, gamma) = ops.state;
            let g = contiguous_f32(grads.consume::<Flex>(&ops.node));
            let mut dx = vec![0.0; xhat.shape().num_elements()];
            let (dgamma, dbeta) = kernels::layer_norm_backward(
                g.storage(),
                xhat.storage(),
                rstd.storage(),
                gamma.storage(),
                &mut dx,
            );
            let d = Shape::new([dgamma.len()]);
            for (node, grad) in [
                (node_x, from_vec(dx, xhat.shape())),
                (node_gamma, from_vec(dgamma, d.clone())),
                (node_beta, from_vec(dbeta, d)),
            ] {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, grad);
                }
            }
        }
    }

    let (x, gamma, beta) = (primitive(x), primitive(gamma), primitive(beta));
    let input = contiguous_f32(x.primitive.clone());
    let (g, b) = (
        contiguous_f32(gamma.primitive.clone()),
        contiguous_f32(beta.primitive.clone()),
    );
    let shape = input.shape();
    let rows = shape.num_elements() / g.shape().num_elements();
    let mut out = vec![0.0; shape.num_elements()];
    let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
    let prep = LayerNorm
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful();
    tensor(match prep {
        OpsKind::Tracked(prep) => {
            let (mut xhat, mut rstd) = (vec![0.0; out.len()], vec![0.0; rows]);
            let saved = Some((&mut xhat[..], &mut rstd[..]));
            let affine = [g.storage(), b.storage()];
            kernels::layer_norm(input.storage(), None, affine, eps as f32, &mut out, saved);
            let state = (
                from_vec(xhat, shape.clone()),
                from_vec(rstd, Shape::new([rows])),
                g,
            );
            prep.finish(state, from_vec(out, shape))
        }
        OpsKind::UnTracked(prep) => {
            let affine = [g.storage(), b.storage()];
            kernels::layer_norm(input.storage(), None, affine, eps as f32, &mut out, None);
            prep.finish(from_vec(out, shape))
        }
    })
}

/// One AdamW step on Flex, in place where the tensors are not shared.
pub fn adamw<const D: usize>(
    param: Tensor<Flex, D>,
    grad: Tensor<Flex, D>,
    m: Tensor<Flex, D>,
    v: Tensor<Flex, D>,
    h: &super::AdamWStep,
) -> (Tensor<Flex, D>, Tensor<Flex, D>, Tensor<Flex, D>) {
    let [mut param, grad, mut m, mut v] = [param, grad, m, v].map(|t| contiguous_f32(primitive(t)));
    let grad_scale = h.clip_norm.map_or(1.0, |max| {
        super::optimizer::clip_coefficient(max, kernels::l2_norm(grad.storage()))
    });
    kernels::adamw(
        param.storage_mut(),
        grad.storage(),
        grad_scale,
        m.storage_mut(),
        v.storage_mut(),
        h,
    );
    (tensor(param), tensor(m), tensor(v))
}

/// A moving-average step on Flex, in place where `average` is not shared.
pub fn moving_average<const D: usize>(
    average: Tensor<Flex, D>,
    value: Tensor<Flex, D>,
    decay: f64,
) -> Tensor<Flex, D> {
    let [mut average, value] = [average, value].map(|t| contiguous_f32(primitive(t)));
    kernels::moving_average(average.storage_mut(), value.storage(), decay as f32);
    tensor(average)
}

/// Dropout on `Autodiff<Flex>` with `mask`; the backward step recomputes the mask from its seed.
pub fn dropout_autodiff<const D: usize>(x: Tensor<Ad, D>, mask: DropMask) -> Tensor<Ad, D> {
    #[derive(Debug)]
    struct Dropout;

    impl Backward<Flex, 1> for Dropout {
        type State = DropMask;

        fn backward(self, ops: Ops<DropMask, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let mask = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
                map(&contiguous_f32(g), |g, out| kernels::dropout(g, mask, out))
            });
        }
    }

    let x = primitive(x);
    let output = map(&contiguous_f32(x.primitive.clone()), |x, out| {
        kernels::dropout(x, mask, out)
    });
    tensor(
        match Dropout
            .prepare::<NoCheckpointing>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(mask, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}

/// Embedding lookup of `ids` [batch, seq] in `weight` [vocab, hidden] on `Autodiff<Flex>`.
///
/// Its backward step adds each token's gradient row into a zeroed [vocab, hidden] gradient, one
/// pass over the batch's rows; burn's zeroes, copies and copies again the whole table (three passes
/// over 47 MB of fresh pages for a 30522-word vocabulary).
pub fn embedding_autodiff(weight: Tensor<Ad, 2>, ids: Tensor<Ad, 2, Int>) -> Tensor<Ad, 3> {
    #[derive(Debug)]
    struct Embedding;

    impl Backward<Flex, 1> for Embedding {
        type State = (Vec<usize>, Shape);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (ids, shape) = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
                let mut out = vec![0.0; shape.num_elements()];
                kernels::embedding_backward(&ids, contiguous_f32(g).storage(), &mut out);
                from_vec(out, shape)
            });
        }
    }

    let weight = primitive(weight);
    let shape = weight.primitive.shape();
    let output = Flex::embedding(weight.primitive.clone(), ids.clone().into_primitive());
    // The ids as rows of the table, read only when the backward step will need them.
    let rows = || -> Vec<usize> {
        ids.to_data()
            .iter::<i64>()
            .map(|id| usize::try_from(id).expect("token ids are not negative"))
            .collect()
    };
    tensor(
        match Embedding
            .prepare::<NoCheckpointing>([weight.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((rows(), shape), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}

/// `x` [rows, d_in] · `weight` [d_in, d_out] + `bias` of contiguous f32 tensors.
fn linear_forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let shape = Shape::new([x.shape().dims::<2>()[0], b.shape().num_elements()]);
    from_vec(
        kernels::linear(x.storage(), w.storage(), b.storage()),
        shape,
    )
}

/// `x` [rows, d_in] · `weight` [d_in, d_out] + `bias` on Flex, written straight into its output.
pub fn linear(
    x: Tensor<Flex, 2>,
    weight: Tensor<Flex, 2>,
    bias: Tensor<Flex, 1>,
) -> Tensor<Flex, 2> {
    let [x, w, b] = [primitive(x), primitive(weight), primitive(bias)].map(contiguous_f32);
    tensor(linear_forward(&x, &w, &b))
}

/// [`linear`] on `Autodiff<Flex>`; its backward step keeps the input and the weight and computes
/// each gradient asked for: two matrix products and a column sum.
pub fn linear_autodiff(
    x: Tensor<Ad, 2>,
    weight: Tensor<Ad, 2>,
    bias: Tensor<Ad, 1>,
) -> Tensor<Ad, 2> {
    #[derive(Debug)]
    struct Linear;

    impl Backward<Flex, 3> for Linear {
        type State = (FlexTensor, FlexTensor);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_w, node_b] = ops.parents;
            let g = contiguous_f32(grads.consume::<Flex>(&ops.node));
            let (x, w) = ops.state;
            let d_out = w.shape().dims::<2>()[1];
            let (x_, w_, g_) = (x.storage(), w.storage(), g.storage());
            if let Some(node) = node_x {
                let dx = kernels::linear_input_grad(w_, g_, d_out);
                grads.register::<Flex>(node.id, from_vec(dx, x.shape()));
            }
            if let Some(node) = node_w {
                let dw = kernels::linear_weight_grad(x_, g_, d_out);
                grads.register::<Flex>(node.id, from_vec(dw, w.shape()));
            }
            if let Some(node) = node_b {
                let db = kernels::column_sums(g_, d_out);
                grads.register::<Flex>(node.id, from_vec(db, Shape::new([d_out])));
            }
        }
    }

    let [x, w, b] = [primitive(x), primitive(weight), primitive(bias)];
    let [input, weight, bias] = [&x, &w, &b].map(|t| contiguous_f32(t.primitive.clone()));
    let output = linear_forward(&input, &weight, &bias);
    tensor(
        match Linear
            .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((input, weight), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}

/// The [`Heads`] of projections of shape [batch, seq, width] split into `heads`.
fn heads_of(q: &FlexTensor, heads: usize) -> Heads {
    let [batch, seq, width] = q.shape().dims::<3>();
    Heads {
        batch,
        seq,
        heads,
        dim: width / heads,
    }
}

/// Multi-head attention on Flex: the context [batch, seq, width] of projections `q`, `k`, `v`
/// [batch, seq, width] with the padding `bias` [batch, 1, 1, seq], and the probabilities when
/// `keep_probs`.
pub fn attention(
    [q, k, v]: [Tensor<Flex, 3>; 3],
    bias: Tensor<Flex, 4>,
    heads: usize,
    scale: f32,
    keep_probs: bool,
) -> (Tensor<Flex, 3>, Option<Tensor<Flex, 4>>) {
    let [q, k, v] = [q, k, v].map(|t| contiguous_f32(primitive(t)));
    let bias = contiguous_f32(primitive(bias));
    let sh = heads_of(&q, heads);
    let (context, probs) = kernels::attention(
        [q.storage(), k.storage(), v.storage()],
        bias.storage(),
        sh,
        scale,
        None,
        keep_probs,
    );
    let probs_shape = Shape::new([sh.batch, heads, sh.seq, sh.seq]);
    (
        tensor(from_vec(context, q.shape())),
        probs.map(|p| tensor(from_vec(p, probs_shape))),
    )
}

/// Multi-head attention on Flex over packed sequences: the context [1, tokens, width] of
/// projections [1, tokens, width] holding the sequences of `sh` one after another.
pub fn packed_attention(qkv: [Tensor<Flex, 3>; 3], sh: &Packed, scale: f32) -> Tensor<Flex, 3> {
    let [q, k, v] = qkv.map(|t| contiguous_f32(primitive(t)));
    let qkv = [q.storage(), k.storage(), v.storage()];
    let (context, _) = kernels::packed_attention(qkv, sh, scale, None, false);
    tensor(from_vec(context, q.shape()))
}

/// [`packed_attention`] on `Autodiff<Flex>` with dropout `mask` on the probabilities; its backward
/// step keeps the projections and the probabilities and computes the three gradients head by
/// head, each on its sequence's real tokens.
pub fn packed_attention_autodiff(
    qkv: [Tensor<Ad, 3>; 3],
    sh: Packed,
    scale: f32,
    mask: Option<DropMask>,
) -> Tensor<Ad, 3> {
    #[derive(Debug)]
    struct PackedAttention;

    /// The projections and probabilities of the forward pass, and its settings.
    type Saved = ([FlexTensor; 3], Vec<f32>, Packed, f32, Option<DropMask>);

    impl Backward<Flex, 3> for PackedAttention {
        type State = Saved;

        fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            backward_qkv(ops, grads, |([q, k, v], probs, sh, scale, mask), g| {
                let qkv = [&q, &k, &v].map(|t| t.storage::<f32>());
                let (dq, dk, dv) =
                    kernels::packed_attention_backward(qkv, &probs, g, &sh, scale, mask);
                ([dq, dk, dv], q.shape())
            });
        }
    }

    let (tracked, inputs) = tracked_qkv(qkv);
    let qkv = [&inputs[0], &inputs[1], &inputs[2]].map(|t| t.storage::<f32>());
    let (context, probs) = kernels::packed_attention(qkv, &sh, scale, mask, true);
    let probs = probs.expect("probabilities were asked for");
    let context = from_vec(context, inputs[0].shape());
    let state = (inputs, probs, sh, scale, mask);
    tensor(track_qkv(PackedAttention, &tracked, state, context))
}

/// [`attention`] on `Autodiff<Flex>` with dropout `mask` on the probabilities; its backward step
/// keeps the projections and the probabilities and computes the three gradients head by head.
/// The bias is a constant (it gets no gradient).
pub fn attention_autodiff(
    [q, k, v]: [Tensor<Ad, 3>; 3],
    bias: Tensor<Ad, 4>,
    heads: usize,
    scale: f32,
    mask: Option<DropMask>,
    keep_probs: bool,
) -> (Tensor<Ad, 3>, Option<Tensor<Ad, 4>>) {
    #[derive(Debug)]
    struct Attention;

    /// The projections and probabilities of the forward pass, and its settings.
    type Saved = ([FlexTensor; 3], FlexTensor, Heads, f32, Option<DropMask>);

    impl Backward<Flex, 3> for Attention {
        type State = Saved;

        fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            backward_qkv(ops, grads, |([q, k, v], probs, sh, scale, mask), g| {
                let qkv = [&q, &k, &v].map(|t| t.storage::<f32>());
                let (dq, dk, dv) =
                    kernels::attention_backward(qkv, probs.storage(), g, sh, scale, mask);
                ([dq, dk, dv], q.shape())
            });
        }
    }

    let (tracked, inputs) = tracked_qkv([q, k, v]);
    let bias = contiguous_f32(primitive(bias).primitive);
    let sh = heads_of(&inputs[0], heads);
    let qkv = [&inputs[0], &inputs[1], &inputs[2]].map(|t| t.storage::<f32>());
    let (context, probs) = kernels::attention(qkv, bias.storage(), sh, scale, mask, true);
    let probs = from_vec(
        probs.expect("probabilities were asked for"),
        Shape::new([sh.batch, heads, sh.seq, sh.seq]),
    );
    let kept = keep_probs.then(|| Tensor::from_inner(tensor(probs.clone())));
    let context = from_vec(context, inputs[0].shape());
    let state = (inputs, probs, sh, scale, mask);
    (tensor(track_qkv(Attention, &tracked, state, context)), kept)
}

/// An attention's backward step: `gradients` turns the saved state and the context's gradient
/// into dq, dk, dv of one shape, each registered for the projection that needs one.
fn backward_qkv<S>(
    ops: Ops<S, 3>,
    grads: &mut Gradients,
    gradients: impl FnOnce(S, &[f32]) -> ([Vec<f32>; 3], Shape),
) {
    let g = contiguous_f32(grads.consume::<Flex>(&ops.node));
    let (dqkv, shape) = gradients(ops.state, g.storage());
    for (node, grad) in ops.parents.into_iter().zip(dqkv) {
        if let Some(node) = node {
            grads.register::<Flex>(node.id, from_vec(grad, shape.clone()));
        }
    }
}

/// The tracked projections of an attention and their values, contiguous f32.
fn tracked_qkv(qkv: [Tensor<Ad, 3>; 3]) -> ([FloatTensor<Ad>; 3], [FlexTensor; 3]) {
    let tracked = qkv.map(primitive);
    let inputs =
        [&tracked[0], &tracked[1], &tracked[2]].map(|t| contiguous_f32(t.primitive.clone()));
    (tracked, inputs)
}

/// `context` as the output of attention `op` on the projections `tracked`, its backward step
/// given `state` where a projection needs a gradient.
fn track_qkv<O: Backward<Flex, 3>>(
    op: O,
    tracked: &[FloatTensor<Ad>; 3],
    state: O::State,
    context: FlexTensor,
) -> FloatTensor<Ad> {
    let nodes = [&tracked[0], &tracked[1], &tracked[2]].map(|t| t.node.clone());
    match op
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, context),
        OpsKind::UnTracked(prep) => prep.finish(context),
    }
}

/// The output shape [batch, seq, dirs × s] of a recurrent layer.
fn recurrent_shape(r: &Recurrence) -> Shape {
    Shape::new([r.batch, r.seq, r.dirs * r.widths().1])
}

/// The primitives of a recurrent layer's inputs, in the kernel's order.
fn recurrent_primitives<B: burn::tensor::backend::Backend>(
    inputs: RecurrentInputs<B>,
) -> [FloatTensor<B>; 4] {
    let RecurrentInputs { xw, wh, bh, state0 } = inputs;
    [
        primitive(xw),
        primitive(wh),
        primitive(bh),
        primitive(state0),
    ]
}

/// A recurrent layer on Flex: the state after each position [batch, seq, dirs × s].
pub fn recurrent(
    r: &Recurrence,
    inputs: RecurrentInputs<Flex>,
    lengths: &[usize],
) -> Tensor<Flex, 3> {
    let inputs = recurrent_primitives(inputs).map(contiguous_f32);
    let storage = [&inputs[0], &inputs[1], &inputs[2], &inputs[3]].map(|t| t.storage::<f32>());
    let (out, _) = kernels::recurrent(r, storage, lengths, false);
    tensor(from_vec(out, recurrent_shape(r)))
}

/// [`recurrent`] on `Autodiff<Flex>`; its backward step (through time) keeps the gate values,
/// the output, the recurrent weights and the first state.
pub fn recurrent_autodiff(
    r: &Recurrence,
    inputs: RecurrentInputs<Ad>,
    lengths: &[usize],
) -> Tensor<Ad, 3> {
    #[derive(Debug)]
    struct Recurrent;

    /// The sizes, lengths, kept gates, and the output, recurrent weights and first state.
    type State = (Recurrence, Vec<usize>, kernels::Saved, [FlexTensor; 3]);

    impl Backward<Flex, 4> for Recurrent {
        type State = State;

        fn backward(self, ops: Ops<State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
            let g = contiguous_f32(grads.consume::<Flex>(&ops.node));
            let (r, lengths, saved, [out, wh, state0]) = ops.state;
            let views = [out.storage(), g.storage(), wh.storage(), state0.storage()];
            let grads_of = kernels::recurrent_backward(&r, &saved, views, &lengths);
            let (gates, _) = r.widths();
            let shapes = [
                Shape::new([r.batch, r.seq, r.dirs * gates]),
                wh.shape(),
                Shape::new([r.dirs, gates]),
                state0.shape(),
            ];
            let values = [grads_of.xw, grads_of.wh, grads_of.bh, grads_of.state0];
            for ((node, grad), shape) in ops.parents.into_iter().zip(values).zip(shapes) {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, from_vec(grad, shape));
                }
            }
        }
    }

    let tracked = recurrent_primitives(inputs);
    let values = [&tracked[0], &tracked[1], &tracked[2], &tracked[3]]
        .map(|t| contiguous_f32(t.primitive.clone()));
    let storage = [&values[0], &values[1], &values[2], &values[3]].map(|t| t.storage::<f32>());
    let (out, saved) = kernels::recurrent(r, storage, lengths, true);
    let out = from_vec(out, recurrent_shape(r));
    let nodes = [&tracked[0], &tracked[1], &tracked[2], &tracked[3]].map(|t| t.node.clone());
    let [_, wh, _, state0] = values;
    tensor(
        match Recurrent
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                (*r, lengths.to_vec(), saved, [out.clone(), wh, state0]),
                out,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
    )
}

/// The sizes of an additive attention call on query [batch, hidden], keys [batch, seq, hidden]
/// and values [batch, seq, width].
fn additive_shape(keys: &FlexTensor, values: &FlexTensor) -> kernels::Additive {
    let [batch, seq, hidden] = keys.shape().dims::<3>();
    kernels::Additive {
        batch,
        seq,
        hidden,
        width: values.shape().dims::<3>()[2],
    }
}

/// Additive attention on Flex: the context [batch, width] and the weights [batch, seq].
pub fn additive_attention(
    [query, keys, v, values]: [Tensor<Flex, 3>; 4],
    lengths: &[usize],
) -> (Tensor<Flex, 2>, Tensor<Flex, 2>) {
    let [q, k, v, h] = [query, keys, v, values].map(|t| contiguous_f32(primitive(t)));
    let a = additive_shape(&k, &h);
    let out = kernels::additive(
        a,
        [q.storage(), k.storage(), v.storage(), h.storage()],
        lengths,
        false,
    );
    (
        tensor(from_vec(out.context, Shape::new([a.batch, a.width]))),
        tensor(from_vec(out.weights, Shape::new([a.batch, a.seq]))),
    )
}

/// [`additive_attention`] on `Autodiff<Flex>`: the context is tracked (its backward step keeps
/// the energies, the weights, v and the values), the weights are not.
pub fn additive_attention_autodiff(
    inputs: [Tensor<Ad, 3>; 4],
    lengths: &[usize],
) -> (Tensor<Ad, 2>, Tensor<Ad, 2>) {
    #[derive(Debug)]
    struct AdditiveAttention;

    /// The sizes, lengths, and the energies, weights, v and values.
    type State = (kernels::Additive, Vec<usize>, [FlexTensor; 4]);

    impl Backward<Flex, 4> for AdditiveAttention {
        type State = State;

        fn backward(self, ops: Ops<State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
            let g = contiguous_f32(grads.consume::<Flex>(&ops.node));
            let (a, lengths, [energy, weights, v, values]) = ops.state;
            let views = [
                energy.storage(),
                weights.storage(),
                v.storage(),
                values.storage(),
                g.storage(),
            ];
            let grads_of = kernels::additive_backward(a, views, &lengths);
            let shapes = [
                Shape::new([a.batch, 1, a.hidden]),
                Shape::new([a.batch, a.seq, a.hidden]),
                v.shape(),
                values.shape(),
            ];
            let values = [grads_of.query, grads_of.keys, grads_of.v, grads_of.values];
            for ((node, grad), shape) in ops.parents.into_iter().zip(values).zip(shapes) {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, from_vec(grad, shape));
                }
            }
        }
    }

    let tracked = inputs.map(primitive);
    let [q, k, v, h] = [&tracked[0], &tracked[1], &tracked[2], &tracked[3]]
        .map(|t| contiguous_f32(t.primitive.clone()));
    let a = additive_shape(&k, &h);
    let out = kernels::additive(
        a,
        [q.storage(), k.storage(), v.storage(), h.storage()],
        lengths,
        true,
    );
    let context = from_vec(out.context, Shape::new([a.batch, a.width]));
    let weights = from_vec(out.weights, Shape::new([a.batch, a.seq]));
    let energy = from_vec(out.energy, Shape::new([a.batch, a.seq, a.hidden]));
    let nodes = [&tracked[0], &tracked[1], &tracked[2], &tracked[3]].map(|t| t.node.clone());
    let context = match AdditiveAttention
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = (a, lengths.to_vec(), [energy, weights.clone(), v, h]);
            prep.finish(state, context)
        }
        OpsKind::UnTracked(prep) => prep.finish(context),
    };
    (tensor(context), Tensor::from_inner(tensor(weights)))
}

/// The mean of the rows' losses [1] (summed in f64, in row order) and how many rows hit.
fn mean_loss(rows: &kernels::CrossEntropyRows) -> (FlexTensor, usize) {
    let sum: f64 = rows.loss.iter().map(|&l| f64::from(l)).sum();
    let mean = (sum / rows.loss.len() as f64) as f32;
    let hits = rows.hit.iter().filter(|&&h| h).count();
    (from_vec(vec![mean], Shape::new([1])), hits)
}

/// Cross-entropy on Flex: the mean loss [1] and the hits.
pub fn cross_entropy(
    logits: Tensor<Flex, 2>,
    labels: &[usize],
    smoothing: f32,
) -> (Tensor<Flex, 1>, usize) {
    let x = contiguous_f32(primitive(logits));
    let n = x.shape().dims::<2>()[1];
    let (loss, hits) = mean_loss(&kernels::cross_entropy(x.storage(), labels, n, smoothing));
    (tensor(loss), hits)
}

/// [`cross_entropy`] on `Autodiff<Flex>`; its backward step keeps the logits and each row's
/// log-sum-exp.
pub fn cross_entropy_autodiff(
    logits: Tensor<Ad, 2>,
    labels: &[usize],
    smoothing: f32,
) -> (Tensor<Ad, 1>, usize) {
    #[derive(Debug)]
    struct CrossEntropy;

    /// The logits, the labels, each row's log-sum-exp and the smoothing.
    type State = (FlexTensor, Vec<usize>, Vec<f32>, f32);

    impl Backward<Flex, 1> for CrossEntropy {
        type State = State;

        fn backward(self, ops: Ops<State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (x, labels, log_sum_exp, smoothing) = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
                let g = contiguous_f32(g);
                // The gradient of the mean: each row's share of the loss's gradient.
                let scale = g.storage::<f32>()[0] / labels.len() as f32;
                let n = x.shape().dims::<2>()[1];
                map(&x, |x, out| {
                    kernels::cross_entropy_backward(
                        x,
                        &labels,
                        &log_sum_exp,
                        n,
                        smoothing,
                        scale,
                        out,
                    )
                })
            });
        }
    }

    let x = primitive(logits);
    let input = contiguous_f32(x.primitive.clone());
    let n = input.shape().dims::<2>()[1];
    let rows = kernels::cross_entropy(input.storage(), labels, n, smoothing);
    let (loss, hits) = mean_loss(&rows);
    let loss = match CrossEntropy
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            prep.finish((input, labels.to_vec(), rows.log_sum_exp, smoothing), loss)
        }
        OpsKind::UnTracked(prep) => prep.finish(loss),
    };
    (tensor(loss), hits)
}

/// The kernel's view of a decoder's nine inputs (contiguous f32), in [`kernels::DecoderInputs`]'
/// order.
fn decoder_view(x: &[FlexTensor; 9]) -> kernels::DecoderInputs<'_> {
    let [forced, state0, wq, keys, v, values, wc, wh, bh] = x;
    kernels::DecoderInputs {
        forced: forced.storage(),
        state0: state0.storage(),
        wq: wq.storage(),
        keys: keys.storage(),
        v: v.storage(),
        values: values.storage(),
        wc: wc.storage(),
        wh: wh.storage(),
        bh: bh.storage(),
    }
}

/// The teacher-forced attentive decoder on Flex: [Σ, hidden + width].
pub fn attentive_decoder(
    d: &kernels::Decoder,
    inputs: [Tensor<Flex, 2>; 9],
    lengths: &[usize],
    steps: &kernels::Steps,
) -> Tensor<Flex, 2> {
    let x = inputs.map(|t| contiguous_f32(primitive(t)));
    let saved = kernels::decoder(d, decoder_view(&x), lengths, steps);
    let shape = Shape::new([steps.rows(), d.out_width()]);
    tensor(from_vec(saved.out().to_vec(), shape))
}

/// [`attentive_decoder`] on `Autodiff<Flex>`; its backward step (through every step at once)
/// keeps the inputs, the energies, weights and gates.
pub fn attentive_decoder_autodiff(
    d: &kernels::Decoder,
    inputs: [Tensor<Ad, 2>; 9],
    lengths: &[usize],
    steps: &kernels::Steps,
) -> Tensor<Ad, 2> {
    #[derive(Debug)]
    struct AttentiveDecoder;

    /// The sizes, source lengths, schedule, what the forward pass kept, and the inputs.
    type State = (
        kernels::Decoder,
        Vec<usize>,
        kernels::Steps,
        kernels::DecoderSaved,
        [FlexTensor; 9],
    );

    impl Backward<Flex, 9> for AttentiveDecoder {
        type State = State;

        fn backward(self, ops: Ops<State, 9>, grads: &mut Gradients, _: &mut Checkpointer) {
            let g = contiguous_f32(grads.consume::<Flex>(&ops.node));
            let (d, lengths, steps, saved, x) = ops.state;
            let view = decoder_view(&x);
            let of = kernels::decoder_backward(&d, view, &lengths, &steps, &saved, g.storage());
            let values = [
                of.forced, of.state0, of.wq, of.keys, of.v, of.values, of.wc, of.wh, of.bh,
            ];
            for ((node, grad), input) in ops.parents.into_iter().zip(values).zip(&x) {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, from_vec(grad, input.shape()));
                }
            }
        }
    }

    let tracked = inputs.map(primitive);
    let x = std::array::from_fn(|i| contiguous_f32(tracked[i].primitive.clone()));
    let saved = kernels::decoder(d, decoder_view(&x), lengths, steps);
    let out = from_vec(
        saved.out().to_vec(),
        Shape::new([steps.rows(), d.out_width()]),
    );
    let nodes = std::array::from_fn(|i| tracked[i].node.clone());
    tensor(
        match AttentiveDecoder
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (*d, lengths.to_vec(), steps.clone(), saved, x);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
    )
}

/// The rows `rows` of `x` [positions, width] as a [rows.len(), width] tensor.
fn packed(x: &FlexTensor, rows: &[usize]) -> FlexTensor {
    let x = contiguous_f32(x.clone());
    let width = x.shape().dims::<2>()[1];
    let out = kernels::pack_rows(x.storage(), width, rows);
    from_vec(out, Shape::new([rows.len(), width]))
}

/// `x` [rows.len(), width] at rows `rows` of a [positions, width] tensor of zeros.
fn unpacked(x: &FlexTensor, rows: &[usize], positions: usize) -> FlexTensor {
    let x = contiguous_f32(x.clone());
    let width = x.shape().dims::<2>()[1];
    let out = kernels::unpack_rows(x.storage(), width, rows, positions);
    from_vec(out, Shape::new([positions, width]))
}

/// The packed rows of `x` on Flex.
pub fn pack_rows(x: Tensor<Flex, 2>, rows: &Arc<[usize]>) -> Tensor<Flex, 2> {
    tensor(packed(&primitive(x), rows))
}

/// The unpacked rows of `x` on Flex.
pub fn unpack_rows(x: Tensor<Flex, 2>, rows: &Arc<[usize]>, positions: usize) -> Tensor<Flex, 2> {
    tensor(unpacked(&primitive(x), rows, positions))
}

/// The packed rows of `x` on `Autodiff<Flex>`; the backward step unpacks the gradient.
pub fn pack_rows_autodiff(x: Tensor<Ad, 2>, rows: &Arc<[usize]>) -> Tensor<Ad, 2> {
    #[derive(Debug)]
    struct Pack;

    impl Backward<Flex, 1> for Pack {
        type State = (Arc<[usize]>, usize);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (rows, positions) = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |g| {
                unpacked(&g, &rows, positions)
            });
        }
    }

    let x = primitive(x);
    let positions = x.primitive.shape().dims::<2>()[0];
    let output = packed(&x.primitive, rows);
    tensor(
        match Pack
            .prepare::<NoCheckpointing>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((rows.clone(), positions), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}

/// The unpacked rows of `x` on `Autodiff<Flex>`; the backward step packs the gradient.
pub fn unpack_rows_autodiff(
    x: Tensor<Ad, 2>,
    rows: &Arc<[usize]>,
    positions: usize,
) -> Tensor<Ad, 2> {
    #[derive(Debug)]
    struct Unpack;

    impl Backward<Flex, 1> for Unpack {
        type State = Arc<[usize]>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let rows = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |g| packed(&g, &rows));
        }
    }

    let x = primitive(x);
    let output = unpacked(&x.primitive, rows, positions);
    tensor(
        match Unpack
            .prepare::<NoCheckpointing>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(rows.clone(), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    )
}
