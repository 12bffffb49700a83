//! `BertLayer`: attention, then the feed-forward block with exact GELU; and `BertEncoder`, N of them.

use attn_kernels::fused::gelu;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};

use crate::BertConfig;
use crate::attention::{AddNorm, BertAttention};
use crate::packing::Packing;
use crate::precision::linear;

/// The feed-forward block's first projection (HF `BertIntermediate`).
#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    /// `dense`: hidden -> intermediate.
    pub dense: Linear<B>,
}

/// One post-LN transformer layer (HF `BertLayer`).
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    /// `attention`: self-attention with its output block.
    pub attention: BertAttention<B>,
    /// `intermediate`: hidden -> intermediate, followed by GELU.
    pub intermediate: BertIntermediate<B>,
    /// `output`: intermediate -> hidden, residual, LayerNorm.
    pub output: AddNorm<B>,
}

impl<B: Backend> BertLayer<B> {
    /// The layer for `c` (parameters not yet initialised).
    pub fn new(c: &BertConfig, device: &B::Device) -> Self {
        Self {
            attention: BertAttention::new(c, device),
            intermediate: BertIntermediate {
                dense: LinearConfig::new(c.hidden_size, c.intermediate_size).init(device),
            },
            output: AddNorm::new(c.intermediate_size, c, device),
        }
    }

    /// Runs the layer; see [`crate::MultiHeadAttention::forward`] for the mask, packing and
    /// probabilities.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let (x, probs) = self.attention.forward(x, mask_bias, packing, keep_probs);
        let hidden = gelu(linear(&self.intermediate.dense, x.clone()));
        (self.output.forward(hidden, x), probs)
    }
}

/// A stack of `BertLayer`s (HF `BertEncoder`).
#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend> {
    /// `encoder.layer.{i}`.
    pub layer: Vec<BertLayer<B>>,
}

impl<B: Backend> BertEncoder<B> {
    /// `num_hidden_layers` layers for `c` (parameters not yet initialised).
    pub fn new(c: &BertConfig, device: &B::Device) -> Self {
        let layer = (0..c.num_hidden_layers)
            .map(|_| BertLayer::new(c, device))
            .collect();
        Self { layer }
    }

    /// Runs every layer (on the packed tokens with a `packing`); returns the last hidden state
    /// and, when `keep_probs`, each layer's attention probabilities.
    pub fn forward(
        &self,
        mut x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Vec<Tensor<B, 4>>) {
        let mut all = Vec::new();
        for layer in &self.layer {
            let (next, probs) = layer.forward(x, mask_bias.clone(), packing, keep_probs);
            x = next;
            all.extend(probs);
        }
        (x, all)
    }
}
