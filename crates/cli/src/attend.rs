//! `attn attend`: a PNG heatmap of what a model attends to in one text.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_data::{TextBatcher, WordVocab, basic_english};
use attn_train::{load_rnn, register_font};
use attn_transformer::{BertInput, BertModel, BertTokenizer};
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Arguments of `attn attend`.
#[derive(Args, Debug)]
pub struct AttendArgs {
    /// A trained RNN run directory, or a BERT model (run directory, model directory or name).
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

/// A matrix of weights with labelled rows and columns.
struct Heatmap {
    title: String,
    rows: Vec<String>,
    columns: Vec<String>,
    values: Vec<Vec<f32>>,
}

struct Attend(AttendArgs);

impl BackendTask for Attend {
    type Output = Result<Heatmap>;
    fn run<AD: AutodiffBackend>(self, device: AD::Device) -> Result<Heatmap> {
        type B<AD> = <AD as AutodiffBackend>::InnerBackend;
        let args = self.0;
        let run = PathBuf::from(&args.model);
        if run.join("rnn.json").is_file() {
            let (model, vocab, _) = load_rnn::<B<AD>>(&run, &device)?;
            let words: Vec<String> = basic_english(&args.text).take(vocab.max_len).collect();
            if words.is_empty() {
                bail!("the text has no words");
            }
            let ids = vocab.encode(&args.text);
            let example = attn_data::Example { ids, label: 0 };
            let batcher = TextBatcher {
                pad_id: WordVocab::PAD,
                max_len: vocab.max_len,
            };
            let batch = batcher.collate::<B<AD>>(&[&example], &device);
            let weights = model.forward(batch.input_ids, &batch.lengths).weights;
            let values: Vec<f32> = weights.into_data().convert::<f32>().to_vec().expect("f32");
            return Ok(Heatmap {
                title: "additive attention over the encoder states".into(),
                rows: vec!["α".into()],
                columns: words,
                values: vec![values],
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
        })
    }
}

pub fn attend(spec: BackendSpec, args: AttendArgs) -> Result<()> {
    let output = args.output.clone();
    let heatmap = dispatch(spec, Attend(args))??;
    draw(&heatmap, &output).with_context(|| format!("writing {}", output.display()))?;
    println!("{}", output.display());
    Ok(())
}

/// Draws the heatmap: white (0) to dark blue (the largest weight), labels in the bundled font.
fn draw(h: &Heatmap, path: &Path) -> Result<()> {
    register_font();
    let cell_w = 26u32;
    let cell_h = if h.rows.len() > 1 && h.rows.len() == h.columns.len() {
        26
    } else {
        18
    };
    let label_w = 12 + 8 * h.rows.iter().map(|r| r.chars().count()).max().unwrap_or(1) as u32;
    let label_h = 12
        + 8 * h
            .columns
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(1) as u32;
    let (top, columns, rows) = (36u32, h.columns.len() as u32, h.rows.len() as u32);
    let size = (
        label_w + columns * cell_w + 16,
        top + rows * cell_h.max(18) + label_h,
    );
    let cell_h = cell_h.max(18);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(
        h.title.clone(),
        (label_w as i32, 10),
        ("sans-serif", 16).into_font(),
    ))?;
    let max = h
        .values
        .iter()
        .flatten()
        .copied()
        .fold(f32::MIN_POSITIVE, f32::max);
    for (r, row) in h.values.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let t = (v / max).clamp(0.0, 1.0) as f64;
            let color = RGBColor(
                (255.0 * (1.0 - 0.9 * t)) as u8,
                (255.0 * (1.0 - 0.7 * t)) as u8,
                255 - (80.0 * t) as u8,
            );
            let x = (label_w + c as u32 * cell_w) as i32;
            let y = (top + r as u32 * cell_h) as i32;
            root.draw(&Rectangle::new(
                [(x, y), (x + cell_w as i32 - 1, y + cell_h as i32 - 1)],
                color.filled(),
            ))?;
        }
    }
    let small = ("sans-serif", 13).into_font();
    for (r, label) in h.rows.iter().enumerate() {
        let y = (top + r as u32 * cell_h + cell_h / 2) as i32;
        let style = small
            .clone()
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(label.clone(), (label_w as i32 - 6, y), style))?;
    }
    let bottom = (top + rows * cell_h + 6) as i32;
    for (c, label) in h.columns.iter().enumerate() {
        let x = (label_w + c as u32 * cell_w + cell_w / 2) as i32;
        let style = small
            .clone()
            .transform(FontTransform::Rotate90)
            .color(&BLACK);
        root.draw(&Text::new(label.clone(), (x + 6, bottom), style))?;
    }
    root.present()?;
    Ok(())
}
