//! One report of the loop: a line of `metrics.jsonl`.

use serde::{Deserialize, Serialize};

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
