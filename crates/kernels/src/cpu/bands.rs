//! A threaded matrix product as single-threaded pieces, one per rayon thread: disjoint bands of
//! the output's rows (or of its columns, when it has more of them), so that a library's own threads
//! never compete with rayon's and a row's result does not depend on how the output was cut.

use rayon::prelude::*;

use super::gemm::{Dest, Operand};

/// Band edges fall on multiples of this many rows or columns.
const ALIGN: usize = 16;

/// `out` [m, n] = `a` · `b` (+ `out` when it accumulates): `piece` on one band of the output per
/// rayon thread when `threads`, else on all of it; no band spans fewer than `least` rows (or
/// columns), a multiple of [`ALIGN`], unless the output itself does.
///
/// # Safety
/// `out` must be valid for writes (and, when it accumulates, reads) of an m x n matrix, nothing
/// else may access it during the call, the operands must be checked, and `piece` must write only
/// the band it is handed.
pub(super) unsafe fn split(
    out: Dest,
    [m, k, n]: [usize; 3],
    a: Operand,
    b: Operand,
    threads: bool,
    least: usize,
    piece: impl Fn(Dest, [usize; 3], &Operand, &Operand) + Sync,
) {
    let by_rows = m >= n;
    let span = if by_rows { m } else { n };
    let pieces = match threads {
        true => rayon::current_num_threads().min(span / least.max(1)).max(1),
        false => 1,
    };
    // Edges at even shares of the span, rounded down to `ALIGN` (the last band takes the rest).
    let edge = |p: usize| match p {
        p if p == pieces => span,
        p => span * p / pieces / ALIGN * ALIGN,
    };
    (0..pieces).into_par_iter().for_each(|p| {
        let (start, end) = (edge(p), edge(p + 1));
        let len = end - start;
        // SAFETY: the pieces are disjoint row (or column) bands of the output, within the m x n
        // matrix the caller vouches for; each operand band lies within its checked operand.
        unsafe {
            if by_rows {
                let a = Operand {
                    data: &a.data[start * a.row_stride..],
                    ..a
                };
                piece(out.at(start * out.row_stride), [len, k, n], &a, &b);
            } else {
                let b = Operand {
                    data: &b.data[start * b.col_stride..],
                    ..b
                };
                piece(out.at(start), [m, k, len], &a, &b);
            }
        }
    });
}
