//! Criterion benches of the hot paths: multi-head attention and one encoder layer, forward and
//! forward + backward, at all-MiniLM-L6-v2's width on an AG News-like batch (8 x 64 tokens); and
//! the classifier on a batch of 32 with 40 % padding, packed (its `forward`) against padded.

use attn_transformer::{
    BertConfig, BertForSequenceClassification, BertInput, BertLayer, MultiHeadAttention, Pooling,
    mask_bias, weights::WeightStore,
};
use burn::backend::{Autodiff, Flex};
use burn::tensor::{Bool, Distribution, Int, Tensor, TensorData, backend::Backend};
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
    let attention = store
        .load(MultiHeadAttention::<Flex>::new(&config, &device))
        .unwrap();
    let layer = store
        .load(BertLayer::<Flex>::new(&config, &device))
        .unwrap();
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
    let layer = WeightStore::random(0.02)
        .load(BertLayer::<AD>::new(&config, &device))
        .unwrap();
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

/// 32 sequences of 24 to 96 tokens (AG News-like), padded to 96: about 40 % of it is padding.
fn padded_batch() -> BertInput<Flex> {
    let (rows, seq) = (32, 96);
    let mask: Vec<i64> = (0..rows * seq)
        .map(|i| (i % seq < 24 + (i / seq * 37) % 73) as i64)
        .collect();
    let ids: Vec<i64> = mask
        .iter()
        .enumerate()
        .map(|(i, &m)| m * (1000 + i as i64 % 5000))
        .collect();
    let device = Default::default();
    let ids = Tensor::<Flex, 2, Int>::from_data(TensorData::new(ids, [rows, seq]), &device);
    BertInput {
        attention_mask: Tensor::from_data(TensorData::new(mask, [rows, seq]), &device),
        token_type_ids: ids.zeros_like(),
        input_ids: ids,
    }
}

fn bench_packing(c: &mut Criterion) {
    let mut config = BertConfig::preset("minilm-l6").unwrap();
    config.num_hidden_layers = 2;
    let model = BertForSequenceClassification::<Flex>::random(
        &config,
        4,
        Pooling::Mean,
        &Default::default(),
    )
    .unwrap();
    let input = padded_batch();
    c.bench_function("classifier_2_layers_32x96_packed", |b| {
        b.iter(|| model.forward(input.clone()).unwrap().into_data())
    });
    c.bench_function("classifier_2_layers_32x96_padded", |b| {
        b.iter(|| {
            model
                .forward_full(input.clone(), false)
                .unwrap()
                .0
                .into_data()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench, bench_packing
}
criterion_main!(benches);
