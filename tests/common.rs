//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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

/// Words that give each of four classes away.
const CLASS_WORDS: [&[&str]; 4] = [
    &[
        "world",
        "war",
        "peace",
        "government",
        "president",
        "minister",
        "election",
    ],
    &["sports", "game", "team", "win", "season", "player", "won"],
    &[
        "business", "market", "stocks", "profit", "company", "shares", "oil",
    ],
    &[
        "science", "space", "nasa", "computer", "software", "internet", "study",
    ],
];

/// Writes `n` rows `label,"text"` whose words give the class away.
pub fn write_separable_csv(path: &Path, n: usize) {
    let mut out = String::new();
    for i in 0..n {
        let class = i % 4;
        let words = CLASS_WORDS[class];
        let text: Vec<&str> = (0..5)
            .map(|j| words[(i * 7 + j * 3) % words.len()])
            .collect();
        out += &format!("{class},\"{}\"\n", text.join(" "));
    }
    std::fs::write(path, out).unwrap();
}

/// Training settings of the tiny fixture BERT runs.
pub const TINY_SETTINGS: [&str; 8] = [
    "--max-len",
    "32",
    "--batch-size",
    "16",
    "--lr",
    "3e-3",
    "--warmup",
    "0.05",
];

/// `train bert` of the tiny fixture BERT with `csv` as training and test set.
pub fn tiny_bert_on(csv: &Path) -> Vec<std::ffi::OsString> {
    let model = fixture("tiny-bert-bare");
    let args: [&std::ffi::OsStr; 8] = [
        "train".as_ref(),
        "bert".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--train".as_ref(),
        csv.as_os_str(),
        "--test".as_ref(),
        csv.as_os_str(),
    ];
    args.iter().map(|a| a.to_os_string()).collect()
}
