//! `BertForTokenClassification`: HF's own tagger, equal to HF on the fixture
//! `fixtures/tiny-bert-ner` (written by scripts/make_ner_fixture.py), saved and loaded exactly.

use std::path::{Path, PathBuf};

use attn_transformer::{BertConfig, BertForTokenClassification, BertInput, BertTokenizer};
use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};

type B = Flex;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One row of ids as model input.
fn input(ids: &[i64]) -> BertInput<B> {
    let device = Default::default();
    let ids =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
    BertInput {
        attention_mask: ids.ones_like(),
        token_type_ids: ids.zeros_like(),
        input_ids: ids,
    }
}

fn floats<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

#[test]
fn a_saved_tagger_loads_back_exactly_without_a_pooler() {
    let c = BertConfig::new(60, 16, 2, 2, 24);
    let device = Default::default();
    let model = BertForTokenClassification::<B>::random(&c, 5, &device).unwrap();
    assert!(model.bert.pooler.is_none());
    let out = tempfile::tempdir().unwrap();
    let tags: Vec<String> = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
        .map(String::from)
        .to_vec();
    model
        .save_pretrained(out.path(), &c, &tags, &fixture("tiny-bert-bare"))
        .unwrap();
    let config = BertConfig::from_file(&out.path().join("config.json")).unwrap();
    assert_eq!(config.id2label.as_ref().unwrap()["3"], "B-PER");
    let (again, _) =
        BertForTokenClassification::<B>::from_pretrained_with(out.path(), config, None, &device)
            .unwrap();
    assert_eq!(again.num_labels(), 5);
    let ids = [2, 7, 9, 11, 3];
    let a = floats(model.forward(input(&ids)).unwrap());
    let b = floats(again.forward(input(&ids)).unwrap());
    assert_eq!(a, b);
    // The head on chosen positions equals the same rows of the full output.
    let positions = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![1i64, 3], [2]), &device);
    let picked = floats(again.forward_at(input(&ids), positions).unwrap());
    assert_eq!(picked[..5], b[5..10]);
    assert_eq!(picked[5..], b[15..20]);
}

#[test]
fn the_tagger_equals_hf_on_the_fixture() {
    let dir = fixture("tiny-bert-ner");
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    let (model, _) = BertForTokenClassification::<B>::from_pretrained_with(
        &dir,
        config,
        None,
        &Default::default(),
    )
    .unwrap();
    let tokenizer = BertTokenizer::from_dir(&dir, 128).unwrap();
    let cases = reference["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let ids: Vec<i64> = (case["input_ids"].as_array().unwrap().iter())
            .map(|x| x.as_i64().unwrap())
            .collect();
        // The words' pieces are HF's `is_split_into_words` pieces, word by word.
        let words: Vec<&str> = (case["words"].as_array().unwrap().iter())
            .map(|w| w.as_str().unwrap())
            .collect();
        let pieces = tokenizer.word_pieces(&words).unwrap();
        let flat: Vec<i64> = pieces.iter().flatten().map(|&id| id as i64).collect();
        assert_eq!(flat, ids[1..ids.len() - 1]);
        let word_ids: Vec<Option<u64>> = (case["word_ids"].as_array().unwrap().iter())
            .map(|w| w.as_u64())
            .collect();
        let ours: Vec<Option<u64>> = std::iter::once(None)
            .chain(
                (0..)
                    .zip(&pieces)
                    .flat_map(|(w, p)| p.iter().map(move |_| Some(w))),
            )
            .chain(std::iter::once(None))
            .collect();
        assert_eq!(ours, word_ids);
        let expected: Vec<f32> = (case["logits"].as_array().unwrap().iter())
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
            })
            .collect();
        let got = floats(model.forward_full(input(&ids), false).unwrap().0);
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert_eq!(got.len(), expected.len());
        assert!(worst < 1e-5, "logits differ from HF's by {worst}");
    }
}
