//! Multi-head attention on the heads where they lie in the [batch * seq, width] projections: one
//! rayon task per (sequence, head), single-threaded matrix products, no split or merge copies.

use rayon::prelude::*;

use super::DropMask;
use super::gemm::{Dest, Operand, gemm_raw, matmul};
use super::softmax::{normalise, softmax_backward_rows};

/// The sizes of a multi-head attention whose queries, keys and values are [batch * seq, width]
/// row-major matrices, head h in columns h * dim .. (h + 1) * dim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    /// Sequences.
    pub batch: usize,
    /// Tokens per sequence (padded).
    pub seq: usize,
    /// Heads.
    pub heads: usize,
    /// Size of each head.
    pub dim: usize,
}

impl Heads {
    /// Columns of the projections: heads * dim.
    pub fn width(&self) -> usize {
        self.heads * self.dim
    }

    /// Elements of the projections.
    pub fn elements(&self) -> usize {
        self.batch * self.seq * self.width()
    }

    /// Offset of the first element of attention task `task` (sequence task / heads, head
    /// task % heads) in a projection.
    fn offset(&self, task: usize) -> usize {
        (task / self.heads) * self.seq * self.width() + (task % self.heads) * self.dim
    }

    /// Head block of attention task `task` in a projection `x`, as an operand [seq, dim].
    fn block<'a>(&self, x: &'a [f32], task: usize) -> Operand<'a> {
        Operand::rows(&x[self.offset(task)..], self.width())
    }

    /// The transpose [dim, seq] of [`Heads::block`].
    fn block_t<'a>(&self, x: &'a [f32], task: usize) -> Operand<'a> {
        Operand::transposed(&x[self.offset(task)..], self.width())
    }
}

/// A head block output that attention tasks share: each writes its own block.
#[derive(Clone, Copy)]
pub(super) struct Blocks(pub(super) *mut f32);

// SAFETY: the tasks write disjoint head blocks (see `Heads::offset`), each from one thread.
unsafe impl Send for Blocks {}
unsafe impl Sync for Blocks {}

impl Blocks {
    /// Elements `start .. start + len` of the buffer.
    ///
    /// # Safety
    /// They must lie within the buffer, and no other task may access them meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn elements<'a>(self, start: usize, len: usize) -> &'a mut [f32] {
        // SAFETY: the caller vouches for the range and for exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }

    /// The address of element `offset` (for a task's own block).
    ///
    /// # Safety
    /// `offset` must lie within the buffer.
    pub(super) unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller vouches for the offset.
        unsafe { self.0.add(offset) }
    }

    /// Writes `a` · `b` [seq, dim] into the head block of task `task`.
    ///
    /// # Safety
    /// The buffer must hold [`Heads::len`] elements, and no other task may write this block.
    unsafe fn write(self, sh: Heads, task: usize, k: usize, a: Operand, b: Operand) {
        // SAFETY: the block's last element, offset + (seq - 1) * width + dim - 1, is within
        // `Heads::len`; the caller vouches that the block is this task's alone.
        unsafe {
            let ptr = self.at(sh.offset(task));
            let out = Dest {
                ptr,
                row_stride: sh.width(),
                accumulate: false,
            };
            gemm_raw(out, [sh.seq, k, sh.dim], a, b, false)
        }
    }
}

/// Runs `task` for every (sequence, head) pair in parallel and returns the [batch * seq, width]
/// matrix whose head blocks they wrote through [`Blocks::write`].
fn per_head(sh: Heads, task: impl Fn(Blocks, usize) + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(sh.elements());
    let blocks = Blocks(out.as_mut_ptr());
    (0..sh.batch * sh.heads)
        .into_par_iter()
        .for_each(|t| task(blocks, t));
    // SAFETY: the head blocks of all tasks tile the matrix, and `Blocks::write` writes every
    // element of its block (gemm without reading the output), so all elements are initialised.
    unsafe { out.set_len(sh.elements()) };
    out
}

