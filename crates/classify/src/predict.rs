//! Predictions of a trained classifier over a data set, and their scores.

use std::time::Instant;

use attn_data::{Example, LabelMap, TextBatcher, shortest_first};
use attn_train::{Result, TrainConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use indicatif::{ProgressBar, ProgressStyle};

use crate::logits::Classify;
use crate::metrics::EvalReport;

/// Share of `examples` that `model` classifies correctly.
pub fn accuracy<B: Backend, M: Classify<B>>(
    model: &M,
    examples: &[Example],
    batch_size: usize,
    batcher: TextBatcher,
    device: &B::Device,
) -> Result<f64> {
    let predicted = predict(model, examples, batch_size, batcher, device)?;
    let hits = predicted
        .iter()
        .zip(examples)
        .filter(|(p, e)| **p == e.label)
        .count();
    Ok(hits as f64 / examples.len().max(1) as f64)
}

/// Predicted class of every example, in batches sorted by length (less padding), with a progress bar.
pub fn predict<B: Backend, M: Classify<B>>(
    model: &M,
    examples: &[Example],
    batch_size: usize,
    batcher: TextBatcher,
    device: &B::Device,
) -> Result<Vec<usize>> {
    let order = shortest_first(examples);
    let mut predicted = vec![0usize; examples.len()];
    let bar = ProgressBar::new(examples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("eval {bar:30} {pos}/{len} [{eta_precise}]")
            .expect("valid template"),
    );
    for chunk in order.chunks(batch_size.max(1)) {
        let items: Vec<&Example> = chunk.iter().map(|&i| &examples[i]).collect();
        let batch = batcher.collate::<B>(&items, device);
        let best: Tensor<B, 2, Int> = model.logits(&batch)?.argmax(1);
        let best: Vec<i64> = best
            .into_data()
            .convert::<i64>()
            .to_vec()
            .expect("int data");
        for (&i, &p) in chunk.iter().zip(&best) {
            predicted[i] = p as usize;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(predicted)
}

/// Predicts the test set (its first `cfg.eval_limit` rows when set) and scores it.
pub(crate) fn evaluate<B: Backend, M: Classify<B>>(
    model: &M,
    test: &[Example],
    labels: &LabelMap,
    cfg: &TrainConfig,
    pad_id: u32,
    device: &B::Device,
) -> Result<EvalReport> {
    let limit = if cfg.eval_limit == 0 {
        test.len()
    } else {
        cfg.eval_limit.min(test.len())
    };
    let test = &test[..limit];
    let batcher = cfg.batcher::<B>(pad_id)?;
    let started = Instant::now();
    let predicted = predict(model, test, cfg.eval_batch_size, batcher, device)?;
    let rate = test.len() as f64 / started.elapsed().as_secs_f64();
    let actual: Vec<usize> = test.iter().map(|e| e.label).collect();
    Ok(EvalReport::new(&predicted, &actual, &labels.names, rate))
}
