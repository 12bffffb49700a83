//! Criterion bench of the hot path as `attn` runs it (mimalloc, Flex): one MiniLM-L6-sized
//! fine-tune step (batch 8: forward, loss, backward, AdamW) and one inference batch (32), on
//! random weights and the seeded synthetic batches of `attn bench` (no download needed).

/// The binary's own allocator settings (their unit tests run with the binary's).
#[path = "../src/allocator.rs"]
#[cfg_attr(test, allow(dead_code, unused_imports))]
mod allocator;

use std::time::{Duration, Instant};

use attn_classify::{bench_infer, bench_train, synthetic_batches};
use attn_train::TrainConfig;
use attn_transformer::{BertConfig, BertForSequenceClassification, Pooling};
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type B = Autodiff<Flex>;

fn bench(c: &mut Criterion) {
    allocator::keep_freed_memory();
    let config = BertConfig::preset("minilm-l6").unwrap();
    let device = Default::default();
    let model =
        BertForSequenceClassification::<B>::random(&config, 4, Pooling::Cls, &device).unwrap();
    let cfg = TrainConfig {
        lr: 2e-5,
        ..TrainConfig::default()
    };
    let mut group = c.benchmark_group("minilm_l6");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    let train = synthetic_batches(8, 4, config.vocab_size, 42);
    group.throughput(Throughput::Elements(8));
    group.bench_function("fine_tune_step_batch_8", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            bench_train(model.clone(), &train, &cfg, 0, 0, iters as usize, &device).unwrap();
            started.elapsed()
        })
    });

    let infer = synthetic_batches(32, 4, config.vocab_size, 42);
    let inner = model.valid();
    group.throughput(Throughput::Elements(32));
    group.bench_function("inference_batch_32", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            bench_infer(&inner, &infer, 128, 0, 0, iters as usize, &device).unwrap();
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
