//! `RnnAttentionClassifier`: embeddings -> bidirectional GRU -> additive attention -> classes.

use attn_kernels::fused;
use burn::module::Module;
use burn::nn::gru::GruConfig;
use burn::nn::lstm::LstmConfig;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Int, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::AdditiveAttention;
use crate::recurrent::{Recurrent, bidirectional};

/// The recurrent cell of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// Gated recurrent unit (the default, as in Bahdanau et al.).
    #[default]
    Gru,
    /// Long short-term memory.
    Lstm,
}

impl Cell {
    /// A recurrent layer of this cell from `input` to `hidden` features (with biases).
    pub fn layer<B: Backend>(
        self,
        input: usize,
        hidden: usize,
        device: &B::Device,
    ) -> Recurrent<B> {
        match self {
            Self::Gru => Recurrent::Gru(GruConfig::new(input, hidden, true).init(device)),
            Self::Lstm => Recurrent::Lstm(LstmConfig::new(input, hidden, true).init(device)),
        }
    }
}

/// A cell name that is neither `gru` nor `lstm`.
#[derive(Debug, thiserror::Error)]
#[error("unknown cell `{0}`: expected gru or lstm")]
pub struct UnknownCell(pub String);

impl std::str::FromStr for Cell {
    type Err = UnknownCell;
    fn from_str(s: &str) -> Result<Self, UnknownCell> {
        match s {
            "gru" => Ok(Self::Gru),
            "lstm" => Ok(Self::Lstm),
            other => Err(UnknownCell(other.to_string())),
        }
    }
}

/// Sizes of the baseline; saved with a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    /// The recurrent cell.
    #[serde(default)]
    pub cell: Cell,
    /// Words in the vocabulary (id 0 is padding).
    pub vocab_size: usize,
    /// Width of the word embeddings.
    pub embed_dim: usize,
    /// Hidden width of each GRU direction.
    pub hidden: usize,
    /// Width of the attention's alignment layer.
    pub attention_dim: usize,
    /// Dropout on embeddings and on the classifier input.
    pub dropout: f64,
    /// Number of classes.
    pub num_classes: usize,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct RnnOutput<B: Backend> {
    /// Logits [batch, classes].
    pub logits: Tensor<B, 2>,
    /// Attention weights over the tokens [batch, seq] (0 on padding).
    pub weights: Tensor<B, 2>,
}

/// A BiGRU encoder with Bahdanau additive attention and a linear classifier over
/// [final encoder state; attention context].
#[derive(Module, Debug)]
pub struct RnnAttentionClassifier<B: Backend> {
    /// Word embeddings.
    pub embedding: Embedding<B>,
    /// Left-to-right recurrence.
    pub forward_rnn: Recurrent<B>,
    /// Right-to-left recurrence (run on each sequence reversed within its own length).
    pub backward_rnn: Recurrent<B>,
    /// Attention from the final state over the encoder states.
    pub attention: AdditiveAttention<B>,
    /// Dropout.
    pub dropout: Dropout,
    /// Classifier.
    pub output: Linear<B>,
}

impl RnnConfig {
    /// A freshly initialised model.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RnnAttentionClassifier<B> {
        let state = 2 * self.hidden;
        let cell = || self.cell.layer(self.embed_dim, self.hidden, device);
        RnnAttentionClassifier {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embed_dim).init(device),
            forward_rnn: cell(),
            backward_rnn: cell(),
            attention: AdditiveAttention::new(state, state, self.attention_dim, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(2 * state, self.num_classes).init(device),
        }
    }
}

impl<B: Backend> RnnAttentionClassifier<B> {
    /// Classifies `input_ids` [batch, seq] whose rows hold `lengths` real tokens (then padding).
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>, lengths: &[usize]) -> RnnOutput<B> {
        let x = fused::embedding(self.embedding.weight.val(), input_ids);
        let x = self.dropout.forward(x);
        let (states, query) = bidirectional(&self.forward_rnn, &self.backward_rnn, x, lengths);
        let (context, weights) = self.attention.forward(query.clone(), states, lengths);
        let features = self.dropout.forward(Tensor::cat(vec![query, context], 1));
        RnnOutput {
            logits: self.output.forward(features),
            weights,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    fn model(cell: Cell) -> RnnAttentionClassifier<Flex> {
        let config = RnnConfig {
            cell,
            vocab_size: 20,
            embed_dim: 8,
            hidden: 6,
            attention_dim: 5,
            dropout: 0.0,
            num_classes: 3,
        };
        config.init(&Default::default())
    }

    fn ids(rows: Vec<i64>, shape: [usize; 2]) -> Tensor<Flex, 2, Int> {
        Tensor::from_data(TensorData::new(rows, shape), &Default::default())
    }

    fn floats<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().to_vec().unwrap()
    }

    #[test]
    fn extra_padding_changes_nothing() {
        for cell in [Cell::Gru, Cell::Lstm] {
            padding_invariance(model(cell));
        }
    }

    fn padding_invariance(m: RnnAttentionClassifier<Flex>) {
        let short = m.forward(ids(vec![3, 4, 5], [1, 3]), &[3]);
        let padded = m.forward(ids(vec![3, 4, 5, 0, 0, 0, 0], [1, 7]), &[3]);
        let (a, b) = (floats(short.logits), floats(padded.logits));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
        let w = floats(padded.weights);
        assert!(w[3..].iter().all(|&x| x == 0.0), "{w:?}");
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let w_short = floats(short.weights);
        for (x, y) in w_short.iter().zip(&w) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}
