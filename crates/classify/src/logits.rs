//! What evaluation and prediction need of a classifier: its logits for a batch.

use attn_data::TextBatch;
use attn_train::Result;
use attn_transformer::{BertForSequenceClassification, BertInput};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// A text classifier: logits for a batch.
pub trait Classify<B: Backend> {
    /// Logits [batch, classes] for a padded batch (an error for a batch the model cannot take,
    /// e.g. longer than BERT's position table).
    fn logits(&self, batch: &TextBatch<B>) -> Result<Tensor<B, 2>>;
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

impl<B: Backend> Classify<B> for attn_rnn::RnnAttentionClassifier<B> {
    fn logits(&self, batch: &TextBatch<B>) -> Result<Tensor<B, 2>> {
        Ok(self.forward(batch.input_ids.clone(), &batch.lengths).logits)
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
