//! Fused BERT ops: one parallel pass where burn 0.21 runs several serial ones.
//!
//! Each function is generic over the backend and computes what burn's ops compute. On the `Flex` CPU
//! backend and on `Autodiff<Flex>` (f32 tensors) it runs this crate's kernels instead: row kernels
//! parallel over both cores with vectorisable `exp`/`erf`, and one backward step per op where burn's
//! autodiff would record five to ten element-wise ones. Every other backend gets burn's ops. The
//! backend is recognised by its type at run time, so model code keeps a plain `B: Backend` bound;
//! [`taken`] counts the fast paths that ran, so that a test sees one that stopped being taken.

#[cfg(feature = "flex")]
mod flex;

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::{ElementConversion, Int, Tensor, TensorPrimitive, activation, backend::Backend};

#[cfg(feature = "flex")]
use crate::cpu;

/// A fused op, for [`taken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`gelu`].
    Gelu,
    /// [`scaled_softmax`].
    ScaledSoftmax,
    /// [`layer_norm`] and [`add_layer_norm`].
    LayerNorm,
    /// [`dropout`].
    Dropout,
    /// [`linear`].
    Linear,
    /// [`embedding`].
    Embedding,
    /// [`attention`].
    Attention,
    /// [`adamw`].
    AdamW,
    /// [`moving_average`].
    MovingAverage,
    /// [`recurrent`].
    Recurrent,
    /// [`tanh`].
    Tanh,
    /// [`additive_attention`].
    AdditiveAttention,
    /// [`cross_entropy`].
    CrossEntropy,
    /// [`attentive_decoder`].
    AttentiveDecoder,
}

/// Calls of each [`Op`] that took a fast path, in this process.
static TAKEN: [AtomicU64; 14] = [const { AtomicU64::new(0) }; 14];

/// How many calls of `op` have run this crate's kernels so far in this process (0 on a build
/// without the `flex` feature).
pub fn taken(op: Op) -> u64 {
    TAKEN[op as usize].load(Ordering::Relaxed)
}

/// One rung of the ladder "`Autodiff<Flex>`, then `Flex`, then burn's ops", written once: runs
/// `kernel` when `args` are of its argument type `F` and returns its result as `R` (the type it
/// has then: a fast path returns the type it was given), else gives `args` back.
#[cfg(feature = "flex")]
fn fast<A: 'static, F: 'static, S: 'static, R: 'static>(
    op: Op,
    args: A,
    kernel: impl FnOnce(F) -> S,
) -> Result<R, A> {
    let args = cast::<A, F>(args)?;
    TAKEN[op as usize].fetch_add(1, Ordering::Relaxed);
    Ok(cast(kernel(args)).unwrap_or_else(|_| unreachable!("a fast path changed the tensor type")))
}

/// `value` as a `To` when that is its type, else `value` back.
#[cfg(feature = "flex")]
fn cast<From: 'static, To: 'static>(value: From) -> Result<To, From> {
    let mut slot = Some(value);
    match (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<To>>() {
        Some(to) => Ok(to.take().expect("the slot was filled above")),
        None => Err(slot.expect("the slot was left untouched")),
    }
}

#[cfg(feature = "flex")]
type Ad = burn::backend::Autodiff<burn::backend::Flex>;
/// A float tensor on Flex.
#[cfg(feature = "flex")]
type OnFlex<const D: usize> = Tensor<burn::backend::Flex, D>;
/// A float tensor on `Autodiff<Flex>`.
#[cfg(feature = "flex")]
type OnAd<const D: usize> = Tensor<Ad, D>;

/// The ladder "`Autodiff<Flex>`, then `Flex`, then burn's ops": `on_ad` or `on_flex`, whichever
/// takes `args`, else `args` back for burn's ops.
#[cfg(feature = "flex")]
fn ladder<A: 'static, F: 'static, G: 'static, S: 'static, T: 'static, R: 'static>(
    op: Op,
    args: A,
    on_ad: impl FnOnce(F) -> S,
    on_flex: impl FnOnce(G) -> T,
) -> Result<R, A> {
    fast(op, args, on_ad).or_else(|args| fast(op, args, on_flex))
}

/// The exact (erf) GELU of BERT, as `burn::tensor::activation::gelu`.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let x = if flex::takes(x.dtype()) {
        match ladder(Op::Gelu, x, flex::gelu_autodiff::<D>, flex::gelu::<D>) {
            Ok(y) => return y,
            Err(x) => x,
        }
    } else {
        x
    };
    activation::gelu(x)
}

