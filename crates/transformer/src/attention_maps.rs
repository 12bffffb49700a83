//! One text's self-attention, every layer and head, as plain numbers: what `attn attend` draws
//! and `attn serve`'s `/attend` answers.

use burn::tensor::backend::Backend;
use serde::Serialize;

use crate::Result;
use crate::model::{BertInput, BertModel};
use crate::tokenizer::Encoded;

/// The attention probabilities of one text: `probs[layer][head][query][key]` over `tokens`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttentionMaps {
    /// The word pieces, special tokens included.
    pub tokens: Vec<String>,
    /// Each layer's heads' [query][key] matrices; each row sums to 1.
    pub probs: Vec<Vec<Vec<Vec<f32>>>>,
}

impl AttentionMaps {
    /// The number of layers and of heads per layer.
    pub fn shape(&self) -> (usize, usize) {
        (self.probs.len(), self.probs.first().map_or(0, Vec::len))
    }
}

impl<B: Backend> BertModel<B> {
    /// Runs `encoded` alone (unpadded, so no mask changes a number) and returns every layer's
    /// and head's attention probabilities.
    pub fn attention_maps(&self, encoded: &Encoded, device: &B::Device) -> Result<AttentionMaps> {
        let input = BertInput::from_encoded(std::slice::from_ref(encoded), 0, device);
        let attentions = self.forward(input, true)?.attentions;
        let len = encoded.ids.len();
        let probs = (attentions.into_iter())
            .map(|layer| {
                let [_, heads, _, _] = layer.dims();
                let flat: Vec<f32> = layer.into_data().convert::<f32>().to_vec().expect("f32");
                (0..heads)
                    .map(|h| {
                        (0..len)
                            .map(|q| flat[(h * len + q) * len..(h * len + q + 1) * len].to_vec())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Ok(AttentionMaps {
            tokens: encoded.tokens.clone(),
            probs,
        })
    }
}
