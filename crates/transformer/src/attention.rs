//! Multi-head scaled dot-product self-attention, with BERT's output projection, residual and LayerNorm.

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};

use crate::BertConfig;
use crate::packing::Packing;
use crate::precision::{Precision, current_precision, linear, matmul};

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
    /// The module for `c`, its parameters not yet initialised (see [`crate::WeightStore::load`]).
    pub fn new(c: &BertConfig, device: &B::Device) -> Self {
        let projection = || LinearConfig::new(c.hidden_size, c.hidden_size).init(device);
        Self {
            query: projection(),
            key: projection(),
            value: projection(),
            dropout: DropoutConfig::new(c.attention_probs_dropout_prob).init(),
            num_heads: c.num_attention_heads,
        }
    }

    /// Attends over `x` [batch, seq, hidden] with `mask_bias` [batch, 1, 1, seq] (0 to keep, a
    /// large negative number to drop) and returns the context [batch, seq, hidden] and, when
    /// `keep_probs`, the probabilities [batch, heads, seq, seq]. With a `packing`, `x` and the
    /// context are the packed tokens [1, tokens, hidden]: each sequence attends on its real tokens
    /// where they lie ([`fused::packed_attention`]), or, where that has no fast path or the
    /// probabilities are kept, the projections are unpacked for the attention itself.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let qkv = [&self.query, &self.key, &self.value].map(|p| linear(p, x.clone()));
        let Some(packing) = packing else {
            return self.attend(qkv, mask_bias, keep_probs);
        };
        let qkv = if keep_probs || current_precision() != Precision::F32 {
            qkv
        } else {
            let (lengths, seq) = (packing.lengths(), packing.seq());
            let p = self.dropout.prob;
            match fused::packed_attention(qkv, lengths, seq, self.num_heads, p) {
                Ok(context) => return (context, None),
                Err(qkv) => qkv,
            }
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
    /// The block for a sub-layer of width `d_in` under `c` (parameters not yet initialised).
    pub fn new(d_in: usize, c: &BertConfig, device: &B::Device) -> Self {
        Self {
            dense: LinearConfig::new(d_in, c.hidden_size).init(device),
            layer_norm: LayerNormConfig::new(c.hidden_size)
                .with_epsilon(c.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
            layer_norm_eps: c.layer_norm_eps,
        }
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
    /// The block for `c` (parameters not yet initialised).
    pub fn new(c: &BertConfig, device: &B::Device) -> Self {
        Self {
            self_attention: MultiHeadAttention::new(c, device),
            output: AddNorm::new(c.hidden_size, c, device),
        }
    }

    /// Attention with residual and LayerNorm; see [`MultiHeadAttention::forward`].
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask_bias: Tensor<B, 4>,
        packing: Option<&Packing>,
        keep_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let (context, probs) =
            self.self_attention
                .forward(x.clone(), mask_bias, packing, keep_probs);
        (self.output.forward(context, x), probs)
    }
}
