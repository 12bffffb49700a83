//! Packed batches: the real tokens of a padded batch without its padding, for the layers that
//! work token by token (projections, feed-forward, LayerNorm), so they skip the padding's work.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData, backend::Backend};

/// A batch packs when at least this share of its [batch, seq] positions is padding.
const MIN_PADDING: f64 = 0.1;

/// Where the real tokens of a padded [batch, seq] batch lie: the packed layout [1, tokens, width]
/// holds them in order, sequence after sequence.
#[derive(Debug, Clone)]
pub struct Packing<B: Backend> {
    /// Index of each real token in the flattened [batch * seq] positions.
    rows: Tensor<B, 1, Int>,
    tokens: usize,
    batch: usize,
    seq: usize,
}

impl<B: Backend> Packing<B> {
    /// The packing of a batch with `attention_mask` [batch, seq] (1 for tokens, 0 for padding),
    /// or `None` where less than a tenth of it is padding, and on the GPU backends: they compile
    /// and autotune kernels for each new shape, and every packed batch would be one.
    pub fn of(attention_mask: &Tensor<B, 2, Int>) -> Option<Self> {
        if !attn_backend::is_cpu::<B>() {
            return None;
        }
        let [batch, seq] = attention_mask.dims();
        let mask = attention_mask.to_data().convert::<i64>();
        let mask = mask.as_slice::<i64>().ok()?;
        let rows: Vec<i64> = (0..(batch * seq) as i64)
            .filter(|&i| mask[i as usize] != 0)
            .collect();
        let padding = 1.0 - rows.len() as f64 / (batch * seq).max(1) as f64;
        if padding < MIN_PADDING || rows.is_empty() {
            return None;
        }
        let tokens = rows.len();
        let rows = Tensor::from_data(TensorData::new(rows, [tokens]), &attention_mask.device());
        Some(Self {
            rows,
            tokens,
            batch,
            seq,
        })
    }

    /// The real tokens [1, tokens, width] of `x` [batch, seq, width].
    pub fn pack(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq, width] = x.dims();
        x.reshape([batch * seq, width])
            .select(0, self.rows.clone())
            .reshape([1, self.tokens, width])
    }

    /// `x` [1, tokens, width] back in the padded layout [batch, seq, width], zeros as padding.
    pub fn unpack(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [_, tokens, width] = x.dims();
        Tensor::zeros([self.batch * self.seq, width], &x.device())
            .select_assign(
                0,
                self.rows.clone(),
                x.reshape([tokens, width]),
                IndexingUpdateOp::Add,
            )
            .reshape([self.batch, self.seq, width])
    }
}
