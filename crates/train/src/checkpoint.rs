//! Checkpoints of a run: saved whole into `run/checkpoints/latest` every so often, and resumed
//! from exactly (model, optimizer moments, weight average, iteration).

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::ema::Ema;
use crate::error::{Result, TrainError, io_err};

/// Where a checkpoint stands, saved beside its model and optimizer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Iterations completed.
    pub iteration: usize,
    /// Seed the shuffle order derives from.
    pub seed: u64,
}

/// The recorder of checkpoints: burn's named MessagePack files in full precision.
fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// A checkpoint error at `path`.
fn checkpoint_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The run's checkpoint to resume from, `run/checkpoints/latest`, when there is one (one that a
/// crash inside `save_checkpoint` left aside is put back first).
pub fn latest_checkpoint(run: &Path) -> Result<Option<PathBuf>> {
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
pub(crate) fn save_checkpoint<B, M, O>(
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

/// What a run resumes with, as saved in a checkpoint.
pub(crate) struct Resumed<M, O, A> {
    /// The model.
    pub model: M,
    /// The optimizer with its moments.
    pub optim: O,
    /// The moving average of the weights (when the run keeps one).
    pub ema: Option<Ema<A>>,
    /// Iterations done.
    pub iteration: usize,
}

/// What a run resumes with from `latest`. Reports in `run` (the leading peer's) of the
/// iterations after it, about to be redone, are dropped.
pub(crate) fn resume<B, M, O>(
    latest: &Path,
    run: Option<&Path>,
    model: M,
    optim: O,
    cfg: &TrainConfig,
    device: &B::Device,
) -> Result<Resumed<M, O, M::InnerModule>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    let state_path = latest.join("state.json");
    let state: CheckpointState =
        serde_json::from_str(&std::fs::read_to_string(&state_path).map_err(io_err(&state_path))?)
            .map_err(|e| checkpoint_err(latest, e))?;
    if state.seed != cfg.seed {
        return Err(checkpoint_err(
            latest,
            format!("made with seed {}, not {}", state.seed, cfg.seed),
        ));
    }
    let model = model
        .load_file(latest.join("model"), &recorder(), device)
        .map_err(|e| checkpoint_err(&latest.join("model.mpk"), e))?;
    let record = recorder()
        .load(latest.join("optim"), device)
        .map_err(|e| checkpoint_err(&latest.join("optim.mpk"), e))?;
    let optim = optim.load_record(record);
    let ema = if cfg.ema > 0.0 {
        let average = model
            .valid()
            .load_file(latest.join("ema"), &recorder(), device)
            .map_err(|e| checkpoint_err(&latest.join("ema.mpk"), e))?;
        Some(Ema::resume(average, cfg.ema, state.iteration))
    } else {
        None
    };
    if let Some(run) = run {
        for log in ["metrics.jsonl", "validation.jsonl"] {
            keep_reports_until(&run.join(log), state.iteration)?;
        }
    }
    Ok(Resumed {
        model,
        optim,
        ema,
        iteration: state.iteration,
    })
}
