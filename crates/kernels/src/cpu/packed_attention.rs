//! Multi-head attention over packed sequences: the tokens of each sequence one after another in
//! [tokens, width] projections, one rayon task per (sequence, head) on its real length, so no
//! work goes to padding and nothing is put back into a padded layout.

use rayon::prelude::*;

use super::DropMask;
use super::attention::{Blocks, softmax_block};
use super::gemm::{Dest, Operand, gemm_raw, matmul};
use super::softmax::softmax_backward_rows;

/// Where the sequences of a packed attention lie: task t is head t % heads of sequence t / heads.
#[derive(Debug, Clone)]
pub struct Packed {
    /// Real tokens of each sequence.
    lengths: Vec<usize>,
    /// The first row of each sequence.
    starts: Vec<usize>,
    /// The offset of each task's [n, n] probabilities in [`Packed::probs`]' buffer.
    probs: Vec<usize>,
    /// Heads.
    heads: usize,
    /// Size of each head.
    dim: usize,
    /// The padded length the sequences stand for: dropout hashes each probability's place in
    /// a padded [seq, seq] block, so a packed batch draws the padded batch's mask.
    seq: usize,
}

impl Packed {
    /// Sequences of `lengths` tokens packed, `heads` heads of size `dim`, standing for a batch
    /// padded to `seq` (at least the longest).
    pub fn new(lengths: &[usize], heads: usize, dim: usize, seq: usize) -> Self {
        assert!(lengths.iter().all(|&n| n <= seq), "no sequence over {seq}");
        Self {
            lengths: lengths.to_vec(),
            starts: offsets(lengths.iter().copied()),
            probs: offsets(
                lengths
                    .iter()
                    .flat_map(|&n| std::iter::repeat_n(n * n, heads)),
            ),
            heads,
            dim,
            seq,
        }
    }

    /// Columns of the projections: heads * dim.
    pub fn width(&self) -> usize {
        self.heads * self.dim
    }

    /// Elements of the projections: tokens * width.
    pub fn elements(&self) -> usize {
        self.lengths.iter().sum::<usize>() * self.width()
    }

    /// Elements of the probabilities: Σ heads · n².
    pub fn probs_len(&self) -> usize {
        self.lengths.iter().map(|n| self.heads * n * n).sum()
    }

    /// Tokens of task `t`'s sequence.
    fn rows(&self, t: usize) -> usize {
        self.lengths[t / self.heads]
    }

    /// Offset of task `t`'s first element in a projection.
    fn offset(&self, t: usize) -> usize {
        self.starts[t / self.heads] * self.width() + (t % self.heads) * self.dim
    }

    /// Task `t`'s head block [n, dim] of a projection `x`.
    fn block<'a>(&self, x: &'a [f32], t: usize) -> Operand<'a> {
        Operand::rows(&x[self.offset(t)..], self.width())
    }

    /// The transpose [dim, n] of [`Packed::block`].
    fn block_t<'a>(&self, x: &'a [f32], t: usize) -> Operand<'a> {
        Operand::transposed(&x[self.offset(t)..], self.width())
    }

    /// Task `t`'s probabilities [n, n] in `probs`.
    fn probs_of<'a>(&self, probs: &'a [f32], t: usize) -> &'a [f32] {
        let n = self.rows(t);
        &probs[self.probs[t]..self.probs[t] + n * n]
    }

    /// `p` [n, n] of task `t` through `mask`, at the places of the padded [seq, seq] block.
    fn dropped(&self, mask: DropMask, p: &[f32], t: usize) -> Vec<f32> {
        let (n, s) = (self.rows(t), self.seq);
        let mut out = vec![0.0; n * n];
        if n == 0 {
            return out;
        }
        for (i, (o, p)) in out.chunks_mut(n).zip(p.chunks(n)).enumerate() {
            mask.apply_from(p, t * s * s + i * s, o);
        }
        out
    }

    /// Runs `task` for every task in parallel and returns the [tokens, width] matrix whose head
    /// blocks they wrote through [`Packed::write`].
    fn per_head(&self, task: impl Fn(Blocks, usize) + Sync) -> Vec<f32> {
        let mut out: Vec<f32> = Vec::with_capacity(self.elements());
        let blocks = Blocks(out.as_mut_ptr());
        (0..self.lengths.len() * self.heads)
            .into_par_iter()
            .for_each(|t| task(blocks, t));
        // SAFETY: the tasks' head blocks tile the matrix, and `Packed::write` writes every
        // element of its block (gemm without reading the output), so all are initialised.
        unsafe { out.set_len(self.elements()) };
        out
    }

    /// Writes `a` · `b` [n, dim] (inner size `k`) into task `t`'s head block of `out`.
    ///
    /// # Safety
    /// `out` must hold [`Packed::elements`] elements, and no other task may write this block.
    unsafe fn write(&self, out: Blocks, t: usize, k: usize, a: Operand, b: Operand) {
        let n = self.rows(t);
        if n == 0 {
            return;
        }
        // SAFETY: the block's last element, offset + (n - 1) * width + dim - 1, lies within
        // `Packed::elements`; the caller vouches that the block is this task's alone.
        unsafe {
            let ptr = out.at(self.offset(t));
            let out = Dest {
                ptr,
                row_stride: self.width(),
                accumulate: false,
            };
            gemm_raw(out, [n, k, self.dim], a, b, false)
        }
    }
}

