//! The workflow every model shares: read and tokenize the data, hold out validation rows, train
//! with the one loop, save, evaluate on the test set, and write the run directory's reports.

use std::path::{Path, PathBuf};
use std::time::Instant;

use attn_data::{
    CsvFormat, Example, LabelMap, TextEncoder, TextRow, read_raw, stratified_split, tokenize_cached,
};
use burn::module::{AutodiffModule, ModuleDisplay};
use burn::tensor::backend::AutodiffBackend;

use crate::checkpoint::latest_checkpoint;
use crate::classify::{Classify, Objective};
use crate::error::{Result, TrainError, io_err};
use crate::events::{Event, Observer};
use crate::memory::peak_rss_bytes;
use crate::metrics::EvalReport;
use crate::predict::{evaluate, finish};
use crate::train_loop::{TrainJob, train};
use crate::{TrainConfig, curves};

/// Labelled train and test files and how to read them.
#[derive(Debug, Clone)]
pub struct DataFiles {
    /// Training file (absent for evaluation only).
    pub train: Option<PathBuf>,
    /// Test file.
    pub test: PathBuf,
    /// How the files are laid out.
    pub format: CsvFormat,
    /// Class map, when fixed in advance (AG News); else built from the training file.
    pub labels: Option<LabelMap>,
    /// Where token caches go when the data's directory is read-only.
    pub cache_root: PathBuf,
}

impl DataFiles {
    /// AG News `train.csv` and `test.csv` in `dir`.
    pub fn ag_news(dir: &Path, cache_root: &Path) -> Self {
        Self {
            train: Some(dir.join("train.csv")),
            test: dir.join("test.csv"),
            format: CsvFormat::ag_news(),
            labels: Some(LabelMap::ag_news()),
            cache_root: cache_root.to_path_buf(),
        }
    }

    /// The training file, or an error saying that training needs one.
    pub fn train_file(&self) -> Result<&Path> {
        self.train
            .as_deref()
            .ok_or_else(|| TrainError::Settings("training needs a training file".into()))
    }

    /// The labelled rows of one file.
    pub fn rows(
        &self,
        path: &Path,
        labels: &LabelMap,
        skip_bad: bool,
        observer: &dyn Observer,
    ) -> Result<Vec<TextRow>> {
        let (rows, count) = labels.apply(read_raw(path, &self.format, skip_bad)?, skip_bad)?;
        if count > 0 {
            observer.event(Event::SkippedRows { path, count });
        }
        Ok(rows)
    }

    /// The tokenized examples of one file (cached).
    pub fn examples(
        &self,
        path: &Path,
        labels: &LabelMap,
        skip_bad: bool,
        encoder: &dyn TextEncoder,
        observer: &dyn Observer,
    ) -> Result<Vec<Example>> {
        let rows = self.rows(path, labels, skip_bad, observer)?;
        Ok(tokenize_cached(path, &rows, encoder, &self.cache_root)?.examples)
    }

    /// The label map of the run in `run`: when it resumes from a checkpoint, the one saved in
    /// `run/labels.json` (so a changed training file cannot renumber the checkpoint's classes: an
    /// unknown label is then an error naming file and line); else [`Self::label_map`].
    pub fn run_label_map(&self, run: &Path, skip_bad: bool) -> Result<LabelMap> {
        let saved = run.join("labels.json");
        if latest_checkpoint(run)?.is_some() && saved.is_file() {
            return Ok(LabelMap::load(&saved)?);
        }
        self.label_map(skip_bad)
    }

    /// The label map: fixed, or built from the training file.
    pub fn label_map(&self, skip_bad: bool) -> Result<LabelMap> {
        match (&self.labels, &self.train) {
            (Some(map), _) => Ok(map.clone()),
            (None, Some(train)) => Ok(LabelMap::from_table(&read_raw(
                train,
                &self.format,
                skip_bad,
            )?)),
            (None, None) => Err(TrainError::Settings(
                "the model has no labels.json (a run directory of `attn train` has one) and \
                 there is no training file to build the label map from"
                    .into(),
            )),
        }
    }
}

