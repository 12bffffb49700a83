//! `BertForSequenceClassification`: BERT, a pooled sentence vector, dropout and a linear head.

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};

use crate::model::{BertInput, BertModel, BertOutput};
use crate::precision::linear;
use crate::weights::WeightStore;
use crate::{BertConfig, BertError, Result};

/// How the sentence vector fed to the head is made from the encoder output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// HF's head: the pooler, tanh(dense([CLS])).
    #[default]
    #[serde(alias = "pooler")]
    Cls,
    /// The attention-masked mean of the last hidden state (as sentence-transformers).
    Mean,
}

impl std::str::FromStr for Pooling {
    type Err = BertError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cls" | "pooler" => Ok(Self::Cls),
            "mean" => Ok(Self::Mean),
            other => Err(BertError::Input(format!(
                "unknown pooling `{other}`: expected cls or mean"
            ))),
        }
    }
}

impl Pooling {
    /// The name used on the command line and in saved configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cls => "cls",
            Self::Mean => "mean",
        }
    }
}

/// The attention-masked mean over the sequence of `hidden` [batch, seq, width] -> [batch, width].
pub fn mean_pool<B: Backend>(
    hidden: Tensor<B, 3>,
    attention_mask: Tensor<B, 2, burn::tensor::Int>,
) -> Tensor<B, 2> {
    let [batch, seq, width] = hidden.dims();
    let mask = attention_mask.float().reshape([batch, seq, 1]);
    let summed = (hidden * mask.clone()).sum_dim(1).reshape([batch, width]);
    let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
    summed / counts
}

/// Why a sequence classifier's pooler is there: [`BertForSequenceClassification::new`] builds it.
const HAS_POOLER: &str = "a sequence classifier's BERT has its pooler";

/// BERT with a classification head (HF `BertForSequenceClassification`).
#[derive(Module, Debug)]
pub struct BertForSequenceClassification<B: Backend> {
    /// `bert.*`: the encoder.
    pub bert: BertModel<B>,
    /// Dropout on the pooled vector.
    pub dropout: Dropout,
    /// `classifier`: hidden -> num_labels.
    pub classifier: Linear<B>,
    /// How the sentence vector is pooled.
    #[module(skip)]
    pub pooling: Pooling,
}

impl<B: Backend> BertForSequenceClassification<B> {
    /// The classifier for `c` with `num_labels` classes, its parameters not yet initialised:
    /// [`WeightStore::load`] fills it.
    pub fn new(c: &BertConfig, num_labels: usize, pooling: Pooling, device: &B::Device) -> Self {
        Self {
            bert: BertModel::new(c, device),
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
            classifier: LinearConfig::new(c.hidden_size, num_labels).init(device),
            pooling,
        }
    }

    /// A classifier with fresh random weights (see [`BertModel::random`]).
    pub fn random(
        c: &BertConfig,
        num_labels: usize,
        pooling: Pooling,
        device: &B::Device,
    ) -> Result<Self> {
        c.validate()?;
        WeightStore::random(c.initializer_range).load(Self::new(c, num_labels, pooling, device))
    }

    /// The number of classes.
    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }

    /// Logits [batch, num_labels] and the encoder output.
    pub fn forward_full(
        &self,
        input: BertInput<B>,
        keep_attentions: bool,
    ) -> Result<(Tensor<B, 2>, BertOutput<B>)> {
        let mask = input.attention_mask.clone();
        let out = self.bert.forward(input, keep_attentions)?;
        let pooled = match self.pooling {
            Pooling::Cls => out.pooler_output.clone().expect(HAS_POOLER),
            Pooling::Mean => mean_pool(out.last_hidden_state.clone(), mask),
        };
        Ok((self.head(pooled), out))
    }

    /// Logits [batch, num_labels]; the layers skip the batch's padding where that pays
    /// ([`BertModel::token_states`]).
    pub fn forward(&self, input: BertInput<B>) -> Result<Tensor<B, 2>> {
        let mask = input.attention_mask.clone();
        let hidden = self.bert.token_states(input)?;
        let pooled = match self.pooling {
            Pooling::Cls => self.bert.pooler.as_ref().expect(HAS_POOLER).forward(hidden),
            Pooling::Mean => mean_pool(hidden, mask),
        };
        Ok(self.head(pooled))
    }

    /// The head: dropout and the linear classifier on the sentence vectors.
    fn head(&self, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
        linear(&self.classifier, fused::dropout(pooled, self.dropout.prob))
    }
}
