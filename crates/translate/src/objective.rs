//! Translation as the loop trains it: next-word cross-entropy under teacher forcing.

use attn_data::TextBatch;
use attn_rnn::Seq2Seq;
use attn_train::{CrossEntropy, Objective, Result, Scored, TrainError, scored};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};

/// The translation task: what the loop needs of the encoder-decoder.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineTranslation;

impl<B: Backend> Objective<B, Seq2Seq<B>> for MachineTranslation {
    /// Next-word cross-entropy over the real target positions; in training a share
    /// 1 - `teacher_forcing` of the steps (drawn from the backend's seeded generator) read the
    /// model's own previous word.
    fn objective(
        &self,
        model: &Seq2Seq<B>,
        batch: &TextBatch<B>,
        loss_fn: CrossEntropy,
    ) -> Result<Scored<B>> {
        let targets = batch.targets.as_ref().ok_or_else(|| {
            TrainError::Settings("a translation batch needs target sentences".into())
        })?;
        let steps = targets.inputs.dims()[1];
        let device = targets.inputs.device();
        let forced = match B::ad_enabled(&device) && model.teacher_forcing < 1.0 {
            true => {
                let draws =
                    Tensor::<B, 1>::random([steps], Distribution::Uniform(0.0, 1.0), &device);
                let draws: Vec<f32> = draws.into_data().convert::<f32>().to_vec().expect("floats");
                draws
                    .iter()
                    .map(|&d| f64::from(d) < model.teacher_forcing)
                    .collect()
            }
            false => vec![true; steps],
        };
        let encoded = model.encode(batch.input_ids.clone(), &batch.lengths);
        let (real, positions) =
            model.teacher_forced(&encoded, targets.inputs.clone(), &targets.steps, &forced);
        let positions: Vec<i64> = positions.into_iter().map(|p| p as i64).collect();
        let count = positions.len();
        let labels = (targets.labels.clone()).select(
            0,
            Tensor::from_data(TensorData::new(positions, [count]), &device),
        );
        Ok(scored(model.logits(real), labels, loss_fn))
    }
}
