//! End-to-end training: a tiny BERT overfits a small set, a run resumes exactly, and the real
//! default model learns on the shared AG News data.

mod common;

use std::path::{Path, PathBuf};

use common::{TINY_SETTINGS, attn, fixture, tiny_bert_on, tiny_rnn, write_separable_csv};
use predicates::str::contains;

/// A private home with 64 separable rows in `train.csv`, and where the run directory goes.
fn separable_setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("train.csv");
    write_separable_csv(&csv, 64);
    let run = home.path().join("run");
    (home, csv, run)
}

/// `attn eval` of a saved run on `csv` gives 1.0 and `attn predict` gives `label` for `text`.
fn reload_scores_perfectly(home: &Path, run: &Path, csv: &Path, text: &str, label: &str) {
    attn(home)
        .args(["eval", "--max-len", "32", "--model"])
        .arg(run)
        .arg("--test")
        .arg(csv)
        .assert()
        .success()
        .stdout(contains("Final accuracy: 1.0000"));
    attn(home)
        .args(["predict", "--model"])
        .arg(run)
        .arg(text)
        .assert()
        .success()
        .stdout(contains(format!("\"label\":\"{label}\"")));
}

/// The run's config.json names the head run.json says was trained: HF's own class for a
/// [CLS]-pooler head, the shipped custom class (refused by HF without trust_remote_code) for a
/// mean-pooled one.
fn assert_declares_the_trained_head(run: &Path) {
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join(file)).unwrap()).unwrap()
    };
    let (settings, config) = (read("run.json"), read("config.json"));
    let pooling = settings["pooling"].as_str().unwrap();
    assert_eq!(config["attn_pooling"], pooling);
    let (architecture, model_type) = match pooling {
        "cls" => ("BertForSequenceClassification", "bert"),
        "mean" => ("AttnBertForSequenceClassification", "attn_bert"),
        other => panic!("unknown pooling {other}"),
    };
    assert_eq!(config["architectures"], serde_json::json!([architecture]));
    assert_eq!(config["model_type"], model_type);
    assert_eq!(
        run.join("modeling_attn_bert.py").is_file(),
        pooling == "mean",
        "custom code present exactly for the head HF has no class for"
    );
}

