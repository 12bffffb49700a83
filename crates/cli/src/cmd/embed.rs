//! `attn embed`: one JSON line `{"embedding"}` per text.

use anyhow::Result;
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_transformer::{BertModel, mean_pool};
use clap::{Args, ValueEnum};

use crate::inputs::{CHUNK, ModelTexts, batch_input, rows};

/// How `attn embed` pools the token vectors into one.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum EmbedPooling {
    /// Attention-masked mean of the last hidden state (sentence-transformers).
    Mean,
    /// The [CLS] token's last hidden state.
    Cls,
    /// The pooler output, tanh(dense([CLS])).
    Pooler,
}

/// Arguments of `attn embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub inputs: ModelTexts,
    /// Pooling of the token vectors.
    #[arg(long, value_enum, default_value = "mean")]
    pub pooling: EmbedPooling,
    /// Scale each embedding to unit L2 norm.
    #[arg(long)]
    pub normalize: bool,
}

struct Embed(EmbedArgs);

impl BackendTask for Embed {
    type Output = Result<()>;
    fn run<AD: AutodiffBackend>(self, device: AD::Device) -> Result<()> {
        type B<AD> = <AD as AutodiffBackend>::InnerBackend;
        let (dir, tokenizer, texts) = self.0.inputs.resolve()?;
        let (model, config) = BertModel::<B<AD>>::from_pretrained(&dir, &device)?;
        tokenizer.check_fits(config.vocab_size)?;
        for chunk in texts.chunks(CHUNK) {
            let input = batch_input::<B<AD>>(&tokenizer, chunk, &device)?;
            let mask = input.attention_mask.clone();
            let out = model.forward(input, false)?;
            let pooled = match self.0.pooling {
                EmbedPooling::Mean => mean_pool(out.last_hidden_state, mask),
                EmbedPooling::Cls => {
                    let [b, _, h] = out.last_hidden_state.dims();
                    out.last_hidden_state.narrow(1, 0, 1).reshape([b, h])
                }
                EmbedPooling::Pooler => out.pooler_output.ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: this model has no pooler; use --pooling mean or cls",
                        dir.display()
                    )
                })?,
            };
            for mut v in rows(pooled) {
                if self.0.normalize {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                println!("{}", serde_json::json!({ "embedding": v }));
            }
        }
        Ok(())
    }
}

/// Prints each text's embedding.
pub fn run(spec: BackendSpec, args: EmbedArgs) -> Result<()> {
    dispatch(spec, Embed(args))?
}
