//! The classifier's packed forward pass (the layers skip the batch's padding) gives the padded
//! pass's logits and gradients.

use attn_transformer::{BertConfig, BertForSequenceClassification, BertInput, Packing, Pooling};
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::{Int, Tensor, TensorData, Tolerance};

type B = Autodiff<Flex>;

/// Sequences of `lengths` tokens (ids and segments varied), padded to the longest.
fn batch(lengths: &[usize]) -> BertInput<B> {
    let (rows, seq) = (lengths.len(), *lengths.iter().max().unwrap());
    let device = Default::default();
    let mut ids = vec![0i64; rows * seq];
    let mut mask = vec![0i64; rows * seq];
    let mut types = vec![0i64; rows * seq];
    for (r, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            ids[r * seq + t] = 1 + ((r * 7 + t * 13) % 49) as i64;
            mask[r * seq + t] = 1;
            types[r * seq + t] = (t >= len / 2) as i64;
        }
    }
    let tensor =
        |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [rows, seq]), &device);
    BertInput {
        input_ids: tensor(ids),
        attention_mask: tensor(mask),
        token_type_ids: tensor(types),
    }
}

/// `input` on Flex, for inference.
fn on_flex(input: &BertInput<B>) -> BertInput<Flex> {
    BertInput {
        input_ids: input.input_ids.clone().inner(),
        attention_mask: input.attention_mask.clone().inner(),
        token_type_ids: input.token_type_ids.clone().inner(),
    }
}

fn close<const D: usize>(what: &str, a: Tensor<Flex, D>, b: Tensor<Flex, D>) {
    println!("{what}");
    a.to_data()
        .assert_approx_eq::<f32>(&b.to_data(), Tolerance::absolute(2e-5));
}

#[test]
fn a_packed_batch_gives_the_padded_logits_and_gradients() {
    let mut config = BertConfig::new(50, 24, 2, 3, 40);
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    for pooling in [Pooling::Cls, Pooling::Mean] {
        let model =
            BertForSequenceClassification::<B>::random(&config, 3, pooling, &Default::default())
                .unwrap();
        let input = batch(&[5, 2, 9, 1, 6]);
        assert!(Packing::of(&input.attention_mask).is_some());
        let packed = model.forward(input.clone()).unwrap();
        let (padded, _) = model.forward_full(input.clone(), false).unwrap();
        close("logits", packed.clone().inner(), padded.clone().inner());
        // Inference on Flex: attention on the packed tokens where they lie.
        let (inner, inner_input) = (model.valid(), on_flex(&input));
        let packed_inner = inner.forward(inner_input.clone()).unwrap();
        let (padded_inner, _) = inner.forward_full(inner_input, false).unwrap();
        close("logits on Flex", packed_inner, padded_inner);

        let weights = Tensor::<B, 2>::from_floats(
            [
                [1.0, -2.0, 0.5],
                [0.3, 0.2, -1.0],
                [2.0, 0.0, 1.0],
                [-1.0, 1.0, 0.0],
                [0.5, 0.5, 0.5],
            ],
            &Default::default(),
        );
        let (g_packed, g_padded) = (
            (packed * weights.clone()).sum().backward(),
            (padded * weights).sum().backward(),
        );
        let layer = &model.bert.encoder.layer[0];
        let params = [
            ("query", &layer.attention.self_attention.query.weight),
            ("intermediate", &layer.intermediate.dense.weight),
            (
                "word embeddings",
                &model.bert.embeddings.word_embeddings.weight,
            ),
            ("classifier", &model.classifier.weight),
        ];
        for (name, param) in params {
            close(
                name,
                param.grad(&g_packed).expect("a gradient"),
                param.grad(&g_padded).expect("a gradient"),
            );
        }
    }
}

#[test]
fn a_batch_with_little_padding_is_not_packed_and_packing_round_trips() {
    assert!(Packing::of(&batch(&[10, 10, 9]).attention_mask).is_none());
    let input = batch(&[3, 1, 4]);
    let packing = Packing::of(&input.attention_mask).expect("5 of 12 positions are padding");
    let x = Tensor::<B, 3>::from_data(
        TensorData::new((0..36).map(|i| i as f32).collect(), [3, 4, 3]),
        &Default::default(),
    );
    let packed = packing.pack(x.clone());
    assert_eq!(packed.dims(), [1, 8, 3]);
    let kept = input.attention_mask.float().unsqueeze_dim::<3>(2);
    close(
        "round trip",
        packing.unpack(packed).inner(),
        (x * kept).inner(),
    );
}
