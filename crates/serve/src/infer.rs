//! Submitting a request's inputs to the worker: a permit per input (429 past the limit), the
//! queue, and the wait for the answers within the request timeout.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::{Semaphore, oneshot};

use crate::config::ServeConfig;
use crate::error::{ApiError, ErrorType};
use crate::job::{Output, Sized};
use crate::metrics::Metrics;
use crate::worker::Entry;

/// The handlers' way to the worker.
#[derive(Clone)]
pub struct Infer {
    queue: Sender<Entry>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Infer {
    /// Submits to `queue` at most `cfg.max_concurrent_requests` inputs at once, each answered
    /// within `cfg.request_timeout`, counting the queued ones in `metrics`.
    pub fn new(queue: Sender<Entry>, cfg: &ServeConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            queue,
            permits: Arc::new(Semaphore::new(cfg.max_concurrent_requests)),
            timeout: cfg.request_timeout,
            metrics,
        }
    }

    /// Runs `jobs` and returns their outputs in order. Dropping the future (a client that
    /// disconnects) closes the answer channels, and the worker skips what it has not run.
    pub async fn run(&self, jobs: Vec<Sized>) -> Result<Vec<Output>, ApiError> {
        let n = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
        let _permits = (self.permits.clone().try_acquire_many_owned(n)).map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorType::Overloaded,
                "too many inputs queued (--max-concurrent-requests): retry later",
            )
        })?;
        let mut answers = Vec::with_capacity(jobs.len());
        for (job, tokens) in jobs {
            let (reply, answer) = oneshot::channel();
            let entry = Entry { job, tokens, reply };
            self.queue
                .send(entry)
                .map_err(|_| ApiError::internal("the model's worker has stopped"))?;
            self.metrics.queue.inc();
            answers.push(answer);
        }
        let all = async {
            let mut outputs = Vec::with_capacity(answers.len());
            for answer in answers {
                let output = answer
                    .await
                    .map_err(|_| ApiError::internal("the model's worker dropped an input"))?;
                outputs.push(output?);
            }
            Ok(outputs)
        };
        tokio::time::timeout(self.timeout, all).await.map_err(|_| {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorType::Timeout,
                format!("no answer within {:?} (--request-timeout)", self.timeout),
            )
        })?
    }
}
