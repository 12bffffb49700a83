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

mod attention;
mod gemm;

pub use attention::{Heads, attention, attention_backward};
pub use gemm::{column_sums, linear, linear_input_grad, linear_weight_grad};

use rayon::prelude::*;

/// Elements one rayon task handles in the element-wise kernels.
const CHUNK: usize = 1 << 14;

/// Rows one rayon task handles in the row kernels, for rows of `n` elements.
fn rows_per_task(n: usize) -> usize {
    (CHUNK / n.max(1)).max(1)
}

/// `e^x` to about 3e-7 relative error on [-87, 88]; 0 below (no subnormal results, which would
/// slow every later matrix product that reads them), e^88 above.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let underflows = x < -87.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n from the bits of t = 1.5 * 2^23 + n, whose low bits hold n: integer operations only
    // (`n as i32` is a saturating cast, which the compiler does not vectorise).
    let two_n = t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23;
    let e = p * f32::from_bits(two_n);
    if underflows { 0.0 } else { e }
}

/// erf(x) to 3e-7 absolute error in f32 (Abramowitz and Stegun 7.1.26, as PyTorch's vectorised erf).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let ax = x.abs();
    let t = 1.0 / (1.0 + P * ax);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * exp(-ax * ax)).copysign(x)
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / √(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// Σ f(a[i], b[i]) in 16 interleaved partial sums, added in a fixed order at the end: a sum the
/// compiler can vectorise (a single running sum cannot be reordered), the same on every run.
#[inline(always)]
fn sum_of(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (a_tail, b_tail) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_tail
        .remainder()
        .iter()
        .zip(b_tail.remainder())
        .map(|(&a, &b)| f(a, b))
        .sum();
    for (a, b) in a_tail.zip(b_tail) {
        for l in 0..LANES {
            acc[l] += f(a[l], b[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest element of `x` (-∞ for none), in 16 interleaved lanes as [`sum_of`].
#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for c in chunks {
        for l in 0..LANES {
            acc[l] = acc[l].max(c[l]);
        }
    }
    acc.iter().fold(tail, |m, &x| m.max(x))
}

/// `out = gelu(x)`, the exact (erf) GELU of BERT.
pub fn gelu(x: &[f32], out: &mut [f32]) {
    kernel! {
        fn chunk(x: &[f32], out: &mut [f32]) {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
            }
        }
    }
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| chunk(x, o));
}

/// `out = g * gelu'(x)`.
pub fn gelu_backward(x: &[f32], g: &[f32], out: &mut [f32]) {
    kernel! {
        fn chunk(x: &[f32], g: &[f32], out: &mut [f32]) {
            for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
                let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
                let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
                *o = g * (cdf + x * pdf);
            }
        }
    }
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(o, (x, g))| chunk(x, g, o));
}

/// `out = softmax(scale * x + bias)` over rows of `n`; row `r` adds bias row `r / rows_per_bias`.
pub fn scaled_softmax(
    x: &[f32],
    bias: &[f32],
    rows_per_bias: usize,
    n: usize,
    scale: f32,
    out: &mut [f32],
) {
    let rows = rows_per_task(n);
    out.par_chunks_mut(rows * n)
        .zip(x.par_chunks(rows * n))
        .enumerate()
        .for_each(|(task, (o, x))| softmax_rows(x, bias, n, task * rows, rows_per_bias, scale, o));
}

kernel! {
    /// Rows of [`scaled_softmax`], the first of them row `first` of the whole.
    fn softmax_rows(
        x: &[f32],
        bias: &[f32],
        n: usize,
        first: usize,
        rows_per_bias: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        for (i, (out, x)) in out.chunks_mut(n).zip(x.chunks(n)).enumerate() {
            let b = (first + i) / rows_per_bias;
            for ((o, &x), &b) in out.iter_mut().zip(x).zip(&bias[b * n..(b + 1) * n]) {
                *o = scale * x + b;
            }
            normalise(out);
        }
    }
}

/// softmax(`row`) in place.
#[inline(always)]
fn normalise(row: &mut [f32]) {
    let max = max_of(row);
    row.iter_mut().for_each(|o| *o = exp(*o - max));
    let inv = 1.0 / sum_of(row, row, |o, _| o);
    row.iter_mut().for_each(|o| *o *= inv);
}

