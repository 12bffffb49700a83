//! Loading refuses bad checkpoints with an error naming the tensor or file, never a panic.

use std::path::Path;

use attn_transformer::{BertError, BertModel, read_checkpoint, write_safetensors};
use burn::backend::Flex;
use burn::tensor::TensorData;

fn copy_fixture(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn load(dir: &Path) -> Result<(), BertError> {
    BertModel::<Flex>::from_pretrained(dir, &Default::default()).map(|_| ())
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = copy_fixture("tiny-bert-bare");
    let mut tensors = read_checkpoint(dir.path()).unwrap();
    tensors.remove("encoder.layer.1.attention.self.key.weight");
    write_safetensors(&dir.path().join("model.safetensors"), &tensors).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("encoder.layer.1.attention.self.key.weight") && err.contains("[32, 32]"),
        "{err}"
    );
}

#[test]
fn a_wrong_shape_names_tensor_expected_and_found() {
    let dir = copy_fixture("tiny-bert-bare");
    let mut tensors = read_checkpoint(dir.path()).unwrap();
    tensors.insert(
        "encoder.layer.0.output.dense.bias".into(),
        TensorData::new(vec![0f32; 31], [31]),
    );
    write_safetensors(&dir.path().join("model.safetensors"), &tensors).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("encoder.layer.0.output.dense.bias")
            && err.contains("[31]")
            && err.contains("[32]"),
        "{err}"
    );
}

#[test]
fn truncated_and_corrupted_files_are_refused() {
    let dir = copy_fixture("tiny-bert-bare");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    let mut lying = bytes.clone();
    lying[0..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    std::fs::write(&path, &lying).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn an_impossible_config_is_refused() {
    let dir = copy_fixture("tiny-bert-bare");
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 0");
    std::fs::write(&path, text).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("num_attention_heads"),
        "{err}"
    );
}

/// The fixture's weights with their JSON header passed through `edit`.
fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let text = header.to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn headers_that_lie_about_offsets_or_dtypes_are_refused() {
    let dir = copy_fixture("tiny-bert-bare");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let name = "embeddings.word_embeddings.weight";

    // Offsets past the end of the data.
    let lying = with_header(&bytes, |h| h[name]["data_offsets"][1] = (1u64 << 40).into());
    std::fs::write(&path, lying).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    // A dtype whose size does not match the bytes.
    let lying = with_header(&bytes, |h| h[name]["dtype"] = "F64".into());
    std::fs::write(&path, lying).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    // An integer dtype of the same size: not a weight, so the weight is missing, by name.
    let lying = with_header(&bytes, |h| h[name]["dtype"] = "I32".into());
    std::fs::write(&path, lying).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains(name), "{err}");

    // A shape that disagrees with the offsets.
    let lying = with_header(&bytes, |h| h[name]["shape"][0] = 7.into());
    std::fs::write(&path, lying).unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}
