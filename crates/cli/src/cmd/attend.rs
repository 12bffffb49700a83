//! `attn attend`: a PNG heatmap of what a model attends to in one text.

use std::path::PathBuf;

use anyhow::{Result, bail};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_classify::load_rnn;
use attn_data::{TextBatcher, WordVocab, basic_english};
use attn_transformer::{BertInput, BertModel, BertTokenizer};
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;

use crate::heatmap::{Heatmap, draw};
use crate::translator::alignment;

/// Arguments of `attn attend`.
#[derive(Args, Debug)]
pub struct AttendArgs {
    /// A trained RNN or translator run directory, or a BERT model (run directory, model
    /// directory or name).
    #[arg(long)]
    pub model: String,
    /// BERT: the layer (0-based) whose attention matrix to draw; with --head.
    #[arg(long, requires = "head")]
    pub layer: Option<usize>,
    /// BERT: the head (0-based) whose attention matrix to draw; with --layer.
    #[arg(long, requires = "layer")]
    pub head: Option<usize>,
    /// Where to write the PNG.
    #[arg(short, long, default_value = "attention.png")]
    pub output: PathBuf,
    /// Longest sequence in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// The text to look at.
    pub text: String,
}

struct Attend(AttendArgs);

impl BackendTask for Attend {
    type Output = Result<Heatmap>;
    fn run<AD: AutodiffBackend>(self, device: AD::Device) -> Result<Heatmap> {
        type B<AD> = <AD as AutodiffBackend>::InnerBackend;
        let args = self.0;
        let run = PathBuf::from(&args.model);
        if run.join("seq2seq.json").is_file() {
            return alignment::<B<AD>>(&run, &args.text, &device);
        }
        if run.join("rnn.json").is_file() {
            let (model, vocab, _) = load_rnn::<B<AD>>(&run, &device)?;
            let words: Vec<String> = basic_english(&args.text).take(vocab.max_len).collect();
            if words.is_empty() {
                bail!("the text has no words");
            }
            let ids = vocab.encode(&args.text);
            let example = attn_data::Example {
                ids,
                ..Default::default()
            };
            let batcher = TextBatcher::longest(WordVocab::PAD, vocab.max_len);
            let batch = batcher.collate::<B<AD>>(&[&example], &device);
            let weights = model.forward(batch.input_ids, &batch.lengths).weights;
            let values: Vec<f32> = weights.into_data().convert::<f32>().to_vec().expect("f32");
            return Ok(Heatmap {
                title: "additive attention over the encoder states".into(),
                rows: vec!["α".into()],
                columns: words,
                values: vec![values],
                grey: false,
            });
        }
        let dir = attn_hub::resolve_model(&args.model)?.path;
        let tokenizer = BertTokenizer::from_dir(&dir, args.max_len)?;
        let (model, config) = BertModel::<B<AD>>::from_pretrained(&dir, &device)?;
        let encoded = tokenizer.encode(&args.text)?;
        let len = encoded.ids.len();
        let ids: Vec<i64> = encoded.ids.iter().map(|&i| i as i64).collect();
        let input_ids = Tensor::<B<AD>, 2, Int>::from_data(TensorData::new(ids, [1, len]), &device);
        let input = BertInput {
            attention_mask: input_ids.ones_like(),
            token_type_ids: input_ids.zeros_like(),
            input_ids,
        };
        let attentions = model.forward(input, true)?.attentions;
        let probs = |layer: usize| -> Vec<f32> {
            attentions[layer]
                .clone()
                .into_data()
                .convert::<f32>()
                .to_vec()
                .expect("f32")
        };
        let heads = config.num_attention_heads;
        if let (Some(layer), Some(head)) = (args.layer, args.head) {
            if layer >= attentions.len() || head >= heads {
                bail!(
                    "the model has {} layers and {heads} heads (0-based)",
                    attentions.len()
                );
            }
            let p = probs(layer);
            let values = (0..len)
                .map(|q| p[(head * len + q) * len..(head * len + q + 1) * len].to_vec())
                .collect();
            return Ok(Heatmap {
                title: format!("layer {layer}, head {head}: rows attend to columns"),
                rows: encoded.tokens.clone(),
                columns: encoded.tokens,
                values,
                grey: false,
            });
        }
        let mut rows = Vec::new();
        let mut values = Vec::new();
        for layer in 0..attentions.len() {
            let p = probs(layer);
            for head in 0..heads {
                rows.push(format!("L{layer} H{head}"));
                values.push(p[head * len * len..head * len * len + len].to_vec());
            }
        }
        Ok(Heatmap {
            title: "attention from [CLS], every layer and head".into(),
            rows,
            columns: encoded.tokens,
            values,
            grey: false,
        })
    }
}

/// Draws the heatmap into `--output`.
pub fn run(spec: BackendSpec, args: AttendArgs) -> Result<()> {
    let output = args.output.clone();
    let heatmap = dispatch(spec, Attend(args))??;
    draw(&heatmap, &output)?;
    println!("{}", output.display());
    Ok(())
}
