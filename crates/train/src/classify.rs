//! What the training loop needs of a model: logits for a batch.

use attn_data::TextBatch;
use attn_transformer::{BertForSequenceClassification, BertInput};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::Result;

/// A text classifier the loop can train and evaluate.
pub trait Classify<B: Backend> {
    /// Logits [batch, classes] for a padded batch (an error for a batch the model cannot take,
    /// e.g. longer than BERT's position table).
    fn logits(&self, batch: &TextBatch<B>) -> Result<Tensor<B, 2>>;

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

impl<B: Backend> Classify<B> for BertForSequenceClassification<B> {
    fn logits(&self, batch: &TextBatch<B>) -> Result<Tensor<B, 2>> {
        let input = BertInput {
            input_ids: batch.input_ids.clone(),
            attention_mask: batch.attention_mask.clone(),
            token_type_ids: batch.token_type_ids.clone(),
        };
        Ok(self.forward(input)?)
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
