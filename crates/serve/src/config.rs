//! What a server is told: the model, where to listen, and its limits.

use std::path::PathBuf;
use std::time::Duration;

/// A server's settings (TEI's names and defaults, but `auto_truncate` off).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The model: a run of `attn train` or a HF model directory.
    pub model: PathBuf,
    /// Where to listen, `host:port` (port 0: a free one).
    pub addr: String,
    /// The longest input in word pieces, [CLS] and [SEP] included.
    pub max_len: usize,
    /// A batch holds at most this many tokens, padding included.
    pub max_batch_tokens: usize,
    /// A batch holds at most this many inputs.
    pub max_batch_requests: usize,
    /// A request holds at most this many inputs.
    pub max_client_batch_size: usize,
    /// Inputs queued or running at once; past it a request gets 429.
    pub max_concurrent_requests: usize,
    /// The largest request body, in bytes; past it 413.
    pub payload_limit: usize,
    /// Truncate inputs longer than `max_len` instead of refusing them with 422.
    pub auto_truncate: bool,
    /// The bearer key every route but `/health` requires, if any.
    pub api_key: Option<String>,
    /// A request not answered within this gets 504; a body not received within it, 408.
    pub request_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::new(),
            addr: "127.0.0.1:8080".into(),
            max_len: 128,
            max_batch_tokens: 16384,
            max_batch_requests: 256,
            max_client_batch_size: 32,
            max_concurrent_requests: 512,
            payload_limit: 2_000_000,
            auto_truncate: false,
            api_key: None,
            request_timeout: Duration::from_secs(60),
        }
    }
}
