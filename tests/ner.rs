//! End-to-end tagging: a tiny BERT learns to tag entities of a small CoNLL file, is scored and
//! reloaded by `attn eval` and `attn predict`, refuses bad files naming the line, and resumes
//! exactly after SIGKILL.

mod common;

use std::path::{Path, PathBuf};

use common::{attn, fixture, json_lines};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// Words and tags of the tiny vocabulary's sentences: organisations, two-word persons,
/// locations of two word pieces each, and a word that normalises to nothing.
const SENTENCES: [&[(&str, &str)]; 4] = [
    &[
        ("the", "O"),
        ("president", "B-per"),
        ("minister", "I-per"),
        ("of", "O"),
        ("google", "B-org"),
        ("says", "O"),
    ],
    &[
        ("microsoft", "B-org"),
        ("shares", "O"),
        ("in", "O"),
        ("中国", "B-loc"),
        ("\u{fe0f}", "O"),
        ("are", "O"),
        ("up", "O"),
    ],
    &[
        ("apple", "B-org"),
        ("and", "O"),
        ("nasa", "B-org"),
        ("won", "O"),
        ("in", "O"),
        ("日本", "B-loc"),
    ],
    &[
        ("a", "O"),
        ("president", "B-per"),
        ("minister", "I-per"),
        ("said", "O"),
        ("this", "O"),
        ("week", "O"),
    ],
];

/// Writes `n` sentences (the four above in turn) as a TAB-separated CoNLL file, a line holding
/// one TAB between sentences as WNUT-17's training file has.
fn write_conll(path: &Path, n: usize) {
    let mut out = String::from("-DOCSTART-\tO\n\n");
    for i in 0..n {
        for (word, tag) in SENTENCES[i % SENTENCES.len()] {
            out += &format!("{word}\t{tag}\n");
        }
        out += "\t\n";
    }
    std::fs::write(path, out).unwrap();
}

/// A private home with 64 tagged sentences in `train.conll`, and where the run goes.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("train.conll");
    write_conll(&file, 64);
    let run = home.path().join("run");
    (home, file, run)
}

/// The arguments of `attn train ner` of the tiny fixture BERT on `file` (as training and dev
/// file).
fn ner_args(file: &Path, run_flag: &str, run: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = ["train", "ner", "--model"].map(Into::into).into();
    args.push(fixture("tiny-bert-bare").into());
    for (flag, path) in [("--train", file), ("--dev", file)] {
        args.extend([flag.into(), path.into()]);
    }
    let settings = [
        "--max-len",
        "32",
        "--batch-size",
        "16",
        "--lr",
        "3e-3",
        "--warmup",
        "0.05",
    ];
    args.extend(settings.iter().chain(extra).map(Into::into));
    args.extend([run_flag.into(), run.into()]);
    args
}

/// `attn train ner` of the tiny fixture BERT on `file`.
fn tiny_ner(
    home: &Path,
    file: &Path,
    run_flag: &str,
    run: &Path,
    extra: &[&str],
) -> assert_cmd::Command {
    let mut cmd = attn(home);
    cmd.args(ner_args(file, run_flag, run, extra));
    cmd
}

fn reports(run: &Path) -> Vec<serde_json::Value> {
    json_lines(&std::fs::read(run.join("metrics.jsonl")).unwrap())
}