/// `out = scale * y * (g - Σ g y)` over rows of `n`: the gradient of [`scaled_softmax`] for its x,
/// from its output `y` and the gradient `g` of that output.
pub fn scaled_softmax_backward(y: &[f32], g: &[f32], n: usize, scale: f32, out: &mut [f32]) {
    let rows = rows_per_task(n);
    out.par_chunks_mut(rows * n)
        .zip(y.par_chunks(rows * n).zip(g.par_chunks(rows * n)))
        .for_each(|(o, (y, g))| softmax_backward_rows(y, g, n, scale, o));
}

kernel! {
    /// Rows of [`scaled_softmax_backward`].
    fn softmax_backward_rows(y: &[f32], g: &[f32], n: usize, scale: f32, out: &mut [f32]) {
        for ((o, y), g) in out.chunks_mut(n).zip(y.chunks(n)).zip(g.chunks(n)) {
            let dot = sum_of(y, g, |y, g| y * g);
            for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
                *o = scale * y * (g - dot);
            }
        }
    }
}

/// LayerNorm over rows of `n` of `x` (+ `residual`, added first): `out = x̂ γ + β` with
/// `x̂ = (x - mean) / √(var + eps)`; also writes x̂ and 1/√(var + eps) per row when `saved` is
/// given (for the backward pass).
pub fn layer_norm(
    x: &[f32],
    residual: Option<&[f32]>,
    [gamma, beta]: [&[f32]; 2],
    eps: f32,
    out: &mut [f32],
    saved: Option<(&mut [f32], &mut [f32])>,
) {
    let n = gamma.len();
    let rows = rows_per_task(n);
    let res = |task: usize, len: usize| residual.map(|r| &r[task * rows * n..][..len]);
    match saved {
        Some((xhat, rstd)) => out
            .par_chunks_mut(rows * n)
            .zip(x.par_chunks(rows * n))
            .zip(xhat.par_chunks_mut(rows * n).zip(rstd.par_chunks_mut(rows)))
            .enumerate()
            .for_each(|(t, ((o, x), (h, r)))| {
                let x = (x, res(t, o.len()));
                layer_norm_rows(x, [gamma, beta], eps, o, Some((h, r)))
            }),
        None => out
            .par_chunks_mut(rows * n)
            .zip(x.par_chunks(rows * n))
            .enumerate()
            .for_each(|(t, (o, x))| {
                layer_norm_rows((x, res(t, o.len())), [gamma, beta], eps, o, None)
            }),
    }
}

kernel! {
    /// Rows of [`layer_norm`].
    fn layer_norm_rows(
        (x, residual): (&[f32], Option<&[f32]>),
        [gamma, beta]: [&[f32]; 2],
        eps: f32,
        out: &mut [f32],
        saved: Option<(&mut [f32], &mut [f32])>,
    ) {
        let n = gamma.len();
        match residual {
            Some(r) => out
                .iter_mut()
                .zip(x.iter().zip(r))
                .for_each(|(o, (&x, &r))| *o = x + r),
            None => out.copy_from_slice(x),
        }
        let (mut xhat, mut rstd) = match saved {
            Some((h, r)) => (Some(h.chunks_mut(n)), Some(r.iter_mut())),
            None => (None, None),
        };
        for out in out.chunks_mut(n) {
            let mean = sum_of(out, out, |x, _| x) / n as f32;
            let var = sum_of(out, out, |x, _| (x - mean) * (x - mean)) / n as f32;
            let r = 1.0 / (var + eps).sqrt();
            if let (Some(xhat), Some(rstd)) = (xhat.as_mut(), rstd.as_mut()) {
                for (h, &x) in xhat
                    .next()
                    .expect("a row of x̂ per row")
                    .iter_mut()
                    .zip(&*out)
                {
                    *h = (x - mean) * r;
                }
                *rstd.next().expect("a 1/σ per row") = r;
            }
            for ((o, &g), &b) in out.iter_mut().zip(gamma).zip(beta) {
                *o = (*o - mean) * r * g + b;
            }
        }
    }
}

