//! Finding or fetching Multi30k task 1 (image captions in English, German and French, line N of
//! every file the same caption).

use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::Sha256;

use crate::ag_news::check_digest;
use crate::{HubError, Result, attn_home, http};
use attn_atomic::Dir as AtomicDir;

/// The multi30k/dataset repository's raw task-1 files (each `NAME.gz`).
pub const MULTI30K_URL: &str =
    "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw";

/// The files of the cache and their SHA-256 once gunzipped.
pub const MULTI30K_FILES: [(&str, &str); 9] = [
    (
        "train.en",
        "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    ),
    (
        "train.de",
        "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    ),
    (
        "train.fr",
        "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d",
    ),
    (
        "val.en",
        "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    ),
    (
        "val.de",
        "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    ),
    (
        "val.fr",
        "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc",
    ),
    (
        "test_2016_flickr.en",
        "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
    ),
    (
        "test_2016_flickr.de",
        "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    ),
    (
        "test_2016_flickr.fr",
        "cb3160d69b002bb638e66cc7612fcd56cb0af82eadc9c142dedc438afb885ef6",
    ),
];

/// Resolves the directory holding Multi30k's `train`, `val` and `test_2016_flickr` files.
///
/// In order: `explicit` (`--data-dir`), `$MULTI30K_DIR`, the cache
/// (`$ATTN_HOME/data/multi30k`), and a download of every file from [`MULTI30K_URL`] (or
/// `$ATTN_MULTI30K_URL`), checked against its SHA-256 before the files enter the cache
/// together. A directory given explicitly must hold `test_2016_flickr.en`.
pub fn resolve_multi30k(explicit: Option<&Path>) -> Result<PathBuf> {
    let from_env = std::env::var_os("MULTI30K_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    for (what, dir) in [
        ("--data-dir", explicit.map(Path::to_path_buf)),
        ("MULTI30K_DIR", from_env),
    ] {
        if let Some(dir) = dir {
            if dir.join("test_2016_flickr.en").is_file() {
                return Ok(dir);
            }
            return Err(HubError::DataNotFound {
                tried: format!("{what} {}: no test_2016_flickr.en there", dir.display()),
            });
        }
    }
    let cached = attn_home().join("data").join("multi30k");
    if MULTI30K_FILES.iter().all(|(f, _)| cached.join(f).is_file()) {
        return Ok(cached);
    }
    let base = std::env::var("ATTN_MULTI30K_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| MULTI30K_URL.into());
    download(&base, &cached, &MULTI30K_FILES).map_err(|e| HubError::DataNotFound {
        tried: format!(
            "not in the cache ({}), and the download failed: {e}",
            cached.display()
        ),
    })
}

/// Downloads `BASE/NAME.gz` for each of `files`, gunzips it, checks its SHA-256 and moves them
/// all into `target` together.
fn download(
    base: &str,
    target: &Path,
    files: &[(&str, &str)],
) -> std::result::Result<PathBuf, String> {
    let dir = AtomicDir::new(target).map_err(|e| e.to_string())?;
    for (file, sha256) in files {
        let url = format!("{base}/{file}.gz");
        let response = http::get(&url)?;
        let dest = dir.path().join(file);
        let mut out =
            std::fs::File::create(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        std::io::copy(&mut GzDecoder::new(response.into_reader()), &mut out)
            .map_err(|e| format!("reading {url} broke off: {e}"))?;
        check_digest::<Sha256>(&dest, sha256).map_err(|e| e.to_string())?;
    }
    dir.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn an_explicit_directory_without_the_test_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_multi30k(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("no test_2016_flickr.en there") && err.contains("--data-dir"),
            "{err}"
        );
    }

    #[test]
    fn a_download_with_the_wrong_sum_stays_out_of_the_cache() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(b"a caption\n").unwrap();
            let body = gz.finish().unwrap();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        });
        let home = tempfile::tempdir().unwrap();
        let target = home.path().join("multi30k");
        let err = download(&base, &target, &MULTI30K_FILES[..1]).unwrap_err();
        assert!(
            err.contains("train.en") && err.contains(MULTI30K_FILES[0].1),
            "{err}"
        );
        assert!(!target.exists());
    }
}
