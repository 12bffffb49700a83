//! Criterion bench of the input pipeline: AG News test rows tokenized (WordPiece, in parallel, no
//! cache) and collated into padded batches of 32, per second. Needs the all-MiniLM-L6-v2
//! tokenizer and AG News (fetched like `attn` does: `$AG_NEWS_DIR`, the cache, a download).

use attn_classify::WordPieceEncoder;
use attn_data::{Example, TextBatcher, TextEncoder, load_ag_news};
use attn_transformer::BertTokenizer;
use burn::backend::Flex;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let model = attn_hub::resolve_model("all-MiniLM-L6-v2")
        .expect("the MiniLM tokenizer")
        .path;
    let data = attn_hub::resolve_ag_news(None).expect("AG News");
    let rows = load_ag_news(&data, "test", false).expect("test.csv");
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let encoder = WordPieceEncoder::new(BertTokenizer::from_dir(&model, 128).unwrap(), &model, 128);
    let batcher = TextBatcher::longest(encoder.pad_id(), 128);
    let device = Default::default();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.sample_size(10);
    group.bench_function("ag_news_test_tokenize_and_batch", |b| {
        b.iter(|| {
            let ids = encoder.encode_batch(&texts).unwrap();
            let examples: Vec<Example> = ids
                .into_iter()
                .zip(&rows)
                .map(|(ids, r)| Example {
                    ids,
                    label: r.label,
                    target: Vec::new(),
                    tags: Vec::new(),
                })
                .collect();
            for chunk in examples.chunks(32) {
                let items: Vec<&Example> = chunk.iter().collect();
                let batch = batcher.collate::<Flex>(&items, &device);
                std::hint::black_box(batch.input_ids);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
