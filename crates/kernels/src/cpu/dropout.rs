//! Dropout whose mask is a hash of the element index and a seed (recomputed, never stored).

use rayon::prelude::*;

use super::CHUNK;

/// A well-mixed 32-bit hash (Chris Wellons' "lowbias32").
#[inline(always)]
fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// `out = x * mask.scale` where element i is kept and 0 where it is dropped; element i is kept
/// when hash(hash(i ^ seed[0]) ^ seed[1]) < `mask.keep`, so the mask is a function of the seed and
/// the index (the backward pass recomputes it instead of storing it).
pub fn dropout(x: &[f32], mask: DropMask, out: &mut [f32]) {
    let DropMask { seed, keep, scale } = mask;
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(chunk, (o, x))| dropout_chunk(x, (chunk * CHUNK) as u32, seed, keep, scale, o));
}

kernel! {
    /// Elements `first..` of [`dropout`].
    fn dropout_chunk(x: &[f32], first: u32, seed: [u32; 2], keep: u32, scale: f32, out: &mut [f32]) {
        for (i, (o, &x)) in out.iter_mut().zip(x).enumerate() {
            let h = hash(hash((first + i as u32) ^ seed[0]) ^ seed[1]);
            *o = if h < keep { x * scale } else { 0.0 };
        }
    }
}

/// A dropout mask of [`dropout`]: a seed, the keep threshold and the scale 1/(1-p).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropMask {
    /// Seed of the mask.
    pub seed: [u32; 2],
    /// Element i is kept when its hash is below this.
    pub keep: u32,
    /// Scale of the kept elements.
    pub scale: f32,
}

impl DropMask {
    /// `out = x` masked and scaled, x being the probabilities of attention task `task`: the mask of
    /// [`dropout`] over the whole [batch, heads, seq, seq] tensor.
    pub(super) fn apply(&self, x: &[f32], task: usize, out: &mut [f32]) {
        self.apply_from(x, task * x.len(), out);
    }

    /// `out = x` masked and scaled, x being elements `first..` of the whole tensor's mask.
    pub(super) fn apply_from(&self, x: &[f32], first: usize, out: &mut [f32]) {
        dropout_chunk(x, first as u32, self.seed, self.keep, self.scale, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_keeps_the_asked_share_scaled_and_repeats_for_a_seed() {
        let x = vec![1.0; 100_000];
        let (mut a, mut b, mut c) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
        let mask = |seed| DropMask {
            seed,
            keep: (0.9 * 4_294_967_296.0) as u32,
            scale: 1.0 / 0.9,
        };
        dropout(&x, mask([7, 9]), &mut a);
        dropout(&x, mask([7, 9]), &mut b);
        dropout(&x, mask([8, 9]), &mut c);
        assert_eq!(a, b);
        let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / x.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "kept {kept}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        let same = a
            .iter()
            .zip(&c)
            .filter(|(a, c)| (**a == 0.0) == (**c == 0.0))
            .count();
        let agree = same as f64 / x.len() as f64;
        // Independent masks agree on 0.9² + 0.1² = 82 % of the elements.
        assert!(
            (agree - 0.82).abs() < 0.01,
            "masks of two seeds agree on {agree}"
        );
    }
}
