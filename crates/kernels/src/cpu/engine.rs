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

/// Rows (or columns, when it has more of them) up to which a threaded product on the gemm crate
/// runs as single-threaded bands on AVX-512 CPUs (measured on Zen 5 by whole `attn bench` runs:
/// up to 1024, MiniLM's fine-tune step gains 1.7 % and its inference holds; up to 2048 the step
/// gained 7 % but inference, whose batches pass 1024 rows, lost 7 %).
const BANDS_UP_TO: usize = 1024;

/// Whether a threaded m x n product on the gemm crate runs as single-threaded bands of its output,
/// one per rayon thread, instead of on the crate's own threads (whose two joins per block of the
/// inner dimension cost more than they save on the models' products): as `$ATTN_GEMM_SPLIT` says
/// (`bands` or `crate`, read once), else as measured, bands up to [`BANDS_UP_TO`] on AVX-512 CPUs
/// and the crate's threads elsewhere (on AVX2 CPUs, not yet measured).
///
/// # Panics
/// On a setting other than `bands` and `crate`.
pub(super) fn gemm_in_bands(m: usize, n: usize) -> bool {
    static SETTING: OnceLock<Option<bool>> = OnceLock::new();
    let setting = SETTING.get_or_init(|| {
        let name = std::env::var("ATTN_GEMM_SPLIT").ok()?;
        match name.as_str() {
            "bands" => Some(true),
            "crate" => Some(false),
            _ => panic!("ATTN_GEMM_SPLIT={name}: the splits are bands and crate"),
        }
    });
    setting.unwrap_or_else(|| wide_vectors() && m.max(n) <= BANDS_UP_TO)
}

/// Whether the CPU has 512-bit vectors (AVX-512F), where the gemm crate's x86-v4 kernels run.
fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}
