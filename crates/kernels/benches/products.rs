//! Criterion benches of the matrix products on the shapes the models train and infer on, on every
//! engine of this build (`--features blas` adds OpenBLAS), then a table of their GFLOP/s and the
//! share of the machine's peak.
//!
//! `cargo bench -p attn-kernels --features blas --bench products` (a filter such as `minilm`
//! picks cases).

use std::time::{Duration, Instant};

use attn_kernels::cpu::{Engine, Operand, matmul_on};
use criterion::{Criterion, Throughput};

/// How an operand is stored: as the product reads it (`N`) or as its transpose (`T`).
#[derive(Clone, Copy)]
enum Layout {
    /// x · w: the forward product.
    NN,
    /// g · wᵀ: the input's gradient.
    NT,
    /// xᵀ · g: the weight's gradient.
    TN,
}

/// One product: a name, m x k x n, the layout, and whether it takes all cores.
struct Case {
    name: String,
    dims: [usize; 3],
    layout: Layout,
    threads: bool,
}

/// A linear layer [rows, d_in] -> d_out: its forward product and both of its backward ones.
fn linear(cases: &mut Vec<Case>, model: &str, rows: usize, d_in: usize, d_out: usize) {
    for (layout, dims, tag) in [
        (Layout::NN, [rows, d_in, d_out], "fwd"),
        (Layout::NT, [rows, d_out, d_in], "dx"),
        (Layout::TN, [d_in, rows, d_out], "dw"),
    ] {
        let [m, k, n] = dims;
        cases.push(Case {
            name: format!("{model}/{tag}_{m}x{k}x{n}"),
            dims,
            layout,
            threads: true,
        });
    }
}

/// The products of the models' steps.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // all-MiniLM-L6-v2: a training batch of 8 (~512 packed tokens), an inference batch of 32.
    for rows in [512, 2048] {
        linear(&mut cases, "minilm", rows, 384, 384);
        linear(&mut cases, "minilm", rows, 384, 1536);
        linear(&mut cases, "minilm", rows, 1536, 384);
    }
    // The three attention projections as one product (q, k, v side by side): against three
    // of minilm/*_512x384x384, whether fusing them would pay.
    linear(&mut cases, "minilm", 512, 384, 1152);
    // bert-base: a training batch of 8, and issue 37's large shapes.
    for rows in [512, 4096] {
        linear(&mut cases, "bert-base", rows, 768, 3072);
        linear(&mut cases, "bert-base", rows, 3072, 768);
    }
    linear(&mut cases, "bert-base", 512, 768, 768);
    // One attention head of 64 tokens (dim 32), single-threaded inside a rayon task:
    // q kᵀ, p v, and the backward's products.
    for (name, dims, layout) in [
        ("qk", [64, 32, 64], Layout::NT),
        ("pv", [64, 64, 32], Layout::NN),
        ("dp", [64, 32, 64], Layout::NT),
        ("dv", [64, 64, 32], Layout::TN),
    ] {
        cases.push(Case {
            name: format!("head/{name}_64x{}x{}", dims[1], dims[2]),
            dims,
            layout,
            threads: false,
        });
    }
    // The RNN's recurrent step: 32 sequences, hidden 256, three gates, single-threaded.
    cases.push(Case {
        name: "rnn/step_32x256x768".into(),
        dims: [32, 256, 768],
        layout: Layout::NN,
        threads: false,
    });
    cases
}

/// Numbers in [-1, 1), fixed by `seed`.
fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| ((i ^ seed).wrapping_mul(2_654_435_761) >> 8) as f32 / (1 << 23) as f32 - 1.0)
        .collect()
}

/// `iters` rounds of a multiply-add on each of `CHAINS` independent accumulators (2 FLOP each),
/// compiled for AVX-512 and AVX2 + FMA too: the core's peak, with no memory in the way (eight
/// vectors of accumulators fill two FMA pipes of latency 4, and stay in registers).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon",
))]
fn fma_chains<const CHAINS: usize>(seed: f32, iters: usize) -> f32 {
    let mut acc = [seed; CHAINS];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    acc.iter().sum()
}

/// The machine's f32 peak in GFLOP/s: [`fma_chains`] on every core at once, the best of 5.
fn peak() -> f64 {
    let iters = 2_000_000;
    // Eight vectors of accumulators: 8 lanes each on AVX2, 16 with AVX-512.
    #[cfg(target_arch = "x86_64")]
    let wide = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let wide = false;
    let chains = if wide { 128 } else { 64 };
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            let sums = rayon::broadcast(|_| match wide {
                true => fma_chains::<128>(1.0, iters),
                false => fma_chains::<64>(1.0, iters),
            });
            std::hint::black_box(sums);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let flop = rayon::current_num_threads() * iters * chains * 2;
    flop as f64 / best / 1e9
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut times: Vec<(String, bool, f64, f64)> = Vec::new();
    for case in cases() {
        let [m, k, n] = case.dims;
        let flop = 2 * m * k * n;
        let (a, b) = (data(m * k, 1), data(k * n, 2));
        let (a_op, b_op) = match case.layout {
            Layout::NN => (Operand::rows(&a, k), Operand::rows(&b, n)),
            Layout::NT => (Operand::rows(&a, k), Operand::transposed(&b, k)),
            Layout::TN => (Operand::transposed(&a, m), Operand::rows(&b, n)),
        };
        let mut group = c.benchmark_group(&case.name);
        group.throughput(Throughput::Elements(flop as u64));
        for &engine in Engine::ALL {
            let mut seen = Vec::new();
            let mut out = Vec::with_capacity(m * n);
            group.bench_function(engine.name(), |bench| {
                bench.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        matmul_on(engine, &mut out, false, case.dims, a_op, b_op, case.threads);
                    }
                    let took = start.elapsed();
                    seen.push(took.as_secs_f64() / iters as f64);
                    took
                })
            });
            if !seen.is_empty() {
                seen.sort_by(f64::total_cmp);
                let s = seen[seen.len() / 2];
                let name = format!("{} {}", case.name, engine.name());
                times.push((name, case.threads, s, flop as f64 / s / 1e9));
            }
        }
        group.finish();
    }
    let peak = peak();
    let cores = rayon::current_num_threads();
    println!("\nPeak f32: {peak:.1} GFLOP/s (independent multiply-adds on {cores} cores)");
    println!("| product | engine | cores | median µs | GFLOP/s | share of their peak |");
    println!("|---|---|---|---|---|---|");
    for (name, threads, s, gflops) in times {
        let (case, engine) = name.rsplit_once(' ').unwrap_or((&name, ""));
        let used = if threads { cores } else { 1 };
        let share = gflops / (peak * used as f64 / cores as f64);
        println!(
            "| {case} | {engine} | {used} | {:.1} | {gflops:.1} | {share:.2} |",
            s * 1e6
        );
    }
    c.final_summary();
}
