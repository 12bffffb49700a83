//! `/metrics` in Prometheus' text format: requests by route and status and their latencies, the
//! queue's depth, each batch's inputs and padded tokens, and the tokens run.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A route and the status it answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    /// The route.
    pub route: String,
    /// The HTTP status.
    pub status: u16,
}

/// A route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    /// The route.
    pub route: String,
}

/// Latency buckets from 1 ms to about 65 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The server's metrics (cheap to update from any thread).
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by route and status.
    pub requests: Family<RouteStatus, Counter>,
    /// Seconds from a request's arrival to its answer, by route.
    pub latency: Family<Route, Histogram, fn() -> Histogram>,
    /// Inputs queued and not yet taken into a batch.
    pub queue: Gauge,
    /// Inputs per batch run.
    pub batch_size: Histogram,
    /// Padded tokens per batch run (inputs x the longest).
    pub batch_tokens: Histogram,
    /// Tokens of the inputs run.
    pub tokens: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("attn");
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = Family::<Route, Histogram, fn() -> Histogram>::new_with_constructor(latency);
        let queue = Gauge::default();
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let batch_tokens = Histogram::new(exponential_buckets(16.0, 2.0, 12));
        let tokens = Counter::default();
        let what = "requests answered, by route and status";
        registry.register("requests", what, requests.clone());
        let what = "seconds from a request's arrival to its answer";
        registry.register("request_duration_seconds", what, latency.clone());
        registry.register("queue_size", "inputs waiting for a batch", queue.clone());
        registry.register("batch_size", "inputs per batch run", batch_size.clone());
        let what = "padded tokens per batch run";
        registry.register("batch_tokens", what, batch_tokens.clone());
        registry.register("tokens", "tokens of the inputs run", tokens.clone());
        Self {
            registry,
            requests,
            latency,
            queue,
            batch_size,
            batch_tokens,
            tokens,
        }
    }
}

impl Metrics {
    /// The metrics in Prometheus' (OpenMetrics) text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
