//! Which library runs a matrix product, as `$ATTN_MATMUL` says: `gemm` (the default), `blas`, or
//! `fastest`, chosen per shape and CPU kind from measurements (docs/results.md, "Matrix
//! products"). The default is one engine for every product, so that a row's result never depends
//! on the size of the batch it came in (a per-shape choice moved `attn eval`'s accuracy against
//! the same model's evaluation at the end of training).

use std::sync::OnceLock;

/// A library that computes matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The gemm crate (pure Rust, burn-flex's own).
    Gemm,
    /// The system's OpenBLAS, one single-threaded call per rayon task (the `blas` feature).
    #[cfg(feature = "blas")]
    Blas,
}

impl Engine {
    /// Every engine of this build.
    pub const ALL: &[Engine] = &[
        Engine::Gemm,
        #[cfg(feature = "blas")]
        Engine::Blas,
    ];

    /// The engine's name, as `$ATTN_MATMUL` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Gemm => "gemm",
            #[cfg(feature = "blas")]
            Engine::Blas => "blas",
        }
    }

    /// The engine for an `m` x `k` x `n` product, on all cores (`threads`) or on this thread.
    pub fn choose([m, k, n]: [usize; 3], threads: bool) -> Engine {
        match setting() {
            Some(engine) => engine,
            None => measured([m, k, n], threads),
        }
    }
}

/// The engine `$ATTN_MATMUL` names, read once: the gemm crate when unset, `None` for `fastest`.
///
/// # Panics
/// On a name that is no engine of this build: a setting that would silently not apply.
fn setting() -> Option<Engine> {
    static SETTING: OnceLock<Option<Engine>> = OnceLock::new();
    *SETTING.get_or_init(|| {
        let Ok(name) = std::env::var("ATTN_MATMUL") else {
            return Some(Engine::Gemm);
        };
        if name == "fastest" {
            return None;
        }
        let engine = Engine::ALL.iter().copied().find(|e| e.name() == name);
        let names: Vec<_> = Engine::ALL.iter().map(|e| e.name()).collect();
        assert!(
            engine.is_some(),
            "ATTN_MATMUL={name}: this build has the engines {} and fastest (blas needs \
             --features blas)",
            names.join(", ")
        );
        engine
    })
}

/// Multiply-adds from which a product on all cores runs faster on OpenBLAS than on the gemm crate
/// on AVX2 CPUs (measured on Zen 3: all-MiniLM-L6-v2's inference batches and bert-base's
/// feed-forward products are above it, a MiniLM training batch of 8 below).
#[cfg(feature = "blas")]
const BLAS_FROM: usize = 1 << 29;

/// The faster engine for the shape on this CPU, as measured: OpenBLAS for the large products on
/// all cores of AVX2 CPUs; the gemm crate for the rest, and everywhere on AVX-512 (its x86-v4
/// kernels).
#[cfg_attr(not(feature = "blas"), allow(unused_variables))]
fn measured([m, k, n]: [usize; 3], threads: bool) -> Engine {
    #[cfg(feature = "blas")]
    if threads && m * k * n >= BLAS_FROM && !wide_vectors() {
        return Engine::Blas;
    }
    Engine::Gemm
}

/// Whether the CPU has 512-bit vectors (AVX-512F), where the gemm crate's x86-v4 kernels run.
#[cfg(feature = "blas")]
fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}
