//! The training loop shared by every model, its checkpoints, and batched prediction.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use attn_data::{Example, TextBatch, TextBatcher, bucketed_batches, shuffled};
use burn::module::{AutodiffModule, Module};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::classify::Classify;
use crate::ema::Ema;
use crate::error::{Result, TrainError, io_err};
use crate::reports::{ReportLog, Window};
use crate::{FusedAdamW, TrainConfig};

/// Where a checkpoint stands, saved beside its model and optimizer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Iterations completed.
    pub iteration: usize,
    /// Seed the shuffle order derives from.
    pub seed: u64,
}

/// The indices of the examples of batch `it` (0-based): epochs are reshuffled with `seed + epoch`,
/// so the order depends only on the seed and the iteration (a resumed run continues it exactly).
pub fn batch_at(it: usize, lengths: &[usize], cfg: &TrainConfig) -> Vec<usize> {
    let n = lengths.len();
    let per_epoch = n.div_ceil(cfg.batch_size).max(1);
    let epoch = (it / per_epoch) as u64;
    let order = shuffled(n, cfg.seed.wrapping_add(epoch));
    let batches = bucketed_batches(
        &order,
        lengths,
        cfg.batch_size,
        cfg.bucket,
        cfg.seed.wrapping_add(epoch),
    );
    batches[it % per_epoch].clone()
}

/// AdamW as PyTorch sets it up (eps 1e-8, not burn's 1e-5), with the run's decay and clipping.
pub(crate) fn adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    cfg: &TrainConfig,
) -> impl Optimizer<M, B> + use<B, M> {
    OptimizerAdaptor::from(FusedAdamW {
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        weight_decay: cfg.weight_decay,
        grad_clip: (cfg.grad_clip > 0.0).then_some(cfg.grad_clip as f32),
    })
}

/// The run's cross-entropy loss (with its label smoothing).
pub(crate) fn cross_entropy<B: Backend>(
    cfg: &TrainConfig,
    device: &B::Device,
) -> CrossEntropyLoss<B> {
    let smoothing = (cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing as f32);
    CrossEntropyLossConfig::new()
        .with_smoothing(smoothing)
        .init(device)
}

/// Time spent in each phase of a training step.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StepTimes {
    /// Forward pass and loss, up to reading the loss back.
    pub forward: Duration,
    /// Backward pass.
    pub backward: Duration,
    /// Gradient clipping and the optimizer update.
    pub optimizer: Duration,
}

/// One training step on `batch`.
pub(crate) struct Step<M> {
    /// The updated model (unchanged when the loss is not finite).
    pub model: M,
    /// The batch's mean loss.
    pub loss: f32,
    /// Correct predictions in the batch.
    pub hits: usize,
    /// Where the step's time went.
    pub times: StepTimes,
}

/// One optimizer step on `batch` at learning rate `lr`, times `layer_decay^depth` for each of the
/// model's gradient groups below the output; no update when the loss is NaN or infinite. With `sync`, waits
/// for that device after the backward pass and the update, so that the phase times of an
/// asynchronous (GPU) backend are device times rather than launch times.
pub(crate) fn train_step<B, M, O>(
    model: M,
    optim: &mut O,
    batch: &TextBatch<B>,
    lr: f64,
    layer_decay: f64,
    loss_fn: &CrossEntropyLoss<B>,
    sync: Option<&B::Device>,
) -> Result<Step<M>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classify<B>,
    O: Optimizer<M, B>,
{
    let started = Instant::now();
    let logits = model.logits(batch)?;
    let loss = loss_fn.forward(logits.clone(), batch.labels.clone());
    let loss_value: f32 = loss.clone().into_scalar().elem();
    let rows = batch.lengths.len();
    let hits: i64 = logits
        .argmax(1)
        .reshape([rows])
        .equal(batch.labels.clone())
        .int()
        .sum()
        .into_scalar()
        .elem();
    let forward_done = Instant::now();
    let mut step = Step {
        model,
        loss: loss_value,
        hits: hits as usize,
        times: StepTimes {
            forward: forward_done - started,
            ..StepTimes::default()
        },
    };
    if !loss_value.is_finite() {
        return Ok(step);
    }
    let wait = || {
        if let Some(device) = sync {
            // A device that cannot sync has failed; the next read of a tensor reports it.
            let _ = B::sync(device);
        }
    };
    let grads = GradientsParams::from_grads(loss.backward(), &step.model);
    let groups = step.model.grads_by_depth(grads);
    wait();
    let backward_done = Instant::now();
    step.times.backward = backward_done - forward_done;
    for (depth, grads) in groups {
        step.model = optim.step(lr * layer_decay.powi(depth), step.model, grads);
    }
    wait();
    step.times.optimizer = backward_done.elapsed();
    Ok(step)
}

