//! `RnnTagger`: embeddings -> bidirectional GRU -> a tag for every word (the recurrent baseline
//! of named-entity recognition, without attention).

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Int, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::model::Cell;
use crate::recurrent::{Recurrent, bidirectional};

/// The tagger's sizes (saved with a run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnTaggerConfig {
    /// The recurrent cell.
    #[serde(default)]
    pub cell: Cell,
    /// Words in the vocabulary (with `<pad>` and `<unk>`).
    pub vocab_size: usize,
    /// Width of the word embeddings.
    pub embed_dim: usize,
    /// Hidden width of each direction.
    pub hidden: usize,
    /// Dropout on the embeddings and on each word's state.
    pub dropout: f64,
    /// Tags.
    pub num_tags: usize,
}

/// A bidirectional recurrent tagger: each word's tag from the states of both directions there.
#[derive(Module, Debug)]
pub struct RnnTagger<B: Backend> {
    /// Word embeddings.
    pub embedding: Embedding<B>,
    /// The left-to-right layer.
    pub forward_rnn: Recurrent<B>,
    /// The right-to-left layer.
    pub backward_rnn: Recurrent<B>,
    /// Dropout on the embeddings and the states.
    pub dropout: Dropout,
    /// Each word's state [2 * hidden] -> its tags' logits.
    pub output: Linear<B>,
}

impl RnnTaggerConfig {
    /// A tagger of these sizes, freshly initialised from the backend's generator.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RnnTagger<B> {
        let cell = || self.cell.layer(self.embed_dim, self.hidden, device);
        RnnTagger {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embed_dim).init(device),
            forward_rnn: cell(),
            backward_rnn: cell(),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(2 * self.hidden, self.num_tags).init(device),
        }
    }
}

impl<B: Backend> RnnTagger<B> {
    /// Logits [batch, seq, tags] of every word of `input_ids` [batch, seq] (rows of `lengths`
    /// words; padding never reaches a real word's state).
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>, lengths: &[usize]) -> Tensor<B, 3> {
        let states = self.states(input_ids, lengths);
        let [batch, seq, width] = states.dims();
        let logits = self.output.forward(states.reshape([batch * seq, width]));
        logits.reshape([batch, seq, self.num_tags()])
    }

    /// Logits [positions, tags] of the words at `positions` of the batch flattened row by row.
    pub fn forward_at(
        &self,
        input_ids: Tensor<B, 2, Int>,
        lengths: &[usize],
        positions: Tensor<B, 1, Int>,
    ) -> Tensor<B, 2> {
        let states = self.states(input_ids, lengths);
        let [batch, seq, width] = states.dims();
        let picked = states.reshape([batch * seq, width]).select(0, positions);
        self.output.forward(picked)
    }

    /// The number of tags.
    pub fn num_tags(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Each word's state of both directions, after dropout: [batch, seq, 2 * hidden].
    fn states(&self, input_ids: Tensor<B, 2, Int>, lengths: &[usize]) -> Tensor<B, 3> {
        let x = fused::embedding(self.embedding.weight.val(), input_ids);
        let x = self.dropout.forward(x);
        let (states, _) = bidirectional(&self.forward_rnn, &self.backward_rnn, x, lengths);
        self.dropout.forward(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn padding_changes_no_word_and_positions_pick_rows() {
        let config = RnnTaggerConfig {
            cell: Cell::Gru,
            vocab_size: 20,
            embed_dim: 8,
            hidden: 6,
            dropout: 0.0,
            num_tags: 3,
        };
        let m = config.init::<Flex>(&Default::default());
        let ids =
            |v: Vec<i64>, n| Tensor::from_data(TensorData::new(v, [1, n]), &Default::default());
        let floats = |t: Tensor<Flex, 3>| t.into_data().convert::<f32>().to_vec::<f32>().unwrap();
        let short = floats(m.forward(ids(vec![3, 4, 5], 3), &[3]));
        let padded = floats(m.forward(ids(vec![3, 4, 5, 0, 0], 5), &[3]));
        for (a, b) in short.iter().zip(&padded[..9]) {
            assert!((a - b).abs() < 1e-6, "{short:?} vs {padded:?}");
        }
        let positions = Tensor::from_data(TensorData::new(vec![2i64], [1]), &Default::default());
        let picked = m.forward_at(ids(vec![3, 4, 5], 3), &[3], positions);
        let picked: Vec<f32> = picked.into_data().convert::<f32>().to_vec().unwrap();
        assert_eq!(picked, short[6..9]);
    }
}
