//! `RnnAttentionClassifier`: embeddings -> bidirectional GRU -> additive attention -> classes.

use burn::module::Module;
use burn::nn::gru::{Gru, GruConfig};
use burn::nn::lstm::{Lstm, LstmConfig};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Int, Tensor, TensorData, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::AdditiveAttention;

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

/// One direction of the encoder: a GRU or an LSTM over [batch, seq, d] -> [batch, seq, hidden].
// Built once per model: the variants' sizes do not matter (and burn modules cannot be boxed).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Recurrent<B: Backend> {
    /// A GRU.
    Gru(Gru<B>),
    /// An LSTM.
    Lstm(Lstm<B>),
}

impl<B: Backend> Recurrent<B> {
    /// The hidden state at every position, starting from zeros.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        match self {
            Self::Gru(gru) => gru.forward(x, None),
            Self::Lstm(lstm) => lstm.forward(x, None).0,
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
        let cell = || match self.cell {
            Cell::Gru => {
                Recurrent::Gru(GruConfig::new(self.embed_dim, self.hidden, true).init(device))
            }
            Cell::Lstm => {
                Recurrent::Lstm(LstmConfig::new(self.embed_dim, self.hidden, true).init(device))
            }
        };
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

/// Reverses each row of `x` [batch, seq, d] within its length (padding stays in place), so that a
/// left-to-right pass over the result reads each sequence right to left without seeing padding.
/// The function is its own inverse.
pub fn reverse_within_lengths<B: Backend>(x: Tensor<B, 3>, lengths: &[usize]) -> Tensor<B, 3> {
    let [batch, seq, d] = x.dims();
    let mut idx = Vec::with_capacity(batch * seq);
    for &len in lengths {
        idx.extend((0..seq).map(|t| {
            if t < len {
                (len - 1 - t) as i64
            } else {
                t as i64
            }
        }));
    }
    let idx = Tensor::<B, 2, Int>::from_data(TensorData::new(idx, [batch, seq]), &x.device());
    x.gather(1, idx.unsqueeze_dim::<3>(2).expand([batch, seq, d]))
}

/// The state at position `len - 1` of each row of `states` [batch, seq, d] -> [batch, d].
fn last_states<B: Backend>(states: Tensor<B, 3>, lengths: &[usize]) -> Tensor<B, 2> {
    let [batch, _, d] = states.dims();
    let idx: Vec<i64> = lengths.iter().map(|&l| l.max(1) as i64 - 1).collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [batch]), &states.device());
    states
        .gather(1, idx.reshape([batch, 1, 1]).expand([batch, 1, d]))
        .reshape([batch, d])
}

impl<B: Backend> RnnAttentionClassifier<B> {
    /// Classifies `input_ids` [batch, seq] whose rows hold `lengths` real tokens (then padding).
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>, lengths: &[usize]) -> RnnOutput<B> {
        let [batch, seq] = input_ids.dims();
        let x = self.dropout.forward(self.embedding.forward(input_ids));
        let forward = self.forward_rnn.forward(x.clone());
        let backward_reversed = self
            .backward_rnn
            .forward(reverse_within_lengths(x, lengths));
        let query = Tensor::cat(
            vec![
                last_states(forward.clone(), lengths),
                last_states(backward_reversed.clone(), lengths),
            ],
            1,
        );
        let states = Tensor::cat(
            vec![forward, reverse_within_lengths(backward_reversed, lengths)],
            2,
        );
        let padding: Vec<bool> = lengths
            .iter()
            .flat_map(|&len| (0..seq).map(move |t| t >= len))
            .collect();
        let padding = Tensor::<B, 2, Bool>::from_bool(
            TensorData::new(padding, [batch, seq]),
            &states.device(),
        );
        let (context, weights) = self.attention.forward(query.clone(), states, padding);
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
    fn reversal_within_lengths_keeps_padding_in_place() {
        let x = Tensor::<Flex, 3>::from_data(
            TensorData::new((0..8).map(|v| v as f32).collect::<Vec<_>>(), [2, 4, 1]),
            &Default::default(),
        );
        let r = reverse_within_lengths(x.clone(), &[3, 4]);
        assert_eq!(floats(r.clone()), [2.0, 1.0, 0.0, 3.0, 7.0, 6.0, 5.0, 4.0]);
        assert_eq!(floats(reverse_within_lengths(r, &[3, 4])), floats(x));
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
