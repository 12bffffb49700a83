//! Criterion benches of the fused ops against burn's own, forward + backward on `Autodiff<Flex>`,
//! at all-MiniLM-L6-v2's shapes for a batch of 8 x 64 tokens (12 heads, hidden 384, FFN 1536).

use attn_backend::fused;
use burn::backend::{Autodiff, Flex};
use burn::nn::LayerNormConfig;
use burn::tensor::{Distribution, Tensor, activation, backend::Backend};
use criterion::{Criterion, criterion_group, criterion_main};

type B = Autodiff<Flex>;
/// An op under test.
type Op<'a, const D: usize> = &'a dyn Fn(Tensor<B, D>) -> Tensor<B, D>;

fn random<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
}

/// Times `op` forward and backward (the gradient of the sum of its output) on `input`.
fn pair<const D: usize>(
    c: &mut Criterion,
    name: &str,
    input: Tensor<B, D>,
    fused: impl Fn(Tensor<B, D>) -> Tensor<B, D>,
    burn: impl Fn(Tensor<B, D>) -> Tensor<B, D>,
) {
    let mut group = c.benchmark_group(name);
    let ops: [(&str, Op<D>); 2] = [("fused", &fused), ("burn", &burn)];
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
