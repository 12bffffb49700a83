//! Multi-head scaled dot-product self-attention, with BERT's output projection, residual and LayerNorm.

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::tensor::{Tensor, backend::Backend};

use crate::packing::Packing;
use crate::precision::{Precision, current_precision, linear, matmul};
use crate::weights::{WeightStore, WeightWriter};
use crate::{BertConfig, Result};

/// Multi-head self-attention (HF `BertSelfAttention`): softmax(Q Kᵀ / √d + mask) V over every head.
#[derive(Module, Debug)]
pub struct MultiHeadAttention<B: Backend> {
    /// `query` projection.
    pub query: Linear<B>,
    /// `key` projection.
    pub key: Linear<B>,
    /// `value` projection.
    pub value: Linear<B>,
    /// Dropout on the attention probabilities.
    pub dropout: Dropout,
    /// Number of heads.
    #[module(skip)]
    pub num_heads: usize,
}

impl<B: Backend> MultiHeadAttention<B> {
    /// Builds the projections from `{prefix}.query|key|value.*`.
    pub fn load(
        w: &mut WeightStore,
        prefix: &str,
        c: &BertConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let h = c.hidden_size;
        Ok(Self {
            query: w.linear(&format!("{prefix}.query"), h, h, device)?,
            key: w.linear(&format!("{prefix}.key"), h, h, device)?,
            value: w.linear(&format!("{prefix}.value"), h, h, device)?,
            dropout: DropoutConfig::new(c.attention_probs_dropout_prob).init(),
            num_heads: c.num_attention_heads,
        })
    }

    /// Writes the projections as `{prefix}.query|key|value.*`.
    pub fn save(&self, w: &mut WeightWriter, prefix: &str) {
        w.linear(&format!("{prefix}.query"), &self.query);
        w.linear(&format!("{prefix}.key"), &self.key);
        w.linear(&format!("{prefix}.value"), &self.value);
    }

    /// Attends over `x` [batch, seq, hidden] with `mask_bias` [batch, 1, 1, seq] (0 to keep, a
    /// large negative number to drop) and returns the context [batch, seq, hidden] and, when
    /// `keep_probs`, the probabilities [batch, heads, seq, seq]. With a `packing`, `x` and the
    /// context are the packed tokens [1, tokens, hidden]: the projections are unpacked for the
    /// attention itself.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing<B>>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let qkv = [&self.query, &self.key, &self.value].map(|p| linear(p, x.clone()));
        let Some(packing) = packing else {
            return self.attend(qkv, mask_bias, keep_probs);
        };
        let (context, probs) = self.attend(qkv.map(|t| packing.unpack(t)), mask_bias, keep_probs);
        (packing.pack(context), probs)
    }

    /// Attention from the projections [batch, seq, hidden]: fused where the backend has it.
    fn attend(
        &self,
        qkv: [Tensor<B, 3>; 3],
        mask_bias: Tensor<B, 4>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let args = match current_precision() {
            Precision::F32 => {
                let p = self.dropout.prob;
                match fused::attention(qkv, mask_bias, self.num_heads, p, keep_probs) {
                    Ok(attended) => return attended,
                    Err(args) => args,
                }
            }
            _ => (qkv, mask_bias),
        };
        self.attend_unfused(args, keep_probs)
    }

    /// [`Self::attend`] in burn's ops (the backends and precisions that have no fused
    /// attention): heads split by a reshape, merged by another.
    fn attend_unfused(
        &self,
        ([q, k, v], mask_bias): fused::Unfused<B>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let [batch, seq, hidden] = q.dims();
        let head_dim = hidden / self.num_heads;
        let split = |t: Tensor<B, 3>| {
            t.reshape([batch, seq, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let scores = matmul(split(q), split(k).swap_dims(2, 3));
        let probs = fused::scaled_softmax(scores, mask_bias, 1.0 / (head_dim as f64).sqrt());
        let kept = keep_probs.then(|| probs.clone());
        let context = matmul(fused::dropout(probs, self.dropout.prob), split(v))
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        (context, kept)
    }
}

/// Output projection, dropout, residual and LayerNorm after a sub-layer (HF `BertSelfOutput`/`BertOutput`).
#[derive(Module, Debug)]
pub struct AddNorm<B: Backend> {
    /// `dense` projection.
    pub dense: Linear<B>,
    /// `LayerNorm` of the residual sum.
    pub layer_norm: LayerNorm<B>,
    /// Dropout before the residual sum.
    pub dropout: Dropout,
    /// The LayerNorm's epsilon.
    #[module(skip)]
    pub layer_norm_eps: f64,
}

impl<B: Backend> AddNorm<B> {
    /// Builds it from `{prefix}.dense.*` and `{prefix}.LayerNorm.*`.
    pub fn load(
        w: &mut WeightStore,
        prefix: &str,
        d_in: usize,
        c: &BertConfig,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            dense: w.linear(&format!("{prefix}.dense"), d_in, c.hidden_size, device)?,
            layer_norm: w.layer_norm(
                &format!("{prefix}.LayerNorm"),
                c.hidden_size,
                c.layer_norm_eps,
                device,
            )?,
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
            layer_norm_eps: c.layer_norm_eps,
        })
    }

    /// Writes it as `{prefix}.dense.*` and `{prefix}.LayerNorm.*`.
    pub fn save(&self, w: &mut WeightWriter, prefix: &str) {
        w.linear(&format!("{prefix}.dense"), &self.dense);
        w.layer_norm(&format!("{prefix}.LayerNorm"), &self.layer_norm);
    }

    /// LayerNorm(dropout(dense(x)) + residual).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>, residual: Tensor<B, D>) -> Tensor<B, D> {
        let h = fused::dropout(linear(&self.dense, x), self.dropout.prob);
        layer_norm(&self.layer_norm, self.layer_norm_eps, h, Some(residual))
    }
}

