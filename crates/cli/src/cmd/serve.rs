//! `attn serve`: the model behind an HTTP API (TEI's routes and shapes) until SIGINT/SIGTERM,
//! then what it answered.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use attn_backend::{AutodiffBackend, BackendSpec, BackendTask, dispatch};
use attn_serve::{ServeConfig, serve};
use clap::Args;

use crate::inputs::model_dir;

/// Arguments of `attn serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A run directory of `attn train` (a classifier, tagger or translator) or a HF model
    /// directory or name (fetched if needed).
    #[arg(long)]
    pub model: String,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port to listen on (0: a free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The longest input in word pieces, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// A batch holds at most this many tokens, padding included.
    #[arg(long, default_value_t = 16384)]
    pub max_batch_tokens: usize,
    /// A batch holds at most this many inputs.
    #[arg(long, default_value_t = 256)]
    pub max_batch_requests: usize,
    /// A request holds at most this many inputs (more: 422).
    #[arg(long, default_value_t = 32)]
    pub max_client_batch_size: usize,
    /// Inputs queued or running at once (more: 429 with Retry-After).
    #[arg(long, default_value_t = 512)]
    pub max_concurrent_requests: usize,
    /// The largest request body in bytes (more: 413).
    #[arg(long, default_value_t = 2_000_000)]
    pub payload_limit: usize,
    /// Truncate inputs longer than --max-len instead of refusing them (422).
    #[arg(long)]
    pub auto_truncate: bool,
    /// Require `Authorization: Bearer KEY` on every route but /health.
    #[arg(long, env = "ATTN_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Seconds a request may wait for its answer (then 504), or its body take to arrive (408).
    #[arg(long, default_value_t = 60.0)]
    pub request_timeout: f64,
}

struct Serve(ServeConfig);

impl BackendTask for Serve {
    type Output = Result<()>;
    fn run<AD: AutodiffBackend>(self, device: AD::Device) -> Result<()> {
        let tally = serve::<AD::InnerBackend>(self.0, &device, |addr| {
            println!("Listening on http://{addr}");
            let _ = std::io::stdout().flush();
        })?;
        eprintln!(
            "Stopped: answered {} of the {} requests accepted ({} left by their clients), \
             refused {} while stopping",
            tally.answered, tally.accepted, tally.abandoned, tally.refused
        );
        Ok(())
    }
}

/// Serves the model until SIGINT or SIGTERM.
pub fn run(spec: BackendSpec, args: ServeArgs) -> Result<()> {
    let request_timeout = Duration::try_from_secs_f64(args.request_timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--request-timeout {}: seconds above 0",
                args.request_timeout
            )
        })?;
    let model = model_dir(&args.model)?;
    let cfg = ServeConfig {
        model,
        addr: format!("{}:{}", args.host, args.port),
        max_len: args.max_len,
        max_batch_tokens: args.max_batch_tokens,
        max_batch_requests: args.max_batch_requests,
        max_client_batch_size: args.max_client_batch_size,
        max_concurrent_requests: args.max_concurrent_requests,
        payload_limit: args.payload_limit,
        auto_truncate: args.auto_truncate,
        api_key: args.api_key,
        request_timeout,
    };
    dispatch(spec, Serve(cfg))?
}
