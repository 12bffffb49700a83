//! Training across processes under OpenMPI's mpirun: two ranks with half batches give the loss
//! curve of one process with the whole batch; a killed rank ends the job within a minute, named,
//! with how to resume; both resume from rank 0's checkpoint; a rank that trains something else is
//! refused; the old flags of our own protocol say where to go.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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

/// The tiny fixture BERT fine-tuned on `csv`, as [`rnn`].
fn bert(home: &Path, csv: &Path, (flag, run): (&str, &Path), extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_attn"));
    cmd.env("ATTN_HOME", home)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("ATTN_BACKEND")
        .args(common::tiny_bert_on(csv))
        .args(["--max-len", "16", "--lr", "1e-3", "--seed", "3"])
        .args(["--report-every", "10", "--checkpoint-every", "10"])
        .args(extra)
        .arg(flag)
        .arg(run);
    cmd
}

/// A command of one run: [`rnn`] or [`bert`].
type Train = fn(&Path, &Path, (&str, &Path), &[&str]) -> Command;

/// `mpirun` starting each of `ranks` (the flags of one rank each: MPMD, `A : B`) of `train` in
/// `home` on `csv`, into (`--output`) or resuming (`--resume`) `run`.
fn mpirun(train: Train, home: &Path, csv: &Path, run: (&str, &Path), ranks: &[&[&str]]) -> Command {
    let mut cmd = Command::new("mpirun");
    // As root too (CI's user), more ranks than cores, and each rank on all the cores (mpirun binds
    // two ranks to one core each by default).
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .args(["--bind-to", "none"]);
    for (i, flags) in ranks.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        let rank = train(home, csv, run, flags);
        // The ranks of one machine inherit mpirun's environment.
        for (key, value) in rank.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.args(["-np", "1"])
            .arg(rank.get_program())
            .args(rank.get_args());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// What a finished command wrote, stdout and stderr together.
fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

/// The pid of the rank `rank` among the processes `mpirun` (pid `parent`) started.
fn rank_pid(parent: u32, rank: usize) -> Option<u32> {
    let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
    (std::fs::read_dir("/proc").ok()?)
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = (stat.rsplit(')').next().unwrap_or(""))
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            ppid == Some(parent) && (environ.split(|b| *b == 0)).any(|v| v == wanted.as_bytes())
        })
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("train.csv");
    write_csv(&csv, 96);
    (home, csv)
}

/// Trains with `train` once with batches of 8, once on two ranks with 4 each: the same losses.
fn two_ranks_train_as_one(train: Train, model: &str) {
    let (home, csv) = setup();
    let h = home.path();
    let whole = h.join("whole");
    let out = train(
        h,
        &csv,
        ("--output", &whole),
        &["--iterations", "40", "--batch-size", "8"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Both ranks write into one run directory, as on a shared disk; rank 1 keeps to rank-1/.
    let run = h.join("two");
    let half: &[&str] = &["--iterations", "40", "--batch-size", "4"];
    let out = mpirun(train, h, &csv, ("--output", &run), &[half, half])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("Rank 1 of 2 joined the run (Open MPI"),
        "{said}"
    );
    assert!(said.contains("Gradient exchanges: 40 of"), "{said}");
    let (two, one) = (losses(&run), losses(&whole));
    assert_eq!(two.len(), 4);
    for (a, b) in two.iter().zip(&one) {
        assert!((a - b).abs() < 1e-3, "two ranks {a} vs one process {b}");
    }
    assert!(run.join("eval.json").is_file() && run.join(model).is_file());
}

#[test]
fn two_rnn_ranks_with_half_batches_train_as_one_process_with_the_whole_batch() {
    two_ranks_train_as_one(rnn, "rnn_model.mpk");
}

#[test]
fn two_bert_ranks_with_half_batches_train_as_one_process_with_the_whole_batch() {
    two_ranks_train_as_one(bert, "model.safetensors");
}

#[test]
fn a_killed_rank_ends_the_job_naming_it_and_both_resume() {
    let (home, csv) = setup();
    let h = home.path();
    let run = h.join("run");
    // Long enough (tens of seconds) to be killed mid-run.
    let long: &[&str] = &["--iterations", "1000", "--batch-size", "4"];
    let job = mpirun(rnn, h, &csv, ("--output", &run), &[long, long])
        .spawn()
        .unwrap();
    let state = run.join("checkpoints/latest/state.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !state.is_file() {
        assert!(Instant::now() < deadline, "no checkpoint within 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let member = rank_pid(job.id(), 1).expect("rank 1 among mpirun's children");
    let killed = Instant::now();
    let status = Command::new("kill")
        .args(["-9", &member.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = job.wait_with_output().unwrap();
    let waited = killed.elapsed();
    let said = text(&out);
    assert!(
        !out.status.success(),
        "the job went on without rank 1: {said}"
    );
    assert!(
        waited < Duration::from_secs(60),
        "the job took {waited:?} to end"
    );
    assert!(said.contains("process rank 1"), "{said}");
    assert!(said.contains("--resume"), "{said}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let saved = saved["iteration"].as_u64().unwrap();
    assert!(
        saved >= 10 && saved.is_multiple_of(10),
        "checkpoint at {saved}"
    );

    // Started again with --resume, both go on from rank 0's checkpoint (broadcast to rank 1).
    let out = mpirun(rnn, h, &csv, ("--resume", &run), &[long, long])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "resumed: {said}");
    assert!(said.contains(&format!("at iteration {saved}")), "{said}");
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
    let out = mpirun(
        rnn,
        h,
        &csv,
        ("--output", &run),
        &[
            &["--iterations", "20", "--batch-size", "4"],
            &["--iterations", "20", "--batch-size", "4", "--lr", "1e-3"],
        ],
    )
    .output()
    .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    // Each rank says it, and neither is killed before it can.
    assert_eq!(
        said.matches("rank 1 differs from rank 0 in its training settings")
            .count(),
        2,
        "{said}"
    );
    assert!(!said.contains("MPI_ABORT"), "{said}");
}

#[test]
fn the_flags_of_the_old_protocol_point_at_mpirun() {
    let (home, csv) = setup();
    let out = rnn(
        home.path(),
        &csv,
        ("--output", &home.path().join("run")),
        &["--nodes", "2", "--node-rank", "1"],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("--nodes is gone"), "{said}");
    assert!(said.contains("mpirun -np N"), "{said}");
}
