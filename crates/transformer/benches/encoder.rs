//! Criterion benches of the hot paths: multi-head attention and one encoder layer, forward and
//! forward + backward, at all-MiniLM-L6-v2's width on an AG News-like batch (8 x 64 tokens).

use attn_transformer::{
    BertConfig, BertLayer, MultiHeadAttention, mask_bias, weights::WeightStore,
};
use burn::backend::{Autodiff, Flex};
use burn::tensor::{Bool, Distribution, Tensor, backend::Backend};
use criterion::{Criterion, criterion_group, criterion_main};

const BATCH: usize = 8;
const SEQ: usize = 64;

fn inputs<B: Backend>(c: &BertConfig) -> (Tensor<B, 3>, Tensor<B, 4>) {
    let device = Default::default();
    let x = Tensor::random(
        [BATCH, SEQ, c.hidden_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    // The second half of every other row is padding.
    let padding = Tensor::<B, 2, Bool>::from_bool(
        burn::tensor::TensorData::new(
            (0..BATCH * SEQ)
                .map(|i| (i / SEQ) % 2 == 1 && i % SEQ >= SEQ / 2)
                .collect::<Vec<_>>(),
            [BATCH, SEQ],
        ),
        &device,
    );
    (x, mask_bias(padding))
}

fn bench(c: &mut Criterion) {
    let config = BertConfig::preset("minilm-l6").unwrap();
    let device = Default::default();
    let mut store = WeightStore::random(0.02);
    let attention = MultiHeadAttention::<Flex>::load(&mut store, "a", &config, &device).unwrap();
    let layer = BertLayer::<Flex>::load(&mut store, "l", &config, &device).unwrap();
    let (x, mask) = inputs::<Flex>(&config);
    c.bench_function("attention_forward_8x64x384", |b| {
        b.iter(|| {
            attention
                .forward(x.clone(), mask.clone(), None, false)
                .0
                .into_data()
        })
    });
    c.bench_function("layer_forward_8x64x384", |b| {
        b.iter(|| {
            layer
                .forward(x.clone(), mask.clone(), None, false)
                .0
                .into_data()
        })
    });

    type AD = Autodiff<Flex>;
    let layer =
        BertLayer::<AD>::load(&mut WeightStore::random(0.02), "l", &config, &device).unwrap();
    let (x, mask) = inputs::<AD>(&config);
    c.bench_function("layer_forward_backward_8x64x384", |b| {
        b.iter(|| {
            let out = layer
                .forward(x.clone().require_grad(), mask.clone(), None, false)
                .0;
            out.sum().backward()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
