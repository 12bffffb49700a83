//! Packed batches: the real tokens of a padded batch without its padding, for the layers that
//! work token by token (projections, feed-forward, LayerNorm), so they skip the padding's work.

use std::sync::Arc;

use attn_kernels::fused;
use burn::tensor::{Int, Tensor, backend::Backend};

/// A batch packs when at least this share of its [batch, seq] positions is padding.
const MIN_PADDING: f64 = 0.1;

/// Where the real tokens of a padded [batch, seq] batch lie: the packed layout [1, tokens, width]
/// holds them in order, sequence after sequence.
#[derive(Debug, Clone)]
pub struct Packing {
    /// Index of each real token in the flattened [batch * seq] positions, increasing.
    rows: Arc<[usize]>,
    /// Real tokens of each sequence.
    lengths: Arc<[usize]>,
    batch: usize,
    seq: usize,
}

impl Packing {
    /// The packing of a batch with `attention_mask` [batch, seq] (1 for tokens, 0 for padding),
    /// or `None` where less than a tenth of it is padding, and on the GPU backends: they compile
    /// and autotune kernels for each new shape, and every packed batch would be one.
    pub fn of<B: Backend>(attention_mask: &Tensor<B, 2, Int>) -> Option<Self> {
        if !Self::runs_on::<B>() {
            return None;
        }
        let [batch, seq] = attention_mask.dims();
        let mask = attention_mask.to_data().convert::<i64>();
        let mask = mask.as_slice::<i64>().ok()?;
        let rows: Arc<[usize]> = (0..batch * seq).filter(|&i| mask[i] != 0).collect();
        let padding = 1.0 - rows.len() as f64 / (batch * seq).max(1) as f64;
        if padding < MIN_PADDING || rows.is_empty() {
            return None;
        }
        let lengths = (0..batch)
            .map(|b| {
                mask[b * seq..(b + 1) * seq]
                    .iter()
                    .filter(|&&m| m != 0)
                    .count()
            })
            .collect();
        Some(Self {
            rows,
            lengths,
            batch,
            seq,
        })
    }

    /// Whether batches on `B` pack: on the CPU backends, where padding would cost work.
    pub fn runs_on<B: Backend>() -> bool {
        attn_backend::is_cpu::<B>()
    }

    /// The real tokens of each sequence: the packed layout holds them one after another.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The padded length of the batch.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// The real tokens [1, tokens, width] of `x` [batch, seq, width].
    pub fn pack<B: Backend>(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq, width] = x.dims();
        fused::pack_rows(x.reshape([batch * seq, width]), &self.rows).unsqueeze()
    }

    /// `x` [1, tokens, width] back in the padded layout [batch, seq, width], zeros as padding.
    pub fn unpack<B: Backend>(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [_, tokens, width] = x.dims();
        let positions = self.batch * self.seq;
        fused::unpack_rows(x.reshape([tokens, width]), &self.rows, positions)
            .reshape([self.batch, self.seq, width])
    }
}
