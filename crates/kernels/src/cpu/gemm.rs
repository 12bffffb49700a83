//! Matrix products on f32 slices, written straight into their outputs, and the linear layer built
//! on them: through the gemm crate (the one under burn-flex) or, with the `blas` feature, the
//! system's OpenBLAS, whichever [`Engine::choose`] measured faster for the shape and the CPU.

use super::engine::Engine;

/// A matrix operand: its elements and the strides of its rows and columns.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Panics unless a `rows` x `cols` matrix with these strides lies within the elements.
    fn check(&self, rows: usize, cols: usize) {
        let last = (rows.max(1) - 1) * self.row_stride + (cols.max(1) - 1) * self.col_stride;
        assert!(
            rows * cols == 0 || last < self.data.len(),
            "a {rows}x{cols} operand reaches past its {} elements",
            self.data.len()
        );
    }
}

/// Where a product goes: an m x n matrix from `ptr`, rows `row_stride` apart, whose elements
/// the product is added to (`accumulate`) or overwrites.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dest {
    /// The first element.
    pub ptr: *mut f32,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Add to what the matrix holds instead of overwriting it.
    pub accumulate: bool,
}

// SAFETY: a `Dest` is only an address; the unsafe functions that write through it require that
// nothing else access its matrix, and the pieces of a product write disjoint bands of it.
unsafe impl Send for Dest {}
unsafe impl Sync for Dest {}

impl Dest {
    /// The same destination from the element `offset` past its first on.
    ///
    /// # Safety
    /// That element must lie within the matrix.
    pub(super) unsafe fn at(self, offset: usize) -> Self {
        // SAFETY: the caller vouches that the offset is within the matrix.
        let ptr = unsafe { self.ptr.add(offset) };
        Self { ptr, ..self }
    }
}

/// `out` [m, n] (row-major) = `a` [m, k] · `b` [k, n], added to what `out` holds when `accumulate`
/// (then `out` has m * n elements), else written into an emptied `out`. Both cores work on it from
/// 192³ multiply-adds (burn-flex's threshold); gemm splits the output, not the sums, so the result
/// does not depend on the threads.
pub fn matmul(out: &mut Vec<f32>, accumulate: bool, [m, k, n]: [usize; 3], a: Operand, b: Operand) {
    let threads = m * n * k >= 192 * 192 * 192;
    let engine = Engine::choose([m, k, n], threads);
    matmul_on(engine, out, accumulate, [m, k, n], a, b, threads);
}

/// [`matmul`] on `engine`, on all of rayon's threads or (`threads` false) on this one.
pub fn matmul_on(
    engine: Engine,
    out: &mut Vec<f32>,
    accumulate: bool,
    [m, k, n]: [usize; 3],
    a: Operand,
    b: Operand,
    threads: bool,
) {
    if accumulate {
        assert_eq!(out.len(), m * n, "the accumulated output is m x n");
    } else {
        out.clear();
        out.reserve(m * n);
    }
    // SAFETY: the output has room for m * n elements in rows of n; with `accumulate` false both
    // engines write each of them without reading it, so all m * n are initialised before `set_len`.
    unsafe {
        let dest = Dest {
            ptr: out.as_mut_ptr(),
            row_stride: n,
            accumulate,
        };
        run(engine, dest, [m, k, n], a, b, threads);
        out.set_len(m * n);
    }
}

/// `out` [m, n] = `a` · `b` (+ `out` when it accumulates), on this thread or (`threads`) on all
/// of rayon's.
///
/// # Safety
/// `out` must be valid for writes (and, when it accumulates, reads) of an m x n matrix, and
/// nothing else may access that matrix during the call.
pub(super) unsafe fn gemm_raw(out: Dest, dims: [usize; 3], a: Operand, b: Operand, threads: bool) {
    let engine = Engine::choose(dims, threads);
    // SAFETY: as this function's.
    unsafe { run(engine, out, dims, a, b, threads) }
}

