//! `attn predict`: one JSON line per text: `{"label", "probs", "logits"}` of a classifier,
//! `{"entities", "tokens", "tags"}` of a tagger.

use anyhow::Result;
use anyhow::bail;
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_classify::load_rnn;
use attn_data::{Example, TextBatcher, WordVocab};
use attn_tag::{is_rnn_tagger, is_tagger, load_tagger, tag_texts};
use attn_train::TrainConfig;
use attn_transformer::{BertForSequenceClassification, Pooling, saved_pooling};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use clap::Args;

use crate::inputs::{CHUNK, ModelTexts, batch_input, rows};

/// Arguments of `attn predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub inputs: ModelTexts,
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
                        tags: Vec::new(),
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
        if is_rnn_tagger(std::path::Path::new(&self.0.inputs.model)) {
            bail!(
                "--model {}: the recurrent tagger is scored with `attn eval --model RUN --test F`; \
                 `attn predict` tags text with BERT taggers",
                self.0.inputs.model
            );
        }
        let (dir, tokenizer, texts) = self.0.inputs.resolve()?;
        if is_tagger(&dir) {
            let tagger = load_tagger::<B<AD>>(&dir, self.0.inputs.max_len, &device)?;
            let cfg = TrainConfig {
                max_len: self.0.inputs.max_len,
                eval_batch_size: CHUNK,
                ..TrainConfig::default()
            };
            let layout = tagger.layout(&cfg)?;
            for chunk in texts.chunks(CHUNK) {
                let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                for tagged in tag_texts(&tagger, &refs, layout, &device)? {
                    println!("{}", serde_json::to_string(&tagged)?);
                }
            }
            return Ok(());
        }
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

/// Prints each text's label, probabilities and logits.
pub fn run(spec: BackendSpec, args: PredictArgs) -> Result<()> {
    dispatch(spec, Predict(args))?
}