/// tanh, as `Tensor::tanh`.
pub fn tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let x = if flex::takes(x.dtype()) {
        match ladder(Op::Tanh, x, flex::tanh_autodiff::<D>, flex::tanh::<D>) {
            Ok(y) => return y,
            Err(x) => x,
        }
    } else {
        x
    };
    x.tanh()
}

/// softmax(scale · scores + bias) over the keys: attention probabilities from raw `scores`
/// [batch, heads, queries, keys] and an additive `bias` [batch, 1, 1, keys] (the padding mask).
pub fn scaled_softmax<B: Backend>(
    scores: Tensor<B, 4>,
    bias: Tensor<B, 4>,
    scale: f64,
) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    let (scores, bias) = match flex::softmax_rows(&scores.shape(), &bias.shape()) {
        Some(rows) if flex::takes(scores.dtype()) && flex::takes(bias.dtype()) => {
            let scale = scale as f32;
            match ladder(
                Op::ScaledSoftmax,
                (scores, bias),
                |(s, b): (OnAd<4>, OnAd<4>)| flex::scaled_softmax_autodiff(s, b, scale, rows),
                |(s, b): (OnFlex<4>, OnFlex<4>)| flex::scaled_softmax(s, b, scale, rows),
            ) {
                Ok(probs) => return probs,
                Err(args) => args,
            }
        }
        _ => (scores, bias),
    };
    activation::softmax(scores * scale + bias, 3)
}

/// LayerNorm over the last dim with weight `gamma`, bias `beta` and `eps` (as `burn::nn::LayerNorm`).
pub fn layer_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    norm_of_sum(x, None, gamma, beta, eps)
}

/// [`layer_norm`] of `x + residual` (BERT's residual connection). On Flex the sum is taken in the
/// LayerNorm's own pass; elsewhere (`Autodiff<Flex>` included, where the sum's backward step is a
/// copy) it is a separate add.
pub fn add_layer_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    residual: Tensor<B, D>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    norm_of_sum(x, Some(residual), gamma, beta, eps)
}

/// The arguments of [`norm_of_sum`] on one backend.
#[cfg(feature = "flex")]
type NormArgs<B, const D: usize> = (
    Tensor<B, D>,
    Option<Tensor<B, D>>,
    Tensor<B, 1>,
    Tensor<B, 1>,
);

/// LayerNorm of `x` (+ `residual`): the fused pass on Flex (sum included) and on `Autodiff<Flex>`
/// (after a separate add), burn's LayerNorm elsewhere.
fn norm_of_sum<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    residual: Option<Tensor<B, D>>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let (x, residual, gamma, beta) = if flex::takes(x.dtype())
        && flex::takes(gamma.dtype())
        && residual
            .as_ref()
            .is_none_or(|r| flex::takes(r.dtype()) && r.dims() == x.dims())
    {
        let on_ad = |(x, r, g, b): NormArgs<Ad, D>| {
            let x = match r {
                Some(r) => x + r,
                None => x,
            };
            flex::layer_norm_autodiff(x, g, b, eps)
        };
        let on_flex =
            |(x, r, g, b): NormArgs<burn::backend::Flex, D>| flex::layer_norm(x, r, g, b, eps);
        match ladder(Op::LayerNorm, (x, residual, gamma, beta), on_ad, on_flex) {
            Ok(y) => return y,
            Err(args) => args,
        }
    } else {
        (x, residual, gamma, beta)
    };
    let x = match residual {
        Some(r) => x + r,
        None => x,
    };
    let [x, gamma, beta] = [
        x.into_primitive(),
        gamma.into_primitive(),
        beta.into_primitive(),
    ]
    .map(TensorPrimitive::tensor);
    Tensor::from_primitive(TensorPrimitive::Float(
        <B as burn::tensor::ops::ModuleOps<B>>::layer_norm(x, gamma, Some(beta), eps),
    ))
}

