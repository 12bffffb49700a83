//! Where the loop's reports go as it runs: the observer, `metrics.jsonl`, `validation.jsonl`
//! and the progress bar.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::TrainConfig;
use crate::error::{Result, io_err};
use crate::events::{Event, Observer};
use crate::memory::rss_bytes;
use crate::report::Report;

/// Where reports go: the run's observer (between redraws of a progress bar) and `metrics.jsonl`.
pub(crate) struct ReportLog {
    /// The iterations' progress bar (hidden when stderr is not a terminal).
    pub bar: ProgressBar,
    metrics: File,
    path: PathBuf,
    iterations: usize,
    observer: Arc<dyn Observer>,
}

impl ReportLog {
    /// Appends to `run/metrics.jsonl`, with a bar of `cfg.iterations` standing at `start`.
    pub fn open(
        run: &Path,
        cfg: &TrainConfig,
        start: usize,
        observer: Arc<dyn Observer>,
    ) -> Result<Self> {
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
            observer,
        })
    }

    /// Tells the observer of `report` (the reference's `Loss = …, Accuracy = …` line) and
    /// appends it to the file.
    pub fn write(&mut self, report: &Report) -> Result<()> {
        let iterations = self.iterations;
        self.bar.suspend(|| {
            self.observer.event(Event::Report { report, iterations });
        });
        let line = serde_json::to_string(report).expect("serializes");
        writeln!(self.metrics, "{line}").map_err(io_err(&self.path))?;
        self.bar
            .set_message(format!("{:.1} samples/s", report.samples_per_s));
        Ok(())
    }

    /// Tells the observer of the validation accuracy after `iteration` and appends it to
    /// `validation.jsonl`.
    pub fn validation(&self, iteration: usize, accuracy: f64, rows: usize) -> Result<()> {
        let event = Event::Validation {
            iteration,
            accuracy,
            rows,
        };
        self.bar.suspend(|| self.observer.event(event));
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

    /// Adds `correct` right predictions among `scored` ones.
    pub fn add_hits(&mut self, correct: f64, scored: usize) {
        self.correct += correct;
        self.seen += scored;
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
            samples_per_s: w.loss_weight / w.started.elapsed().as_secs_f64(),
            rss_bytes: rss_bytes(),
        }
    }
}