/// Gradients of [`layer_norm`] from the saved x̂ and 1/σ per row and the output gradient `g`:
/// writes dx into `dx` and returns (dγ, dβ).
pub fn layer_norm_backward(
    g: &[f32],
    xhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    dx: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let n = gamma.len();
    let rows = rows_per_task(n);
    // One partial (dγ, dβ) per chunk of rows, summed in chunk order: the same result whichever
    // thread ran which chunk (training is deterministic for a seed).
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(rows * n)
        .zip(g.par_chunks(rows * n))
        .zip(xhat.par_chunks(rows * n).zip(rstd.par_chunks(rows)))
        .map(|((dx, g), (h, r))| layer_norm_backward_rows(g, h, r, gamma, dx))
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; n]);
    for (pg, pb) in partials {
        dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
        dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (dgamma, dbeta)
}

kernel! {
    /// Rows of [`layer_norm_backward`]: writes their dx and returns their part of (dγ, dβ).
    fn layer_norm_backward_rows(
        g: &[f32],
        xhat: &[f32],
        rstd: &[f32],
        gamma: &[f32],
        dx: &mut [f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let n = gamma.len();
        let (mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; n]);
        for (((dx, g), h), &r) in dx
            .chunks_mut(n)
            .zip(g.chunks(n))
            .zip(xhat.chunks(n))
            .zip(rstd)
        {
            for ((&g, &h), (dgamma, dbeta)) in g.iter().zip(h).zip(dgamma.iter_mut().zip(&mut dbeta)) {
                *dgamma += g * h;
                *dbeta += g;
            }
            // dx's own x̂ row holds g·γ for a moment, so that Σ g·γ·x̂ is a two-input sum.
            for ((dx, &g), &gamma) in dx.iter_mut().zip(g).zip(gamma) {
                *dx = g * gamma;
            }
            let mean_gh = sum_of(dx, dx, |gg, _| gg) / n as f32;
            let mean_ghx = sum_of(dx, h, |gg, h| gg * h) / n as f32;
            for (dx, &h) in dx.iter_mut().zip(h) {
                *dx = r * (*dx - mean_gh - h * mean_ghx);
            }
        }
        (dgamma, dbeta)
    }
}

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
    fn apply(&self, x: &[f32], task: usize, out: &mut [f32]) {
        let first = (task * x.len()) as u32;
        dropout_chunk(x, first, self.seed, self.keep, self.scale, out);
    }
}

/// Adds row r of `grad` ([ids.len(), d]) into row `ids[r]` of `out` ([vocab, d]), in row order.
pub fn embedding_backward(ids: &[usize], grad: &[f32], out: &mut [f32]) {
    let d = grad.len() / ids.len().max(1);
    for (&id, g) in ids.iter().zip(grad.chunks_exact(d)) {
        for (o, &g) in out[id * d..(id + 1) * d].iter_mut().zip(g) {
            *o += g;
        }
    }
}

/// The L2 norm of `x`: sums of squares of fixed chunks, added in chunk order (in f64).
pub fn l2_norm(x: &[f32]) -> f32 {
    kernel! {
        fn squares(x: &[f32]) -> f32 {
            sum_of(x, x, |x, _| x * x)
        }
    }
    let partial: Vec<f32> = x.par_chunks(CHUNK).map(squares).collect();
    partial.iter().map(|&s| s as f64).sum::<f64>().sqrt() as f32
}

/// One AdamW step (PyTorch's and burn's: decoupled decay, bias-corrected moments) in place, with
/// the gradient multiplied by `grad_scale` (the clipping coefficient, or 1).
pub fn adamw(
    param: &mut [f32],
    grad: &[f32],
    grad_scale: f32,
    m: &mut [f32],
    v: &mut [f32],
    h: &super::AdamWStep,
) {
    let c = AdamWConstants {
        grad_scale,
        b1: h.beta_1 as f32,
        b2: h.beta_2 as f32,
        correction_1: 1.0 / (1.0 - h.beta_1.powi(h.time as i32)) as f32,
        correction_2: 1.0 / (1.0 - h.beta_2.powi(h.time as i32)) as f32,
        decay: (1.0 - h.lr * h.weight_decay) as f32,
        lr: h.lr as f32,
        eps: h.epsilon as f32,
    };
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| adamw_chunk(p, g, m, v, c));
}

