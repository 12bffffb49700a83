//! Checks that a model directory is complete and that its files parse.

use std::io::Read;
use std::path::Path;

use crate::{HubError, Result, io_err};

/// Checks a Hugging Face-layout model directory: `config.json` is a JSON object, a tokenizer
/// (`tokenizer.json` or `vocab.txt`) exists, and the weights (`model.safetensors`, or the shards
/// listed by `model.safetensors.index.json`) have a valid header and exactly the length it implies.
pub fn verify_model_dir(dir: &Path) -> Result<()> {
    let invalid = |path: &Path, reason: String| HubError::InvalidModel {
        path: path.to_path_buf(),
        reason,
    };
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(io_err(&config))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(&config, e.to_string()))?;
    if !value.is_object() {
        return Err(invalid(&config, "not a JSON object".into()));
    }

    let tokenizer = dir.join("tokenizer.json");
    if tokenizer.exists() {
        let text = std::fs::read_to_string(&tokenizer).map_err(io_err(&tokenizer))?;
        serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| invalid(&tokenizer, e.to_string()))?;
    } else if !dir.join("vocab.txt").is_file() {
        return Err(invalid(
            dir,
            "neither tokenizer.json nor vocab.txt exists".into(),
        ));
    }

    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    if single.exists() {
        verify_safetensors(&single)
    } else if index.exists() {
        for shard in shard_files(&index)? {
            verify_safetensors(&dir.join(shard))?;
        }
        Ok(())
    } else {
        Err(invalid(
            dir,
            "neither model.safetensors nor model.safetensors.index.json exists".into(),
        ))
    }
}

/// The distinct shard file names listed in a `model.safetensors.index.json`.
pub(crate) fn shard_files(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(io_err(index))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| HubError::InvalidModel {
            path: index.to_path_buf(),
            reason: e.to_string(),
        })?;
    let map = value["weight_map"]
        .as_object()
        .ok_or_else(|| HubError::InvalidModel {
            path: index.to_path_buf(),
            reason: "no `weight_map` object".into(),
        })?;
    let mut files: Vec<String> = map
        .values()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Checks a safetensors header and that the file is exactly as long as its tensors need.
fn verify_safetensors(path: &Path) -> Result<()> {
    let invalid = |reason: String| HubError::InvalidModel {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n)
        .map_err(|_| invalid("shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(n);
    if n > len.saturating_sub(8) || n > 100 << 20 {
        return Err(invalid(format!(
            "header length {n} exceeds the file ({len} bytes)"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io_err(path))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| invalid(format!("header: {e}")))?;
    let mut end = 0u64;
    for (name, info) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let offsets = info["data_offsets"]
            .as_array()
            .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()?)))
            .ok_or_else(|| invalid(format!("tensor `{name}` has no valid data_offsets")))?;
        end = end.max(offsets.1);
    }
    let expected = 8 + n + end;
    if expected != len {
        return Err(invalid(format!(
            "file is {len} bytes but its header describes {expected} (truncated or corrupted)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_model(dir: &Path, weights: &[u8]) {
        std::fs::write(dir.join("config.json"), r#"{"hidden_size": 4}"#).unwrap();
        std::fs::write(dir.join("vocab.txt"), "[PAD]\n[UNK]\n").unwrap();
        std::fs::write(dir.join("model.safetensors"), weights).unwrap();
    }

    fn safetensors_bytes() -> Vec<u8> {
        let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header);
        out.extend_from_slice(&[0u8; 8]);
        out
    }

    #[test]
    fn accepts_a_complete_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &safetensors_bytes());
        verify_model_dir(dir.path()).unwrap();
    }

    #[test]
    fn rejects_truncated_weights_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = safetensors_bytes();
        write_model(dir.path(), &bytes[..bytes.len() - 3]);
        let err = verify_model_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_missing_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &safetensors_bytes());
        std::fs::remove_file(dir.path().join("vocab.txt")).unwrap();
        let err = verify_model_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json nor vocab.txt"), "{err}");
    }
}
