//! The 12- and 24-layer presets build with random weights and run a forward pass; bad inputs are
//! errors, not panics or NaNs.

use attn_transformer::{BertConfig, BertForSequenceClassification, BertInput, BertModel, Pooling};
use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};

type B = Flex;

fn input(ids: Vec<i64>, mask: Vec<i64>, shape: [usize; 2]) -> BertInput<B> {
    let device = Default::default();
    BertInput {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, shape), &device),
        attention_mask: Tensor::from_data(TensorData::new(mask, shape), &device),
        token_type_ids: Tensor::zeros(shape, &device),
    }
}

#[test]
fn bert_base_and_bert_large_presets_run() {
    for (name, layers, hidden) in [("bert-base", 12, 768), ("bert-large", 24, 1024)] {
        let config = BertConfig::preset(name).unwrap();
        let model = BertForSequenceClassification::<B>::random(
            &config,
            4,
            Pooling::Cls,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(model.bert.encoder.layer.len(), layers);
        let (logits, out) = model
            .forward_full(
                input(
                    vec![101, 2023, 2003, 102, 101, 102, 0, 0],
                    vec![1, 1, 1, 1, 1, 1, 0, 0],
                    [2, 4],
                ),
                true,
            )
            .unwrap();
        assert_eq!(logits.dims(), [2, 4]);
        assert_eq!(out.last_hidden_state.dims(), [2, 4, hidden]);
        assert_eq!(out.attentions.len(), layers);
        assert_eq!(
            out.attentions[0].dims(),
            [2, config.num_attention_heads, 4, 4]
        );
    }
}

#[test]
fn padding_gets_no_attention_and_an_all_padding_row_stays_finite() {
    let config = BertConfig::new(50, 16, 2, 2, 32);
    let model = BertModel::<B>::random(&config, &Default::default()).unwrap();
    let out = model
        .forward(
            input(
                vec![2, 7, 3, 0, 0, 0, 0, 0],
                vec![1, 1, 1, 0, 0, 0, 0, 0],
                [2, 4],
            ),
            true,
        )
        .unwrap();
    let probs: Vec<f32> = out.attentions[0]
        .clone()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap();
    // Row 0 (3 tokens): every query gives padding position 3 exactly zero weight.
    for head in 0..2 {
        for q in 0..4 {
            let row = &probs[(head * 4 + q) * 4..(head * 4 + q) * 4 + 4];
            assert_eq!(row[3], 0.0);
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
    let hidden: Vec<f32> = out
        .last_hidden_state
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap();
    assert!(
        hidden.iter().all(|x| x.is_finite()),
        "an all-padding row produced NaN"
    );
}

#[test]
fn a_sequence_longer_than_the_position_table_is_an_error() {
    let mut config = BertConfig::new(50, 16, 1, 2, 32);
    config.max_position_embeddings = 4;
    let model = BertModel::<B>::random(&config, &Default::default()).unwrap();
    let err = model
        .forward(input(vec![1; 5], vec![1; 5], [1, 5]), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sequence length 5 exceeds max_position_embeddings 4"),
        "{err}"
    );
}
