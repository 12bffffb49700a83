//! Parity with Hugging Face transformers on fixtures written by `fixtures/make_fixtures.py`.

use std::path::{Path, PathBuf};

use attn_transformer::{
    BertForSequenceClassification, BertInput, BertModel, BertTokenizer, HfHead, MODELING_FILE,
    Pooling, mean_pool, saved_pooling,
};
use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};

type B = Flex;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

struct Reference(serde_json::Value);

impl Reference {
    fn load() -> Self {
        let text = std::fs::read_to_string(fixture("tiny_outputs.json")).unwrap();
        Self(serde_json::from_str(&text).unwrap())
    }

    fn floats(&self, key: &str) -> Vec<f32> {
        to_floats(&self.0[key])
    }

    fn input(&self) -> BertInput<B> {
        let shape = [
            self.0["shape"][0].as_u64().unwrap() as usize,
            self.0["shape"][1].as_u64().unwrap() as usize,
        ];
        let ints = |key: &str| {
            let v: Vec<i64> = self.0[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            Tensor::<B, 2, Int>::from_data(TensorData::new(v, shape), &Default::default())
        };
        BertInput {
            input_ids: ints("input_ids"),
            attention_mask: ints("attention_mask"),
            token_type_ids: ints("token_type_ids"),
        }
    }
}

fn to_floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs_diff<const D: usize>(ours: Tensor<B, D>, theirs: &[f32]) -> f32 {
    let ours: Vec<f32> = ours.into_data().convert::<f32>().to_vec().unwrap();
    assert_eq!(ours.len(), theirs.len(), "element counts differ");
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn assert_close<const D: usize>(what: &str, ours: Tensor<B, D>, theirs: &[f32], tol: f32) {
    let diff = max_abs_diff(ours, theirs);
    assert!(diff <= tol, "{what}: max abs diff {diff} > {tol}");
}

#[test]
fn classifier_matches_hf_in_every_output() {
    let r = Reference::load();
    let (model, config) = BertForSequenceClassification::<B>::from_pretrained(
        &fixture("tiny-bert-cls"),
        None,
        Pooling::Cls,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(config.num_labels, Some(3));
    let (logits, out) = model.forward_full(r.input(), true).unwrap();
    assert_close("logits", logits, &r.floats("logits"), 1e-5);
    assert_close(
        "last_hidden_state",
        out.last_hidden_state.clone(),
        &r.floats("last_hidden_state"),
        1e-5,
    );
    assert_close(
        "pooler_output",
        out.pooler_output.expect("a classifier has a pooler"),
        &r.floats("pooler_output"),
        1e-5,
    );
    assert_eq!(out.attentions.len(), 2);
    for (i, (ours, theirs)) in out
        .attentions
        .into_iter()
        .zip(r.0["attentions"].as_array().unwrap())
        .enumerate()
    {
        assert_close(&format!("attentions[{i}]"), ours, &to_floats(theirs), 1e-5);
    }
    let mean = mean_pool(out.last_hidden_state, r.input().attention_mask);
    assert_close("mean_pooled", mean, &r.floats("mean_pooled"), 1e-5);
}

#[test]
fn bare_names_legacy_shards_and_f16_load_to_the_same_model() {
    let r = Reference::load();
    let device = Default::default();
    let (bare, _) = BertModel::<B>::from_pretrained(&fixture("tiny-bert-bare"), &device).unwrap();
    let out = bare.forward(r.input(), false).unwrap();
    assert_close(
        "bare last_hidden_state",
        out.last_hidden_state,
        &r.floats("last_hidden_state"),
        1e-5,
    );
    assert!(
        out_attentions_empty(&bare, &r),
        "attentions must not be kept unless asked for"
    );

    let (legacy, _) = BertForSequenceClassification::<B>::from_pretrained(
        &fixture("tiny-bert-legacy"),
        None,
        Pooling::Cls,
        &device,
    )
    .unwrap();
    assert_close(
        "legacy logits",
        legacy.forward(r.input()).unwrap(),
        &r.floats("logits"),
        1e-5,
    );

    let (f16, _) = BertModel::<B>::from_pretrained(&fixture("tiny-bert-f16"), &device).unwrap();
    let out = f16.forward(r.input(), false).unwrap();
    assert_close(
        "f16 last_hidden_state",
        out.last_hidden_state,
        &r.floats("f16_last_hidden_state"),
        1e-5,
    );
}

fn out_attentions_empty(model: &BertModel<B>, r: &Reference) -> bool {
    model
        .forward(r.input(), false)
        .unwrap()
        .attentions
        .is_empty()
}

#[test]
fn tokenizer_json_and_vocab_txt_give_hf_ids() {
    let r = Reference::load();
    let texts = [
        "The company says its shares won over the market today.",
        "NASA researchers study space.",
        "Über café naïve résumé, 中国 and 日本!",
    ];
    let seq = r.0["shape"][1].as_u64().unwrap() as usize;
    let ids: Vec<i64> = r.0["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    for dir in ["tiny-bert-cls", "tiny-bert-bare"] {
        let tokenizer = BertTokenizer::from_dir(&fixture(dir), 64).unwrap();
        for (i, text) in texts.iter().enumerate() {
            let ours: Vec<i64> = tokenizer
                .encode(text)
                .unwrap()
                .ids
                .iter()
                .map(|&x| x as i64)
                .collect();
            let theirs: Vec<i64> = ids[i * seq..(i + 1) * seq]
                .iter()
                .copied()
                .filter(|&x| x != 0)
                .collect();
            assert_eq!(ours, theirs, "{dir}: {text}");
        }
    }
}

#[test]
fn a_fresh_head_is_initialised_and_reported() {
    let device = Default::default();
    let (model, config) = BertForSequenceClassification::<B>::from_pretrained(
        &fixture("tiny-bert-bare"),
        Some(4),
        Pooling::Mean,
        &device,
    )
    .unwrap();
    assert_eq!(model.num_labels(), 4);
    assert_eq!(config.num_labels, Some(4));
}

/// The tiny classifier fixture loaded with `pooling`, and a directory it was saved into.
fn saved_classifier(pooling: Pooling) -> (BertForSequenceClassification<B>, tempfile::TempDir) {
    let (model, config) = BertForSequenceClassification::<B>::from_pretrained(
        &fixture("tiny-bert-cls"),
        None,
        pooling,
        &Default::default(),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let labels: Vec<String> = ["World", "Sports", "Business"].map(String::from).to_vec();
    model
        .save_pretrained(out.path(), &config, &labels, &fixture("tiny-bert-cls"))
        .unwrap();
    (model, out)
}

#[test]
fn save_then_load_gives_identical_logits() {
    let r = Reference::load();
    let device = Default::default();
    let (model, out) = saved_classifier(Pooling::Cls);
    assert!(out.path().join("tokenizer.json").is_file());
    let (again, config2) = BertForSequenceClassification::<B>::from_pretrained(
        out.path(),
        None,
        Pooling::Cls,
        &device,
    )
    .unwrap();
    assert_eq!(config2.id2label.unwrap()["1"], "Sports");
    let a: Vec<f32> = model
        .forward(r.input())
        .unwrap()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap();
    let b = again.forward(r.input()).unwrap();
    assert_eq!(max_abs_diff(b, &a), 0.0);
}

#[test]
fn a_saved_config_declares_the_head_that_was_trained() {
    for pooling in [Pooling::Cls, Pooling::Mean] {
        let (_, out) = saved_classifier(pooling);
        let text = std::fs::read_to_string(out.path().join("config.json")).unwrap();
        let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
        let head = HfHead::of(pooling);
        assert_eq!(
            saved["architectures"],
            serde_json::json!([head.architecture])
        );
        assert_eq!(saved["model_type"], head.model_type);
        assert_eq!(saved_pooling(out.path()), Some(pooling));
        let code = out.path().join(MODELING_FILE);
        match pooling {
            // HF's own class pools [CLS] through the pooler, as this head does.
            Pooling::Cls => {
                assert_eq!(saved["model_type"], "bert");
                assert!(saved.get("auto_map").is_none() && !code.exists());
            }
            // No HF class pools the mean: the directory names its own, which HF loads only
            // with trust_remote_code, and ships it.
            Pooling::Mean => {
                assert_ne!(saved["model_type"], "bert");
                for (class, target) in head.auto_map {
                    assert_eq!(saved["auto_map"][class], *target);
                }
                let source = std::fs::read_to_string(&code).unwrap();
                assert!(source.contains("class AttnBertForSequenceClassification("));
                assert!(source.contains("(hidden * mask).sum(1) / mask.sum(1)"));
            }
        }
    }
}