/// `norm(x + residual)` with epsilon `eps`, through the fused LayerNorm (the sum in its own pass
/// where the backend allows; burn's LayerNorm for a norm without bias).
pub(crate) fn layer_norm<B: Backend, const D: usize>(
    norm: &LayerNorm<B>,
    eps: f64,
    x: Tensor<B, D>,
    residual: Option<Tensor<B, D>>,
) -> Tensor<B, D> {
    match (&norm.beta, residual) {
        (Some(beta), Some(r)) => fused::add_layer_norm(x, r, norm.gamma.val(), beta.val(), eps),
        (Some(beta), None) => fused::layer_norm(x, norm.gamma.val(), beta.val(), eps),
        (None, Some(r)) => norm.forward(x + r),
        (None, None) => norm.forward(x),
    }
}

/// Self-attention followed by its output block (HF `BertAttention`).
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    /// `attention.self`: the multi-head attention.
    pub self_attention: MultiHeadAttention<B>,
    /// `attention.output`: projection, residual, LayerNorm.
    pub output: AddNorm<B>,
}

impl<B: Backend> BertAttention<B> {
    /// Builds it from `{prefix}.self.*` and `{prefix}.output.*`.
    pub fn load(
        w: &mut WeightStore,
        prefix: &str,
        c: &BertConfig,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            self_attention: MultiHeadAttention::load(w, &format!("{prefix}.self"), c, device)?,
            output: AddNorm::load(w, &format!("{prefix}.output"), c.hidden_size, c, device)?,
        })
    }

    /// Writes it as `{prefix}.self.*` and `{prefix}.output.*`.
    pub fn save(&self, w: &mut WeightWriter, prefix: &str) {
        self.self_attention.save(w, &format!("{prefix}.self"));
        self.output.save(w, &format!("{prefix}.output"));
    }

    /// Attention with residual and LayerNorm; see [`MultiHeadAttention::forward`].
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing<B>>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let (context, probs) =
            self.self_attention
                .forward(x.clone(), mask_bias, packing, keep_probs);
        (self.output.forward(context, x), probs)
    }
}