/// Dropout with probability `prob` in training (an autodiff backend), the identity otherwise, as
/// `burn::nn::Dropout`. On `Autodiff<Flex>` the mask comes from a hash of the element index and a
/// seed drawn from the backend's seeded generator, so a run stays deterministic for its seed.
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    if prob == 0.0 || !B::ad_enabled(&x.device()) {
        return x;
    }
    #[cfg(feature = "flex")]
    let x = if flex::takes(x.dtype()) {
        match fast(Op::Dropout, x, |x: OnAd<D>| {
            flex::dropout_autodiff(x, drop_mask(prob))
        }) {
            Ok(y) => return y,
            Err(x) => x,
        }
    } else {
        x
    };
    burn::nn::Dropout { prob }.forward(x)
}

/// `x` [rows, d_in] · `weight` [d_in, d_out] + `bias`, as `burn::tensor::module::linear`. On Flex
/// and `Autodiff<Flex>` (f32, with a bias) one matrix product writes straight into the output,
/// and the backward step computes the input's and weight's gradients with one product each.
pub fn linear<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    #[cfg(feature = "flex")]
    let (x, weight, bias) = match bias {
        Some(b)
            if [x.dtype(), weight.dtype(), b.dtype()]
                .into_iter()
                .all(flex::takes) =>
        {
            match ladder(
                Op::Linear,
                (x, weight, b),
                |(x, w, b): (OnAd<2>, OnAd<2>, OnAd<1>)| flex::linear_autodiff(x, w, b),
                |(x, w, b): (OnFlex<2>, OnFlex<2>, OnFlex<1>)| flex::linear(x, w, b),
            ) {
                Ok(y) => return y,
                Err((x, w, b)) => (x, w, Some(b)),
            }
        }
        bias => (x, weight, bias),
    };
    burn::tensor::module::linear(x, weight, bias)
}

/// The rows of `weight` [vocab, hidden] at `ids` [batch, seq]: [batch, seq, hidden], as
/// `burn::nn::Embedding`. On `Autodiff<Flex>` the gradient is built from the batch's rows alone.
pub fn embedding<B: Backend>(weight: Tensor<B, 2>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    #[cfg(feature = "flex")]
    let (weight, ids) = if flex::takes(weight.dtype()) {
        let on_ad = |(w, ids): (OnAd<2>, Tensor<Ad, 2, Int>)| flex::embedding_autodiff(w, ids);
        match fast(Op::Embedding, (weight, ids), on_ad) {
            Ok(y) => return y,
            Err(args) => args,
        }
    } else {
        (weight, ids)
    };
    burn::tensor::module::embedding(weight, ids)
}

/// A dropout mask with probability `prob`, its seed drawn from the backend's seeded generator.
#[cfg(feature = "flex")]
fn drop_mask(prob: f64) -> cpu::DropMask {
    let draws = Tensor::<Ad, 1>::random(
        [2],
        burn::tensor::Distribution::Default,
        &Default::default(),
    );
    let seed = draws.to_data().to_vec::<f32>().expect("f32 draws");
    cpu::DropMask {
        seed: [seed[0], seed[1]].map(|u| (u as f64 * 4_294_967_296.0) as u32),
        keep: ((1.0 - prob) * 4_294_967_296.0).min(u32::MAX as f64) as u32,
        scale: (1.0 / (1.0 - prob)) as f32,
    }
}

/// The context [batch, seq, width] and, when asked for, the probabilities [batch, heads, seq, seq]
/// of a multi-head attention.
pub type Attended<B> = (Tensor<B, 3>, Option<Tensor<B, 4>>);

/// The arguments of [`attention`], given back where it has no fused version.
pub type Unfused<B> = ([Tensor<B, 3>; 3], Tensor<B, 4>);

