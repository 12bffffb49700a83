//! `BertModel`: embeddings, encoder and pooler (HF `BertModel`).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Int, Tensor, TensorData, backend::Backend};

use crate::embeddings::BertEmbeddings;
use crate::layer::BertEncoder;
use crate::packing::Packing;
use crate::precision::linear;
use crate::tokenizer::Encoded;
use crate::weights::WeightStore;
use crate::{BertConfig, Result};

/// The inputs of a BERT forward pass, all [batch, seq].
#[derive(Debug, Clone)]
pub struct BertInput<B: Backend> {
    /// WordPiece ids.
    pub input_ids: Tensor<B, 2, Int>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor<B, 2, Int>,
    /// Segment ids (all 0 for single sentences).
    pub token_type_ids: Tensor<B, 2, Int>,
}

impl<B: Backend> BertInput<B> {
    /// A batch of tokenized texts, each padded with `pad_id` to the longest (mask 0 there).
    pub fn from_encoded(encoded: &[Encoded], pad_id: u32, device: &B::Device) -> Self {
        let longest = encoded
            .iter()
            .map(|e| e.ids.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let shape = [encoded.len(), longest];
        let mut ids = vec![pad_id as i64; encoded.len() * longest];
        let mut mask = vec![0i64; encoded.len() * longest];
        let mut types = vec![0i64; encoded.len() * longest];
        for (row, e) in encoded.iter().enumerate() {
            let at = row * longest;
            for (j, (&id, &kind)) in e.ids.iter().zip(&e.type_ids).enumerate() {
                (ids[at + j], mask[at + j], types[at + j]) = (id as i64, 1, kind as i64);
            }
        }
        let tensor = |data: Vec<i64>| Tensor::from_data(TensorData::new(data, shape), device);
        Self {
            input_ids: tensor(ids),
            attention_mask: tensor(mask),
            token_type_ids: tensor(types),
        }
    }
}

/// What `BertModel::forward` returns.
#[derive(Debug, Clone)]
pub struct BertOutput<B: Backend> {
    /// The last hidden state [batch, seq, hidden].
    pub last_hidden_state: Tensor<B, 3>,
    /// tanh(dense([CLS])) [batch, hidden] (none for a model without a pooler).
    pub pooler_output: Option<Tensor<B, 2>>,
    /// Each layer's attention probabilities [batch, heads, seq, seq], when asked for.
    pub attentions: Vec<Tensor<B, 4>>,
}

/// The pooler: dense + tanh on the [CLS] hidden state (HF `BertPooler`).
#[derive(Module, Debug)]
pub struct BertPooler<B: Backend> {
    /// `pooler.dense`.
    pub dense: Linear<B>,
}

impl<B: Backend> BertPooler<B> {
    /// tanh(dense(hidden[:, 0])).
    pub fn forward(&self, hidden: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, _, width] = hidden.dims();
        let cls = hidden.narrow(1, 0, 1).reshape([batch, width]);
        linear(&self.dense, cls).tanh()
    }
}

/// BERT's encoder with its embeddings and pooler (HF's token classifier has no pooler).
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    /// `embeddings.*`.
    pub embeddings: BertEmbeddings<B>,
    /// `encoder.layer.*`.
    pub encoder: BertEncoder<B>,
    /// `pooler.dense.*`.
    pub pooler: Option<BertPooler<B>>,
}

impl<B: Backend> BertModel<B> {
    /// The model for `c`, its parameters not yet initialised: [`WeightStore::load`] fills it.
    pub fn new(c: &BertConfig, device: &B::Device) -> Self {
        Self {
            embeddings: BertEmbeddings::new(c, device),
            encoder: BertEncoder::new(c, device),
            pooler: Some(BertPooler {
                dense: LinearConfig::new(c.hidden_size, c.hidden_size).init(device),
            }),
        }
    }

    /// The model for `c` without its pooler (HF's `add_pooling_layer=False`), parameters not yet
    /// initialised.
    pub fn without_pooler(c: &BertConfig, device: &B::Device) -> Self {
        Self {
            pooler: None,
            ..Self::new(c, device)
        }
    }

    /// A model with fresh random weights, initialised as HF does (normal(0, initializer_range)
    /// weights, zero biases, unit LayerNorms).
    pub fn random(c: &BertConfig, device: &B::Device) -> Result<Self> {
        c.validate()?;
        WeightStore::random(c.initializer_range).load(Self::new(c, device))
    }

    /// Runs the model; `keep_attentions` also returns every layer's attention probabilities.
    pub fn forward(&self, input: BertInput<B>, keep_attentions: bool) -> Result<BertOutput<B>> {
        let mask_bias = mask_bias(input.attention_mask.equal_elem(0));
        let x = self
            .embeddings
            .forward(input.input_ids, input.token_type_ids)?;
        let (last_hidden_state, attentions) =
            self.encoder.forward(x, mask_bias, None, keep_attentions);
        let pooler_output = (self.pooler.as_ref()).map(|p| p.forward(last_hidden_state.clone()));
        Ok(BertOutput {
            last_hidden_state,
            pooler_output,
            attentions,
        })
    }

    /// The last hidden state [batch, seq, hidden] at the real tokens (the padded positions hold
    /// zeros or HF's values, which no pooling reads). Where a tenth or more of the batch is
    /// padding, the layers run on its real tokens alone ([`Packing`]).
    pub fn token_states(&self, input: BertInput<B>) -> Result<Tensor<B, 3>> {
        let packing = Packing::of(&input.attention_mask);
        let padding = input.attention_mask.clone().equal_elem(0);
        let x = self
            .embeddings
            .forward(input.input_ids, input.token_type_ids)?;
        let Some(packing) = packing else {
            return Ok(self.encoder.forward(x, mask_bias(padding), None, false).0);
        };
        let packed = packing.pack(x);
        let x = self
            .encoder
            .forward(packed, mask_bias(padding), Some(&packing), false)
            .0;
        Ok(packing.unpack(x))
    }
}

/// The additive attention mask [batch, 1, 1, seq]: 0 where kept, `f32::MIN` where padded (as HF).
///
/// Softmax subtracts each row's maximum first, so a row that is all padding stays finite (uniform)
/// instead of becoming NaN.
pub fn mask_bias<B: Backend>(padding: Tensor<B, 2, Bool>) -> Tensor<B, 4> {
    let [batch, seq] = padding.dims();
    let device = padding.device();
    Tensor::<B, 2>::zeros([batch, seq], &device)
        .mask_fill(padding, f32::MIN)
        .reshape([batch, 1, 1, seq])
}
