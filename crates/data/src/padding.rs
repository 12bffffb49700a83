//! How long a padded batch is on the GPU backends: the next of a few fixed lengths, so that a
//! run meets few tensor shapes (burn's GPU backends compile and autotune kernels for each).

use crate::{DataError, Result};

/// The most lengths [`PadLengths`] holds.
pub const MAX_PAD_LENGTHS: usize = 8;

/// Lengths a batch is padded up to: the shortest that holds its longest row, or, past the
/// longest of them, the next multiple of [`PadLengths::MULTIPLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PadLengths {
    lengths: [usize; MAX_PAD_LENGTHS],
    count: usize,
}

impl PadLengths {
    /// Rows longer than every length are padded to a multiple of this (GPU matrix kernels are
    /// tuned per power of two and trailing zeros of a dimension).
    pub const MULTIPLE: usize = 16;

    /// The default of `--pad-to`: four buckets up to BERT's usual 128 tokens.
    pub fn standard() -> Self {
        Self::new(&[32, 64, 96, 128]).expect("four positive lengths")
    }

    /// One to [`MAX_PAD_LENGTHS`] positive lengths, in any order.
    pub fn new(lengths: &[usize]) -> Result<Self> {
        let mut sorted = lengths.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if matches!(sorted.first(), None | Some(0)) || sorted.len() > MAX_PAD_LENGTHS {
            return Err(DataError::Other(format!(
                "pad lengths {lengths:?}: expected 1 to {MAX_PAD_LENGTHS} positive lengths"
            )));
        }
        let mut held = [0; MAX_PAD_LENGTHS];
        held[..sorted.len()].copy_from_slice(&sorted);
        Ok(Self {
            lengths: held,
            count: sorted.len(),
        })
    }

    /// The lengths, shortest first.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths[..self.count]
    }

    /// The padded length of a batch whose longest row is `longest`, never above `max_len` unless
    /// the row itself is.
    pub fn padded(&self, longest: usize, max_len: usize) -> usize {
        let up = self
            .lengths()
            .iter()
            .copied()
            .find(|&l| l >= longest)
            .unwrap_or_else(|| longest.next_multiple_of(Self::MULTIPLE));
        up.min(max_len.max(longest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_go_up_to_the_next_length_then_to_multiples_of_16() {
        let pad = PadLengths::new(&[64, 32, 128, 96]).unwrap();
        assert_eq!(pad.lengths(), [32, 64, 96, 128]);
        let cases = [
            (1, 32),
            (32, 32),
            (33, 64),
            (97, 128),
            (129, 144),
            (200, 208),
        ];
        for (longest, padded) in cases {
            assert_eq!(pad.padded(longest, 512), padded, "{longest}");
        }
        // Never past the longest a row may be, unless a row is longer.
        assert_eq!(pad.padded(33, 50), 50);
        assert_eq!(pad.padded(60, 50), 60);
        assert_eq!(PadLengths::new(&[16]).unwrap().padded(17, 512), 32);
    }

    #[test]
    fn none_zero_or_too_many_lengths_are_refused() {
        assert!(PadLengths::new(&[]).is_err());
        assert!(PadLengths::new(&[0, 32]).is_err());
        assert!(PadLengths::new(&[16, 32, 48, 64, 80, 96, 112, 128, 144]).is_err());
    }
}
