//! CubeCL's kernel caches (burn's GPU backends): compiled kernels and autotune results kept on
//! disk in one directory, so a second run of the same command compiles and tunes nothing.

use std::path::Path;

use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig, cache::CacheConfig};

/// Keeps CubeCL's compiled kernels and autotune results under `dir`, unless a `cubecl.toml` (or
/// the `[cubecl]` sections of a `burn.toml`) in the working directory or above names its own
/// places. Returns whether the setting took: CubeCL reads its configuration once per process, so a
/// call after the first GPU tensor (or a second call) changes nothing and returns `false`.
pub fn use_kernel_caches(dir: &Path) -> bool {
    if CubeClRuntimeConfig::storage().lock().is_some() {
        return false;
    }
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    let ours = CacheConfig::File(dir.to_path_buf());
    // The defaults: no compiled-kernel cache, autotune results under the nearest `target/`.
    config.compilation.cache.get_or_insert(ours.clone());
    if matches!(config.autotune.cache, CacheConfig::Target) {
        config.autotune.cache = ours;
    }
    let mut storage = CubeClRuntimeConfig::storage().lock();
    if storage.is_some() {
        return false;
    }
    *storage = Some(std::sync::Arc::new(config));
    true
}
