//! Row kernels on f32 slices behind the fused ops: parallel over chunks of rows (rayon), with `exp`
//! and `erf` written so that the compiler vectorises the inner loops (no libm calls in them).
//!
//! The work on each chunk is a `#[multiversion]` function: compiled for AVX-512 and AVX2+FMA too,
//! the best the CPU has picked at run time, so one portable binary runs 16-lane loops where it can.

/// Compiles a kernel function for AVX-512, for AVX2 + FMA and for the baseline, the best the CPU
/// has picked at run time (multiversion's own "simd" preset leaves AVX-512 out).
macro_rules! kernel {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$meta])*
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma",
            "x86_64+avx2+fma",
            "aarch64+neon",
        ))]
        $vis fn $($rest)*
    };
}

mod additive;
mod attention;
mod bands;
#[cfg(feature = "blas")]
mod blas;
mod cross_entropy;
mod decoder;
mod dropout;
mod embedding;
mod engine;
mod gelu;
mod gemm;
mod layer_norm;
mod optimizer;
mod packed_attention;
mod recurrent;
mod rows;
mod simd;
mod softmax;
mod tanh;

pub use additive::{Additive, AdditiveGrads, AdditiveOut, additive, additive_backward};
pub use attention::{Heads, attention, attention_backward};
pub use cross_entropy::{CrossEntropyRows, cross_entropy, cross_entropy_backward};
pub use decoder::{
    Decoder, DecoderGrads, DecoderInputs, DecoderSaved, Steps, decoder, decoder_backward,
};
pub use dropout::{DropMask, dropout};
pub use embedding::embedding_backward;
pub use engine::Engine;
pub use gelu::{gelu, gelu_backward};
pub use gemm::{
    Operand, column_sums, linear, linear_input_grad, linear_weight_grad, matmul, matmul_on,
};
pub use layer_norm::{layer_norm, layer_norm_backward};
pub use optimizer::{AdamWStep, adamw, l2_norm, moving_average};
pub use packed_attention::{Packed, packed_attention, packed_attention_backward};
pub use recurrent::{CellKind, Recurrence, RecurrentGrads, Saved, recurrent, recurrent_backward};
pub use rows::{pack_rows, unpack_rows};
pub use simd::{erf, exp, sigmoid};
pub use softmax::{scaled_softmax, scaled_softmax_backward};
pub use tanh::{tanh, tanh_backward};

/// Elements one rayon task handles in the element-wise kernels.
const CHUNK: usize = 1 << 14;

/// Rows one rayon task handles in the row kernels, for rows of `n` elements.
fn rows_per_task(n: usize) -> usize {
    (CHUNK / n.max(1)).max(1)
}

/// Inputs and comparisons shared by the kernels' tests.
#[cfg(test)]
mod test_data {
    pub fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= tol * (1.0 + b.abs()), "at {i}: {a} vs {b}");
        }
    }

    /// Numbers in [-4, 4), fixed by `seed`.
    pub fn data(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(2_654_435_761).rotate_left(13);
                (h % 8000) as f32 / 1000.0 - 4.0
            })
            .collect()
    }

    /// erf by its Taylor series (|x| < 3) or 1 (beyond, where erf is 1 to f32 precision).
    pub fn libm_erf(x: f64) -> f64 {
        if x.abs() >= 5.0 {
            return x.signum();
        }
        let (mut term, mut sum, mut k) = (x, x, 0.0);
        while term.abs() > 1e-17 * sum.abs().max(1e-30) {
            k += 1.0;
            term *= -x * x / k;
            sum += term / (2.0 * k + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
