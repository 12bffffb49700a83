//! The training loop every model shares: seeded batch order, steps, reports, validation,
//! checkpoints and the resume from them.

use std::collections::HashSet;

use attn_data::{Example, TextBatcher, bucketed_batches, shuffled};
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::checkpoint::{CheckpointState, latest_checkpoint, resume, save_checkpoint};
use crate::config::TrainConfig;
use crate::distributed::{Peer, Reducer, Tally, gather, scatter, train_peers};
use crate::ema::Ema;
use crate::error::{Result, TrainError};
use crate::events::Event;
use crate::job::TrainJob;
use crate::objective::{CrossEntropy, Objective};
use crate::report_log::{ReportLog, Window};
use crate::step::{adamw, backward, cross_entropy, train_step, update};
use crate::validate::validation_accuracy;

/// The indices of the examples of global batch `it` (0-based; `cfg.global_batch()` rows, which
/// the peers share): epochs are reshuffled with `seed + epoch`, so the order depends only on
/// the seed and the iteration (a resumed run continues it exactly).
pub fn batch_at(it: usize, lengths: &[usize], cfg: &TrainConfig) -> Vec<usize> {
    let n = lengths.len();
    let size = cfg.global_batch();
    let per_epoch = n.div_ceil(size).max(1);
    let epoch = (it / per_epoch) as u64;
    let order = shuffled(n, cfg.seed.wrapping_add(epoch));
    let batches = bucketed_batches(
        &order,
        lengths,
        size,
        cfg.bucket,
        cfg.seed.wrapping_add(epoch),
    );
    batches[it % per_epoch].clone()
}

/// What a run returns: the trained model (the moving average of its weights when `cfg.ema` is
/// set; on rank 0 only) and the iterations this call ran (fewer than `cfg.iterations` after a
/// resume).
pub type Trained<M> = (Option<M>, usize);

