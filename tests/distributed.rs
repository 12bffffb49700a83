//! Training across processes on localhost: two ranks with half batches give the loss curve of
//! one process with the whole batch; a killed rank stops the other, naming it; both resume.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Writes `n` rows `label,"text"` whose first word gives the class away.
fn write_csv(path: &Path, n: usize) {
    let words = [
        "world war peace",
        "sports game team",
        "market stocks oil",
        "space nasa study",
    ];
    let rows: String = (0..n)
        .map(|i| {
            format!(
                "{},\"{} {} row{}\"\n",
                i % 4,
                words[i % 4],
                words[(i / 4) % 4],
                i % 7
            )
        })
        .collect();
    std::fs::write(path, rows).unwrap();
}

/// A tiny RNN run on `csv`, into (`--output`) or resuming (`--resume`) `run`, with `extra` flags.
fn rnn(home: &Path, csv: &Path, (flag, run): (&str, &Path), extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_attn"));
    cmd.env("ATTN_HOME", home)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("ATTN_BACKEND")
        .env_remove("WORLD_SIZE")
        .env_remove("RANK")
        .args(["train", "rnn", "--train"])
        .arg(csv)
        .arg("--test")
        .arg(csv)
        .args([
            "--embed-dim",
            "16",
            "--hidden",
            "16",
            "--attention-dim",
            "16",
            "--dropout",
            "0",
        ])
        .args([
            "--seed",
            "3",
            "--report-every",
            "10",
            "--checkpoint-every",
            "10",
        ])
        .args(extra)
        .arg(flag)
        .arg(run);
    cmd
}

/// Starts rank `rank` of two coordinated at `port`.
fn rank(
    home: &Path,
    csv: &Path,
    run: (&str, &Path),
    rank: usize,
    port: u16,
    extra: &[&str],
) -> Child {
    let (rank, coordinator) = (rank.to_string(), format!("127.0.0.1:{port}"));
    let flags = [
        "--nodes",
        "2",
        "--node-rank",
        &rank,
        "--coordinator",
        &coordinator,
    ];
    rnn(home, csv, run, &[&flags[..], extra].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The losses of a run's report lines.
fn losses(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

/// Waits for `child`, returning whether it succeeded and its stderr.
fn finish(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("train.csv");
    write_csv(&csv, 96);
    (home, csv)
}

#[test]
fn two_ranks_with_half_batches_train_as_one_process_with_the_whole_batch() {
    let (home, csv) = setup();
    let h = home.path();
    let whole = h.join("whole");
    let out = rnn(
        h,
        &csv,
        ("--output", &whole),
        &["--iterations", "40", "--batch-size", "8"],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both ranks write into one run directory, as on a shared disk; rank 1 keeps to rank-1/.
    let run = h.join("two");
    let half = ["--iterations", "40", "--batch-size", "4"];
    let out = ("--output", run.as_path());
    let member = rank(h, &csv, out, 1, 29_810, &half);
    let (ok, err) = finish(rank(h, &csv, out, 0, 29_810, &half));
    assert!(ok, "rank 0: {err}");
    let (ok, member_err) = finish(member);
    assert!(ok, "rank 1: {member_err}");
    assert!(member_err.contains("Rank 1 of 2 joined"), "{member_err}");
    let (two, one) = (losses(&run), losses(&whole));
    assert_eq!(two.len(), 4);
    for (a, b) in two.iter().zip(&one) {
        assert!((a - b).abs() < 1e-3, "two ranks {a} vs one process {b}");
    }
    assert!(run.join("eval.json").is_file() && run.join("rnn_model.mpk").is_file());
}

#[test]
fn a_killed_rank_stops_the_other_naming_it_and_both_resume() {
    let (home, csv) = setup();
    let h = home.path();
    let run = h.join("run");
    // Long enough (tens of seconds) to be killed mid-run.
    let long = ["--iterations", "1000", "--batch-size", "4"];
    let out = ("--output", run.as_path());
    let mut member = rank(h, &csv, out, 1, 29_820, &long);
    let leader = rank(h, &csv, out, 0, 29_820, &long);
    let state = run.join("checkpoints/latest/state.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !state.is_file() {
        assert!(Instant::now() < deadline, "no checkpoint within 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    member.kill().unwrap(); // SIGKILL on Unix
    member.wait().unwrap();
    let killed = Instant::now();
    let (ok, err) = finish(leader);
    assert!(!ok, "rank 0 went on without rank 1");
    let waited = killed.elapsed();
    assert!(
        waited < Duration::from_secs(60),
        "rank 0 took {waited:?} to stop"
    );
    assert!(err.contains("rank 1 disconnected"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let saved = saved["iteration"].as_u64().unwrap();
    assert!(
        saved >= 10 && saved.is_multiple_of(10),
        "checkpoint at {saved}"
    );

    // Started again with --resume, both go on from rank 0's checkpoint (sent to rank 1).
    let again = ("--resume", run.as_path());
    let member = rank(h, &csv, again, 1, 29_822, &long);
    let (ok, err) = finish(rank(h, &csv, again, 0, 29_822, &long));
    assert!(ok, "resumed rank 0: {err}");
    assert!(err.contains(&format!("at iteration {saved}")), "{err}");
    let (ok, member_err) = finish(member);
    assert!(ok, "resumed rank 1: {member_err}");
    assert!(run.join("rank-1/checkpoints/latest/model.mpk").is_file());
    assert_eq!(
        losses(&run).len(),
        100,
        "one report per 10 iterations, none lost or doubled"
    );
    assert!(run.join("eval.json").is_file());
}

#[test]
fn a_rank_with_other_settings_is_refused_naming_them() {
    let (home, csv) = setup();
    let h = home.path();
    let run = h.join("run");
    let out = ("--output", run.as_path());
    let member = rank(
        h,
        &csv,
        out,
        1,
        29_830,
        &["--iterations", "20", "--batch-size", "4", "--lr", "1e-3"],
    );
    let (ok, err) = finish(rank(
        h,
        &csv,
        out,
        0,
        29_830,
        &["--iterations", "20", "--batch-size", "4"],
    ));
    assert!(!ok);
    assert!(
        err.contains("rank 1 differs from rank 0 in its training settings"),
        "{err}"
    );
    let (ok, member_err) = finish(member);
    assert!(!ok);
    assert!(
        member_err.contains("rank 1 differs from rank 0"),
        "{member_err}"
    );
}
