//! Token classification as the loop trains it: cross-entropy of the scored pieces' logits
//! against their tags (BERT's or the recurrent tagger's), and BERT's layers told apart for
//! layer-wise learning rates.

use attn_data::TextBatch;
use attn_rnn::RnnTagger;
use attn_train::{
    CrossEntropy, Objective, Result, Scored, bert_grads_by_depth, scored, take_grads,
};
use attn_transformer::BertForTokenClassification;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::tagger::Tag;

/// The tagging task: what the loop needs of a tagger.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenClassification;

impl<B: Backend> Objective<B, BertForTokenClassification<B>> for TokenClassification {
    fn objective(
        &self,
        model: &BertForTokenClassification<B>,
        batch: &TextBatch<B>,
        loss_fn: CrossEntropy,
    ) -> Result<Scored<B>> {
        let (logits, labels) = model.scored_logits(batch)?;
        Ok(scored(logits, labels, loss_fn))
    }

    /// The classifier first, then the encoder layers from the top, then the embeddings.
    fn grads_by_depth(
        &self,
        model: &BertForTokenClassification<B>,
        mut grads: GradientsParams,
    ) -> Vec<(i32, GradientsParams)>
    where
        B: AutodiffBackend,
    {
        let head = take_grads(&mut grads, &model.classifier);
        bert_grads_by_depth(&model.bert, grads, head)
    }
}

impl<B: Backend> Objective<B, RnnTagger<B>> for TokenClassification {
    fn objective(
        &self,
        model: &RnnTagger<B>,
        batch: &TextBatch<B>,
        loss_fn: CrossEntropy,
    ) -> Result<Scored<B>> {
        let (logits, labels) = model.scored_logits(batch)?;
        Ok(scored(logits, labels, loss_fn))
    }
}