/// Multi-head attention softmax(scale · q kᵀ + bias) v over each head, one rayon task per
/// (sequence, head) with single-threaded matrix products on the heads in place (no split or
/// merge copies). `bias` [batch, seq] is added to every query's scores (the padding mask).
/// Returns the context [batch * seq, width] and, when `keep_probs`, the probabilities
/// [batch, heads, seq, seq] (before dropout).
pub fn attention(
    [q, k, v]: [&[f32]; 3],
    bias: &[f32],
    sh: Heads,
    scale: f32,
    dropout: Option<DropMask>,
    keep_probs: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let s = sh.seq;
    assert!(
        [q.len(), k.len(), v.len()]
            .iter()
            .all(|&l| l == sh.elements())
    );
    assert_eq!(
        bias.len(),
        sh.batch * s,
        "one bias per key of each sequence"
    );
    let mut probs = keep_probs.then(|| vec![0.0; sh.batch * sh.heads * s * s]);
    let probs_at = Blocks(
        probs
            .as_mut()
            .map_or(std::ptr::null_mut(), |p| p.as_mut_ptr()),
    );
    let context = per_head(sh, |out, t| {
        let bias = &bias[(t / sh.heads) * s..(t / sh.heads + 1) * s];
        // Dropout hashes each probability's place in the whole [s, s] block: keep it whole then.
        let keys = if dropout.is_some() {
            s
        } else {
            unmasked_keys(bias)
        };
        let mut p = Vec::new();
        matmul(
            &mut p,
            false,
            [s, sh.dim, keys],
            sh.block(q, t),
            sh.block_t(k, t),
        );
        softmax_block(&mut p, &bias[..keys], scale);
        if keep_probs {
            // SAFETY: `probs` holds batch * heads blocks of s * s, and block t is this task's.
            let block = unsafe { probs_at.elements(t * s * s, s * s) };
            for (row, p) in block.chunks_mut(s).zip(p.chunks(keys)) {
                row[..keys].copy_from_slice(p);
            }
        }
        let p = match dropout {
            Some(mask) => {
                let mut dropped = vec![0.0; s * s];
                mask.apply(&p, t, &mut dropped);
                dropped
            }
            None => p,
        };
        // SAFETY: `per_head` gives each task its own block of a buffer of `Heads::len`.
        unsafe { out.write(sh, t, keys, Operand::rows(&p, keys), sh.block(v, t)) };
    });
    (context, probs)
}

/// The keys up to the last one not masked out: a key whose bias is `f32::MIN` (the padding
/// mask's value) gets exactly zero weight, so the padding at a sequence's end can be left out.
/// All of them where every key is masked (softmax then spreads the weight evenly).
fn unmasked_keys(bias: &[f32]) -> usize {
    bias.iter()
        .rposition(|&b| b > f32::MIN / 2.0)
        .map_or(bias.len(), |last| last + 1)
}

kernel! {
    /// softmax(scale · row + bias) of each row of `scores` in place.
    pub(super) fn softmax_block(scores: &mut [f32], bias: &[f32], scale: f32) {
        for row in scores.chunks_mut(bias.len()) {
            for (x, &b) in row.iter_mut().zip(bias) {
                *x = scale * *x + b;
            }
            normalise(row);
        }
    }
}

/// The gradients (dq, dk, dv) of [`attention`] from its inputs, its probabilities and the
/// gradient `g` of its context, one rayon task per (sequence, head) as the forward pass.
pub fn attention_backward(
    [q, k, v]: [&[f32]; 3],
    probs: &[f32],
    g: &[f32],
    sh: Heads,
    scale: f32,
    dropout: Option<DropMask>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let s = sh.seq;
    assert!(
        [q.len(), k.len(), v.len(), g.len()]
            .iter()
            .all(|&l| l == sh.elements())
    );
    assert_eq!(probs.len(), sh.batch * sh.heads * s * s);
    let p = |t: usize| &probs[t * s * s..(t + 1) * s * s];
    // dv = P'ᵀ g with P' the probabilities after dropout.
    let dv = per_head(sh, |out, t| {
        let kept = dropout.map(|mask| {
            let mut kept = vec![0.0; s * s];
            mask.apply(p(t), t, &mut kept);
            kept
        });
        let kept = kept.as_deref().unwrap_or(p(t));
        // SAFETY: `per_head` gives each task its own block of a buffer of `Heads::len`.
        unsafe { out.write(sh, t, s, Operand::transposed(kept, s), sh.block(g, t)) };
    });
    // dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), dP = g vᵀ through the dropout mask.
    let scores_grad = |t: usize| {
        let mut dp = Vec::new();
        matmul(
            &mut dp,
            false,
            [s, sh.dim, s],
            sh.block(g, t),
            sh.block_t(v, t),
        );
        if let Some(mask) = dropout {
            let mut masked = vec![0.0; s * s];
            mask.apply(&dp, t, &mut masked);
            dp = masked;
        }
        let mut ds = vec![0.0; s * s];
        softmax_backward_rows(p(t), &dp, s, scale, &mut ds);
        ds
    };
    // dq = dS k and dk = dSᵀ q: one pass computes dS for both, kept per task between them.
    let ds: Vec<Vec<f32>> = (0..sh.batch * sh.heads)
        .into_par_iter()
        .map(scores_grad)
        .collect();
    let dq = per_head(sh, |out, t| unsafe {
        // SAFETY: as for dv.
        out.write(sh, t, s, Operand::rows(&ds[t], s), sh.block(k, t))
    });
    let dk = per_head(sh, |out, t| unsafe {
        // SAFETY: as for dv.
        out.write(sh, t, s, Operand::transposed(&ds[t], s), sh.block(q, t))
    });
    (dq, dk, dv)
}