/// Multi-head attention softmax(q kᵀ / √dim + bias) v over `heads` heads of the projections
/// `[q, k, v]` [batch, seq, width], with the padding `bias` [batch, 1, 1, seq] and, in training,
/// dropout `prob` on the probabilities; the probabilities come back too when `keep_probs`.
///
/// On Flex and `Autodiff<Flex>` (f32) each (sequence, head) is one parallel task working on the
/// heads where they lie in the projections: no split or merge copies, one backward step. Elsewhere
/// the arguments come back as `Err`, for the caller's own attention.
pub fn attention<B: Backend>(
    qkv: [Tensor<B, 3>; 3],
    bias: Tensor<B, 4>,
    heads: usize,
    prob: f64,
    keep_probs: bool,
) -> Result<Attended<B>, Unfused<B>> {
    #[cfg(feature = "flex")]
    {
        let [batch, seq, width] = qkv[0].dims();
        let fits = bias.dims() == [batch, 1, 1, seq]
            && width % heads == 0
            && qkv
                .iter()
                .all(|t| t.dims() == [batch, seq, width] && flex::takes(t.dtype()))
            && flex::takes(bias.dtype());
        if !fits {
            return Err((qkv, bias));
        }
        let scale = 1.0 / ((width / heads) as f32).sqrt();
        let training = B::ad_enabled(&bias.device()) && prob > 0.0;
        ladder(
            Op::Attention,
            (qkv, bias),
            |(qkv, bias): Unfused<Ad>| {
                let mask = training.then(|| drop_mask(prob));
                flex::attention_autodiff(qkv, bias, heads, scale, mask, keep_probs)
            },
            |(qkv, bias): Unfused<burn::backend::Flex>| {
                flex::attention(qkv, bias, heads, scale, keep_probs)
            },
        )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (heads, prob, keep_probs);
        Err((qkv, bias))
    }
}

/// The arguments of [`additive_attention`]: query, projected keys, v and values.
pub type AdditiveInputs<B> = (Tensor<B, 2>, Tensor<B, 3>, Tensor<B, 2>, Tensor<B, 3>);

/// Bahdanau et al.'s additive attention of one query per row: eᵢ = tanh(`query` + `keys`ᵢ)
/// ([batch, hidden] and [batch, seq, hidden], the keys already projected), scoreᵢ = eᵢ · `v`
/// ([hidden, 1]), the weights α = softmax over each row's first `lengths[b]` positions (0
/// beyond), and the context Σ αᵢ `values`ᵢ ([batch, seq, width]): (context [batch, width],
/// weights [batch, seq]).
///
/// On Flex and `Autodiff<Flex>` (f32) one parallel pass over the rows, and one backward step for
/// the context (the weights come back without a gradient there); elsewhere the inputs come back
/// as `Err`, for the caller's own ops.
pub fn additive_attention<B: Backend>(
    inputs: AdditiveInputs<B>,
    lengths: &[usize],
) -> Result<(Tensor<B, 2>, Tensor<B, 2>), AdditiveInputs<B>> {
    #[cfg(feature = "flex")]
    {
        let (query, keys, v, values) = &inputs;
        let [batch, seq, hidden] = keys.dims();
        let fits = query.dims() == [batch, hidden]
            && v.dims() == [hidden, 1]
            && values.dims()[..2] == [batch, seq]
            && lengths.len() == batch
            && [query.dtype(), keys.dtype(), v.dtype(), values.dtype()]
                .into_iter()
                .all(flex::takes);
        if !fits {
            return Err(inputs);
        }
        let (query, keys, v, values) = inputs;
        let args = [
            query.reshape([batch, 1, hidden]),
            keys,
            v.reshape([1, 1, hidden]),
            values,
        ];
        ladder(
            Op::AdditiveAttention,
            args,
            |args: [OnAd<3>; 4]| flex::additive_attention_autodiff(args, lengths),
            |args: [OnFlex<3>; 4]| flex::additive_attention(args, lengths),
        )
        .map_err(|[q, k, v, h]: [Tensor<B, 3>; 4]| {
            (q.reshape([batch, hidden]), k, v.reshape([hidden, 1]), h)
        })
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = lengths;
        Err(inputs)
    }
}

pub use crate::cpu::{AdamWStep, CellKind, Recurrence};

