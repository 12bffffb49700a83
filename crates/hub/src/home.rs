//! The cache directory.

use std::path::PathBuf;

/// The cache root: `$ATTN_HOME`, else `$XDG_CACHE_HOME/attn`, else `~/.cache/attn`.
pub fn attn_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("ATTN_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("attn");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("attn")
}
