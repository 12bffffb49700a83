//! `attn tokenize`, `attn embed` and `attn predict`.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result};
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_data::{Example, TextBatcher, WordVocab};
use attn_train::load_rnn;
use attn_transformer::{
    BertForSequenceClassification, BertInput, BertModel, BertTokenizer, Pooling, mean_pool,
    saved_pooling,
};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::{Args, ValueEnum};

/// The model and texts every inference command takes.
#[derive(Args, Debug, Clone)]
pub struct ModelTexts {
    /// Model directory or name (fetched if needed).
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,
    /// Longest sequence, in tokens; longer texts are truncated (keeping [SEP]).
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Texts; read from standard input, one per line, when none are given.
    pub texts: Vec<String>,
}

impl ModelTexts {
    fn resolve(&self) -> Result<(PathBuf, BertTokenizer, Vec<String>)> {
        let dir = attn_hub::resolve_model(&self.model)?.path;
        let tokenizer = BertTokenizer::from_dir(&dir, self.max_len)?;
        Ok((dir, tokenizer, self.texts()?))
    }

    /// The texts given, or the lines of standard input.
    pub fn texts(&self) -> Result<Vec<String>> {
        if !self.texts.is_empty() {
            return Ok(self.texts.clone());
        }
        let lines = std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<Vec<_>>>();
        lines.context("reading stdin")
    }

    /// The run directory of a trained RNN baseline, when `--model` names one.
    pub fn rnn_run(&self) -> Option<PathBuf> {
        let dir = PathBuf::from(&self.model);
        dir.join("rnn.json").is_file().then_some(dir)
    }
}

/// Arguments of `attn tokenize`.
#[derive(Args, Debug)]
pub struct TokenizeArgs {
    #[command(flatten)]
    pub inputs: ModelTexts,
}

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

/// Arguments of `attn predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub inputs: ModelTexts,
}

pub fn tokenize(args: TokenizeArgs) -> Result<()> {
    let (_, tokenizer, texts) = args.inputs.resolve()?;
    for text in texts {
        let e = tokenizer.encode(&text)?;
        println!("{}", serde_json::json!({"ids": e.ids, "tokens": e.tokens}));
    }
    Ok(())
}

/// One batch of texts as model input, padded to the longest.
fn batch_input<B: Backend>(
    tokenizer: &BertTokenizer,
    texts: &[String],
    device: &B::Device,
) -> Result<BertInput<B>> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encoded = tokenizer.encode_batch(&refs)?;
    let longest = encoded.iter().map(|e| e.ids.len()).max().unwrap_or(1);
    let mut ids = vec![tokenizer.pad_id as i64; texts.len() * longest];
    let mut mask = vec![0i64; texts.len() * longest];
    for (row, e) in encoded.iter().enumerate() {
        for (j, &id) in e.ids.iter().enumerate() {
            ids[row * longest + j] = id as i64;
            mask[row * longest + j] = 1;
        }
    }
    let shape = [texts.len(), longest];
    Ok(BertInput {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, shape), device),
        attention_mask: Tensor::from_data(TensorData::new(mask, shape), device),
        token_type_ids: Tensor::zeros(shape, device),
    })
}

/// Rows of a [n, d] tensor.
fn rows<B: Backend>(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [n, d] = t.dims();
    let flat: Vec<f32> = t.into_data().convert::<f32>().to_vec().expect("f32 data");
    (0..n).map(|i| flat[i * d..(i + 1) * d].to_vec()).collect()
}

/// Texts are run in chunks of this many.
const CHUNK: usize = 32;

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
                EmbedPooling::Pooler => out.pooler_output,
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

pub fn embed(spec: BackendSpec, args: EmbedArgs) -> Result<()> {
    dispatch(spec, Embed(args))?
}

struct Predict(PredictArgs);

impl BackendTask for Predict {
    type Output = Result<()>;
    fn run<AD: AutodiffBackend>(self, device: AD::Device) -> Result<()> {
        type B<AD> = <AD as AutodiffBackend>::InnerBackend;
        if let Some(run) = self.0.inputs.rnn_run() {
            let (model, vocab, labels) = load_rnn::<B<AD>>(&run, &device)?;
            let batcher = TextBatcher::longest(WordVocab::PAD, vocab.max_len);
            for chunk in self.0.inputs.texts()?.chunks(CHUNK) {
                let examples: Vec<Example> = chunk
                    .iter()
                    .map(|t| Example {
                        ids: vocab.encode(t),
                        label: 0,
                        target: Vec::new(),
                    })
                    .collect();
                let batch = batcher.collate::<B<AD>>(&examples.iter().collect::<Vec<_>>(), &device);
                print_predictions(
                    model.forward(batch.input_ids, &batch.lengths).logits,
                    &labels.names,
                );
            }
            return Ok(());
        }
        let (dir, tokenizer, texts) = self.0.inputs.resolve()?;
        let pooling = saved_pooling(&dir).unwrap_or(Pooling::Cls);
        let (model, config) =
            BertForSequenceClassification::<B<AD>>::from_pretrained(&dir, None, pooling, &device)?;
        tokenizer.check_fits(config.vocab_size)?;
        let id2label = config.id2label.unwrap_or_default();
        let names: Vec<String> = (0..model.num_labels())
            .map(|i| {
                id2label
                    .get(&i.to_string())
                    .cloned()
                    .unwrap_or_else(|| format!("LABEL_{i}"))
            })
            .collect();
        for chunk in texts.chunks(CHUNK) {
            let input = batch_input::<B<AD>>(&tokenizer, chunk, &device)?;
            print_predictions(model.forward(input)?, &names);
        }
        Ok(())
    }
}

/// Prints `{"label", "probs", "logits"}` for each row of `logits`.
fn print_predictions<B: Backend>(logits: Tensor<B, 2>, names: &[String]) {
    let probs = rows(softmax(logits.clone(), 1));
    for (logits, probs) in rows(logits).into_iter().zip(probs) {
        let best = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        let label = names
            .get(best)
            .cloned()
            .unwrap_or_else(|| format!("LABEL_{best}"));
        println!(
            "{}",
            serde_json::json!({"label": label, "probs": probs, "logits": logits})
        );
    }
}

pub fn predict(spec: BackendSpec, args: PredictArgs) -> Result<()> {
    dispatch(spec, Predict(args))?
}
