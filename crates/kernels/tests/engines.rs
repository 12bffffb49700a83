//! Every matrix-product engine of the build (the gemm crate; OpenBLAS with `--features blas`)
//! against a product in f64, on the layouts, strides and splits the kernels use.

use attn_kernels::cpu::{Engine, Operand, matmul_on};

/// Numbers in [-1, 1), fixed by `seed`.
fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| ((i ^ seed).wrapping_mul(2_654_435_761) >> 8) as f32 / (1 << 23) as f32 - 1.0)
        .collect()
}

/// Element (r, c) of an operand.
fn at(x: &Operand, r: usize, c: usize) -> f64 {
    x.data[r * x.row_stride + c * x.col_stride] as f64
}

/// `a` · `b` in f64, plus `init`.
fn reference([m, k, n]: [usize; 3], a: &Operand, b: &Operand, init: &[f32]) -> Vec<f32> {
    (0..m * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            let sum: f64 = (0..k).map(|p| at(a, r, p) * at(b, p, c)).sum();
            (sum + init.get(i).copied().unwrap_or(0.0) as f64) as f32
        })
        .collect()
}

/// Checks every engine, on one thread and on all, writing and accumulating.
fn check([m, k, n]: [usize; 3], a: Operand, b: Operand) {
    for &engine in Engine::ALL {
        for threads in [false, true] {
            for accumulate in [false, true] {
                let init = if accumulate {
                    data(m * n, 9)
                } else {
                    Vec::new()
                };
                let mut out = init.clone();
                matmul_on(engine, &mut out, accumulate, [m, k, n], a, b, threads);
                let want = reference([m, k, n], &a, &b, &init);
                assert_eq!(out.len(), want.len());
                for (i, (got, want)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + k as f32).sqrt() * (1.0 + want.abs()),
                        "{} {m}x{k}x{n} threads {threads} accumulate {accumulate}: at {i} {got} \
                         vs {want}",
                        engine.name()
                    );
                }
            }
        }
    }
}

#[test]
fn products_in_every_layout_equal_f64() {
    for dims in [
        [37, 19, 53],
        [300, 64, 40],
        [40, 64, 300],
        [1, 1, 1],
        [129, 200, 17],
    ] {
        let [m, k, n] = dims;
        let (a, b) = (data(m * k, 1), data(k * n, 2));
        // x · w, g · wᵀ, xᵀ · g, and both transposed.
        check(dims, Operand::rows(&a, k), Operand::rows(&b, n));
        check(dims, Operand::rows(&a, k), Operand::transposed(&b, k));
        check(dims, Operand::transposed(&a, m), Operand::rows(&b, n));
        check(dims, Operand::transposed(&a, m), Operand::transposed(&b, k));
    }
}

#[test]
fn head_blocks_of_wider_rows() {
    // A head of 8 columns inside rows of 24, as the attention reads its projections.
    let (seq, dim, width) = (33, 8, 24);
    let x = data(seq * width, 3);
    let head = &x[dim..];
    let q = Operand::rows(head, width);
    let kt = Operand::transposed(head, width);
    check([seq, dim, seq], q, kt);
}

#[test]
fn an_empty_sum_writes_zeros_or_keeps_the_output() {
    for &engine in Engine::ALL {
        let (a, b) = (Vec::new(), Vec::new());
        let mut out = vec![f32::NAN; 6];
        matmul_on(
            engine,
            &mut out,
            false,
            [2, 0, 3],
            Operand::rows(&a, 0),
            Operand::rows(&b, 3),
            true,
        );
        assert_eq!(out, vec![0.0; 6], "{}", engine.name());
        let mut out = vec![1.5; 6];
        matmul_on(
            engine,
            &mut out,
            true,
            [2, 0, 3],
            Operand::rows(&a, 0),
            Operand::rows(&b, 3),
            true,
        );
        assert_eq!(out, vec![1.5; 6], "{}", engine.name());
    }
}

#[test]
fn by_default_every_product_is_on_the_gemm_crate() {
    if std::env::var_os("ATTN_MATMUL").is_some() {
        return;
    }
    // The default: the gemm crate for every product, whatever its size.
    assert_eq!(Engine::choose([4096, 768, 3072], true), Engine::Gemm);
    assert_eq!(Engine::choose([64, 32, 64], false), Engine::Gemm);
}

#[test]
fn on_the_gemm_crate_a_row_does_not_depend_on_the_rows_beside_it() {
    // Inference runs a row in batches of any size; on the default engine its result is the same
    // in every one, to the bit, whether the product ran on one thread, on the crate's threads (a
    // batch of over 1024 rows) or as bands of rows or columns (fewer, on AVX-512). (OpenBLAS's is
    // not, measured on Zen 3: 88 of a lone row's 1536 elements differed from the same row's in a
    // batch of 700; so it only runs when asked.) The exception: a lone row of over 512 inputs,
    // which the crate multiplies as a matrix-vector product, summed in another order (a batch of
    // one row: a BERT batch has two tokens at least).
    let most = 2100;
    for (k, n) in [(384, 1536), (1536, 384), (768, 100)] {
        let (x, w) = (data(most * k, 4), data(k * n, 5));
        let product = |m: usize, threads: bool| {
            let mut out = Vec::new();
            let (a, b) = (Operand::rows(&x[..m * k], k), Operand::rows(&w, n));
            matmul_on(Engine::Gemm, &mut out, false, [m, k, n], a, b, threads);
            out
        };
        let all = product(most, true);
        let lone = usize::from(k > 512);
        for m in [
            1, 2, 5, 16, 17, 40, 127, 129, 255, 257, 333, 700, 1024, 1025, 2048,
        ]
        .into_iter()
        .skip(lone)
        {
            for threads in [false, true] {
                let differ = product(m, threads)
                    .iter()
                    .zip(&all)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                assert_eq!(
                    differ, 0,
                    "{m} x {k} x {n}, threads {threads}: elements unlike a batch of {most}"
                );
            }
        }
    }
}
