//! The run's report lines, `metrics.jsonl` and progress bar, for either training loop.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::Interrupter;
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::TrainConfig;
use crate::error::{Result, TrainError, io_err};
use crate::workflow::rss_bytes;

/// One line of `metrics.jsonl`: averages over the iterations since the last report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// 1-based iteration at the end of the window.
    pub iteration: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy.
    pub train_accuracy: f64,
    /// Learning rate of the last iteration.
    pub lr: f64,
    /// Training examples per second.
    pub samples_per_s: f64,
    /// Resident memory of the process at the report (Linux), bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
}

/// Where reports go: the terminal (above a progress bar) and `metrics.jsonl`.
pub(crate) struct ReportLog {
    /// The iterations' progress bar (hidden when stderr is not a terminal).
    pub bar: ProgressBar,
    metrics: File,
    path: PathBuf,
    iterations: usize,
}

impl ReportLog {
    /// Appends to `run/metrics.jsonl`, with a bar of `cfg.iterations` standing at `start`.
    pub fn open(run: &Path, cfg: &TrainConfig, start: usize) -> Result<Self> {
        let path = run.join("metrics.jsonl");
        let metrics = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let bar = ProgressBar::new(cfg.iterations as u64).with_position(start as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .expect("valid template"),
        );
        Ok(Self {
            bar,
            metrics,
            path,
            iterations: cfg.iterations,
        })
    }

    /// Prints the reference's `Loss = …, Accuracy = …` line and appends `report` to the file.
    pub fn write(&mut self, report: &Report) -> Result<()> {
        // Printed above the bar (and printed at all when the bar is hidden, e.g. not a TTY).
        self.bar.suspend(|| {
            println!(
                "Loss = {:.4}, Accuracy = {:.4}  (iteration {}/{}, lr {:.2e}, {:.1} samples/s)",
                report.loss,
                report.train_accuracy,
                report.iteration,
                self.iterations,
                report.lr,
                report.samples_per_s
            )
        });
        let line = serde_json::to_string(report).expect("serializes");
        writeln!(self.metrics, "{line}").map_err(io_err(&self.path))?;
        self.bar
            .set_message(format!("{:.1} samples/s", report.samples_per_s));
        Ok(())
    }

    /// Prints the validation accuracy after `iteration` and appends it to `validation.jsonl`.
    pub fn validation(&self, iteration: usize, accuracy: f64, rows: usize) -> Result<()> {
        self.bar.suspend(|| {
            println!("Validation accuracy = {accuracy:.4}  (iteration {iteration}, {rows} rows)")
        });
        let path = self.path.with_file_name("validation.jsonl");
        let line = serde_json::json!({"iteration": iteration, "val_accuracy": accuracy});
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"))
            .map_err(io_err(&path))
    }
}

/// Sums over the iterations since the last report.
pub(crate) struct Window {
    loss_sum: f64,
    loss_weight: f64,
    correct: f64,
    seen: usize,
    started: Instant,
}

impl Window {
    /// An empty window starting now.
    pub fn new() -> Self {
        Self {
            loss_sum: 0.0,
            loss_weight: 0.0,
            correct: 0.0,
            seen: 0,
            started: Instant::now(),
        }
    }

    /// Adds a loss with its weight in the window's mean.
    pub fn add_loss(&mut self, loss: f64, weight: f64) {
        self.loss_sum += loss * weight;
        self.loss_weight += weight;
    }

    /// Adds `correct` right predictions among `rows` examples.
    pub fn add_hits(&mut self, correct: f64, rows: usize) {
        self.correct += correct;
        self.seen += rows;
    }

    /// The report of the window ending at `iteration` with learning rate `lr`; a new window
    /// starts.
    pub fn take(&mut self, iteration: usize, lr: f64) -> Report {
        let w = std::mem::replace(self, Self::new());
        Report {
            iteration,
            loss: w.loss_sum / w.loss_weight,
            train_accuracy: w.correct / w.seen as f64,
            lr,
            samples_per_s: w.seen as f64 / w.started.elapsed().as_secs_f64(),
            rss_bytes: rss_bytes(),
        }
    }
}

