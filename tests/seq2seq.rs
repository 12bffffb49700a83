//! End-to-end translation: a tiny encoder-decoder learns a small parallel set exactly, is scored,
//! translates, draws its alignment matrix, and resumes exactly.

mod common;

use std::path::Path;

use common::{attn, json_lines, tiny_seq2seq, tiny_seq2seq_train, write_pairs};
use predicates::str::contains;

fn reports(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_tiny_translator_learns_64_pairs_exactly_translates_and_draws_its_alignment() {
    let home = tempfile::tempdir().unwrap();
    let pairs = write_pairs(home.path(), 64);
    let run = home.path().join("s2s");
    tiny_seq2seq_train(
        home.path(),
        &pairs,
        &run,
        &["--iterations", "400", "--checkpoint-every", "0"],
    )
    .success()
    .stdout(contains("Loss = "))
    .stdout(contains("BLEU: 1.0000"));
    for file in [
        "seq2seq.json",
        "source_vocab.json",
        "target_vocab.json",
        "seq2seq_model.mpk",
        "metrics.jsonl",
        "eval.json",
        "translations.txt",
        "summary.json",
        "curves.png",
    ] {
        assert!(
            run.join(file).is_file(),
            "{file} missing from the run directory"
        );
    }
    let expected = std::fs::read_to_string(&pairs.1).unwrap();
    assert_eq!(
        std::fs::read_to_string(run.join("translations.txt")).unwrap(),
        expected
    );

    // `attn eval` scores any pair of files (greedy, as the run was), and with a beam: length
    // normalisation may prefer another hypothesis now and then, never much worse here.
    let eval = |beam: &str| {
        let out = attn(home.path())
            .args(["eval", "--model"])
            .arg(&run)
            .arg("--test-src")
            .arg(&pairs.0)
            .arg("--test-tgt")
            .arg(&pairs.1)
            .args(["--beam", beam])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stdout).to_string()
    };
    assert!(eval("1").contains("BLEU: 1.0000"));
    let wide = eval("3");
    let bleu: f64 = wide["BLEU: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wide.contains("beam 3") && bleu > 0.95, "{wide}");
    // A training sentence translates as learnt; its alignment has a row per output word.
    let source_text = std::fs::read_to_string(&pairs.0).unwrap();
    let first_source = source_text.lines().next().unwrap().to_string();
    let first_target = expected.lines().next().unwrap();
    let out = attn(home.path())
        .args(["translate", "--model"])
        .arg(&run)
        .args([first_source.as_str(), "S5 s6 s7"])
        .assert()
        .success();
    let lines = json_lines(&out.get_output().stdout);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["translation"], first_target);
    assert_eq!(
        lines[1]["source_tokens"],
        serde_json::json!(["s5", "s6", "s7"])
    );
    let alignment = lines[0]["alignment"].as_array().unwrap();
    let words = first_source.split(' ').count();
    assert_eq!(
        alignment.len(),
        words + 1,
        "one row per word and one for the end"
    );
    for row in alignment {
        let row: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(row.len(), words);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{row:?}");
    }

    let png = home.path().join("alignment.png");
    attn(home.path())
        .args(["attend", "--model"])
        .arg(&run)
        .arg("-o")
        .arg(&png)
        .arg(&first_source)
        .assert()
        .success();
    let (w, h, colours) = common::png_summary(&png);
    assert!(
        w >= words as u32 * 26 && h >= (words as u32 + 1) * 18,
        "{w}x{h}"
    );
    assert!(colours > 10, "the picture is blank ({colours} colours)");
}

#[test]
fn without_attention_the_decoder_still_trains_and_attend_says_why_it_cannot_draw() {
    let home = tempfile::tempdir().unwrap();
    let pairs = write_pairs(home.path(), 32);
    let run = home.path().join("plain");
    tiny_seq2seq_train(
        home.path(),
        &pairs,
        &run,
        &["--iterations", "30", "--attention", "none"],
    )
    .success()
    .stdout(contains("BLEU: "));
    let losses: Vec<f64> = reports(&run)
        .iter()
        .map(|r| r["loss"].as_f64().unwrap())
        .collect();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let out = attn(home.path())
        .args(["translate", "--model"])
        .arg(&run)
        .arg("s1 s2")
        .assert()
        .success();
    assert_eq!(
        json_lines(&out.get_output().stdout)[0]["alignment"],
        serde_json::json!([])
    );
    attn(home.path())
        .args(["attend", "--model"])
        .arg(&run)
        .arg("s1 s2")
        .assert()
        .failure()
        .stderr(contains("no attention (trained with --attention none)"));
}

#[test]
fn a_subword_translator_reads_and_writes_pieces_and_gives_back_words() {
    let home = tempfile::tempdir().unwrap();
    let pairs = write_pairs(home.path(), 32);
    let run = home.path().join("pieces");
    // 12 pieces per language: `s`/`t`, the ten digits and their continuations do not all fit,
    // so every word is split.
    tiny_seq2seq_train(
        home.path(),
        &pairs,
        &run,
        &["--iterations", "20", "--subwords", "12"],
    )
    .success()
    .stdout(contains("BLEU: "));
    for file in ["source_subwords.json", "target_subwords.json"] {
        assert!(run.join(file).is_file(), "{file} missing from the run");
    }
    let out = attn(home.path())
        .args(["translate", "--model"])
        .arg(&run)
        .arg("s5 s6")
        .assert()
        .success();
    let line = &json_lines(&out.get_output().stdout)[0];
    assert_eq!(
        line["source_tokens"],
        serde_json::json!(["s", "##5", "s", "##6"])
    );
    let tokens: Vec<String> = serde_json::from_value(line["tokens"].clone()).unwrap();
    let words = attn_data::Subwords::join(&tokens);
    assert_eq!(line["translation"], words.join(" "), "{tokens:?}");
    let alignment = line["alignment"].as_array().unwrap();
    assert_eq!(
        alignment.len(),
        tokens.len() + 1,
        "a row per piece and the end"
    );
    assert!(alignment.iter().all(|r| r.as_array().unwrap().len() == 4));
}

#[test]
fn a_resumed_translator_redoes_the_iterations_after_its_checkpoint_exactly() {
    let home = tempfile::tempdir().unwrap();
    let pairs = write_pairs(home.path(), 48);
    let run = home.path().join("resumed");
    // Scheduled sampling and dropout draw from the seeded generator: resumed, they repeat.
    let args = [
        "--iterations",
        "20",
        "--report-every",
        "5",
        "--checkpoint-every",
        "10",
        "--teacher-forcing",
        "0.5",
        "--dropout",
        "0.2",
    ];
    tiny_seq2seq_train(home.path(), &pairs, &run, &args).success();
    let straight = reports(&run);
    assert_eq!(straight.len(), 4);
    tiny_seq2seq(home.path(), &pairs, &args, "--resume", &run)
        .success()
        .stderr(contains("at iteration 10"));
    let all = reports(&run);
    assert_eq!(all.len(), 4);
    for (again, original) in all[2..].iter().zip(&straight[2..]) {
        assert_eq!(again["iteration"], original["iteration"]);
        let (a, b) = (
            again["loss"].as_f64().unwrap(),
            original["loss"].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() < 1e-4,
            "resumed loss {a} vs uninterrupted {b}"
        );
    }
}