/// Where each of blocks of `sizes` starts when they lie one after another.
fn offsets(sizes: impl Iterator<Item = usize>) -> Vec<usize> {
    sizes
        .scan(0, |at, size| {
            *at += size;
            Some(*at - size)
        })
        .collect()
}

/// Multi-head attention softmax(scale · q kᵀ) v over the packed sequences of `sh`: `q`, `k`, `v`
/// are [tokens, width] and every token attends to the tokens of its own sequence alone. Returns
/// the context [tokens, width], equal to [`super::attention`]'s at the real tokens of the same
/// sequences padded at their ends, and, when `keep_probs` (for the backward step), the
/// probabilities before dropout, task by task [`Packed::probs_len`].
pub fn packed_attention(
    [q, k, v]: [&[f32]; 3],
    sh: &Packed,
    scale: f32,
    dropout: Option<DropMask>,
    keep_probs: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    assert!(
        [q.len(), k.len(), v.len()]
            .iter()
            .all(|&l| l == sh.elements()),
        "the projections hold the packed tokens of the lengths"
    );
    // The bias of a key that is kept, for `softmax_block`: the padded path's arithmetic.
    let kept = vec![0.0; sh.seq];
    let mut probs = keep_probs.then(|| vec![0.0; sh.probs_len()]);
    let probs_at = Blocks(
        probs
            .as_mut()
            .map_or(std::ptr::null_mut(), |p| p.as_mut_ptr()),
    );
    let context = sh.per_head(|out, t| {
        let n = sh.rows(t);
        if n == 0 {
            return;
        }
        let mut p = Vec::new();
        matmul(
            &mut p,
            false,
            [n, sh.dim, n],
            sh.block(q, t),
            sh.block_t(k, t),
        );
        softmax_block(&mut p, &kept[..n], scale);
        if keep_probs {
            // SAFETY: the buffer holds every task's [n, n] block, and block t is this task's.
            unsafe { probs_at.elements(sh.probs[t], n * n) }.copy_from_slice(&p);
        }
        let p = match dropout {
            Some(mask) => sh.dropped(mask, &p, t),
            None => p,
        };
        // SAFETY: `per_head` gives each task its own block of a buffer of `Packed::elements`.
        unsafe { sh.write(out, t, n, Operand::rows(&p, n), sh.block(v, t)) };
    });
    (context, probs)
}

/// The gradients (dq, dk, dv) of [`packed_attention`] from its inputs, its probabilities and the
/// gradient `g` [tokens, width] of its context, one rayon task per (sequence, head).
pub fn packed_attention_backward(
    [q, k, v]: [&[f32]; 3],
    probs: &[f32],
    g: &[f32],
    sh: &Packed,
    scale: f32,
    dropout: Option<DropMask>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert!(
        [q.len(), k.len(), v.len(), g.len()]
            .iter()
            .all(|&l| l == sh.elements())
    );
    assert_eq!(probs.len(), sh.probs_len());
    // dv = P'ᵀ g with P' the probabilities after dropout.
    let dv = sh.per_head(|out, t| {
        let (n, p) = (sh.rows(t), sh.probs_of(probs, t));
        let kept = dropout.map(|mask| sh.dropped(mask, p, t));
        let kept = kept.as_deref().unwrap_or(p);
        // SAFETY: `per_head` gives each task its own block of a buffer of `Packed::elements`.
        unsafe { sh.write(out, t, n, Operand::transposed(kept, n), sh.block(g, t)) };
    });
    // dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), dP = g vᵀ through the dropout mask.
    let scores_grad = |t: usize| {
        let n = sh.rows(t);
        if n == 0 {
            return Vec::new();
        }
        let mut dp = Vec::new();
        matmul(
            &mut dp,
            false,
            [n, sh.dim, n],
            sh.block(g, t),
            sh.block_t(v, t),
        );
        if let Some(mask) = dropout {
            dp = sh.dropped(mask, &dp, t);
        }
        let mut ds = vec![0.0; n * n];
        softmax_backward_rows(sh.probs_of(probs, t), &dp, n, scale, &mut ds);
        ds
    };
    // dq = dS k and dk = dSᵀ q: one pass computes dS for both, kept per task between them.
    let ds: Vec<Vec<f32>> = (0..sh.lengths.len() * sh.heads)
        .into_par_iter()
        .map(scores_grad)
        .collect();
    let dq = sh.per_head(|out, t| {
        let n = sh.rows(t);
        // SAFETY: as for dv.
        unsafe { sh.write(out, t, n, Operand::rows(&ds[t], n), sh.block(k, t)) }
    });
    let dk = sh.per_head(|out, t| {
        let n = sh.rows(t);
        // SAFETY: as for dv.
        unsafe { sh.write(out, t, n, Operand::transposed(&ds[t], n), sh.block(q, t)) }
    });
    (dq, dk, dv)
}