/// The inputs of [`recurrent`], in the layouts of [`crate::cpu::recurrent`] (`g` = gates ×
/// hidden, `s` = state values × hidden).
#[derive(Debug, Clone)]
pub struct RecurrentInputs<B: Backend> {
    /// x·W_x + b_x of every position and direction [batch, seq, dirs × g].
    pub xw: Tensor<B, 3>,
    /// The recurrent weights [dirs, hidden, g].
    pub wh: Tensor<B, 3>,
    /// The recurrent biases [dirs, g].
    pub bh: Tensor<B, 2>,
    /// The state each row starts from [dirs, batch, s].
    pub state0: Tensor<B, 3>,
}

/// Whether [`recurrent`] runs this crate's kernel on backend `B` (Flex and `Autodiff<Flex>`), so
/// that a caller builds its inputs only where they are taken.
pub fn fuses_recurrent<B: Backend>() -> bool {
    on_flex::<B>()
}

/// Whether `B` is Flex or `Autodiff<Flex>`, the backends this crate's kernels run on.
fn on_flex<B: Backend>() -> bool {
    #[cfg(feature = "flex")]
    {
        use std::any::TypeId;
        [TypeId::of::<Ad>(), TypeId::of::<burn::backend::Flex>()].contains(&TypeId::of::<B>())
    }
    #[cfg(not(feature = "flex"))]
    false
}

/// The mean cross-entropy of `logits` [rows, classes] against `labels` [rows], the targets
/// smoothed as (1 - `smoothing`) · one-hot + `smoothing` / classes (burn's `CrossEntropyLoss` on
/// logits, and PyTorch's), and how many rows' largest logit is their label's: (loss [1], hits).
///
/// On Flex and `Autodiff<Flex>` (f32) one parallel pass over the rows and one backward step
/// (softmax minus the targets), where burn's ops pass over every logit several times in each
/// direction; elsewhere burn's ops. Panics when a label is not below `classes`.
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    smoothing: f32,
) -> (Tensor<B, 1>, usize) {
    #[cfg(feature = "flex")]
    let logits = match on_flex::<B>() && flex::takes(logits.dtype()) {
        true => {
            let host = labels.to_data().convert::<i64>();
            let host: Vec<usize> = host.iter::<i64>().map(|l| l as usize).collect();
            match ladder(
                Op::CrossEntropy,
                logits,
                |x: OnAd<2>| flex::cross_entropy_autodiff(x, &host, smoothing),
                |x: OnFlex<2>| flex::cross_entropy(x, &host, smoothing),
            ) {
                Ok(scored) => return scored,
                Err(logits) => logits,
            }
        }
        false => logits,
    };
    cross_entropy_reference(logits, labels, smoothing)
}

/// [`cross_entropy`] in burn's ops.
fn cross_entropy_reference<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    smoothing: f32,
) -> (Tensor<B, 1>, usize) {
    let [rows, classes] = logits.dims();
    let hits: i64 = (logits.clone().argmax(1).reshape([rows]))
        .equal(labels.clone())
        .int()
        .sum()
        .into_scalar()
        .elem();
    let log_p = activation::log_softmax(logits, 1);
    let label_term = log_p.clone().gather(1, labels.reshape([rows, 1])).mean() * (1.0 - smoothing);
    let loss = match smoothing > 0.0 {
        true => label_term + log_p.sum() * (smoothing / (rows * classes) as f32),
        false => label_term,
    };
    (loss.neg(), hits as usize)
}

/// A GRU or LSTM layer over whole sequences, one or two directions (see [`crate::cpu::recurrent`]
/// for what each position's state has read): the state after each position [batch, seq, dirs ×
/// s]. On Flex and `Autodiff<Flex>` (f32) one op, whose backward step runs through time in one
/// pass; elsewhere the inputs come back as `Err`, for the caller's own layers.
pub fn recurrent<B: Backend>(
    shape: &Recurrence,
    inputs: RecurrentInputs<B>,
    lengths: &[usize],
) -> Result<Tensor<B, 3>, RecurrentInputs<B>> {
    #[cfg(feature = "flex")]
    {
        let RecurrentInputs { xw, wh, bh, state0 } = &inputs;
        let (g, s) = shape.widths();
        let Recurrence {
            batch, seq, dirs, ..
        } = *shape;
        let fits = xw.dims() == [batch, seq, dirs * g]
            && wh.dims() == [dirs, shape.hidden, g]
            && bh.dims() == [dirs, g]
            && state0.dims() == [dirs, batch, s]
            && lengths.len() == batch
            && [xw.dtype(), wh.dtype(), bh.dtype(), state0.dtype()]
                .into_iter()
                .all(flex::takes);
        if !fits {
            return Err(inputs);
        }
        ladder(
            Op::Recurrent,
            inputs,
            |i: RecurrentInputs<Ad>| flex::recurrent_autodiff(shape, i, lengths),
            |i: RecurrentInputs<burn::backend::Flex>| flex::recurrent(shape, i, lengths),
        )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (shape, lengths);
        Err(inputs)
    }
}

