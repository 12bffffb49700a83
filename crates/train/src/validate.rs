//! The loop's validation score: the share of the predictions its objective scores that the
//! model gets right on held-out examples.

use attn_data::{Example, TextBatcher, shortest_first};
use burn::tensor::backend::Backend;

use crate::error::Result;
use crate::objective::{CrossEntropy, Objective};

/// Share of the predictions `task` scores (labels, or next tokens under teacher forcing) that
/// `model` gets right on `examples`.
pub(crate) fn validation_accuracy<B: Backend, M, T: Objective<B, M>>(
    model: &M,
    task: &T,
    examples: &[Example],
    batch_size: usize,
    batcher: TextBatcher,
    device: &B::Device,
) -> Result<f64> {
    let (mut hits, mut scored) = (0, 0);
    for chunk in shortest_first(examples).chunks(batch_size.max(1)) {
        let items: Vec<&Example> = chunk.iter().map(|&i| &examples[i]).collect();
        let batch = batcher.collate::<B>(&items, device);
        let result = task.objective(model, &batch, CrossEntropy::default())?;
        (hits, scored) = (hits + result.hits, scored + result.scored);
    }
    Ok(hits as f64 / scored.max(1) as f64)
}
