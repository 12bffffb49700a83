//! Timing of fine-tuning steps and inference on fixed batches: what `attn bench` reports.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use attn_data::{Example, LabelMap, TextBatcher};
use attn_train::{
    CrossEntropy, Objective, Quiet, Result, StepTimes, TrainConfig, TrainError, adamw,
    peak_rss_bytes, train_step,
};
use attn_transformer::{
    BertConfig, BertForSequenceClassification, BertTokenizer, Pooling, Precision, autocast,
};
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use serde::Serialize;

use crate::data::DataFiles;
use crate::encoder::WordPieceEncoder;
use crate::logits::Classify;
use crate::objective::TextClassification;

/// What one benchmark measured: medians over the timed steps (after the warm-up steps).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Median wall time of one step.
    pub median_step_s: f64,
    /// Examples per second at the median step time (mean batch size / median step).
    pub samples_per_s: f64,
    /// Padded tokens (batch x longest) per second at the median step time.
    pub padded_tokens_per_s: f64,
    /// Real (unpadded) share of the padded tokens.
    pub real_token_share: f64,
    /// Peak resident memory of the process so far (Linux), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Training only: median seconds of the forward pass and loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_s: Option<f64>,
    /// Training only: median seconds of the backward pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backward_s: Option<f64>,
    /// Training only: median seconds of clipping and the optimizer update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimizer_s: Option<f64>,
    /// Timed steps.
    pub steps: usize,
}

/// Consecutive batches of `batch` examples in file order (the bench's real-data input).
pub fn file_order_batches(examples: &[Example], batch: usize, count: usize) -> Vec<Vec<Example>> {
    examples
        .chunks(batch.max(1))
        .filter(|c| c.len() == batch)
        .take(count)
        .map(<[Example]>::to_vec)
        .collect()
}

/// `count` synthetic batches when no data is at hand: token counts drawn uniformly from 24..=72
/// (AG News train rows tokenize to a median of about 45 WordPiece tokens with [CLS] and [SEP]),
/// ids uniform over `[1000, vocab)`, labels over 4 classes; seeded, so every run sees the same.
pub fn synthetic_batches(batch: usize, count: usize, vocab: usize, seed: u64) -> Vec<Vec<Example>> {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let low = 1000.min(vocab.saturating_sub(1)) as u32;
    (0..count)
        .map(|_| {
            (0..batch)
                .map(|_| {
                    let len = rng.random_range(24..=72);
                    Example {
                        ids: (0..len)
                            .map(|_| rng.random_range(low..vocab as u32))
                            .collect(),
                        label: rng.random_range(0..4),
                        target: Vec::new(),
                        tags: Vec::new(),
                    }
                })
                .collect()
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Padded and real token counts of a batch as the batcher pads it.
fn token_counts(batch: &[Example], max_len: usize) -> (usize, usize) {
    let lengths: Vec<usize> = batch
        .iter()
        .map(|e| e.ids.len().clamp(1, max_len))
        .collect();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    (batch.len() * longest, lengths.iter().sum())
}

fn bar(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} [{{eta_precise}}]"
        ))
        .expect("valid template"),
    );
    bar
}

/// Summarises per-step wall times over the timed steps' batches.
fn report(step_s: Vec<f64>, batches: &[&[Example]], max_len: usize) -> BenchReport {
    let steps = step_s.len();
    let (mut padded, mut real, mut rows) = (0usize, 0usize, 0usize);
    for b in batches {
        let (p, r) = token_counts(b, max_len);
        padded += p;
        real += r;
        rows += b.len();
    }
    let median_step_s = median(step_s);
    let per_step = |total: usize| total as f64 / steps.max(1) as f64 / median_step_s;
    BenchReport {
        median_step_s,
        samples_per_s: per_step(rows),
        padded_tokens_per_s: per_step(padded),
        real_token_share: real as f64 / padded.max(1) as f64,
        peak_rss_bytes: peak_rss_bytes(),
        forward_s: None,
        backward_s: None,
        optimizer_s: None,
        steps,
    }
}

