//! Scalar math written so that the compiler vectorises the loops around it: `exp`, `erf` and
//! sums and maxima in 16 interleaved lanes (no libm calls in the inner loops).

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

/// The logistic sigmoid 1 / (1 + e^-x), through [`exp`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh(x) = 2 σ(2x) - 1, to about 2e-7 absolute error.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
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

pub(super) const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / √(2π).
pub(super) const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// Σ f(a[i], b[i]) in 16 interleaved partial sums, added in a fixed order at the end: a sum the
/// compiler can vectorise (a single running sum cannot be reordered), the same on every run.
#[inline(always)]
pub(super) fn sum_of(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
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
pub(super) fn max_of(x: &[f32]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::libm_erf;

    #[test]
    fn exp_erf_and_tanh_match_libm() {
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
        for i in -2000..2000 {
            let x = i as f32 / 100.0;
            assert!((tanh(x) - x.tanh()).abs() <= 2e-7, "tanh({x})");
        }
        assert_eq!([exp(-87.5), exp(-1e30), exp(f32::MIN)], [0.0; 3]);
        assert!(exp(-86.9) > 0.0 && exp(-86.9).is_normal());
    }
}
