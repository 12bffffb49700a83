//! `BertLayer`: attention, then the feed-forward block with exact GELU; and `BertEncoder`, N of them.

use attn_kernels::fused::gelu;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Tensor, backend::Backend};

use crate::attention::{AddNorm, BertAttention};
use crate::packing::Packing;
use crate::precision::linear;
use crate::weights::{WeightStore, WeightWriter};
use crate::{BertConfig, Result};

/// One post-LN transformer layer (HF `BertLayer`).
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    /// `attention`: self-attention with its output block.
    pub attention: BertAttention<B>,
    /// `intermediate.dense`: hidden -> intermediate, followed by GELU.
    pub intermediate: Linear<B>,
    /// `output`: intermediate -> hidden, residual, LayerNorm.
    pub output: AddNorm<B>,
}

impl<B: Backend> BertLayer<B> {
    /// Builds the layer from `{prefix}.*`.
    pub fn load(
        w: &mut WeightStore,
        prefix: &str,
        c: &BertConfig,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            attention: BertAttention::load(w, &format!("{prefix}.attention"), c, device)?,
            intermediate: w.linear(
                &format!("{prefix}.intermediate.dense"),
                c.hidden_size,
                c.intermediate_size,
                device,
            )?,
            output: AddNorm::load(
                w,
                &format!("{prefix}.output"),
                c.intermediate_size,
                c,
                device,
            )?,
        })
    }

    /// Writes the layer as `{prefix}.*`.
    pub fn save(&self, w: &mut WeightWriter, prefix: &str) {
        self.attention.save(w, &format!("{prefix}.attention"));
        w.linear(&format!("{prefix}.intermediate.dense"), &self.intermediate);
        self.output.save(w, &format!("{prefix}.output"));
    }

    /// Runs the layer; see [`crate::MultiHeadAttention::forward`] for the mask, packing and
    /// probabilities.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing<B>>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let (x, probs) = self.attention.forward(x, mask_bias, packing, keep_probs);
        let hidden = gelu(linear(&self.intermediate, x.clone()));
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
    /// Builds `num_hidden_layers` layers from `encoder.layer.{i}.*`.
    pub fn load(w: &mut WeightStore, c: &BertConfig, device: &B::Device) -> Result<Self> {
        let layer = (0..c.num_hidden_layers)
            .map(|i| BertLayer::load(w, &format!("encoder.layer.{i}"), c, device))
            .collect::<Result<_>>()?;
        Ok(Self { layer })
    }

    /// Writes the layers as `{prefix}encoder.layer.{i}.*`.
    pub fn save(&self, w: &mut WeightWriter, prefix: &str) {
        for (i, layer) in self.layer.iter().enumerate() {
            layer.save(w, &format!("{prefix}encoder.layer.{i}"));
        }
    }

    /// Runs every layer (on the packed tokens with a `packing`); returns the last hidden state
    /// and, when `keep_probs`, each layer's attention probabilities.
    pub fn forward(
        &self,
        mut x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing<B>>,
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
