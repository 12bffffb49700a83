//! What the training loop needs of a model (its loss on a batch), and what evaluation needs of
//! a classifier (logits).

use attn_data::TextBatch;
use attn_transformer::{BertForSequenceClassification, BertInput};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use attn_kernels::fused;

use crate::Result;

/// A text classifier: logits for a batch.
pub trait Classify<B: Backend> {
    /// Logits [batch, classes] for a padded batch (an error for a batch the model cannot take,
    /// e.g. longer than BERT's position table).
    fn logits(&self, batch: &TextBatch<B>) -> Result<Tensor<B, 2>>;
}

/// A batch's mean loss and how many of the predictions it scores are right.
pub struct Scored<B: Backend> {
    /// The mean loss over the scored predictions, [1].
    pub loss: Tensor<B, 1>,
    /// Right predictions.
    pub hits: usize,
    /// Predictions scored: a classifier's rows, a translator's target tokens.
    pub scored: usize,
}

/// The loss the loop trains on: cross-entropy, the targets smoothed as (1 - `smoothing`) ·
/// one-hot + `smoothing` / classes (PyTorch's `label_smoothing`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropy {
    /// The label smoothing (0: none).
    pub smoothing: f32,
}

/// A model the training loop can train and validate.
pub trait Objective<B: Backend> {
    /// The loss of a padded batch under `loss_fn` (its label smoothing), and its hits.
    fn objective(&self, batch: &TextBatch<B>, loss_fn: CrossEntropy) -> Result<Scored<B>>;

    /// The gradients in groups, each with its depth from the output (a group at depth `d` learns
    /// at `lr * decay^d` under layer-wise learning-rate decay); one group at depth 0 unless the
    /// model has layers to tell apart.
    fn grads_by_depth(&self, grads: GradientsParams) -> Vec<(i32, GradientsParams)>
    where
        B: AutodiffBackend,
        Self: AutodiffModule<B> + Sized,
    {
        vec![(0, grads)]
    }
}

/// Moves the gradients of `module`'s parameters out of `grads` into a group of their own.
fn take<B: AutodiffBackend, M: Module<B>>(
    grads: &mut GradientsParams,
    module: &M,
) -> GradientsParams {
    struct Take<'a>(&'a mut GradientsParams, GradientsParams);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Take<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.0.remove::<B::InnerBackend, D>(param.id) {
                self.1.register(param.id, grad);
            }
        }
    }
    let mut take = Take(grads, GradientsParams::new());
    module.visit(&mut take);
    take.1
}

/// The classification loss of `logits` [rows, classes] against `labels` [rows], with its hits.
pub(crate) fn scored<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    loss_fn: CrossEntropy,
) -> Scored<B> {
    let rows = labels.dims()[0];
    let (loss, hits) = fused::cross_entropy(logits, labels, loss_fn.smoothing);
    Scored {
        loss,
        hits,
        scored: rows,
    }
}

impl<B: Backend> Classify<B> for BertForSequenceClassification<B> {
    fn logits(&self, batch: &TextBatch<B>) -> Result<Tensor<B, 2>> {
        let input = BertInput {
            input_ids: batch.input_ids.clone(),
            attention_mask: batch.attention_mask.clone(),
            token_type_ids: batch.token_type_ids.clone(),
        };
        Ok(self.forward(input)?)
    }
}

impl<B: Backend> Objective<B> for BertForSequenceClassification<B> {
    fn objective(&self, batch: &TextBatch<B>, loss_fn: CrossEntropy) -> Result<Scored<B>> {
        Ok(scored(self.logits(batch)?, batch.labels.clone(), loss_fn))
    }

    /// Pooler and classifier first, then the encoder layers from the top, then the embeddings.
    fn grads_by_depth(&self, mut grads: GradientsParams) -> Vec<(i32, GradientsParams)>
    where
        B: AutodiffBackend,
    {
        let mut groups = vec![
            (0, take(&mut grads, &self.classifier)),
            (0, take(&mut grads, &self.bert.pooler)),
        ];
        let layers = self.bert.encoder.layer.iter().rev();
        for (depth, layer) in (1..).zip(layers) {
            groups.push((depth, take(&mut grads, layer)));
        }
        let bottom = groups.len() as i32 - 1;
        groups.push((bottom, take(&mut grads, &self.bert.embeddings)));
        groups
    }
}

impl<B: Backend> Classify<B> for attn_rnn::RnnAttentionClassifier<B> {
    fn logits(&self, batch: &TextBatch<B>) -> Result<Tensor<B, 2>> {
        Ok(self.forward(batch.input_ids.clone(), &batch.lengths).logits)
    }
}

impl<B: Backend> Objective<B> for attn_rnn::RnnAttentionClassifier<B> {
    fn objective(&self, batch: &TextBatch<B>, loss_fn: CrossEntropy) -> Result<Scored<B>> {
        Ok(scored(self.logits(batch)?, batch.labels.clone(), loss_fn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_data::{Example, PadLengths, TextBatcher};
    use attn_transformer::{BertConfig, Pooling};
    use burn::backend::Flex;

    /// Logits of `model` on three rows of 3 to 9 tokens, padded to the longest and to 32.
    fn both_paddings<M: Classify<Flex>>(model: &M) -> [Vec<f32>; 2] {
        let examples: Vec<Example> = [3, 9, 5]
            .map(|n| Example {
                ids: (1..=n).map(|i| (i * 7 % 40) as u32 + 1).collect(),
                ..Example::default()
            })
            .into();
        let items: Vec<&Example> = examples.iter().collect();
        let longest = TextBatcher::longest(0, 128);
        let bucketed = TextBatcher {
            pad_to: Some(PadLengths::new(&[32]).unwrap()),
            ..longest
        };
        [longest, bucketed].map(|batcher| {
            let batch = batcher.collate::<Flex>(&items, &Default::default());
            let logits = model.logits(&batch).unwrap();
            logits.into_data().convert::<f32>().to_vec().unwrap()
        })
    }

    fn assert_equal([longest, bucketed]: [Vec<f32>; 2]) {
        let diff = longest
            .iter()
            .zip(&bucketed)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "padding to 32 moved the logits by {diff}");
    }

    #[test]
    fn padding_up_to_a_bucket_leaves_both_classifiers_logits_unchanged() {
        let device = Default::default();
        let mut config = BertConfig::new(48, 32, 2, 4, 64);
        (
            config.hidden_dropout_prob,
            config.attention_probs_dropout_prob,
        ) = (0.0, 0.0);
        for pooling in [Pooling::Mean, Pooling::Cls] {
            let bert = BertForSequenceClassification::<Flex>::random(&config, 3, pooling, &device);
            assert_equal(both_paddings(&bert.unwrap()));
        }
        let rnn = attn_rnn::RnnConfig {
            cell: Default::default(),
            vocab_size: 48,
            embed_dim: 16,
            hidden: 8,
            attention_dim: 8,
            dropout: 0.0,
            num_classes: 3,
        };
        assert_equal(both_paddings(&rnn.init::<Flex>(&device)));
    }
}