/// The inputs of [`attentive_decoder`] (h: the decoder's hidden width, g = 3h; Σ: the step rows).
#[derive(Debug, Clone)]
pub struct AttentiveDecoderInputs<B: Backend> {
    /// The previous words' input projections x·W_x + b_x, step by step [Σ, g].
    pub forced: Tensor<B, 2>,
    /// The first states [batch, h].
    pub state0: Tensor<B, 2>,
    /// The attention's query transform W [h, align].
    pub wq: Tensor<B, 2>,
    /// The projected keys U hᵢ + b [batch, seq, align].
    pub keys: Tensor<B, 3>,
    /// The attention's v [align, 1].
    pub v: Tensor<B, 2>,
    /// The encoder states hᵢ [batch, seq, width].
    pub values: Tensor<B, 3>,
    /// The context's input transform [width, g].
    pub wc: Tensor<B, 2>,
    /// The recurrent transform [h, g].
    pub wh: Tensor<B, 2>,
    /// The recurrent bias [g].
    pub bh: Tensor<B, 1>,
}

/// A teacher-forced GRU decoder with additive attention, all its steps as one op (see
/// [`crate::cpu::decoder`]): rows come longest target first, step t advances the first
/// `active[t]` of them, row b attends over its first `lengths[b]` source positions. Returns
/// [Σ, h + width]: step by step, each advanced row's state after the step beside the context it
/// read. On Flex and `Autodiff<Flex>` (f32) one forward and one backward pass; elsewhere the
/// inputs come back as `Err`, for the caller's step-by-step ops.
pub fn attentive_decoder<B: Backend>(
    inputs: AttentiveDecoderInputs<B>,
    lengths: &[usize],
    active: &[usize],
) -> Result<Tensor<B, 2>, AttentiveDecoderInputs<B>> {
    #[cfg(feature = "flex")]
    {
        let x = &inputs;
        let [batch, seq, align] = x.keys.dims();
        let [hidden, g] = x.wh.dims();
        let width = x.values.dims()[2];
        let steps = cpu::Steps::new(active.to_vec());
        let fits = on_flex::<B>()
            && g == 3 * hidden
            && x.forced.dims() == [steps.rows(), g]
            && x.state0.dims() == [batch, hidden]
            && x.wq.dims() == [hidden, align]
            && x.v.dims() == [align, 1]
            && x.values.dims() == [batch, seq, width]
            && x.wc.dims() == [width, g]
            && x.bh.dims() == [g]
            && lengths.len() == batch
            && active.first().is_none_or(|&n| n <= batch)
            && [&x.forced, &x.state0, &x.wq, &x.v, &x.wc, &x.wh]
                .iter()
                .map(|t| t.dtype())
                .chain([x.keys.dtype(), x.values.dtype(), x.bh.dtype()])
                .all(flex::takes);
        if !fits {
            return Err(inputs);
        }
        let d = cpu::Decoder {
            batch,
            seq,
            hidden,
            align,
            width,
        };
        let AttentiveDecoderInputs {
            forced,
            state0,
            wq,
            keys,
            v,
            values,
            wc,
            wh,
            bh,
        } = inputs;
        let args = [
            forced,
            state0,
            wq,
            keys.reshape([batch * seq, align]),
            v.reshape([1, align]),
            values.reshape([batch * seq, width]),
            wc,
            wh,
            bh.reshape([1, g]),
        ];
        ladder(
            Op::AttentiveDecoder,
            args,
            |x: [OnAd<2>; 9]| flex::attentive_decoder_autodiff(&d, x, lengths, &steps),
            |x: [OnFlex<2>; 9]| flex::attentive_decoder(&d, x, lengths, &steps),
        )
        .map_err(|x: [Tensor<B, 2>; 9]| {
            let [forced, state0, wq, keys, v, values, wc, wh, bh] = x;
            AttentiveDecoderInputs {
                forced,
                state0,
                wq,
                keys: keys.reshape([batch, seq, align]),
                v: v.reshape([align, 1]),
                values: values.reshape([batch, seq, width]),
                wc,
                wh,
                bh: bh.reshape([g]),
            }
        })
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (lengths, active);
        Err(inputs)
    }
}