/// Times `steps` fine-tuning steps (forward, loss, backward, AdamW as `attn train` runs them)
/// after `warmup` untimed ones, cycling through `batches`.
pub fn bench_train<B, M>(
    mut model: M,
    batches: &[Vec<Example>],
    cfg: &TrainConfig,
    pad_id: u32,
    warmup: usize,
    steps: usize,
    device: &B::Device,
) -> Result<BenchReport>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    TextClassification: Objective<B, M>,
{
    let batcher = cfg.batcher::<B>(pad_id)?;
    let mut optim = adamw::<B, M>(cfg);
    let (mut step_s, mut phases, mut used) = (Vec::new(), Vec::new(), Vec::new());
    let progress = bar(warmup + steps, "train steps");
    for i in 0..warmup + steps {
        let items: Vec<&Example> = batches[i % batches.len()].iter().collect();
        let started = Instant::now();
        let batch = batcher.collate::<B>(&items, device);
        let step = train_step(
            model,
            &TextClassification,
            &mut optim,
            &batch,
            (cfg.lr, cfg.layer_decay),
            CrossEntropy::default(),
            Some(device),
        )?;
        model = step.model;
        if i >= warmup {
            step_s.push(started.elapsed().as_secs_f64());
            phases.push(step.times);
            used.push(batches[i % batches.len()].as_slice());
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let phase = |f: fn(&StepTimes) -> Duration| {
        Some(median(phases.iter().map(|t| f(t).as_secs_f64()).collect()))
    };
    Ok(BenchReport {
        forward_s: phase(|t| t.forward),
        backward_s: phase(|t| t.backward),
        optimizer_s: phase(|t| t.optimizer),
        ..report(step_s, &used, cfg.max_len)
    })
}

/// Times `steps` inference batches (forward pass to predicted classes) after `warmup` untimed ones.
pub fn bench_infer<B: Backend, M: Classify<B>>(
    model: &M,
    batches: &[Vec<Example>],
    max_len: usize,
    pad_id: u32,
    warmup: usize,
    steps: usize,
    device: &B::Device,
) -> Result<BenchReport> {
    let batcher = TextBatcher::longest(pad_id, max_len);
    let (mut step_s, mut used) = (Vec::new(), Vec::new());
    let progress = bar(warmup + steps, "inference batches");
    for i in 0..warmup + steps {
        let items: Vec<&Example> = batches[i % batches.len()].iter().collect();
        let started = Instant::now();
        let batch = batcher.collate::<B>(&items, device);
        let best: Tensor<B, 2, Int> = model.logits(&batch)?.argmax(1);
        let _ = best.into_data();
        if i >= warmup {
            step_s.push(started.elapsed().as_secs_f64());
            used.push(batches[i % batches.len()].as_slice());
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(report(step_s, &used, max_len))
}

/// What `attn bench` measures: a BERT classifier, its weights, and the batches it sees.
#[derive(Debug, Clone)]
pub struct BenchSpec {
    /// Fine-tuning steps (true) or inference batches (false).
    pub train: bool,
    /// Pre-trained model directory: its weights, config and tokenizer.
    pub model_dir: Option<PathBuf>,
    /// A preset (`bert-base`, `bert-large`, `minilm-l6`) with random weights, instead of the model's.
    pub preset: Option<String>,
    /// AG News `train.csv` for real batches (tokenized with the model directory's tokenizer);
    /// synthetic batches without it.
    pub train_csv: Option<PathBuf>,
    /// Where token caches go when the data's directory is read-only.
    pub cache_root: PathBuf,
    /// Examples per batch.
    pub batch: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Longest sequence in tokens.
    pub max_len: usize,
    /// Seed of random weights, synthetic batches and dropout.
    pub seed: u64,
    /// Keep the word embeddings fixed, as `attn train --freeze-embeddings`.
    pub freeze_embeddings: bool,
    /// Precision of the matrix products, as `attn train --precision`.
    pub precision: Precision,
}

/// Benchmarks the BERT classifier `spec` describes on `device`.
pub fn bench_bert<B: AutodiffBackend>(spec: &BenchSpec, device: &B::Device) -> Result<BenchReport> {
    let _autocast = autocast(spec.precision);
    let config = match (&spec.preset, &spec.model_dir) {
        (Some(name), _) => BertConfig::preset(name)?,
        (None, Some(dir)) => BertConfig::from_file(&dir.join("config.json"))?,
        (None, None) => {
            return Err(TrainError::Settings(
                "the bench needs a model directory or a preset".into(),
            ));
        }
    };
    let count = spec.warmup + spec.steps;
    let batches = match (&spec.train_csv, &spec.model_dir) {
        (Some(csv), Some(dir)) => {
            let encoder = WordPieceEncoder::new(
                BertTokenizer::from_dir(dir, spec.max_len)?,
                dir,
                spec.max_len,
            );
            let labels = LabelMap::ag_news();
            let data = DataFiles::ag_news(csv.parent().unwrap_or(Path::new(".")), &spec.cache_root);
            // Bad rows are errors here (no skipping), so nothing is left to report.
            let examples = data.examples(csv, &labels, false, &encoder, &Quiet)?;
            file_order_batches(&examples, spec.batch, count)
        }
        _ => synthetic_batches(spec.batch, count, config.vocab_size, spec.seed),
    };
    if batches.is_empty() {
        return Err(TrainError::Settings(format!(
            "no full batch of {} examples to time",
            spec.batch
        )));
    }
    B::seed(device, spec.seed);
    let mut model = match (&spec.preset, &spec.model_dir) {
        (None, Some(dir)) => {
            BertForSequenceClassification::<B>::from_pretrained_with(
                dir,
                config.clone(),
                Some(4),
                Pooling::Cls,
                device,
            )?
            .0
        }
        _ => BertForSequenceClassification::<B>::random(&config, 4, Pooling::Cls, device)?,
    };
    if spec.freeze_embeddings {
        model.bert.embeddings = model.bert.embeddings.freeze_word_embeddings();
    }
    // The step PyTorch's side times: plain cross-entropy.
    let cfg = TrainConfig {
        max_len: spec.max_len,
        lr: 2e-5,
        label_smoothing: 0.0,
        ..TrainConfig::default()
    };
    let pad_id = config.pad_token_id as u32;
    if spec.train {
        bench_train(
            model,
            &batches,
            &cfg,
            pad_id,
            spec.warmup,
            spec.steps,
            device,
        )
    } else {
        bench_infer(
            &model.valid(),
            &batches,
            spec.max_len,
            pad_id,
            spec.warmup,
            spec.steps,
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn synthetic_batches_are_seeded_and_in_range() {
        let a = synthetic_batches(8, 3, 30522, 7);
        assert_eq!(a, synthetic_batches(8, 3, 30522, 7));
        assert_ne!(a, synthetic_batches(8, 3, 30522, 8));
        assert_eq!(a.len(), 3);
        for e in a.iter().flatten() {
            assert!((24..=72).contains(&e.ids.len()));
            assert!(e.ids.iter().all(|&id| (1000..30522).contains(&id)));
            assert!(e.label < 4);
        }
    }

    #[test]
    fn file_order_batches_keep_order_and_drop_a_short_tail() {
        let examples: Vec<Example> = (0..10)
            .map(|i| Example {
                ids: vec![i],
                label: 0,
                target: Vec::new(),
                tags: Vec::new(),
            })
            .collect();
        let batches = file_order_batches(&examples, 4, 10);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1][0].ids, vec![4]);
    }

    #[test]
    fn token_counts_pad_to_the_longest() {
        let batch = [
            Example {
                ids: vec![1; 3],
                label: 0,
                target: Vec::new(),
                tags: Vec::new(),
            },
            Example {
                ids: vec![1; 10],
                label: 0,
                target: Vec::new(),
                tags: Vec::new(),
            },
        ];
        assert_eq!(token_counts(&batch, 128), (20, 13));
        assert_eq!(token_counts(&batch, 5), (10, 8));
    }
}
