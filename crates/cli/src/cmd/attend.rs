//! `attn attend`: what a model attends to in one text, as a PNG heatmap or as `/attend`'s JSON.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_serve::{Attention, Matrices};
use clap::Args;

use crate::heatmap::{Heatmap, draw};
use crate::inputs::model_dir;

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
    /// Print the numbers as JSON (what `attn serve`'s `POST /attend` answers) instead of drawing.
    #[arg(long)]
    pub json: bool,
    /// Longest sequence in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// The text to look at.
    pub text: String,
}

struct Attend {
    dir: PathBuf,
    args: AttendArgs,
}

impl BackendTask for Attend {
    type Output = Result<Attention>;
    fn run<AD: AutodiffBackend>(self, device: AD::Device) -> Result<Attention> {
        let Attend { dir, args } = self;
        let pick = args.layer.zip(args.head);
        attn_serve::attend::<AD::InnerBackend>(&dir, args.max_len, &args.text, pick, &device)
            .with_context(|| format!("--model {}", args.model))
    }
}

/// The heatmap of `attention`: BERT's one head as tokens x tokens, or every layer's and head's
/// row of `[CLS]`; the RNN classifier's strip; a translator's alignment in grey.
fn heatmap(attention: Attention) -> Heatmap {
    match attention {
        Attention::SelfAttention {
            tokens,
            layers,
            heads,
            layer,
            head,
            attention,
        } => match attention {
            Matrices::One(values) => Heatmap {
                title: format!(
                    "layer {}, head {}: rows attend to columns",
                    layer.unwrap_or_default(),
                    head.unwrap_or_default()
                ),
                rows: tokens.clone(),
                columns: tokens,
                values,
                grey: false,
            },
            Matrices::All(probs) => Heatmap {
                title: "attention from [CLS], every layer and head".into(),
                rows: (0..layers)
                    .flat_map(|l| (0..heads).map(move |h| format!("L{l} H{h}")))
                    .collect(),
                columns: tokens,
                values: probs.into_iter().flatten().map(|m| m[0].clone()).collect(),
                grey: false,
            },
        },
        Attention::Additive { words, attention } => Heatmap {
            title: "additive attention over the encoder states".into(),
            rows: vec!["α".into()],
            columns: words,
            values: vec![attention],
            grey: false,
        },
        Attention::Alignment {
            mut tokens,
            source_tokens,
            attention,
            ..
        } => {
            tokens.push("<eos>".into());
            Heatmap {
                title: "alignment: output tokens (down) attend to source tokens (across)".into(),
                rows: tokens,
                columns: source_tokens,
                values: attention,
                grey: true,
            }
        }
    }
}

/// Draws the heatmap into `--output`, or prints the numbers with `--json`.
pub fn run(spec: BackendSpec, args: AttendArgs) -> Result<()> {
    if args.text.trim().is_empty() {
        bail!("the text to look at is empty");
    }
    let dir = model_dir(&args.model)?;
    let (json, output) = (args.json, args.output.clone());
    let attention = dispatch(spec, Attend { dir, args })??;
    if json {
        println!("{}", serde_json::to_string(&attention)?);
        return Ok(());
    }
    draw(&heatmap(attention), &output)?;
    println!("{}", output.display());
    Ok(())
}
