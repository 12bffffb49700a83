//! Finding or fetching the AG News CSV files.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

use crate::{HubError, Result, attn_home, http, io_err};
use attn_atomic::Dir as AtomicDir;

/// MD5 of the official AG News `train.csv` (120,000 rows).
pub const AG_NEWS_TRAIN_MD5: &str = "b1a00f826fdfbd249f79597b59e1dc12";
/// MD5 of the official AG News `test.csv` (7,600 rows).
pub const AG_NEWS_TEST_MD5: &str = "d52ea96a97a2d943681189a97654912d";

/// The AG News archive on fastai's mirror (`ag_news_csv/{train,test}.csv`, the official files).
pub const AG_NEWS_URL: &str = "https://s3.amazonaws.com/fast-ai-nlp/ag_news_csv.tgz";

/// The files taken from the archive and their MD5 sums.
const AG_NEWS_FILES: [(&str, &str); 2] = [
    ("train.csv", AG_NEWS_TRAIN_MD5),
    ("test.csv", AG_NEWS_TEST_MD5),
];

/// Resolves the directory holding AG News `train.csv` and `test.csv`.
///
/// In order: `explicit` (`--data-dir`), `$AG_NEWS_DIR`, the cache (`$ATTN_HOME/data/ag_news`), and
/// a download of [`AG_NEWS_URL`] (or `$ATTN_AG_NEWS_URL`), whose CSVs are checked against their
/// MD5 before they enter the cache. A directory given explicitly must hold `test.csv`;
/// `train.csv` is checked by whoever reads it.
pub fn resolve_ag_news(explicit: Option<&Path>) -> Result<PathBuf> {
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
            return Err(HubError::DataNotFound {
                tried: format!("{what} {}: no test.csv there", dir.display()),
            });
        }
    }
    let cached = attn_home().join("data").join("ag_news");
    if cached.join("train.csv").is_file() && cached.join("test.csv").is_file() {
        return Ok(cached);
    }
    let url = std::env::var("ATTN_AG_NEWS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| AG_NEWS_URL.into());
    download(&url, &cached, &AG_NEWS_FILES).map_err(|e| HubError::DataNotFound {
        tried: format!(
            "not in the cache ({}), and the download failed: {e}",
            cached.display()
        ),
    })
}

/// Downloads the `.tgz` at `url`, takes the files named in `files` (wherever they sit in the
/// archive), checks their MD5 and moves them into `target` together.
fn download(
    url: &str,
    target: &Path,
    files: &[(&str, &str)],
) -> std::result::Result<PathBuf, String> {
    let response = http::get(url)?;
    let bar = match response
        .header("Content-Length")
        .and_then(|n| n.parse().ok())
    {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    bar.set_style(
        ProgressStyle::with_template("AG News {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template"),
    );
    let broke = |e: std::io::Error| format!("reading {url} broke off: {e}");
    let mut archive = tar::Archive::new(GzDecoder::new(bar.wrap_read(response.into_reader())));
    let dir = AtomicDir::new(target).map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for entry in archive.entries().map_err(broke)? {
        let mut entry = entry.map_err(broke)?;
        let path = entry.path().map_err(broke)?.into_owned();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some((file, _)) = files.iter().find(|(f, _)| *f == name) {
            let dest = dir.path().join(file);
            let mut out =
                std::fs::File::create(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
            std::io::copy(&mut entry, &mut out).map_err(broke)?;
            found.push(*file);
        }
    }
    bar.finish_and_clear();
    for (file, md5) in files {
        if !found.contains(file) {
            return Err(format!("{url} holds no {file}"));
        }
        check_md5(&dir.path().join(file), md5).map_err(|e| e.to_string())?;
    }
    dir.commit().map_err(|e| e.to_string())
}

/// Fails unless the file at `path` has the MD5 `expected` (lower-case hex).
fn check_md5(path: &Path, expected: &str) -> Result<()> {
    check_digest::<Md5>(path, expected)
}

/// Fails unless the file at `path` has the digest `expected` (lower-case hex) under `D`.
pub(crate) fn check_digest<D: Digest>(path: &Path, expected: &str) -> Result<()> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = D::new();
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

    /// Serves `body` to one HTTP request on a loopback port; returns the URL.
    fn serve_once(body: Vec<u8>) -> String {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ag_news_csv.tgz", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        });
        url
    }

    /// A `.tgz` holding `files` under `ag_news_csv/`.
    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, body) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("ag_news_csv/{name}"), body.as_bytes())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_download_is_unpacked_checked_and_cached() {
        let home = tempfile::tempdir().unwrap();
        let target = home.path().join("data/ag_news");
        // md5("abc") and md5("") for the two files.
        let files = [
            ("train.csv", "900150983cd24fb0d6963f7d28e17f72"),
            ("test.csv", "d41d8cd98f00b204e9800998ecf8427e"),
        ];
        let url = serve_once(tgz(&[
            ("readme.txt", "x"),
            ("train.csv", "abc"),
            ("test.csv", ""),
        ]));
        let dir = download(&url, &target, &files).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("train.csv")).unwrap(),
            "abc"
        );
        assert!(!dir.join("readme.txt").exists());

        let url = serve_once(tgz(&[("train.csv", "abd"), ("test.csv", "")]));
        let err = download(&url, &home.path().join("bad"), &files).unwrap_err();
        assert!(err.contains("MD5") && err.contains("train.csv"), "{err}");
        assert!(
            !home.path().join("bad").exists(),
            "a bad download must not enter the cache"
        );
    }

    #[test]
    fn the_shared_official_test_set_has_its_checksum() {
        // CI and developers have the official test split beside the checkout.
        let Some(dir) = attn_testing::ag_news_dir() else {
            return;
        };
        check_md5(&dir.join("test.csv"), AG_NEWS_TEST_MD5).unwrap();
    }
}
