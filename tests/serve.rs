//! `attn serve` as a user runs it: it prints where it listens, answers as `attn predict` does,
//! and a SIGTERM stops it with status 0.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{attn, fixture, json_lines};
use serde_json::{Value, json};

/// The server process, killed if a test fails before it stops.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn attn_serve_answers_as_attn_predict_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let model = fixture("tiny-bert-cls");
    let mut server = Running(
        Command::new(env!("CARGO_BIN_EXE_attn"))
            .env("ATTN_HOME", home.path())
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("ATTN_BACKEND")
            .env_remove("ATTN_API_KEY")
            .args(["serve", "--port", "0", "--max-len", "32", "--model"])
            .arg(&model)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line")
        .unwrap();
    let url = first
        .strip_prefix("Listening on ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_string();

    let texts = ["the match ended in a draw", "stocks fell sharply"];
    let inputs: Vec<Value> = texts.iter().map(|t| json!([t])).collect();
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/predict"))
        .json(&json!({ "inputs": inputs }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let served: Value = response.json().unwrap();
    let out = attn(home.path())
        .args(["predict", "--max-len", "32", "--model"])
        .arg(&model)
        .args(texts)
        .output()
        .unwrap();
    assert!(out.status.success());
    for (served, predicted) in served
        .as_array()
        .unwrap()
        .iter()
        .zip(json_lines(&out.stdout))
    {
        assert_eq!(served[0]["label"], predicted["label"], "{served}");
        let top = (predicted["probs"].as_array().unwrap().iter())
            .map(|p| p.as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        assert!((served[0]["score"].as_f64().unwrap() - top).abs() < 1e-5);
    }

    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "SIGTERM did not stop the server");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