/// [`gemm_raw`] on `engine`.
///
/// # Safety
/// As [`gemm_raw`]'s.
unsafe fn run(engine: Engine, out: Dest, dims: [usize; 3], a: Operand, b: Operand, threads: bool) {
    let [m, k, n] = dims;
    a.check(m, k);
    b.check(k, n);
    match engine {
        // SAFETY: as this function's; the operands are checked.
        Engine::Gemm => unsafe { gemm_crate(out, dims, a, b, threads) },
        // SAFETY: as this function's; the operands are checked.
        #[cfg(feature = "blas")]
        Engine::Blas => unsafe { super::blas::product(out, dims, a, b, threads) },
    }
}

/// Rows (or columns) a band of a product split for the gemm crate spans at least: over 64, so
/// that no band takes the crate's path for small products, whose blocking of the inner dimension
/// may differ from the whole product's.
const BAND_LEAST: usize = 128;

/// [`gemm_raw`] on the gemm crate, with the operands checked.
///
/// # Safety
/// As [`gemm_raw`]'s, with the operands checked.
pub(super) unsafe fn gemm_crate(
    out: Dest,
    [m, k, n]: [usize; 3],
    a: Operand,
    b: Operand,
    threads: bool,
) {
    if threads && super::engine::gemm_in_bands(m, n) {
        // SAFETY: `split` hands each piece a disjoint band within the output, operands checked.
        let piece =
            |out, dims, a: &Operand, b: &Operand| unsafe { gemm_crate(out, dims, *a, *b, false) };
        // SAFETY: as this function's; each piece writes only its band.
        return unsafe { super::bands::split(out, [m, k, n], a, b, true, BAND_LEAST, piece) };
    }
    let parallelism = match threads {
        true => gemm::Parallelism::Rayon(0),
        false => gemm::Parallelism::None,
    };
    // SAFETY: the checks above keep every operand read within its slice; the caller vouches for
    // the output.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.ptr,
            1,
            out.row_stride as isize,
            out.accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `x` [rows, d_in] · `w` [d_in, d_out] + `bias` [d_out], row-major.
pub fn linear(x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let d_out = bias.len();
    let d_in = w.len() / d_out;
    let rows = x.len() / d_in;
    let mut out = Vec::with_capacity(rows * d_out);
    for _ in 0..rows {
        out.extend_from_slice(bias);
    }
    let (x, w) = (Operand::rows(x, d_in), Operand::rows(w, d_out));
    matmul(&mut out, true, [rows, d_in, d_out], x, w);
    out
}

/// The input's gradient of [`linear`], g [rows, d_out] · wᵀ.
pub fn linear_input_grad(w: &[f32], g: &[f32], d_out: usize) -> Vec<f32> {
    let (d_in, rows) = (w.len() / d_out, g.len() / d_out);
    let mut dx = Vec::new();
    let (g, w) = (Operand::rows(g, d_out), Operand::transposed(w, d_out));
    matmul(&mut dx, false, [rows, d_out, d_in], g, w);
    dx
}

/// The weight's gradient of [`linear`], xᵀ · g [rows, d_out]: one product over all rows.
pub fn linear_weight_grad(x: &[f32], g: &[f32], d_out: usize) -> Vec<f32> {
    let rows = g.len() / d_out;
    let d_in = x.len() / rows;
    let mut dw = Vec::new();
    let (x, g) = (Operand::transposed(x, d_in), Operand::rows(g, d_out));
    matmul(&mut dw, false, [d_in, rows, d_out], x, g);
    dw
}

/// The transpose of a row-major matrix with `cols` columns, row-major: a product reading a
/// weight's transpose at every step of a recurrence reads rows, not columns (gemm reads a
/// strided right-hand side of a few rows several times slower).
pub fn transpose(data: &[f32], cols: usize) -> Vec<f32> {
    let rows = data.len() / cols;
    let mut out = vec![0.0; data.len()];
    for (r, row) in data.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

/// The bias's gradient of [`linear`]: the column sums of g [rows, d_out], row by row.
pub fn column_sums(g: &[f32], d_out: usize) -> Vec<f32> {
    let mut sums = vec![0.0; d_out];
    for row in g.chunks_exact(d_out) {
        for (s, &g) in sums.iter_mut().zip(row) {
            *s += g;
        }
    }
    sums
}