/// The recorder of checkpoints: burn's named MessagePack files in full precision.
fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

fn checkpoint_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Trains `model` on `examples` for `cfg.iterations` mini-batches, reporting every
/// `cfg.report_every`, checkpointing into `run/checkpoints/latest` every `cfg.checkpoint_every`,
/// and resuming from that checkpoint when it exists. Returns the trained model (the moving average
/// of its weights when `cfg.ema` is set) and the number of iterations this call ran (fewer than
/// `cfg.iterations` after a resume).
pub fn train<B, M>(
    mut model: M,
    examples: &[Example],
    validation: &[Example],
    cfg: &TrainConfig,
    pad_id: u32,
    run: &Path,
    device: &B::Device,
) -> Result<(M::InnerModule, usize)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classify<B>,
    M::InnerModule: Classify<B::InnerBackend>,
{
    let empty = [
        (examples.is_empty(), "the training set has no rows"),
        (cfg.batch_size == 0, "the batch size is 0"),
        (cfg.iterations == 0, "the run has 0 iterations"),
    ];
    if let Some((_, why)) = empty.iter().find(|(is, _)| *is) {
        return Err(TrainError::Settings(format!("nothing to train: {why}")));
    }
    let mut optim = adamw::<B, M>(cfg);
    let checkpoints = run.join("checkpoints");
    let mut start = 0;
    let mut ema = (cfg.ema > 0.0).then(|| Ema::new(model.valid(), cfg.ema));
    if let Some(latest) = latest_checkpoint(run)? {
        let state: CheckpointState = serde_json::from_str(
            &std::fs::read_to_string(latest.join("state.json"))
                .map_err(io_err(latest.join("state.json")))?,
        )
        .map_err(|e| checkpoint_err(&latest, e))?;
        if state.seed != cfg.seed {
            return Err(checkpoint_err(
                &latest,
                format!("made with seed {}, not {}", state.seed, cfg.seed),
            ));
        }
        model = model
            .load_file(latest.join("model"), &recorder(), device)
            .map_err(|e| checkpoint_err(&latest.join("model.mpk"), e))?;
        let record = recorder()
            .load(latest.join("optim"), device)
            .map_err(|e| checkpoint_err(&latest.join("optim.mpk"), e))?;
        optim = optim.load_record(record);
        if ema.is_some() {
            let average = model
                .valid()
                .load_file(latest.join("ema"), &recorder(), device)
                .map_err(|e| checkpoint_err(&latest.join("ema.mpk"), e))?;
            ema = Some(Ema::resume(average, cfg.ema, state.iteration));
        }
        start = state.iteration;
        eprintln!("Resuming from {} at iteration {start}", latest.display());
        // Reports of the iterations after the checkpoint are about to be redone.
        for log in ["metrics.jsonl", "validation.jsonl"] {
            keep_reports_until(&run.join(log), start)?;
        }
    }

    let lengths: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    let batcher = TextBatcher {
        pad_id,
        max_len: cfg.max_len,
    };
    let loss_fn = cross_entropy(cfg, device);
    let mut log = ReportLog::open(run, cfg, start)?;
    let mut window = Window::new();
    for it in start..cfg.iterations {
        // Dropout masks depend on the seed and the iteration only, so a resumed run repeats them.
        B::seed(
            device,
            cfg.seed.wrapping_mul(1_000_003).wrapping_add(it as u64),
        );
        let idx = batch_at(it, &lengths, cfg);
        let items: Vec<&Example> = idx.iter().map(|&i| &examples[i]).collect();
        let batch = batcher.collate::<B>(&items, device);
        let lr = cfg.lr_at(it);
        let step = train_step(
            model,
            &mut optim,
            &batch,
            lr,
            cfg.layer_decay,
            &loss_fn,
            None,
        )?;
        let (loss_value, hits) = (step.loss, step.hits);
        if !loss_value.is_finite() {
            log.bar.abandon();
            return Err(TrainError::NonFinite {
                iteration: it + 1,
                loss: loss_value,
            });
        }
        model = step.model;
        ema = ema.map(|average| average.update(&model.valid()));

        window.add_loss(loss_value as f64, items.len() as f64);
        window.add_hits(hits as f64, items.len());
        log.bar.inc(1);
        let done = it + 1;
        if done % cfg.report_every.max(1) == 0 || done == cfg.iterations {
            log.write(&window.take(done, lr))?;
        }
        let eval_now = cfg.eval_every > 0 && done % cfg.eval_every == 0;
        if !validation.is_empty() && (eval_now || done == cfg.iterations) {
            let accuracy = accuracy(
                &trained(&model, ema.as_ref()),
                validation,
                cfg.eval_batch_size,
                batcher,
                device,
            )?;
            log.validation(done, accuracy, validation.len())?;
        }
        if cfg.checkpoint_every > 0 && done % cfg.checkpoint_every == 0 && done < cfg.iterations {
            save_checkpoint(
                &model,
                ema.as_ref().map(Ema::model),
                &optim,
                &checkpoints,
                CheckpointState {
                    iteration: done,
                    seed: cfg.seed,
                },
            )?;
        }
    }
    log.bar.finish_and_clear();
    Ok((trained(&model, ema.as_ref()), cfg.iterations - start))
}