#[test]
fn a_tiny_bert_learns_the_tags_and_reloads_as_a_hf_token_classifier() {
    let (home, file, run) = setup();
    tiny_ner(
        home.path(),
        &file,
        "--output",
        &run,
        // The fixture's word pieces are random: they must learn (the default keeps them fixed).
        &[
            "--iterations",
            "150",
            "--report-every",
            "50",
            "--freeze-embeddings=false",
        ],
    )
    .assert()
    .success()
    .stdout(contains("Loss = "))
    .stdout(contains("Entity F1: 1.0000"));
    // HF's own class, its tags from the training file, no pooler.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");
    assert_eq!(config["model_type"], "bert");
    assert_eq!(config["num_labels"], 7);
    assert_eq!(config["id2label"]["0"], "O");
    assert_eq!(config["label2id"]["I-per"], 6);
    assert!(config.get("auto_map").is_none() && config.get("attn_pooling").is_none());
    let weights = std::fs::read(run.join("model.safetensors")).unwrap();
    let weights = String::from_utf8_lossy(&weights);
    assert!(
        weights.contains("\"classifier.weight\"") && weights.contains("\"bert.encoder.layer.1.")
    );
    assert!(!weights.contains("pooler"));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["f1"], 1.0);
    assert_eq!(eval["words_without_pieces"], 16);

    attn(home.path())
        .args(["eval", "--max-len", "32", "--model"])
        .arg(&run)
        .arg("--test")
        .arg(&file)
        .assert()
        .success()
        .stdout(contains("micro"))
        .stdout(contains("Entity F1: 1.0000"));

    // "ü" is two bytes: offsets past it show characters are counted, not bytes.
    let text = "über: Microsoft says the president minister of Google won";
    let out = attn(home.path())
        .args(["predict", "--max-len", "32", "--model"])
        .arg(&run)
        .arg(text)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = &json_lines(&out.stdout)[0];
    let found: Vec<(String, String, usize, usize)> = line["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["text"].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let expected = [
        ("Microsoft", "org"),
        ("president minister", "per"),
        ("Google", "org"),
    ];
    assert_eq!(found.len(), expected.len(), "{line}");
    let chars: Vec<char> = text.chars().collect();
    for ((text, kind, start, end), (want, want_kind)) in found.iter().zip(expected) {
        assert_eq!((text.as_str(), kind.as_str()), (want, want_kind), "{line}");
        // Character offsets into the input, as HF's pipeline gives them.
        assert_eq!(chars[*start..*end].iter().collect::<String>(), *text);
    }
    // Words as BERT's pre-tokenizer splits them: the colon is one.
    assert_eq!(line["tokens"].as_array().unwrap().len(), 10, "{line}");
    assert_eq!(
        (&line["tokens"][1], &line["tags"][2]),
        (&":".into(), &"B-org".into())
    );
}

#[test]
fn bad_files_are_one_line_naming_the_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let good = home.path().join("good.conll");
    write_conll(&good, 4);
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "notag.conll",
            b"the O\nlonely\n",
            "notag.conll:2: `lonely` has no tag column",
        ),
        (
            "scheme.conll",
            b"the O\ngoogle X-foo\n",
            "scheme.conll:2: tag `X-foo`",
        ),
        (
            "bytes.conll",
            b"the O\n\xff O\n",
            "bytes.conll:2: not UTF-8",
        ),
        ("empty.conll", b"", "empty.conll: no tagged sentences"),
    ];
    for (name, bytes, expected) in cases {
        let bad = home.path().join(name);
        std::fs::write(&bad, bytes).unwrap();
        let out = tiny_ner(
            home.path(),
            &bad,
            "--output",
            &home.path().join("run"),
            &["--iterations", "1"],
        )
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // --skip-bad-rows leaves the bad line out and says how many.
    let bad = home.path().join("notag.conll");
    let mut text = std::fs::read_to_string(&good).unwrap();
    text += "lonely\n";
    std::fs::write(&bad, text).unwrap();
    tiny_ner(
        home.path(),
        &bad,
        "--output",
        &home.path().join("skip"),
        &["--iterations", "2", "--skip-bad-rows"],
    )
    .assert()
    .success()
    .stderr(contains("skipped 1 bad rows"))
    .stdout(contains("Entity F1: "));
}

