//! Criterion benches of the encoder, forward + backward on `Autodiff<Flex>` at the baseline's
//! sizes (batch 32 padded to 74 positions, the mean of AG News batches; lengths 20..=74;
//! embeddings and hidden 128): both directions as attn-kernels' fused layer against burn's GRU and
//! LSTM layers, and the whole classifier's step for scale.

use attn_rnn::{Cell, Recurrent, RnnConfig, bidirectional, reverse_within_lengths};
use burn::backend::{Autodiff, Flex};
use burn::nn::gru::GruConfig;
use burn::nn::lstm::LstmConfig;
use burn::tensor::{Distribution, Int, Tensor, TensorData, backend::Backend};
use criterion::{Criterion, criterion_group, criterion_main};

type B = Autodiff<Flex>;
const BATCH: usize = 32;
const SEQ: usize = 74;
const WIDTH: usize = 128;

/// Lengths spread over 20..=74, the longest first.
fn lengths() -> Vec<usize> {
    (0..BATCH)
        .map(|i| SEQ - i * (SEQ - 20) / (BATCH - 1))
        .collect()
}

fn layer(cell: Cell) -> Recurrent<B> {
    let device = Default::default();
    match cell {
        Cell::Gru => Recurrent::Gru(GruConfig::new(WIDTH, WIDTH, true).init(&device)),
        Cell::Lstm => Recurrent::Lstm(LstmConfig::new(WIDTH, WIDTH, true).init(&device)),
    }
}

fn encoder(c: &mut Criterion) {
    B::seed(&Default::default(), 0);
    let lengths = lengths();
    let x = Tensor::<B, 3>::random(
        [BATCH, SEQ, WIDTH],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    );
    for cell in [Cell::Gru, Cell::Lstm] {
        let (forward, backward) = (layer(cell), layer(cell));
        let mut group =
            c.benchmark_group(format!("bi{cell:?}_{BATCH}x{SEQ}x{WIDTH}").to_lowercase());
        group.bench_function("fused", |b| {
            b.iter(|| {
                let x = x.clone().detach().require_grad();
                let (states, last) = bidirectional(&forward, &backward, x.clone(), &lengths);
                let grads = (states.sum() + last.sum()).backward();
                x.grad(&grads).expect("a gradient")
            })
        });
        group.bench_function("burn", |b| {
            b.iter(|| {
                let x = x.clone().detach().require_grad();
                let states = forward.forward(x.clone());
                let reversed = backward.forward(reverse_within_lengths(x.clone(), &lengths));
                let grads = (states.sum() + reversed.sum()).backward();
                x.grad(&grads).expect("a gradient")
            })
        });
        group.finish();
    }
}

fn classifier(c: &mut Criterion) {
    B::seed(&Default::default(), 0);
    let device = Default::default();
    let config = RnnConfig {
        cell: Cell::Gru,
        vocab_size: 17_000,
        embed_dim: WIDTH,
        hidden: WIDTH,
        attention_dim: WIDTH,
        dropout: 0.3,
        num_classes: 4,
    };
    let model = config.init::<B>(&device);
    let lengths = lengths();
    let ids: Vec<i64> = lengths
        .iter()
        .enumerate()
        .flat_map(|(r, &l)| {
            (0..SEQ).map(move |t| {
                if t < l {
                    (2 + r * 97 + t * 13) as i64 % 17_000
                } else {
                    0
                }
            })
        })
        .collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [BATCH, SEQ]), &device);
    c.bench_function("classifier_step_32x74", |b| {
        b.iter(|| {
            let out = model.forward(ids.clone(), &lengths);
            out.logits.sum().backward()
        })
    });
}

criterion_group!(benches, encoder, classifier);
criterion_main!(benches);
