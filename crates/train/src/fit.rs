//! The run every task shares: its settings written and checked on resume, the loop, then the
//! trained model saved, drawn and evaluated, and the run's summary.

use std::path::Path;
use std::time::Instant;

use burn::module::{AutodiffModule, ModuleDisplay};
use burn::tensor::backend::AutodiffBackend;

use crate::checkpoint::latest_checkpoint;
use crate::config::TrainConfig;
use crate::curves;
use crate::error::{Result, TrainError, io_err};
use crate::events::Event;
use crate::job::TrainJob;
use crate::memory::peak_rss_bytes;
use crate::objective::Objective;
use crate::train_loop::train;

/// The run of any task: on rank 0 writes `run.json` and the task's own files (`begin`), trains
/// `model` for `task` on `job` (resuming its checkpoint), then on rank 0 draws `curves.png`,
/// saves the model with `save`, evaluates it with `evaluate` and writes `summary.json` with the
/// evaluation's fields; the other ranks return `None`.
pub fn fit<B, M, T, R>(
    (model, task): (M, &T),
    job: TrainJob<'_, B>,
    begin: impl FnOnce() -> Result<()>,
    save: impl FnOnce(&M::InnerModule) -> Result<()>,
    evaluate: impl FnOnce(&M::InnerModule, &TrainConfig) -> Result<(R, serde_json::Value)>,
) -> Result<Option<R>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + ModuleDisplay + 'static,
    M::InnerModule: ModuleDisplay,
    T: Objective<B, M> + Objective<B::InnerBackend, M::InnerModule>,
{
    let run = job.run;
    let cfg = &job.cfg.resolve_epochs(job.examples.len());
    let rank = job.cluster.rank();
    if rank == 0 {
        std::fs::create_dir_all(run).map_err(io_err(run))?;
        if latest_checkpoint(run)?.is_some() {
            check_resume_settings(&run.join("run.json"), cfg)?;
        }
        attn_atomic::write(
            &run.join("run.json"),
            serde_json::to_string_pretty(cfg)
                .expect("serializes")
                .as_bytes(),
        )?;
        begin()?;
    }
    let parameters = burn::module::Module::num_params(&model);
    let started = Instant::now();
    let observer = job.observer.clone();
    let job = TrainJob { cfg, ..job };
    let (model, iterations_run) = train::<B, M, T>(model, task, &job)?;
    let train_s = started.elapsed().as_secs_f64();
    let Some(model) = model else {
        observer.event(Event::TrainedShare {
            rank,
            seconds: train_s,
        });
        return Ok(None);
    };
    curves::plot_run(run)?;
    save(&model)?;
    observer.event(Event::Trained {
        seconds: train_s,
        run,
    });
    let (report, fields) = evaluate(&model, cfg)?;
    let mut summary = serde_json::json!({
        "parameters": parameters,
        "train_seconds": train_s,
        "train_samples_per_s": (iterations_run * cfg.global_batch()) as f64 / train_s,
        "peak_rss_bytes": peak_rss_bytes(),
    });
    if let (Some(summary), Some(fields)) = (summary.as_object_mut(), fields.as_object()) {
        summary.extend(fields.clone());
    }
    let summary = serde_json::to_string_pretty(&summary).expect("serializes");
    attn_atomic::write(&run.join("summary.json"), summary.as_bytes())?;
    Ok(Some(report))
}

/// Settings that do not change what is trained, so a resumed run may change them.
const FREE_ON_RESUME: [&str; 5] = [
    "eval_limit",
    "eval_batch_size",
    "report_every",
    "checkpoint_every",
    "eval_every",
];

/// Refuses to resume a run with training settings other than those in its `run.json`: the
/// checkpoint's optimizer state, schedule and data order only make sense under the same ones.
fn check_resume_settings(saved: &Path, cfg: &TrainConfig) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(saved) else {
        return Ok(());
    };
    let before: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| TrainError::Settings(format!("{}: {e}", saved.display())))?;
    let now = serde_json::to_value(cfg).expect("serializes");
    let differences: Vec<String> = now
        .as_object()
        .into_iter()
        .flatten()
        // A key the run's file lacks is a setting added since: it had its default then.
        .filter(|(key, value)| {
            !FREE_ON_RESUME.contains(&key.as_str())
                && before.get(*key).is_some_and(|old| old != *value)
        })
        .map(|(key, value)| {
            format!(
                "{key} {} (run.json) vs {value}",
                before.get(key).unwrap_or(&serde_json::Value::Null)
            )
        })
        .collect();
    if differences.is_empty() {
        return Ok(());
    }
    Err(TrainError::ResumeMismatch {
        run: saved.parent().unwrap_or(saved).to_path_buf(),
        differences: differences.join(", "),
    })
}