#[test]
fn a_tagger_killed_with_sigkill_resumes_exactly() {
    let (home, file, run) = setup();
    let args = [
        "--iterations",
        "2000",
        "--report-every",
        "1",
        "--checkpoint-every",
        "20",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attn"))
        .env("ATTN_HOME", home.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(ner_args(&file, "--output", &run, &args))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |t| t.lines().count()) < 70 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got going"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = reports(&run);
    tiny_ner(home.path(), &file, "--resume", &run, &args)
        .assert()
        .success()
        .stdout(contains("Entity F1: 1.0000"));
    let after = reports(&run);
    let iterations: Vec<u64> = after
        .iter()
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(iterations, (1..=2000).collect::<Vec<_>>());
    // The redone iterations repeat the killed run's losses.
    let saved = (before.len() as u64 / 20) * 20;
    for (redone, first) in after
        .iter()
        .zip(&before)
        .skip(saved.saturating_sub(20) as usize)
    {
        let (a, b) = (
            redone["loss"].as_f64().unwrap(),
            first["loss"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "redone loss {a} vs first {b}");
    }
}

#[test]
fn the_recipes_defaults_reach_run_json() {
    let (home, file, _) = setup();
    let model = fixture("tiny-bert-bare");
    // The BERT tagger buckets by length and keeps its word table fixed; the BiGRU does neither.
    for (arch, lr, dropout, fast) in [("bert", 2e-4, None, true), ("rnn", 5e-3, Some(0.3), false)] {
        let run = home.path().join(arch);
        attn(home.path())
            .args([
                "train",
                "ner",
                "--arch",
                arch,
                "--iterations",
                "1",
                "--max-len",
                "32",
            ])
            .arg("--model")
            .arg(&model)
            .arg("--train")
            .arg(&file)
            .arg("--dev")
            .arg(&file)
            .arg("--output")
            .arg(&run)
            .assert()
            .success()
            .stdout(contains("Entity F1: "));
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
        assert_eq!(cfg["lr"], lr, "{arch}");
        assert_eq!(cfg["batch_size"], 16, "{arch}");
        assert_eq!(cfg["dropout"].as_f64(), dropout, "{arch}");
        assert_eq!(cfg["bucket"], fast, "{arch}");
        assert_eq!(cfg["freeze_embeddings"], fast, "{arch}");
        // The tagger's settings join the run's (and are checked on resume).
        assert_eq!(
            (&cfg["scheme"], &cfg["stride"]),
            (&"iob2".into(), &15.into()),
            "{arch}"
        );
    }
}

#[test]
fn a_tagger_made_by_hf_predicts_as_hf_and_trains_on_with_its_head() {
    let home = tempfile::tempdir().unwrap();
    let hf = fixture("tiny-bert-ner");
    let text = std::fs::read_to_string(hf.join("reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    let mut cmd = attn(home.path());
    cmd.args(["predict", "--model"]).arg(&hf);
    for case in cases {
        cmd.arg(case["text"].as_str().unwrap());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), cases.len());
    for (line, case) in lines.iter().zip(cases) {
        // HF's words (spans in characters) and the tag of each word's first piece.
        assert_eq!(line["tags"], case["text_tags"], "{}", case["text"]);
        let text: Vec<char> = case["text"].as_str().unwrap().chars().collect();
        let spans: Vec<String> = (case["text_spans"].as_array().unwrap().iter())
            .map(|s| {
                let (a, b) = (
                    s[0].as_u64().unwrap() as usize,
                    s[1].as_u64().unwrap() as usize,
                );
                text[a..b].iter().collect()
            })
            .collect();
        assert_eq!(line["tokens"], serde_json::json!(spans));
    }

    // Training on the same tags (in another order in the file) goes on from HF's head.
    let file = home.path().join("per-loc.conll");
    std::fs::write(
        &file,
        "nasa\tB-LOC\nsays\tO\n\npresident\tB-PER\nminister\tI-PER\nsays\tO\n\nspace\tI-LOC\n",
    )
    .unwrap();
    let run = home.path().join("run");
    attn(home.path())
        .args([
            "train",
            "ner",
            "--iterations",
            "1",
            "--max-len",
            "32",
            "--lr",
            "1e-9",
        ])
        .arg("--model")
        .arg(&hf)
        .arg("--train")
        .arg(&file)
        .arg("--dev")
        .arg(&file)
        .arg("--output")
        .arg(&run)
        .assert()
        .success()
        .stderr(contains("newly initialized").not());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["id2label"], original["id2label"]);
}

#[test]
fn a_long_sentence_and_a_type_never_trained_are_handled_as_documented() {
    let (home, file, run) = setup();
    // Dev: a sentence of 2,000 words (windows of 30 pieces), and a type the training file lacks.
    let dev = home.path().join("dev.conll");
    let mut text: String = (0..2000)
        .map(|i| match i % 3 {
            0 => "google\tB-org\n",
            1 => "says\tO\n",
            _ => "nasa\tB-xyz\n",
        })
        .collect();
    text += "\napple\tB-org\n";
    std::fs::write(&dev, text).unwrap();
    attn(home.path())
        .args([
            "train",
            "ner",
            "--iterations",
            "60",
            "--max-len",
            "32",
            "--lr",
            "3e-3",
        ])
        .arg("--model")
        .arg(fixture("tiny-bert-bare"))
        .arg("--train")
        .arg(&file)
        .arg("--dev")
        .arg(&dev)
        .arg("--output")
        .arg(&run)
        .assert()
        .success()
        .stdout(contains("Entity F1: "));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    // Every word is scored, none lost to truncation.
    assert_eq!(eval["words"], 2001);
    let xyz = (eval["per_type"].as_array().unwrap().iter())
        .find(|t| t["kind"] == "xyz")
        .expect("the untrained type is in the table");
    assert_eq!(
        (xyz["support"].as_u64(), xyz["recall"].as_f64()),
        (Some(666), Some(0.0))
    );
    let org = (eval["per_type"].as_array().unwrap().iter())
        .find(|t| t["kind"] == "org")
        .unwrap();
    assert_eq!(org["support"], 668);
}
