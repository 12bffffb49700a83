//! `BertEmbeddings`: word + learned absolute position + token-type embeddings, LayerNorm, dropout.

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::attention::layer_norm;
use crate::{BertConfig, BertError, Result};

/// The input embeddings of BERT (HF `BertEmbeddings`).
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    /// `word_embeddings`: one row per WordPiece id.
    pub word_embeddings: Embedding<B>,
    /// `position_embeddings`: one learned row per position 0..max_position_embeddings.
    pub position_embeddings: Embedding<B>,
    /// `token_type_embeddings`: one row per segment.
    pub token_type_embeddings: Embedding<B>,
    /// `LayerNorm` over the sum.
    pub layer_norm: LayerNorm<B>,
    /// Dropout after the LayerNorm.
    pub dropout: Dropout,
    /// The LayerNorm's epsilon.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

impl<B: Backend> BertEmbeddings<B> {
    /// These embeddings with the word table excluded from training (no gradient is computed for
    /// it, so no dense vocab x hidden gradient and no optimizer update); the position and segment
    /// tables and the LayerNorm still train.
    pub fn freeze_word_embeddings(mut self) -> Self {
        self.word_embeddings = self.word_embeddings.no_grad();
        self
    }

    /// The embeddings for `c` (parameters not yet initialised).
    pub fn new(c: &BertConfig, device: &B::Device) -> Self {
        let h = c.hidden_size;
        Self {
            word_embeddings: EmbeddingConfig::new(c.vocab_size, h).init(device),
            position_embeddings: EmbeddingConfig::new(c.max_position_embeddings, h).init(device),
            token_type_embeddings: EmbeddingConfig::new(c.type_vocab_size, h).init(device),
            layer_norm: LayerNormConfig::new(h)
                .with_epsilon(c.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
            layer_norm_eps: c.layer_norm_eps,
        }
    }

    /// Embeds `input_ids` and `token_type_ids` ([batch, seq]) into [batch, seq, hidden].
    ///
    /// Positions are 0..seq; a sequence longer than the position table is an error.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Result<Tensor<B, 3>> {
        let [batch, seq] = input_ids.dims();
        let max = self.position_embeddings.weight.dims()[0];
        if seq > max {
            return Err(BertError::Input(format!(
                "sequence length {seq} exceeds max_position_embeddings {max}"
            )));
        }
        let device = input_ids.device();
        // 0..seq in every row: the three lookups then add as equal shapes (a broadcast add runs
        // element by element through strided indices).
        let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device)
            .unsqueeze::<2>()
            .expand([batch, seq]);
        let x = fused::embedding(self.word_embeddings.weight.val(), input_ids)
            + fused::embedding(self.position_embeddings.weight.val(), positions)
            + fused::embedding(self.token_type_embeddings.weight.val(), token_type_ids);
        let x = layer_norm(&self.layer_norm, self.layer_norm_eps, x, None);
        Ok(fused::dropout(x, self.dropout.prob))
    }
}
