//! TextClassification as the loop trains it: cross-entropy of a classifier's logits against the
//! labels, and BERT's layers told apart for layer-wise learning rates.

use attn_data::TextBatch;
use attn_rnn::RnnAttentionClassifier;
use attn_train::{
    CrossEntropy, Objective, Result, Scored, bert_grads_by_depth, scored, take_grads,
};
use attn_transformer::BertForSequenceClassification;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::logits::Classify;

/// The classification task: what the loop needs of a classifier (BERT or the RNN baseline).
#[derive(Debug, Clone, Copy, Default)]
pub struct TextClassification;

impl<B: Backend> Objective<B, BertForSequenceClassification<B>> for TextClassification {
    fn objective(
        &self,
        model: &BertForSequenceClassification<B>,
        batch: &TextBatch<B>,
        loss_fn: CrossEntropy,
    ) -> Result<Scored<B>> {
        Ok(scored(model.logits(batch)?, batch.labels.clone(), loss_fn))
    }

    /// Classifier and pooler first, then the encoder layers from the top, then the embeddings.
    fn grads_by_depth(
        &self,
        model: &BertForSequenceClassification<B>,
        mut grads: GradientsParams,
    ) -> Vec<(i32, GradientsParams)>
    where
        B: AutodiffBackend,
    {
        let head = take_grads(&mut grads, &model.classifier);
        bert_grads_by_depth(&model.bert, grads, head)
    }
}

impl<B: Backend> Objective<B, RnnAttentionClassifier<B>> for TextClassification {
    fn objective(
        &self,
        model: &RnnAttentionClassifier<B>,
        batch: &TextBatch<B>,
        loss_fn: CrossEntropy,
    ) -> Result<Scored<B>> {
        Ok(scored(model.logits(batch)?, batch.labels.clone(), loss_fn))
    }
}