/// Trains `model` for `task` on `job.examples` for `cfg.iterations` global batches, reporting every
/// `cfg.report_every`, checkpointing into `run/checkpoints/latest` every `cfg.checkpoint_every`,
/// and resuming from that checkpoint when it exists; over `cfg.devices` devices and `cfg.nodes`
/// processes when they are above 1 (each peer on its share of every batch, the gradients summed).
pub fn train<B, M, T>(model: M, task: &T, job: &TrainJob<'_, B>) -> Result<Trained<M::InnerModule>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Objective<B, M> + Objective<B::InnerBackend, M::InnerModule>,
{
    let cfg = job.cfg;
    let empty = [
        (job.examples.is_empty(), "the training set has no rows"),
        (cfg.batch_size == 0, "the batch size is 0"),
        (cfg.iterations == 0, "the run has 0 iterations"),
    ];
    if let Some((_, why)) = empty.iter().find(|(is, _)| *is) {
        return Err(TrainError::Settings(format!("nothing to train: {why}")));
    }
    if cfg.devices * cfg.nodes == 1 {
        let peer = Peer {
            index: 0,
            world: 1,
            home: job.run,
            reducer: None,
        };
        return train_peer(model, task, job, job.device, &peer);
    }
    train_peers(model, job, |model, device, peer| {
        train_peer(model, task, job, device, peer)
    })
}

/// The seed of iteration `it`'s dropout masks on peer `index`: they depend on the seed, the
/// iteration and the peer only, so a resumed run repeats them.
fn dropout_seed(seed: u64, it: usize, index: usize) -> u64 {
    seed.wrapping_mul(1_000_003)
        .wrapping_add(it as u64)
        .wrapping_add((index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// One peer's loop: its share of each batch, its gradients summed with the others' (alone: the
/// step as it is), the same optimizer step everywhere; the leading peer reports, validates and
/// checkpoints.
fn train_peer<B, M, T>(
    mut model: M,
    task: &T,
    job: &TrainJob<'_, B>,
    device: &B::Device,
    peer: &Peer<'_>,
) -> Result<Trained<M::InnerModule>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Objective<B, M> + Objective<B::InnerBackend, M::InnerModule>,
{
    let TrainJob {
        examples,
        validation,
        cfg,
        pad_id,
        run,
        ..
    } = *job;
    let leads = peer.leads();
    let mut optim = adamw::<B, M>(cfg);
    let checkpoints = run.join("checkpoints");
    let mut start = 0;
    let mut ema = (leads && cfg.ema > 0.0).then(|| Ema::new(model.valid(), cfg.ema));
    if let Some(latest) = latest_checkpoint(peer.home)? {
        let resumed = resume(&latest, leads.then_some(run), model, optim, cfg, device)?;
        (model, optim, start) = (resumed.model, resumed.optim, resumed.iteration);
        if leads {
            ema = resumed.ema;
            job.observer.event(Event::Resumed {
                from: &latest,
                iteration: start,
            });
        }
    }

    let lengths: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    let batcher = cfg.batcher::<B>(pad_id)?;
    let loss_fn = cross_entropy(cfg);
    let mut log = match leads {
        true => Some(ReportLog::open(run, cfg, start, job.observer.clone())?),
        false => None,
    };
    let mut window = Window::new();
    let mut shapes = HashSet::new();
    for it in start..cfg.iterations {
        B::seed(device, dropout_seed(cfg.seed, it, peer.index));
        let batch = batch_at(it, &lengths, cfg);
        let items: Vec<&Example> = peer.share(&batch).iter().map(|&i| &examples[i]).collect();
        shapes.insert((items.len(), batcher.width(&items)));
        let lr = cfg.lr_at(it);
        let step = match peer.reducer {
            None => {
                let collated = batcher.collate::<B>(&items, device);
                let step = train_step(
                    model,
                    task,
                    &mut optim,
                    &collated,
                    (lr, cfg.layer_decay),
                    loss_fn,
                    None,
                )?;
                let rows = items.len() as f64;
                let tally = Tally {
                    loss: step.loss as f64 * rows,
                    hits: step.hits as f64,
                    rows,
                    scored: step.scored as f64,
                };
                (step.model, tally)
            }
            Some(reducer) => {
                let share = Share {
                    items: &items,
                    of: batch.len(),
                    batcher,
                    device,
                };
                reduced_step(
                    (model, task),
                    &mut optim,
                    share,
                    loss_fn,
                    reducer,
                    (lr, cfg.layer_decay),
                )?
            }
        };
        let (next, tally) = step;
        let loss_value = tally.loss / tally.rows;
        if !loss_value.is_finite() {
            if let Some(log) = &log {
                log.bar.abandon();
            }
            return Err(TrainError::NonFinite {
                iteration: it + 1,
                loss: loss_value as f32,
            });
        }
        model = next;
        ema = ema.map(|average| average.update(&model.valid()));
        let Some(log) = log.as_mut() else {
            continue;
        };
        window.add_loss(loss_value, tally.rows);
        window.add_hits(tally.hits, tally.scored as usize);
        log.bar.inc(1);
        let done = it + 1;
        if done % cfg.report_every.max(1) == 0 || done == cfg.iterations {
            log.write(&window.take(done, lr))?;
        }
        let eval_now = cfg.eval_every > 0 && done % cfg.eval_every == 0;
        if !validation.is_empty() && (eval_now || done == cfg.iterations) {
            let accuracy = validation_accuracy::<B::InnerBackend, _, _>(
                &trained(&model, ema.as_ref()),
                task,
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
    let Some(log) = log else {
        return Ok((None, cfg.iterations - start));
    };
    log.bar.finish_and_clear();
    if let Some(pad) = batcher.pad_to {
        job.observer.event(Event::BatchShapes {
            distinct: shapes.len(),
            pad_to: pad.lengths(),
        });
    }
    Ok((Some(trained(&model, ema.as_ref())), cfg.iterations - start))
}

/// A peer's share of a global batch.
struct Share<'a, B: Backend> {
    /// Its examples (none when the batch has fewer rows than there are peers).
    items: &'a [&'a Example],
    /// Rows of the whole batch.
    of: usize,
    batcher: TextBatcher,
    device: &'a B::Device,
}

/// One step of a peer: the gradients of its share, weighted by its part of the batch's rows and
/// summed over the peers (the gradient of the whole batch's mean loss), then the optimizer step.
/// Returns the model and the whole batch's tally.
fn reduced_step<B, M, T, O>(
    (model, task): (M, &T),
    optim: &mut O,
    share: Share<'_, B>,
    loss_fn: CrossEntropy,
    reducer: &Reducer,
    (lr, layer_decay): (f64, f64),
) -> Result<(M, Tally)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Objective<B, M>,
    O: Optimizer<M, B>,
{
    let rows = share.items.len();
    let (grads, loss, hits, scored) = if rows == 0 {
        (GradientsParams::new(), 0.0, 0, 0)
    } else {
        let batch = share.batcher.collate::<B>(share.items, share.device);
        let g = backward(&model, task, &batch, loss_fn, || ())?;
        // A loss that is not finite has no gradients; it reaches every peer through the tally.
        (g.grads.unwrap_or_default(), g.loss, g.hits, g.scored)
    };
    let tally = Tally {
        loss: f64::from(loss) * rows as f64,
        hits: hits as f64,
        rows: rows as f64,
        scored: scored as f64,
    };
    let weight = rows as f32 / share.of as f32;
    let bucket = gather(&model, grads, weight, tally, share.device);
    let (grads, total) = scatter(&model, reducer.sum(bucket)?);
    let mean = total.loss / total.rows;
    let model = match mean.is_finite() {
        true => update(model, task, optim, grads, lr, layer_decay),
        false => model,
    };
    Ok((model, total))
}

/// The model training has produced so far: the average of its weights, or the weights.
fn trained<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    ema: Option<&Ema<M::InnerModule>>,
) -> M::InnerModule {
    ema.map_or_else(|| model.valid(), |average| average.model().clone())
}
