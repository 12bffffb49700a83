//! `attn serve`: a trained model behind an HTTP API in the shapes of Hugging Face's
//! text-embeddings-inference (TEI), so TEI's clients work against it.
//!
//! One worker thread owns the model ([`worker`]); request handlers tokenize off it, queue each
//! input with a permit ([`infer`]), and the worker batches what is queued, bounded by tokens and
//! inputs, padding each group of similar length to its longest.

pub mod config;
pub mod error;
pub mod frontend;
pub mod infer;
pub mod job;
pub mod metrics;
pub mod model;
pub mod routes;
pub mod types;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

use burn::tensor::backend::Backend;

pub use config::ServeConfig;
pub use error::{ApiError, ErrorType, ServeError};
pub use routes::{AppState, router};

use crate::infer::Infer;
use crate::metrics::Metrics;
use crate::worker::{Limits, work};

/// Serves `cfg.model` on backend `B` until SIGINT or SIGTERM: then it stops accepting, answers
/// what it accepted, and returns. `listening` is called with the bound address once it accepts.
pub fn serve<B: Backend>(
    cfg: ServeConfig,
    device: &B::Device,
    listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), ServeError> {
    serve_until::<B>(cfg, device, listening, stopped())
}

/// [`serve`] until `stop` resolves instead of a signal.
pub fn serve_until<B: Backend>(
    cfg: ServeConfig,
    device: &B::Device,
    listening: impl FnOnce(SocketAddr) + Send + 'static,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (model, front) = model::load::<B>(&cfg.model, cfg.max_len, device)?;
    let limits = Limits {
        max_batch_tokens: cfg.max_batch_tokens,
        max_batch_requests: cfg.max_batch_requests.max(1),
    };
    let (queue, inputs) = std::sync::mpsc::channel();
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&cfg.addr))
        .map_err(|source| ServeError::Bind {
            addr: cfg.addr.clone(),
            source,
        })?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::default());
    let infer = Infer::new(queue, &cfg, metrics.clone());
    let state = AppState {
        cfg: Arc::new(cfg),
        front: Arc::new(front),
        infer,
        metrics: metrics.clone(),
    };
    // The HTTP side runs on the runtime's threads; this thread is the worker. When the server
    // has stopped, its state (the queue's sender) is dropped and the worker's loop ends.
    let http = std::thread::spawn(move || {
        runtime.block_on(async move {
            listening(addr);
            axum::serve(listener, router(state))
                .with_graceful_shutdown(stop)
                .await
        })
    });
    work(&model, inputs, limits, device, &metrics);
    http.join()
        .map_err(|_| std::io::Error::other("the HTTP thread panicked"))??;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn stopped() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
