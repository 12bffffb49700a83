//! Criterion benches of the fused ops against burn's own, forward + backward on `Autodiff<Flex>`,
//! at all-MiniLM-L6-v2's shapes for a batch of 8 x 64 tokens (12 heads, hidden 384, FFN 1536,
//! 30522 words).

use attn_kernels::fused;
use burn::backend::{Autodiff, Flex};
use burn::nn::LayerNormConfig;
use burn::tensor::{Distribution, Int, Tensor, activation, backend::Backend, module};
use criterion::{Criterion, criterion_group, criterion_main};

type B = Autodiff<Flex>;
/// An op under test.
type Op<'a, const D: usize, const E: usize> = &'a dyn Fn(Tensor<B, D>) -> Tensor<B, E>;

fn random<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
}

/// Times `op` forward and backward (the gradient of the sum of its output) on `input`.
fn pair<const D: usize, const E: usize>(
    c: &mut Criterion,
    name: &str,
    input: Tensor<B, D>,
    fused: impl Fn(Tensor<B, D>) -> Tensor<B, E>,
    burn: impl Fn(Tensor<B, D>) -> Tensor<B, E>,
) {
    let mut group = c.benchmark_group(name);
    let ops: [(&str, Op<D, E>); 2] = [("fused", &fused), ("burn", &burn)];
    for (label, op) in ops {
        group.bench_function(label, |b| {
            b.iter(|| {
                let x = input.clone().detach().require_grad();
                let grads = op(x.clone()).sum().backward();
                x.grad(&grads).expect("a gradient")
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    B::seed(&Default::default(), 0);
    let bias = Tensor::<B, 4>::zeros([8, 1, 1, 64], &Default::default());
    pair(
        c,
        "scaled_softmax_8x12x64x64",
        random([8, 12, 64, 64]),
        |s| fused::scaled_softmax(s, bias.clone(), 0.125),
        |s| activation::softmax(s * 0.125 + bias.clone(), 3),
    );
    let (gamma, beta) = (random([384]), random([384]));
    let norm = LayerNormConfig::new(384)
        .with_epsilon(1e-12)
        .init(&Default::default());
    pair(
        c,
        "layer_norm_8x64x384",
        random([8, 64, 384]),
        |x| fused::layer_norm(x, gamma.clone(), beta.clone(), 1e-12),
        |x| norm.forward(x),
    );
    pair(
        c,
        "gelu_8x64x1536",
        random([8, 64, 1536]),
        fused::gelu,
        activation::gelu,
    );
    let (w, b) = (random([384, 1536]), random([1536]));
    pair(
        c,
        "linear_8x64x384_to_1536",
        random([8, 64, 384]),
        |x| fused::linear(x.reshape([512, 384]), w.clone(), Some(b.clone())).reshape([8, 64, 1536]),
        |x| module::linear(x, w.clone(), Some(b.clone())),
    );
    let ids = Tensor::<B, 2, Int>::random(
        [8, 64],
        Distribution::Uniform(0.0, 30522.0),
        &Default::default(),
    );
    pair(
        c,
        "embedding_30522x384_8x64",
        random([30522, 384]),
        |w| fused::embedding(w, ids.clone()),
        |w| module::embedding(w, ids.clone()),
    );
    pair(
        c,
        "attention_8x64x384_12_heads",
        random([8, 64, 384]),
        |x| {
            let qkv = [x.clone(), x.clone(), x];
            fused::attention(qkv, bias.clone(), 12, 0.0, false)
                .expect("fused on Flex")
                .0
        },
        |x| {
            let split = |t: Tensor<B, 3>| t.reshape([8, 64, 12, 32]).swap_dims(1, 2);
            let scores = split(x.clone()).matmul(split(x.clone()).swap_dims(2, 3));
            let probs = activation::softmax(scores * (1.0 / 32f64.sqrt()) + bias.clone(), 3);
            probs.matmul(split(x)).swap_dims(1, 2).reshape([8, 64, 384])
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
