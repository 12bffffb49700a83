//! Matrix products on the system's OpenBLAS (the `blas` feature): single-threaded calls, the
//! output split between rayon's threads so that OpenBLAS's own threads never compete with them.

use std::ffi::c_int;
use std::sync::Once;

use super::gemm::{Dest, Operand};
use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE, cblas_sgemm};
// Links the system OpenBLAS (found by pkg-config) that `cblas_sgemm` comes from.
use openblas_src as _;

/// Rows or columns of the output a piece of a threaded product spans at least.
const PIECE: usize = 16;

// OpenBLAS's own entry point (every build has it; a serial build ignores it). Not in cblas-sys.
unsafe extern "C" {
    fn openblas_set_num_threads(threads: c_int);
}

/// `out` [m, n] = `a` · `b` (+ `out` when it accumulates), split between rayon's threads when
/// `threads`.
///
/// # Safety
/// `out` must be valid for writes (and, when it accumulates, reads) of an m x n matrix, nothing
/// else may access it during the call, and the operands must be checked.
pub(super) unsafe fn product(out: Dest, dims: [usize; 3], a: Operand, b: Operand, threads: bool) {
    static SERIAL: Once = Once::new();
    // SAFETY: sets a global of the library; no product runs before it returns.
    SERIAL.call_once(|| unsafe { openblas_set_num_threads(1) });
    // SAFETY: as this function's; `call` writes only the band it is handed.
    unsafe {
        super::bands::split(out, dims, a, b, threads, PIECE, |out, dims, a, b| {
            call(out, dims, a, b)
        })
    }
}

/// An operand as BLAS takes it: transposed or not, and the distance between its stored rows.
fn layout(x: &Operand, rows: usize, cols: usize) -> Option<(CBLAS_TRANSPOSE, c_int)> {
    let (trans, ld, min) = if x.col_stride == 1 {
        (CBLAS_TRANSPOSE::CblasNoTrans, x.row_stride, cols)
    } else if x.row_stride == 1 {
        (CBLAS_TRANSPOSE::CblasTrans, x.col_stride, rows)
    } else {
        return None;
    };
    (ld >= min.max(1)).then_some((trans, c_int::try_from(ld).ok()?))
}

/// One single-threaded `sgemm`, or the gemm crate where BLAS cannot take the operands' strides.
///
/// # Safety
/// As [`product`]'s, for this piece.
unsafe fn call(out: Dest, [m, k, n]: [usize; 3], a: &Operand, b: &Operand) {
    let sizes = [m, k, n, out.row_stride].map(|s| c_int::try_from(s).ok());
    let (Some((ta, lda)), Some((tb, ldb)), [Some(mi), Some(ki), Some(ni), Some(ldci)]) =
        (layout(a, m, k), layout(b, k, n), sizes)
    else {
        // SAFETY: as this function's.
        return unsafe { super::gemm::gemm_crate(out, [m, k, n], *a, *b, false) };
    };
    if m == 0 || n == 0 {
        return;
    }
    let beta = if out.accumulate { 1.0 } else { 0.0 };
    // SAFETY: the layouts keep every read within the operands (checked by the caller, strides
    // checked above); with beta 0 OpenBLAS writes the output without reading it.
    unsafe {
        cblas_sgemm(
            CBLAS_LAYOUT::CblasRowMajor,
            ta,
            tb,
            mi,
            ni,
            ki,
            1.0,
            a.data.as_ptr(),
            lda,
            b.data.as_ptr(),
            ldb,
            beta,
            out.ptr,
            ldci,
        );
    }
}