/// The numbers of one [`adamw`] step, in f32.
#[derive(Clone, Copy)]
struct AdamWConstants {
    grad_scale: f32,
    b1: f32,
    b2: f32,
    correction_1: f32,
    correction_2: f32,
    decay: f32,
    lr: f32,
    eps: f32,
}

kernel! {
    /// A chunk of [`adamw`].
    fn adamw_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: AdamWConstants) {
        for ((p, &g), (m, v)) in p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
            let g = g * c.grad_scale;
            *m = c.b1 * *m + (1.0 - c.b1) * g;
            *v = c.b2 * *v + (1.0 - c.b2) * g * g;
            let step = (*m * c.correction_1) / ((*v * c.correction_2).sqrt() + c.eps);
            *p = *p * c.decay - c.lr * step;
        }
    }
}

/// `average += (value - average) * (1 - decay)`, in place (an average equal to the value stays
/// exactly as it is).
pub fn moving_average(average: &mut [f32], value: &[f32], decay: f32) {
    kernel! {
        fn chunk(a: &mut [f32], v: &[f32], rate: f32) {
            for (a, &v) in a.iter_mut().zip(v) {
                *a += (v - *a) * rate;
            }
        }
    }
    average
        .par_chunks_mut(CHUNK)
        .zip(value.par_chunks(CHUNK))
        .for_each(|(a, v)| chunk(a, v, 1.0 - decay));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= tol * (1.0 + b.abs()), "at {i}: {a} vs {b}");
        }
    }

    /// Numbers in [-4, 4), fixed by `seed`.
    fn data(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(2_654_435_761).rotate_left(13);
                (h % 8000) as f32 / 1000.0 - 4.0
            })
            .collect()
    }

    #[test]
    fn exp_and_erf_match_libm() {
        for i in -9000..9000 {
            let x = i as f32 / 100.0;
            let e = x.exp();
            if (-87.0..=88.0).contains(&x) {
                assert!(
                    (exp(x) - e).abs() <= 3e-7 * e,
                    "exp({x}) = {} vs {e}",
                    exp(x)
                );
            }
            let reference = libm_erf(x as f64) as f32;
            assert!(
                (erf(x) - reference).abs() <= 3e-7,
                "erf({x}) = {} vs {reference}",
                erf(x)
            );
        }
        assert_eq!([exp(-87.5), exp(-1e30), exp(f32::MIN)], [0.0; 3]);
        assert!(exp(-86.9) > 0.0 && exp(-86.9).is_normal());
    }

    /// erf by its Taylor series (|x| < 3) or 1 (beyond, where erf is 1 to f32 precision).
    fn libm_erf(x: f64) -> f64 {
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

    #[test]
    fn gelu_and_its_gradient_match_the_definition() {
        let x = data(40_000, 1);
        let g = data(40_000, 2);
        let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        gelu(&x, &mut y);
        gelu_backward(&x, &g, &mut dx);
        let gelu64 = |x: f64| 0.5 * x * (1.0 + libm_erf(x / 2f64.sqrt()));
        let want: Vec<f32> = x.iter().map(|&x| gelu64(x as f64) as f32).collect();
        close(&y, &want, 1e-6);
        let h = 1e-3;
        let numeric: Vec<f32> = x
            .iter()
            .zip(&g)
            .map(|(&x, &g)| {
                let x = x as f64;
                (g as f64 * (gelu64(x + h) - gelu64(x - h)) / (2.0 * h)) as f32
            })
            .collect();
        close(&dx, &numeric, 1e-5);
    }

    #[test]
    fn scaled_softmax_matches_the_definition_and_masks() {
        let (rows, n, per_bias) = (6 * 37, 37, 37);
        let x = data(rows * n, 3);
        let mut bias = vec![0.0; 6 * n];
        bias[n - 3..n].fill(f32::MIN);
        let mut y = vec![0.0; x.len()];
        scaled_softmax(&x, &bias, per_bias, n, 0.125, &mut y);
        for (r, (y, x)) in y.chunks(n).zip(x.chunks(n)).enumerate() {
            let b = &bias[(r / per_bias) * n..][..n];
            let s: Vec<f64> = x
                .iter()
                .zip(b)
                .map(|(x, b)| 0.125 * *x as f64 + *b as f64)
                .collect();
            let max = s.iter().cloned().fold(f64::MIN, f64::max);
            let sum: f64 = s.iter().map(|s| (s - max).exp()).sum();
            let want: Vec<f32> = s.iter().map(|s| ((s - max).exp() / sum) as f32).collect();
            close(y, &want, 1e-6);
            if r < per_bias {
                assert!(
                    y[n - 3..].iter().all(|&p| p == 0.0),
                    "masked keys get no weight"
                );
            }
        }
    }

    #[test]
    fn scaled_softmax_backward_matches_finite_differences() {
        let n = 9;
        let x = data(2 * n, 4);
        let g = data(2 * n, 5);
        let bias = vec![0.0; n];
        let loss = |x: &[f32]| -> f64 {
            let mut y = vec![0.0; x.len()];
            scaled_softmax(x, &bias, 2, n, 0.5, &mut y);
            y.iter().zip(&g).map(|(y, g)| (*y * *g) as f64).sum()
        };
        let mut y = vec![0.0; x.len()];
        scaled_softmax(&x, &bias, 2, n, 0.5, &mut y);
        let mut dx = vec![0.0; x.len()];
        scaled_softmax_backward(&y, &g, n, 0.5, &mut dx);
        for i in 0..x.len() {
            let (mut hi, mut lo) = (x.clone(), x.clone());
            hi[i] += 1e-2;
            lo[i] -= 1e-2;
            let numeric = ((loss(&hi) - loss(&lo)) / 2e-2) as f32;
            assert!(
                (dx[i] - numeric).abs() < 2e-3,
                "at {i}: {} vs {numeric}",
                dx[i]
            );
        }
    }

    #[test]
    fn layer_norm_and_its_gradients_match_finite_differences() {
        let (rows, n) = (50, 24);
        let x = data(rows * n, 6);
        let g = data(rows * n, 7);
        let gamma: Vec<f32> = data(n, 8).iter().map(|v| 1.0 + v / 8.0).collect();
        let beta = data(n, 9);
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            let mut y = vec![0.0; x.len()];
            layer_norm(x, None, [gamma, beta], 1e-12, &mut y, None);
            y.iter().zip(&g).map(|(y, g)| (*y * *g) as f64).sum()
        };
        let (mut y, mut xhat, mut rstd) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; rows]);
        layer_norm(
            &x,
            None,
            [&gamma, &beta],
            1e-12,
            &mut y,
            Some((&mut xhat, &mut rstd)),
        );
        for (y, x) in y.chunks(n).zip(x.chunks(n)) {
            let mean = x.iter().sum::<f32>() / n as f32;
            let sd = (x.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
            let want: Vec<f32> = (0..n)
                .map(|j| (x[j] - mean) / sd * gamma[j] + beta[j])
                .collect();
            close(y, &want, 1e-5);
        }
        let mut dx = vec![0.0; x.len()];
        let (dgamma, dbeta) = layer_norm_backward(&g, &xhat, &rstd, &gamma, &mut dx);
        let numeric = |f: &dyn Fn(f32) -> f64| ((f(1e-2) - f(-1e-2)) / 2e-2) as f32;
        for i in (0..x.len()).step_by(7) {
            let d = numeric(&|h| {
                let mut x = x.clone();
                x[i] += h;
                loss(&x, &gamma, &beta)
            });
            assert!(
                (dx[i] - d).abs() < 1e-2 * (1.0 + d.abs()),
                "dx at {i}: {} vs {d}",
                dx[i]
            );
        }
        for j in 0..n {
            let dg = numeric(&|h| {
                let mut gamma = gamma.clone();
                gamma[j] += h;
                loss(&x, &gamma, &beta)
            });
            let db = numeric(&|h| {
                let mut beta = beta.clone();
                beta[j] += h;
                loss(&x, &gamma, &beta)
            });
            assert!(
                (dgamma[j] - dg).abs() < 1e-2 * (1.0 + dg.abs()),
                "dγ at {j}"
            );
            assert!((dbeta[j] - db).abs() < 1e-2 * (1.0 + db.abs()), "dβ at {j}");
        }
    }
}