/// The model training has produced so far: the average of its weights, or the weights.
fn trained<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    ema: Option<&Ema<M::InnerModule>>,
) -> M::InnerModule {
    ema.map_or_else(|| model.valid(), |average| average.model().clone())
}

/// The run's checkpoint to resume from, `run/checkpoints/latest`, when there is one (one that a
/// crash inside `save_checkpoint` left aside is put back first).
pub(crate) fn latest_checkpoint(run: &Path) -> Result<Option<PathBuf>> {
    let latest = run.join("checkpoints").join("latest");
    attn_atomic::recover(&latest)?;
    Ok(latest.join("state.json").is_file().then_some(latest))
}

/// Drops the lines of a JSON-lines report file whose `iteration` is past `iteration` (and any line
/// torn by a crash), rewriting the file atomically.
fn keep_reports_until(path: &Path, iteration: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["iteration"].as_u64())
                .is_some_and(|i| i as usize <= iteration)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    attn_atomic::write(path, kept.as_bytes())?;
    Ok(())
}

/// Writes model, weight average (when kept), optimizer and state into `checkpoints/latest`,
/// through a temporary directory renamed into place, so a crash mid-write never leaves a torn
/// `latest`.
fn save_checkpoint<B, M, O>(
    model: &M,
    ema: Option<&M::InnerModule>,
    optim: &O,
    checkpoints: &Path,
    state: CheckpointState,
) -> Result<()>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    let dir = attn_atomic::Dir::new(&checkpoints.join("latest"))?;
    let tmp = dir.path();
    model
        .clone()
        .save_file(tmp.join("model"), &recorder())
        .map_err(|e| checkpoint_err(&tmp.join("model.mpk"), e))?;
    if let Some(average) = ema {
        average
            .clone()
            .save_file(tmp.join("ema"), &recorder())
            .map_err(|e| checkpoint_err(&tmp.join("ema.mpk"), e))?;
    }
    recorder()
        .record(optim.to_record(), tmp.join("optim"))
        .map_err(|e| checkpoint_err(&tmp.join("optim.mpk"), e))?;
    let state_path = tmp.join("state.json");
    std::fs::write(
        &state_path,
        serde_json::to_string(&state).expect("serializes"),
    )
    .map_err(io_err(&state_path))?;
    dir.commit()?;
    Ok(())
}

/// Share of `examples` that `model` classifies correctly.
pub fn accuracy<B: Backend, M: Classify<B>>(
    model: &M,
    examples: &[Example],
    batch_size: usize,
    batcher: TextBatcher,
    device: &B::Device,
) -> Result<f64> {
    let predicted = predict(model, examples, batch_size, batcher, device)?;
    let hits = predicted
        .iter()
        .zip(examples)
        .filter(|(p, e)| **p == e.label)
        .count();
    Ok(hits as f64 / examples.len().max(1) as f64)
}

/// Predicted class of every example, in batches sorted by length (less padding), with a progress bar.
pub fn predict<B: Backend, M: Classify<B>>(
    model: &M,
    examples: &[Example],
    batch_size: usize,
    batcher: TextBatcher,
    device: &B::Device,
) -> Result<Vec<usize>> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].ids.len());
    let mut predicted = vec![0usize; examples.len()];
    let bar = ProgressBar::new(examples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("eval {bar:30} {pos}/{len} [{eta_precise}]")
            .expect("valid template"),
    );
    for chunk in order.chunks(batch_size.max(1)) {
        let items: Vec<&Example> = chunk.iter().map(|&i| &examples[i]).collect();
        let batch = batcher.collate::<B>(&items, device);
        let best: Tensor<B, 2, Int> = model.logits(&batch)?.argmax(1);
        let best: Vec<i64> = best
            .into_data()
            .convert::<i64>()
            .to_vec()
            .expect("int data");
        for (&i, &p) in chunk.iter().zip(&best) {
            predicted[i] = p as usize;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(predicted)
}