fn reports(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Trains the tiny fixture BERT on `csv`, writing to (`--output`) or resuming (`--resume`) `run`.
fn tiny_run(
    home: &Path,
    csv: &Path,
    run_flag: &str,
    run: &Path,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    attn(home)
        .args(tiny_bert_on(csv))
        .args(TINY_SETTINGS)
        .args(extra)
        .arg(run_flag)
        .arg(run)
        .assert()
}

fn tiny_train(home: &Path, csv: &Path, run: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    tiny_run(home, csv, "--output", run, extra)
}

#[test]
fn a_tiny_bert_overfits_64_rows_and_eval_reproduces_it() {
    let (home, csv, run) = separable_setup();
    tiny_train(
        home.path(),
        &csv,
        &run,
        &["--iterations", "120", "--report-every", "40"],
    )
    .success()
    .stdout(contains("Loss = "))
    .stdout(contains("Final accuracy: 1.0000"));
    let last = reports(&run).pop().unwrap();
    assert_eq!(last["iteration"], 120);
    assert!(last["train_accuracy"].as_f64().unwrap() > 0.99, "{last}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["test_accuracy"], 1.0);
    assert_declares_the_trained_head(&run);
    reload_scores_perfectly(
        home.path(),
        &run,
        &csv,
        "nasa space computer study science",
        "3",
    );
}

#[test]
fn a_tiny_bert_overfits_with_bf16_products_and_records_the_precision() {
    let (home, csv, run) = separable_setup();
    tiny_train(
        home.path(),
        &csv,
        &run,
        &[
            "--iterations",
            "120",
            "--report-every",
            "40",
            "--precision",
            "bf16",
        ],
    )
    .success()
    .stdout(contains("Final accuracy: 1.0000"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(config["precision"], "bf16");
    let rnn = tempfile::tempdir().unwrap();
    attn(home.path())
        .args(["train", "rnn", "--precision", "f16", "--train"])
        .arg(&csv)
        .arg("--test")
        .arg(&csv)
        .arg("--output")
        .arg(rnn.path().join("run"))
        .assert()
        .failure()
        .stderr(contains(
            "precision f16 is not supported by the RNN classifier",
        ));
}

#[test]
fn resume_continues_the_iteration_count_and_the_shuffle_order() {
    let (home, csv, run) = separable_setup();
    let args = [
        "--iterations",
        "20",
        "--report-every",
        "5",
        "--checkpoint-every",
        "10",
    ];
    tiny_train(home.path(), &csv, &run, &args).success();
    let straight = reports(&run);
    assert_eq!(straight.len(), 4);
    // The last checkpoint is at iteration 10: a resumed run redoes 11..20 from it.
    let state = std::fs::read_to_string(run.join("checkpoints/latest/state.json")).unwrap();
    assert!(state.contains("\"iteration\":10"), "{state}");
    // Other training settings than the run's would make the checkpoint meaningless: refused.
    let mut other = args.to_vec();
    other.extend(["--weight-decay", "0.5"]);
    tiny_run(home.path(), &csv, "--resume", &run, &other)
        .failure()
        .stderr(contains("weight_decay 0.01 (run.json) vs 0.5"));
    tiny_run(home.path(), &csv, "--resume", &run, &args)
        .success()
        .stderr(contains("at iteration 10"));
    // The reports past the checkpoint were dropped and redone: one line per report, as straight.
    let all = reports(&run);
    assert_eq!(all.len(), 4);
    for (resumed, original) in all[2..].iter().zip(&straight[2..]) {
        assert_eq!(resumed["iteration"], original["iteration"]);
        let (a, b) = (
            resumed["loss"].as_f64().unwrap(),
            original["loss"].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() < 1e-4,
            "resumed loss {a} vs uninterrupted {b}"
        );
        assert_eq!(resumed["train_accuracy"], original["train_accuracy"]);
    }
}

#[test]
fn the_default_model_learns_on_ag_news_and_writes_the_run_dir() {
    let Some(data) = attn_testing::ag_news_dir() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    attn(home.path())
        .args([
            "train",
            "bert",
            "--iterations",
            "30",
            "--report-every",
            "10",
            "--eval-limit",
            "200",
            "--val-fraction",
            "0.04",
            "--eval-every",
            "15",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--output")
        .arg(&run)
        .assert()
        .success()
        .stdout(contains("Final accuracy: "));
    let r = reports(&run);
    assert_eq!(r.len(), 3);
    let (first, last) = (
        r[0]["loss"].as_f64().unwrap(),
        r[2]["loss"].as_f64().unwrap(),
    );
    assert!(last < first, "loss did not fall: {first} -> {last}");
    for file in [
        "run.json",
        "labels.json",
        "metrics.jsonl",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "curves.png",
        "eval.json",
    ] {
        assert!(
            run.join(file).is_file(),
            "{file} missing from the run directory"
        );
    }
    let validation = std::fs::read_to_string(run.join("validation.jsonl")).unwrap();
    assert_eq!(validation.lines().count(), 2, "{validation}");
    assert!(validation.contains("\"iteration\":30"), "{validation}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let printed = eval["test_accuracy"].as_f64().unwrap();
    assert!(printed > 0.4, "accuracy {printed} after 30 iterations");
    attn(home.path())
        .args(["eval", "--eval-limit", "200", "--model"])
        .arg(&run)
        .arg("--data-dir")
        .arg(&data)
        .assert()
        .success()
        .stdout(contains(format!("Final accuracy: {printed:.4}")));
}

#[test]
fn the_rnn_baseline_overfits_64_rows_and_reloads_for_eval() {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("train.csv");
    write_separable_csv(&csv, 64);
    let run = home.path().join("rnn");
    tiny_rnn(home.path(), &csv, &run)
        .success()
        .stdout(contains("Loss = "))
        .stdout(contains("Final accuracy: 1.0000"));
    for file in [
        "rnn.json",
        "vocab.json",
        "labels.json",
        "rnn_model.mpk",
        "metrics.jsonl",
        "eval.json",
        "curves.png",
    ] {
        assert!(
            run.join(file).is_file(),
            "{file} missing from the run directory"
        );
    }
    reload_scores_perfectly(
        home.path(),
        &run,
        &csv,
        "market stocks profit company shares",
        "2",
    );
    let png = home.path().join("strip.png");
    attn(home.path())
        .args(["attend", "--model"])
        .arg(&run)
        .arg("-o")
        .arg(&png)
        .arg("market stocks and nasa space")
        .assert()
        .success();
    let (w, h, colours) = common::png_summary(&png);
    assert!(w >= 5 * 26 && h > 18, "{w}x{h}");
    assert!(colours > 10, "the picture is blank ({colours} colours)");
}

#[test]
fn two_runs_with_one_seed_are_identical() {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("train.csv");
    write_separable_csv(&csv, 64);
    let args = [
        "--iterations",
        "10",
        "--report-every",
        "5",
        "--dropout",
        "0.1",
    ];
    let (a, b) = (home.path().join("a"), home.path().join("b"));
    tiny_train(home.path(), &csv, &a, &args).success();
    tiny_train(home.path(), &csv, &b, &args).success();
    let strip = |run: &Path| -> Vec<(serde_json::Value, serde_json::Value)> {
        reports(run)
            .into_iter()
            .map(|r| (r["loss"].clone(), r["train_accuracy"].clone()))
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
}

/// Iteration numbers of the reports of a run.
fn iterations(reports: &[serde_json::Value]) -> Vec<u64> {
    reports
        .iter()
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_run_killed_with_sigkill_resumes_with_at_most_one_checkpoint_interval_redone() {
    let (home, csv, run) = separable_setup();
    let (total, every) = (3000u64, 25u64);
    let args = [
        "--iterations",
        "3000",
        "--report-every",
        "1",
        "--checkpoint-every",
        "25",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attn"))
        .env("ATTN_HOME", home.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(tiny_bert_on(&csv))
        .args(TINY_SETTINGS)
        .args(args)
        .arg("--output")
        .arg(&run)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few checkpoints are behind it, mid-interval or mid-write: wherever it is.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let done = std::fs::read_to_string(run.join("metrics.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if done >= 110 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got going"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(!run.join("eval.json").exists(), "killed after the end");
    let before = reports(&run);
    let reached = *iterations(&before).last().unwrap();
    assert!(reached < total);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("checkpoints/latest/state.json")).unwrap(),
    )
    .unwrap();
    let saved = state["iteration"].as_u64().unwrap();
    assert_eq!(saved % every, 0);
    assert!(
        reached - saved <= every,
        "checkpoint {saved} is more than one interval behind iteration {reached}"
    );

    tiny_run(home.path(), &csv, "--resume", &run, &args)
        .success()
        .stderr(contains(format!("at iteration {saved}")))
        .stdout(contains("Final accuracy: 1.0000"));
    // One report per iteration, none lost or doubled; the redone ones repeat the killed run's.
    let after = reports(&run);
    assert_eq!(iterations(&after), (1..=total).collect::<Vec<_>>());
    for (redone, first) in after.iter().zip(&before).skip(saved as usize) {
        let (a, b) = (
            redone["loss"].as_f64().unwrap(),
            first["loss"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "redone loss {a} vs first {b}");
    }
    reload_scores_perfectly(home.path(), &run, &csv, "sports game team win season", "1");
}

#[test]
fn resident_memory_does_not_grow_between_iterations_100_and_500() {
    let (home, csv, run) = separable_setup();
    tiny_train(
        home.path(),
        &csv,
        &run,
        &["--iterations", "500", "--report-every", "100"],
    )
    .success();
    let rss: Vec<f64> = reports(&run)
        .iter()
        .map(|r| r["rss_bytes"].as_f64().expect("rss_bytes reported"))
        .collect();
    assert_eq!(rss.len(), 5);
    assert!(
        rss[4] <= rss[0] * 1.10,
        "RSS grew from {} MB at iteration 100 to {} MB at 500",
        rss[0] / 1e6,
        rss[4] / 1e6
    );
}

#[test]
fn a_diverging_run_stops_naming_the_iteration_and_keeps_the_last_good_checkpoint() {
    let (home, csv, run) = separable_setup();
    // Adam moves every weight by about lr per step: at 1e30 the logits overflow within a few steps.
    let out = attn(home.path())
        .args(tiny_bert_on(&csv))
        .args([
            "--max-len",
            "32",
            "--batch-size",
            "16",
            "--iterations",
            "200",
        ])
        .args([
            "--checkpoint-every",
            "1",
            "--report-every",
            "1",
            "--weight-decay",
            "0",
        ])
        .args([
            "--grad-clip",
            "0",
            "--lr",
            "1e30",
            "--warmup",
            "0",
            "--output",
        ])
        .arg(&run)
        .assert()
        .failure()
        .stderr(contains(
            "training stopped; the last good checkpoint is kept",
        ));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let bad: u64 = stderr
        .split("at iteration ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no iteration named: {stderr}"));
    assert!(bad >= 2, "{stderr}");
    let state = std::fs::read_to_string(run.join("checkpoints/latest/state.json")).unwrap();
    assert!(
        state.contains(&format!("\"iteration\":{}", bad - 1)),
        "checkpoint {state} is not the last good iteration {}",
        bad - 1
    );
}

/// Whether the run's saved tensor `name` equals the tiny fixture's it started from.
fn unchanged_by_training(run: &Path) -> impl Fn(&str) -> bool {
    let before =
        attn_transformer::read_safetensors(&fixture("tiny-bert-bare").join("model.safetensors"))
            .unwrap();
    let after = attn_transformer::read_safetensors(&run.join("model.safetensors")).unwrap();
    move |name| before[name] == after[&format!("bert.{name}")]
}

#[test]
fn frozen_word_embeddings_stay_as_loaded_while_the_rest_trains() {
    let (home, csv, run) = separable_setup();
    tiny_train(
        home.path(),
        &csv,
        &run,
        &["--iterations", "20", "--freeze-embeddings"],
    )
    .success();
    let same = unchanged_by_training(&run);
    assert!(same("embeddings.word_embeddings.weight"));
    assert!(!same("embeddings.position_embeddings.weight"));
    assert!(!same("encoder.layer.0.attention.self.query.weight"));
}

#[test]
fn a_layer_decay_of_zero_trains_the_head_alone() {
    let (home, csv, run) = separable_setup();
    let args = [
        "--iterations",
        "20",
        "--pooling",
        "cls",
        "--layer-decay",
        "0",
    ];
    tiny_train(home.path(), &csv, &run, &args).success();
    let same = unchanged_by_training(&run);
    assert!(same("embeddings.word_embeddings.weight"));
    assert!(same("encoder.layer.0.attention.self.query.weight"));
    assert!(same("encoder.layer.1.output.dense.weight"));
    // The pooler sits with the classifier at the top and trains at the full rate.
    assert!(!same("pooler.dense.weight"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(config["layer_decay"], 0.0);
}

#[test]
fn a_resumed_run_keeps_its_label_map_and_names_a_new_label() {
    let (home, csv, run) = separable_setup();
    let args = ["--iterations", "20", "--checkpoint-every", "10"];
    tiny_train(home.path(), &csv, &run, &args).success();
    // A fifth class appears in the training file: the checkpoint's 4 classes cannot take it.
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text += "9,\"a new class\"\n";
    std::fs::write(&csv, text).unwrap();
    tiny_run(home.path(), &csv, "--resume", &run, &args)
        .failure()
        .stderr(contains("train.csv:65"))
        .stderr(contains("label `9`"));
}

#[test]
fn a_crash_between_the_checkpoint_renames_resumes_from_the_previous_one() {
    let (home, csv, run) = separable_setup();
    let args = ["--iterations", "20", "--checkpoint-every", "10"];
    tiny_train(home.path(), &csv, &run, &args).success();
    // What `save_checkpoint` leaves when killed after moving `latest` aside.
    let checkpoints = run.join("checkpoints");
    std::fs::rename(checkpoints.join("latest"), checkpoints.join(".old-latest")).unwrap();
    tiny_run(home.path(), &csv, "--resume", &run, &args)
        .success()
        .stderr(contains("at iteration 10"));
}

#[test]
fn two_devices_with_half_batches_train_as_one_device_with_the_whole_batch() {
    let (home, csv, run) = separable_setup();
    let args = [
        "--iterations",
        "30",
        "--report-every",
        "10",
        "--checkpoint-every",
        "10",
        "--val-fraction",
        "0.25",
    ];
    // TINY_SETTINGS with --batch-size 8 on each of two devices instead of 16 on one.
    let halves = |flag: &str| {
        let mut cmd = attn(home.path());
        cmd.args(tiny_bert_on(&csv))
            .args(TINY_SETTINGS.map(|a| if a == "16" { "8" } else { a }))
            .args(args)
            .args(["--devices", "2", flag])
            .arg(&run)
            .assert()
    };
    halves("--output")
        .success()
        .stdout(contains("Validation accuracy = "));
    let whole = home.path().join("whole");
    tiny_train(home.path(), &csv, &whole, &args).success();
    let (two, one) = (reports(&run), reports(&whole));
    assert_eq!(iterations(&two), [10, 20, 30]);
    for (a, b) in two.iter().zip(&one) {
        let (a, b) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-3, "two devices {a} vs one {b}");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(config["devices"], 2);
    // A multi-device run checkpoints, and resumes.
    assert!(run.join("checkpoints/latest/state.json").is_file());
    halves("--resume")
        .success()
        .stderr(contains("at iteration 20"));
    reload_scores_perfectly(home.path(), &run, &csv, "nasa space computer", "3");
}

#[test]
fn two_devices_train_in_the_precision_asked_for() {
    let (home, csv, _) = separable_setup();
    // Each device's thread runs the products in --precision (autocast is thread-local).
    let run = |name: &str, devices: &str, precision: &str| {
        let dir = home.path().join(name);
        let batch = if devices == "2" { "8" } else { "16" };
        attn(home.path())
            .args(tiny_bert_on(&csv))
            .args(TINY_SETTINGS.map(|a| if a == "16" { batch } else { a }))
            .args([
                "--iterations",
                "10",
                "--report-every",
                "5",
                "--checkpoint-every",
                "0",
            ])
            .args(["--devices", devices, "--precision", precision, "--output"])
            .arg(&dir)
            .assert()
            .success();
        reports(&dir)
            .iter()
            .map(|r| r["loss"].as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    let bf16_two = run("bf16-two", "2", "bf16");
    let bf16_one = run("bf16-one", "1", "bf16");
    let f32_two = run("f32-two", "2", "f32");
    assert_eq!(bf16_two.len(), 2);
    for ((two, one), full) in bf16_two.iter().zip(&bf16_one).zip(&f32_two) {
        assert!(
            (two - one).abs() < 2e-3,
            "bf16: two devices {two} vs one {one}"
        );
        assert!(
            two != full,
            "bf16 on two devices trained exactly as f32 ({full})"
        );
    }
}

#[test]
fn an_ema_run_saves_the_average_and_resumes_it_from_the_checkpoint() {
    let (home, csv, run) = separable_setup();
    let args = [
        "--iterations",
        "20",
        "--checkpoint-every",
        "10",
        "--ema",
        "0.9",
    ];
    tiny_train(home.path(), &csv, &run, &args).success();
    assert!(run.join("checkpoints/latest/ema.mpk").is_file());
    let model =
        |run: &Path| attn_transformer::read_safetensors(&run.join("model.safetensors")).unwrap();
    let straight = model(&run);
    // Resumed at iteration 10, the average continues from the checkpoint's: the same model.
    tiny_run(home.path(), &csv, "--resume", &run, &args)
        .success()
        .stderr(contains("at iteration 10"));
    let resumed = model(&run);
    for (name, tensor) in &straight {
        tensor.assert_approx_eq::<f32>(&resumed[name], burn::tensor::Tolerance::absolute(1e-6));
    }
    // The saved model is the average, not the last weights of the same run without an average.
    let last = home.path().join("last");
    tiny_train(
        home.path(),
        &csv,
        &last,
        &[&args[..4], &["--ema", "0"]].concat(),
    )
    .success();
    assert_ne!(
        straight["classifier.weight"],
        model(&last)["classifier.weight"]
    );
}

#[test]
fn named_columns_read_a_csv_with_a_header_row_and_a_wrong_name_lists_the_header() {
    let home = tempfile::tempdir().unwrap();
    let plain = home.path().join("plain.csv");
    write_separable_csv(&plain, 32);
    // The same rows as `text,label` under a header row.
    let mut named = String::from("text,label\n");
    for line in std::fs::read_to_string(&plain).unwrap().lines() {
        let (label, text) = line.split_once(',').unwrap();
        named += &format!("{text},{label}\n");
    }
    let csv = home.path().join("named.csv");
    std::fs::write(&csv, named).unwrap();
    let run = home.path().join("run");
    let columns = ["--text-col", "text", "--label-col", "label"];
    let short = [
        "--iterations",
        "2",
        "--report-every",
        "1",
        "--checkpoint-every",
        "0",
    ];
    tiny_train(home.path(), &csv, &run, &[&columns[..], &short].concat())
        .success()
        .stdout(contains("Final accuracy"));
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels["keys"], serde_json::json!(["0", "1", "2", "3"]));

    let wrong = ["--text-col", "text", "--label-col", "class"];
    tiny_train(
        home.path(),
        &csv,
        &home.path().join("r2"),
        &[&wrong[..], &short].concat(),
    )
    .failure()
    .stderr(contains(
        "named.csv:1: no column named `class`; the header's columns are `text`, `label`",
    ));
}
