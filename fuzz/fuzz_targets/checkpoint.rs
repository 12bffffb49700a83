//! Any bytes as `model.safetensors` beside the tiny fixture's config: the loader builds the model
//! or refuses with an error (truncation, lying headers, wrong dtypes or shapes), never panics.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use attn_transformer::{BertForSequenceClassification, Pooling, parse_safetensors};
use burn::backend::Flex;
use libfuzzer_sys::fuzz_target;

/// A private copy of the tiny fixture's directory, whose weights each input replaces.
fn model_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/transformer/tests/fixtures/tiny-bert-bare");
        let dir = std::env::temp_dir().join(format!("attn-fuzz-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for file in ["config.json", "vocab.txt"] {
            std::fs::copy(fixture.join(file), dir.join(file)).expect("fixture file");
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = model_dir();
    let path = dir.join("model.safetensors");
    let _ = parse_safetensors(data, &path);
    std::fs::write(&path, data).expect("temp file");
    let _ = BertForSequenceClassification::<Flex>::from_pretrained(
        dir,
        Some(4),
        Pooling::Cls,
        &Default::default(),
    );
});
