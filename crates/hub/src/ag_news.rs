//! Finding or fetching the AG News CSV files.

use std::io::Read;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::atomic::AtomicDir;
use crate::{HubError, Result, attn_home, io_err};

/// MD5 of the official AG News `train.csv` (120,000 rows).
pub const AG_NEWS_TRAIN_MD5: &str = "b1a00f826fdfbd249f79597b59e1dc12";
/// MD5 of the official AG News `test.csv` (7,600 rows).
pub const AG_NEWS_TEST_MD5: &str = "d52ea96a97a2d943681189a97654912d";

/// Resolves the directory holding AG News `train.csv` and `test.csv`.
///
/// In order: `explicit` (`--data-dir`), `$AG_NEWS_DIR`, the cache (`$ATTN_HOME/data/ag_news`), and
/// a download through `burn_dataset::nlp::AgNewsDataset` (the same official CSVs, checked against
/// their MD5 before they enter the cache). A directory given explicitly must hold `test.csv`;
/// `train.csv` is checked by whoever reads it.
pub fn resolve_ag_news(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut attempts = Vec::new();
    let from_env = std::env::var_os("AG_NEWS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    for (what, dir) in [
        ("--data-dir", explicit.map(Path::to_path_buf)),
        ("AG_NEWS_DIR", from_env),
    ] {
        if let Some(dir) = dir {
            if dir.join("test.csv").is_file() {
                return Ok(dir);
            }
            attempts.push(format!("  {what} {}: no test.csv there", dir.display()));
            return Err(HubError::DataNotFound {
                attempts: attempts.join("\n"),
            });
        }
    }
    let cached = attn_home().join("data").join("ag_news");
    if cached.join("train.csv").is_file() && cached.join("test.csv").is_file() {
        return Ok(cached);
    }
    attempts.push(format!("  cache {}: empty", cached.display()));
    match download(&cached) {
        Ok(dir) => Ok(dir),
        Err(e) => {
            attempts.push(format!("  download: {e}"));
            Err(HubError::DataNotFound {
                attempts: attempts.join("\n"),
            })
        }
    }
}

/// Downloads AG News with burn's dataset downloader, verifies it and copies it into `target`.
fn download(target: &Path) -> std::result::Result<PathBuf, String> {
    // burn's downloader panics on network errors; keep its panic message off the terminal and
    // turn it into an error.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let fetched = std::panic::catch_unwind(|| {
        let _ = burn_dataset::nlp::AgNewsDataset::new();
    });
    std::panic::set_hook(hook);
    if let Err(panic) = fetched {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into());
        return Err(format!("burn-dataset's AG News download failed: {msg}"));
    }
    let source = burn_cache_dir().ok_or("no cache directory for burn-dataset")?;
    let dir = AtomicDir::new(target).map_err(|e| e.to_string())?;
    for (file, md5) in [
        ("train.csv", AG_NEWS_TRAIN_MD5),
        ("test.csv", AG_NEWS_TEST_MD5),
    ] {
        let from = source.join(file);
        check_md5(&from, md5).map_err(|e| e.to_string())?;
        std::fs::copy(&from, dir.path().join(file))
            .map_err(|e| format!("{}: {e}", from.display()))?;
    }
    dir.commit().map_err(|e| e.to_string())
}

/// Where `burn_dataset::nlp::AgNewsDataset` unpacks the CSVs.
fn burn_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("burn-dataset").join("ag_news_csv"))
}

/// Fails unless the file at `path` has the MD5 `expected` (lower-case hex).
fn check_md5(path: &Path, expected: &str) -> Result<()> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let found: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if found != expected {
        return Err(HubError::Checksum {
            path: path.to_path_buf(),
            expected: expected.into(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.csv");
        std::fs::write(&file, "abc").unwrap();
        check_md5(&file, "900150983cd24fb0d6963f7d28e17f72").unwrap();
        let err = check_md5(&file, AG_NEWS_TEST_MD5).unwrap_err().to_string();
        assert!(
            err.contains("f.csv") && err.contains(AG_NEWS_TEST_MD5),
            "{err}"
        );
    }

    #[test]
    fn an_explicit_directory_without_test_csv_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_ag_news(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("no test.csv there") && err.contains("--data-dir"),
            "{err}"
        );
    }

    #[test]
    fn the_shared_official_test_set_has_its_checksum() {
        // CI and developers have the official test split beside the checkout; elsewhere this is a no-op.
        let Some(dir) = std::env::var_os("AG_NEWS_DIR").map(PathBuf::from) else {
            return;
        };
        check_md5(&dir.join("test.csv"), AG_NEWS_TEST_MD5).unwrap();
    }
}
