//! End-to-end tests of the `attn` binary on tiny fixtures, as a user runs it.

mod common;

use common::{attn, fixture, json_lines, png_summary};
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn backends_lists_the_cpu_default_and_what_is_missing() {
    let home = tempfile::tempdir().unwrap();
    attn(home.path())
        .arg("backends")
        .assert()
        .success()
        .stdout(contains(
            "flex     compiled; device auto Cpu: ok (1 + 2 = 3)",
        ));
}

#[test]
#[cfg_attr(feature = "cuda", ignore = "this build has the cuda backend")]
fn a_backend_not_compiled_in_names_its_feature() {
    let home = tempfile::tempdir().unwrap();
    attn(home.path())
        .args(["--backend", "cuda", "embed", "--model"])
        .arg(fixture("tiny-bert-bare"))
        .arg("hello")
        .assert()
        .failure()
        .stderr(contains("--features cuda"));
}

#[test]
fn tokenize_prints_ids_and_tokens() {
    let home = tempfile::tempdir().unwrap();
    let out = attn(home.path())
        .args(["tokenize", "--model"])
        .arg(fixture("tiny-bert-cls"))
        .args(["NASA researchers study space.", "the cafe"])
        .assert()
        .success();
    let lines = json_lines(&out.get_output().stdout);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["tokens"][1], "nasa");
    assert_eq!(lines[1]["tokens"].as_array().unwrap().len(), 4);
}

#[test]
fn predict_reads_stdin_and_names_labels() {
    let home = tempfile::tempdir().unwrap();
    let out = attn(home.path())
        .args(["predict", "--model"])
        .arg(fixture("tiny-bert-cls"))
        .write_stdin("the market is up\nthe team won\n")
        .assert()
        .success();
    let lines = json_lines(&out.get_output().stdout);
    assert_eq!(lines.len(), 2);
    for line in lines {
        assert!(["World", "Sports", "Business"].contains(&line["label"].as_str().unwrap()));
        let sum: f64 = line["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-5);
        assert_eq!(line["logits"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn embed_normalizes_on_request() {
    let home = tempfile::tempdir().unwrap();
    let out = attn(home.path())
        .args(["embed", "--normalize", "--model"])
        .arg(fixture("tiny-bert-bare"))
        .arg("the market")
        .assert()
        .success();
    let v = &json_lines(&out.get_output().stdout)[0]["embedding"];
    let norm: f64 = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum();
    assert_eq!(v.as_array().unwrap().len(), 32);
    assert!((norm - 1.0).abs() < 1e-4);
}

#[test]
fn a_missing_model_says_what_was_tried() {
    let home = tempfile::tempdir().unwrap();
    attn(home.path())
        .args(["tokenize", "--model", "no-such/model", "x"])
        .assert()
        .failure()
        .stderr(contains("could not find or fetch model `no-such/model`"))
        .stderr(contains("HF_HUB_OFFLINE"));
}

#[test]
fn fetch_data_points_at_local_files_or_explains() {
    let home = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    attn(home.path())
        .args(["fetch-data", "--data-dir"])
        .arg(empty.path())
        .assert()
        .failure()
        .stderr(contains("no test.csv there"))
        .stderr(contains("AG_NEWS_DIR"));
    std::fs::write(empty.path().join("test.csv"), "\"1\",\"a\",\"b\"\n").unwrap();
    attn(home.path())
        .args(["fetch-data", "--data-dir"])
        .arg(empty.path())
        .assert()
        .success()
        .stdout(contains(empty.path().to_str().unwrap()));
}

#[test]
fn attend_draws_a_bert_head_and_the_cls_grid() {
    let home = tempfile::tempdir().unwrap();
    let matrix = home.path().join("matrix.png");
    attn(home.path())
        .args(["attend", "--layer", "1", "--head", "2", "--model"])
        .arg(fixture("tiny-bert-cls"))
        .arg("-o")
        .arg(&matrix)
        .arg("the market is up")
        .assert()
        .success();
    let (w, h, colours) = png_summary(&matrix);
    // 6 tokens ([CLS] the market is up [SEP]): a square of 6 x 6 cells plus labels.
    assert!(w > 6 * 26 && h > 6 * 26, "{w}x{h}");
    assert!(colours > 10, "the picture is blank ({colours} colours)");

    let grid = home.path().join("grid.png");
    attn(home.path())
        .args(["attend", "--model"])
        .arg(fixture("tiny-bert-cls"))
        .arg("-o")
        .arg(&grid)
        .arg("the market is up")
        .assert()
        .success();
    let (_, grid_h, _) = png_summary(&grid);
    // 2 layers x 4 heads = 8 rows of 18 px.
    assert!(grid_h > 8 * 18, "{grid_h}");

    attn(home.path())
        .args(["attend", "--layer", "5", "--head", "0", "--model"])
        .arg(fixture("tiny-bert-cls"))
        .arg("x")
        .assert()
        .failure()
        .stderr(contains("`layer` must be below 2 and `head` below 4"));
}

#[test]
fn a_model_path_that_does_not_exist_is_an_error_about_the_path() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("x/none");
    attn(home.path())
        .args(["embed", "--model"])
        .arg(&missing)
        .arg("hello")
        .assert()
        .failure()
        .stderr(contains(format!(
            "{}: not a model directory (nothing there)",
            missing.display()
        )))
        .stderr(contains("huggingface").not())
        .stderr(contains("request error").not());
}

#[test]
fn without_a_network_fetching_ag_news_fails_in_one_line_with_the_local_files_hint() {
    let home = tempfile::tempdir().unwrap();
    // A loopback port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/ag_news_csv.tgz");
    for command in [&["fetch-data"][..], &["train", "rnn"]] {
        let out = attn(home.path())
            .env_remove("AG_NEWS_DIR")
            .env("ATTN_AG_NEWS_URL", &url)
            .args(command)
            .assert()
            .failure();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{command:?}: {stderr}");
        assert!(
            lines[0].starts_with("error: AG News: not in the cache")
                && lines[0].contains("cannot connect to 127.0.0.1"),
            "{command:?}: {stderr}"
        );
        assert!(lines[1].contains("--data-dir DIR"), "{stderr}");
        for noise in ["panicked", "unwrap", "Error {", "reqwest"] {
            assert!(!stderr.contains(noise), "{command:?}: {stderr}");
        }
    }
}