/// The factor that brings a gradient of L2 norm `norm` down to `max` (burn's `clip_by_norm`).
fn clip_coefficient(max: f32, norm: f32) -> f32 {
    (max / (norm + f32::MIN_POSITIVE)).min(1.0)
}

/// One AdamW step of a parameter tensor: returns the new parameter and first and second moments
/// (`moments` is `None` on the first step, as if they were zero). On Flex (f32) one in-place pass.
pub fn adamw<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    grad: Tensor<B, D>,
    moments: Option<(Tensor<B, D>, Tensor<B, D>)>,
    h: &AdamWStep,
) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
    let (m, v) = moments.unwrap_or_else(|| (param.zeros_like(), param.zeros_like()));
    #[cfg(feature = "flex")]
    let (param, grad, m, v) = if [&param, &grad, &m, &v]
        .iter()
        .all(|t| flex::takes(t.dtype()))
    {
        let on_flex =
            |(p, g, m, v): (OnFlex<D>, OnFlex<D>, OnFlex<D>, OnFlex<D>)| flex::adamw(p, g, m, v, h);
        match fast(Op::AdamW, (param, grad, m, v), on_flex) {
            Ok(stepped) => return stepped,
            Err(args) => args,
        }
    } else {
        (param, grad, m, v)
    };
    let grad = match h.clip_norm {
        Some(max) => {
            let norm: f32 = grad.clone().square().sum().sqrt().into_scalar().elem();
            grad * clip_coefficient(max, norm)
        }
        None => grad,
    };
    let m = m * h.beta_1 + grad.clone() * (1.0 - h.beta_1);
    let v = v * h.beta_2 + grad.square() * (1.0 - h.beta_2);
    let m_hat = m.clone() / (1.0 - h.beta_1.powi(h.time as i32));
    let v_hat = v.clone() / (1.0 - h.beta_2.powi(h.time as i32));
    let step = m_hat / (v_hat.sqrt() + h.epsilon);
    (param * (1.0 - h.lr * h.weight_decay) - step * h.lr, m, v)
}

/// `average + (value - average) * (1 - decay)`: one step of an exponential moving average (a
/// parameter that did not move stays exactly as it was). On Flex (f32) one parallel pass, in
/// place where `average` is not shared.
pub fn moving_average<B: Backend, const D: usize>(
    average: Tensor<B, D>,
    value: Tensor<B, D>,
    decay: f64,
) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let (average, value) = if flex::takes(average.dtype()) && flex::takes(value.dtype()) {
        let on_flex = |(a, v): (OnFlex<D>, OnFlex<D>)| flex::moving_average(a, v, decay);
        match fast(Op::MovingAverage, (average, value), on_flex) {
            Ok(averaged) => return averaged,
            Err(args) => args,
        }
    } else {
        (average, value)
    };
    average.clone() + (value - average) * (1.0 - decay)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tolerance};

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
        let reference =
            activation::softmax(reference_scores.clone() * 0.3 + reference_bias.clone(), 3);
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
            (x - mean) / (var + 1e-12).sqrt() * g.clone().unsqueeze::<3>()
                + b.clone().unsqueeze::<3>()
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
        let (context, probs) =
            attention(qkv.clone(), min_mask.clone(), 4, 0.0, true).expect("fused");
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
        let on_ad =
            |t: &Tensor<Flex, 2>| Tensor::<Ad, 2>::from_data(t.to_data(), &Default::default());
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
    const ALL_OPS: [Op; 13] = [
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
}