/// Tokenized training, validation and test sets.
pub(crate) struct Prepared {
    pub labels: LabelMap,
    pub train: Vec<Example>,
    pub validation: Vec<Example>,
    pub test: Vec<Example>,
}

/// Reads and tokenizes the data and holds out `cfg.val_fraction` of the training rows.
pub(crate) fn prepare(
    data: &DataFiles,
    labels: LabelMap,
    encoder: &dyn TextEncoder,
    cfg: &TrainConfig,
    observer: &dyn Observer,
) -> Result<Prepared> {
    let started = Instant::now();
    let skip = cfg.skip_bad_rows;
    let train_all = data.examples(data.train_file()?, &labels, skip, encoder, observer)?;
    let test = data.examples(&data.test, &labels, skip, encoder, observer)?;
    let (train, validation) = if cfg.val_fraction > 0.0 {
        let classes: Vec<usize> = train_all.iter().map(|e| e.label).collect();
        let (keep, held) = stratified_split(&classes, cfg.val_fraction, cfg.seed);
        let pick = |idx: &[usize]| {
            idx.iter()
                .map(|&i| train_all[i].clone())
                .collect::<Vec<_>>()
        };
        (pick(&keep), pick(&held))
    } else {
        (train_all, Vec::new())
    };
    observer.event(Event::Prepared {
        train: train.len(),
        validation: validation.len(),
        test: test.len(),
        classes: labels.len(),
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(Prepared {
        labels,
        train,
        validation,
        test,
    })
}

/// Runs `job` (on the prepared data's training and validation rows) for a classifier, saves
/// it with `save`, evaluates it on the test set and writes `run.json`, `labels.json`,
/// `curves.png` and `eval.json` into the run directory; on rank 0 of several only, the others
/// return `None`.
pub(crate) fn fit<B, M>(
    model: M,
    data: &Prepared,
    job: TrainJob<'_, B>,
    save: impl FnOnce(&M::InnerModule) -> Result<()>,
) -> Result<Option<EvalReport>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Objective<B> + ModuleDisplay + 'static,
    M::InnerModule: Classify<B::InnerBackend> + Objective<B::InnerBackend> + ModuleDisplay,
{
    let (run, pad_id, device) = (job.run, job.pad_id, job.device);
    let observer = job.observer.clone();
    let evaluate = |model: &M::InnerModule, cfg: &TrainConfig| {
        let report = evaluate(model, &data.test, &data.labels, cfg, pad_id, device)?;
        finish(&report, Some(run), observer.as_ref())?;
        let summary = serde_json::json!({
            "inference_samples_per_s": report.samples_per_s,
            "test_accuracy": report.test_accuracy,
            "macro_f1": report.macro_f1,
            "test_rows": report.examples,
        });
        Ok((report, summary))
    };
    fit_with(model, job, Some(&data.labels), save, evaluate)
}

/// The run of any model: writes `run.json` (and `labels.json`, given labels), trains `job`
/// (resuming its checkpoint), then on rank 0 draws `curves.png`, saves the model with `save`,
/// evaluates it with `evaluate` and writes `summary.json` with the evaluation's fields; the
/// other ranks return `None`.
pub(crate) fn fit_with<B, M, R>(
    model: M,
    job: TrainJob<'_, B>,
    labels: Option<&LabelMap>,
    save: impl FnOnce(&M::InnerModule) -> Result<()>,
    evaluate: impl FnOnce(&M::InnerModule, &TrainConfig) -> Result<(R, serde_json::Value)>,
) -> Result<Option<R>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Objective<B> + ModuleDisplay + 'static,
    M::InnerModule: Objective<B::InnerBackend> + ModuleDisplay,
{
    let run = job.run;
    let cfg = &job.cfg.resolve_epochs(job.examples.len());
    let rank = job.cluster.rank;
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
        if let Some(labels) = labels {
            labels.save(&run.join("labels.json"))?;
        }
    }
    let parameters = burn::module::Module::num_params(&model);
    let started = Instant::now();
    let observer = job.observer.clone();
    let job = TrainJob { cfg, ..job };
    let (model, iterations_run) = train::<B, M>(model, &job)?;
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
