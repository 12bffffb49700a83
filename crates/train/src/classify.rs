//! What the training loop needs of a model: logits for a batch.

use attn_data::TextBatch;
use attn_transformer::{BertForSequenceClassification, BertInput};
use burn::tensor::{Tensor, backend::Backend};

/// A text classifier the loop can train and evaluate.
pub trait Classify<B: Backend> {
    /// Logits [batch, classes] for a padded batch.
    fn logits(&self, batch: &TextBatch<B>) -> Tensor<B, 2>;
}

impl<B: Backend> Classify<B> for BertForSequenceClassification<B> {
    fn logits(&self, batch: &TextBatch<B>) -> Tensor<B, 2> {
        let input = BertInput {
            input_ids: batch.input_ids.clone(),
            attention_mask: batch.attention_mask.clone(),
            token_type_ids: batch.token_type_ids.clone(),
        };
        // Batches are cut at max_len <= max_position_embeddings by the batcher, so this cannot fail.
        self.forward(input).expect("batch fits the position table")
    }
}

impl<B: Backend> Classify<B> for attn_rnn::RnnAttentionClassifier<B> {
    fn logits(&self, batch: &TextBatch<B>) -> Tensor<B, 2> {
        self.forward(batch.input_ids.clone(), &batch.lengths).logits
    }
}
