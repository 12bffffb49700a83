//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;

/// A tiny HF-format fixture model of the transformer crate.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../transformer/tests/fixtures")
        .join(name)
}

/// The built `attn` binary with a private cache and the hub switched off.
pub fn attn(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_attn"));
    cmd.env("ATTN_HOME", home)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("ATTN_BACKEND");
    cmd
}

/// Parses each stdout line as JSON.
pub fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Width, height and the number of distinct colours of a PNG.
pub fn png_summary(path: &std::path::Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = bytes.chunks(step).collect();
    (info.width, info.height, colours.len())
}
