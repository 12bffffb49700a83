//! `AdditiveAttention`: score(q, hᵢ) = vᵀ tanh(W q + U hᵢ), a masked softmax, and Σ αᵢ hᵢ.

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Tensor, TensorData, activation::softmax, backend::Backend};

/// Bahdanau et al. 2015 additive attention (their eq. 6 alignment model).
#[derive(Module, Debug)]
pub struct AdditiveAttention<B: Backend> {
    /// `W`: projects the query.
    pub query: Linear<B>,
    /// `U`: projects each key (encoder state).
    pub key: Linear<B>,
    /// `v`: reduces tanh(W q + U hᵢ) to a score.
    pub score: Linear<B>,
}

impl<B: Backend> AdditiveAttention<B> {
    /// A fresh module for queries of `d_query`, keys of `d_key`, and a hidden alignment width.
    pub fn new(d_query: usize, d_key: usize, d_hidden: usize, device: &B::Device) -> Self {
        Self {
            query: LinearConfig::new(d_query, d_hidden)
                .with_bias(false)
                .init(device),
            key: LinearConfig::new(d_key, d_hidden).init(device),
            score: LinearConfig::new(d_hidden, 1).with_bias(false).init(device),
        }
    }

    /// Attends from `query` [batch, d_query] over `keys` [batch, seq, d_key], row b over its
    /// first `lengths[b]` positions. Returns the context [batch, d_key] and the weights
    /// [batch, seq], which sum to 1 over each row and are exactly 0 on padding.
    pub fn forward(
        &self,
        query: Tensor<B, 2>,
        keys: Tensor<B, 3>,
        lengths: &[usize],
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let projected = self.project_keys(keys.clone());
        self.attend(query, &projected, keys, lengths)
    }

    /// U hᵢ + b for every key [batch, seq, d_key] -> [batch, seq, d_hidden]: computed once per
    /// sentence when one query after another attends over the same keys (a decoder).
    pub fn project_keys(&self, keys: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq, d_key] = keys.dims();
        let d_hidden = self.key.weight.dims()[1];
        let bias = self.key.bias.as_ref().map(|b| b.val());
        let flat = keys.reshape([batch * seq, d_key]);
        fused::linear(flat, self.key.weight.val(), bias).reshape([batch, seq, d_hidden])
    }

    /// [`AdditiveAttention::forward`] with the keys already projected by
    /// [`AdditiveAttention::project_keys`]. On Flex one fused op (whose weights carry no
    /// gradient); elsewhere burn's ops.
    pub fn attend(
        &self,
        query: Tensor<B, 2>,
        projected: &Tensor<B, 3>,
        keys: Tensor<B, 3>,
        lengths: &[usize],
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let q = self.query.forward(query);
        let inputs = (q, projected.clone(), self.score.weight.val(), keys);
        let (q, projected, v, keys) = match fused::additive_attention(inputs, lengths) {
            Ok(attended) => return attended,
            Err(inputs) => inputs,
        };
        let [batch, seq, d_hidden] = projected.dims();
        let d_key = keys.dims()[2];
        let energy =
            fused::tanh(q.unsqueeze_dim::<3>(1) + projected).reshape([batch * seq, d_hidden]);
        let scores = energy.matmul(v).reshape([batch, seq]);
        let padding: Vec<bool> = lengths
            .iter()
            .flat_map(|&len| (0..seq).map(move |t| t >= len))
            .collect();
        let padding = Tensor::<B, 2, Bool>::from_bool(
            TensorData::new(padding, [batch, seq]),
            &scores.device(),
        );
        // f32::MIN, not -inf: exp underflows to exactly 0 and a row that is all padding stays finite.
        let weights = softmax(scores.mask_fill(padding, f32::MIN), 1);
        let context = weights
            .clone()
            .unsqueeze_dim::<3>(1)
            .matmul(keys)
            .reshape([batch, d_key]);
        (context, weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    #[test]
    fn weights_sum_to_one_and_are_zero_on_padding() {
        let device = Default::default();
        let attention = AdditiveAttention::<Flex>::new(6, 4, 5, &device);
        let keys = Tensor::random([2, 3, 4], Distribution::Normal(0.0, 1.0), &device);
        let query = Tensor::random([2, 6], Distribution::Normal(0.0, 1.0), &device);
        let (context, weights) = attention.forward(query, keys.clone(), &[2, 3]);
        let w: Vec<f32> = weights.into_data().convert::<f32>().to_vec().unwrap();
        assert_eq!(w[2], 0.0);
        assert!((w[0] + w[1] - 1.0).abs() < 1e-6);
        assert!((w[3] + w[4] + w[5] - 1.0).abs() < 1e-6);
        // The context is the weighted sum of the keys.
        let k: Vec<f32> = keys.into_data().convert::<f32>().to_vec().unwrap();
        let c: Vec<f32> = context.into_data().convert::<f32>().to_vec().unwrap();
        for d in 0..4 {
            let expected = w[0] * k[d] + w[1] * k[4 + d];
            assert!((c[d] - expected).abs() < 1e-5);
        }
    }
}
