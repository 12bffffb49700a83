//! burn-train's renderer for a multi-device run, feeding the run's reports.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::train::Interrupter;
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};

use crate::TrainConfig;
use crate::error::{Result, TrainError};
use crate::events::Observer;
use crate::reports::{ReportLog, Window};

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
        observer: Arc<dyn Observer>,
    ) -> Result<Self> {
        Ok(Self {
            log: ReportLog::open(run, cfg, 0, observer)?,
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