/// burn-train's renderer for a multi-device run: turns the learner's loss, accuracy and
/// learning-rate metrics into the run's reports, and stops the run at a non-finite loss.
pub(crate) struct Reports {
    log: ReportLog,
    failure: Arc<Mutex<Option<TrainError>>>,
    interrupter: Interrupter,
    names: HashMap<MetricId, String>,
    window: Window,
    lr: f64,
    devices: usize,
    report_every: usize,
    batches_done: usize,
    valid: (f64, usize),
}

impl Reports {
    /// Reports of a run of `cfg` in `run` over `devices` devices; a failure is left in `failure`.
    pub fn new(
        run: &Path,
        cfg: &TrainConfig,
        devices: usize,
        interrupter: Interrupter,
        failure: &Arc<Mutex<Option<TrainError>>>,
    ) -> Result<Self> {
        Ok(Self {
            log: ReportLog::open(run, cfg, 0)?,
            failure: failure.clone(),
            interrupter,
            names: HashMap::new(),
            window: Window::new(),
            lr: 0.0,
            devices,
            report_every: cfg.report_every.max(1),
            batches_done: 0,
            valid: (0.0, 0),
        })
    }

    fn fail(&mut self, error: TrainError) {
        self.interrupter.stop(Some(&error.to_string()));
        self.log.bar.abandon();
        self.failure
            .lock()
            .expect("no panic holding it")
            .get_or_insert(error);
    }

    /// Ends the iteration `done`: a report when one is due.
    fn iteration_done(&mut self, done: usize) {
        self.log.bar.inc(1);
        let last = done as u64 == self.log.bar.length().unwrap_or(0);
        if !done.is_multiple_of(self.report_every) && !last {
            return;
        }
        let report = self.window.take(done, self.lr);
        if let Err(e) = self.log.write(&report) {
            self.fail(e);
        }
    }
}

impl MetricsRendererTraining for Reports {
    fn update_train(&mut self, state: MetricState) {
        let MetricState::Numeric(entry, value) = state else {
            return;
        };
        let count = match value {
            NumericEntry::Aggregated { count, .. } => count,
            NumericEntry::Value(_) => 1,
        };
        let value = value.current();
        match self.names.get(&entry.metric_id).map(String::as_str) {
            Some("Loss") => {
                self.window.add_loss(value, 1.0);
                if !value.is_finite() {
                    let iteration = self.batches_done / self.devices + 1;
                    self.fail(TrainError::NonFinite {
                        iteration,
                        loss: value as f32,
                    });
                }
            }
            // burn's accuracy is a percentage.
            Some("Accuracy") => self.window.add_hits(value / 100.0 * count as f64, count),
            Some("Learning Rate") => self.lr = value,
            _ => {}
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        if let MetricState::Numeric(
            entry,
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            },
        ) = state
            && self.names.get(&entry.metric_id).map(String::as_str) == Some("Accuracy")
        {
            self.valid.0 += aggregated_value / 100.0 * count as f64;
            self.valid.1 += count;
        }
    }

    fn render_train(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {
        self.batches_done += 1;
        if self.batches_done.is_multiple_of(self.devices) {
            self.iteration_done(self.batches_done / self.devices);
        }
    }

    fn render_valid(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}

    fn on_train_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        self.log.bar.finish_and_clear();
        let (correct, rows) = self.valid;
        if rows > 0 {
            let iteration = self.batches_done / self.devices;
            let written = self.log.validation(iteration, correct / rows as f64, rows);
            written.unwrap_or_else(|e| self.fail(e));
        }
        Ok(())
    }
}

impl MetricsRendererEvaluation for Reports {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}

    fn render_test(&mut self, _item: EvaluationProgress, _indicators: Vec<ProgressType>) {}
}

impl MetricsRenderer for Reports {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }
}
