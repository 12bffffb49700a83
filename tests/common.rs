//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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

/// `attn train rnn` of a small RNN classifier on `csv` (training and test set at once) into `run`:
/// 80 iterations overfit [`write_separable_csv`]'s rows.
pub fn tiny_rnn(home: &Path, csv: &Path, run: &Path) -> assert_cmd::assert::Assert {
    attn(home)
        .args(["train", "rnn", "--train"])
        .arg(csv)
        .arg("--test")
        .arg(csv)
        .args(["--batch-size", "16", "--lr", "5e-3", "--iterations", "80"])
        .args([
            "--report-every",
            "20",
            "--embed-dim",
            "16",
            "--hidden",
            "16",
        ])
        .args(["--attention-dim", "16", "--dropout", "0", "--output"])
        .arg(run)
        .assert()
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

/// Writes `n` pairs: a source of 3 to 6 words `s0`..`s9`, and its target, the same words as
/// `t0`..`t9` in reverse order (a translation whose alignment is the anti-diagonal).
pub fn write_pairs(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let (mut source, mut target) = (String::new(), String::new());
    let mut state = 7u64;
    for _ in 0..n {
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as usize
        };
        let len = 3 + next() % 4;
        let words: Vec<usize> = (0..len).map(|_| next() % 10).collect();
        let line = |prefix: &str, words: &mut dyn Iterator<Item = &usize>| {
            words
                .map(|w| format!("{prefix}{w}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        source += &(line("s", &mut words.iter()) + "\n");
        target += &(line("t", &mut words.iter().rev()) + "\n");
    }
    let (s, t) = (dir.join("pairs.src"), dir.join("pairs.tgt"));
    std::fs::write(&s, source).unwrap();
    std::fs::write(&t, target).unwrap();
    (s, t)
}

/// `attn train seq2seq` of a tiny model on `pairs` (training, validation and test set at once)
/// with `extra` flags, into or resuming `run` (`--output` or `--resume`).
pub fn tiny_seq2seq(
    home: &Path,
    pairs: &(PathBuf, PathBuf),
    extra: &[&str],
    how: &str,
    run: &Path,
) -> assert_cmd::assert::Assert {
    let (s, t) = pairs;
    let mut cmd = attn(home);
    cmd.args(["train", "seq2seq"]);
    for (flag, file) in [
        ("--train-src", s),
        ("--train-tgt", t),
        ("--val-src", s),
        ("--val-tgt", t),
        ("--test-src", s),
        ("--test-tgt", t),
    ] {
        cmd.arg(flag).arg(file);
    }
    cmd.args([
        "--embed-dim",
        "24",
        "--hidden",
        "32",
        "--attention-dim",
        "24",
        "--min-freq",
        "1",
        "--batch-size",
        "16",
        "--lr",
        "1e-2",
        "--warmup",
        "0.05",
        "--beam",
        "1",
    ])
    .args(extra)
    .arg(how)
    .arg(run)
    .assert()
}

/// [`tiny_seq2seq`] into a new run directory, without dropout unless `extra` sets it.
pub fn tiny_seq2seq_train(
    home: &Path,
    pairs: &(PathBuf, PathBuf),
    run: &Path,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    let mut all = extra.to_vec();
    if !extra.contains(&"--dropout") {
        all.extend(["--dropout", "0"]);
    }
    if !extra.contains(&"--report-every") {
        all.extend(["--report-every", "50"]);
    }
    tiny_seq2seq(home, pairs, &all, "--output", run)
}

/// A running `attn serve`, killed if a test fails before it stops.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// `http://host:port`.
    pub url: String,
}

impl Server {
    /// Starts `attn serve --port 0 --model MODEL FLAGS` and waits for its `Listening on` line.
    pub fn start(home: &Path, model: &Path, flags: &[&str]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attn"))
            .env("ATTN_HOME", home)
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("ATTN_BACKEND")
            .env_remove("ATTN_API_KEY")
            .args(["serve", "--port", "0", "--model"])
            .arg(model)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let Some(Ok(first)) = BufReader::new(stdout).lines().next() else {
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("attn serve did not start: {stderr}");
        };
        let url = first
            .strip_prefix("Listening on ")
            .unwrap_or_else(|| panic!("{first:?}"))
            .to_string();
        Self { child, url }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The server's resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        if std::env::var_os("SHOW_THREADS").is_some() {
            eprintln!(
                "{}",
                status.lines().find(|l| l.starts_with("Threads:")).unwrap()
            );
        }
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Sends SIGTERM; its exit status (within `within`) and what it wrote to stderr.
    pub fn terminate(&mut self, within: Duration) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "SIGTERM did not stop the server");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().unwrap();
        pipe.read_to_string(&mut stderr).unwrap();
        (status, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
