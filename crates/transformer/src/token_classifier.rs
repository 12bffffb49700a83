//! `BertForTokenClassification`: BERT without its pooler, dropout and a linear head on every
//! token (HF's named-entity tagger).

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::model::{BertInput, BertModel, BertOutput};
use crate::precision::linear;
use crate::weights::WeightStore;
use crate::{BertConfig, Result};

/// BERT with a tag for every token (HF `BertForTokenClassification`).
#[derive(Module, Debug)]
pub struct BertForTokenClassification<B: Backend> {
    /// `bert.*`: the encoder, without a pooler.
    pub bert: BertModel<B>,
    /// Dropout on each token's hidden state.
    pub dropout: Dropout,
    /// `classifier`: hidden -> num_labels, on every token.
    pub classifier: Linear<B>,
}

impl<B: Backend> BertForTokenClassification<B> {
    /// The tagger for `c` with `num_labels` tags, its parameters not yet initialised:
    /// [`WeightStore::load`] fills it.
    pub fn new(c: &BertConfig, num_labels: usize, device: &B::Device) -> Self {
        Self {
            bert: BertModel::without_pooler(c, device),
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
            classifier: LinearConfig::new(c.hidden_size, num_labels).init(device),
        }
    }

    /// A tagger with fresh random weights (see [`BertModel::random`]).
    pub fn random(c: &BertConfig, num_labels: usize, device: &B::Device) -> Result<Self> {
        c.validate()?;
        WeightStore::random(c.initializer_range).load(Self::new(c, num_labels, device))
    }

    /// The number of tags.
    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }

    /// Logits [batch, seq, num_labels] of every token, and the encoder output.
    pub fn forward_full(
        &self,
        input: BertInput<B>,
        keep_attentions: bool,
    ) -> Result<(Tensor<B, 3>, BertOutput<B>)> {
        let out = self.bert.forward(input, keep_attentions)?;
        let [batch, seq, width] = out.last_hidden_state.dims();
        let flat = out.last_hidden_state.clone().reshape([batch * seq, width]);
        let logits = self.head(flat).reshape([batch, seq, self.num_labels()]);
        Ok((logits, out))
    }

    /// Logits [batch, seq, num_labels] of every token (the padded positions' are meaningless);
    /// the layers skip the batch's padding where that pays ([`BertModel::token_states`]).
    pub fn forward(&self, input: BertInput<B>) -> Result<Tensor<B, 3>> {
        let hidden = self.bert.token_states(input)?;
        let [batch, seq, width] = hidden.dims();
        let logits = self.head(hidden.reshape([batch * seq, width]));
        Ok(logits.reshape([batch, seq, self.num_labels()]))
    }

    /// Logits [positions, num_labels] of the tokens at `positions` of the batch flattened row by
    /// row (`row * seq + j`): the head runs on those tokens alone.
    pub fn forward_at(
        &self,
        input: BertInput<B>,
        positions: Tensor<B, 1, Int>,
    ) -> Result<Tensor<B, 2>> {
        let hidden = self.bert.token_states(input)?;
        let [batch, seq, width] = hidden.dims();
        let picked = hidden.reshape([batch * seq, width]).select(0, positions);
        Ok(self.head(picked))
    }

    /// The head: dropout and the linear classifier on token states [tokens, hidden].
    fn head(&self, states: Tensor<B, 2>) -> Tensor<B, 2> {
        linear(&self.classifier, fused::dropout(states, self.dropout.prob))
    }
}
