//! The training loop every model shares: seeded batch order, steps, reports, validation,
//! checkpoints and the resume from them.

use std::path::Path;
use std::sync::Arc;

use attn_data::{Example, TextBatcher, bucketed_batches, shuffled};
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::TrainConfig;
use crate::checkpoint::{CheckpointState, latest_checkpoint, resume, save_checkpoint};
use crate::classify::Classify;
use crate::ema::Ema;
use crate::error::{Result, TrainError};
use crate::events::{Event, Observer};
use crate::predict::accuracy;
use crate::reports::{ReportLog, Window};
use crate::step::{adamw, cross_entropy, train_step};

/// A training run: its data, settings and run directory, and who hears of its progress. Both
/// loops take it ([`train`] and, over several devices, `train_data_parallel`).
#[derive(Clone)]
pub struct TrainJob<'a, B: Backend> {
    /// The training examples.
    pub examples: &'a [Example],
    /// Held-out examples scored during and after the run (may be empty).
    pub validation: &'a [Example],
    /// The run's settings.
    pub cfg: &'a TrainConfig,
    /// The id batches are padded with.
    pub pad_id: u32,
    /// The run directory (reports, checkpoints).
    pub run: &'a Path,
    /// The device to train on (the first of several).
    pub device: &'a B::Device,
    /// Who hears of the run's events.
    pub observer: Arc<dyn Observer>,
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

/// Trains `model` on `job.examples` for `cfg.iterations` mini-batches, reporting every
/// `cfg.report_every`, checkpointing into `run/checkpoints/latest` every `cfg.checkpoint_every`,
/// and resuming from that checkpoint when it exists. Returns the trained model (the moving average
/// of its weights when `cfg.ema` is set) and the number of iterations this call ran (fewer than
/// `cfg.iterations` after a resume).
pub fn train<B, M>(mut model: M, job: &TrainJob<'_, B>) -> Result<(M::InnerModule, usize)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classify<B>,
    M::InnerModule: Classify<B::InnerBackend>,
{
    let TrainJob {
        examples,
        validation,
        cfg,
        pad_id,
        run,
        device,
        ..
    } = *job;
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
        let resumed = resume(&latest, run, model, optim, cfg, device)?;
        (model, optim, ema, start) = (resumed.model, resumed.optim, resumed.ema, resumed.iteration);
        job.observer.event(Event::Resumed {
            from: &latest,
            iteration: start,
        });
    }

    let lengths: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    let batcher = TextBatcher {
        pad_id,
        max_len: cfg.max_len,
    };
    let loss_fn = cross_entropy(cfg, device);
    let mut log = ReportLog::open(run, cfg, start, job.observer.clone())?;
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
