//! `attn serve`: a trained model behind an HTTP API in the shapes of Hugging Face's
//! text-embeddings-inference (TEI), so TEI's clients work against it.
//!
//! One worker thread owns the model ([`worker`]); request handlers tokenize off it, queue each
//! input with a permit ([`infer`]), and the worker batches what is queued, bounded by tokens and
//! inputs, padding each group of similar length to its longest. A [`gate`] counts the requests
//! and, at shutdown, refuses new ones while those accepted are answered.

pub mod attention;
pub mod config;
pub mod error;
pub mod explorer;
pub mod frontend;
pub mod gate;
pub mod infer;
pub mod job;
pub mod metrics;
pub mod model;
pub mod routes;
pub mod types;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burn::tensor::backend::Backend;

pub use attention::{Attention, Matrices};
pub use config::ServeConfig;
pub use error::{ApiError, ErrorType, ServeError};
pub use gate::Tally;
pub use routes::{AppState, router};

use crate::gate::Gate;
use crate::infer::Infer;
use crate::metrics::Metrics;
use crate::worker::{Limits, work};

/// After a stop, once every accepted request is answered, how long connections get to write
/// their last answers before the rest (clients stalled mid-request) are dropped.
const GRACE: Duration = Duration::from_secs(5);

/// Serves `cfg.model` on backend `B` until SIGINT or SIGTERM: then it refuses new requests
/// (503), answers those it accepted, and returns what it did. `listening` is called with the
/// bound address once it accepts.
pub fn serve<B: Backend>(
    cfg: ServeConfig,
    device: &B::Device,
    listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<Tally, ServeError> {
    serve_until::<B>(cfg, device, listening, stopped())
}

/// [`serve`] until `stop` resolves instead of a signal.
pub fn serve_until<B: Backend>(
    cfg: ServeConfig,
    device: &B::Device,
    listening: impl FnOnce(SocketAddr) + Send + 'static,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Tally, ServeError> {
    let (model, front) = model::load::<B>(&cfg.model, cfg.max_len, device)?;
    let limits = Limits {
        max_batch_tokens: cfg.max_batch_tokens,
        max_batch_requests: cfg.max_batch_requests.max(1),
    };
    let (queue, inputs) = std::sync::mpsc::channel();
    // Tokenizing is the blocking work; as many threads for it as cores (tokio's default, 512,
    // would start a thread per concurrent request, each with its own stack and heap).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cores)
        .build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&cfg.addr))
        .map_err(|source| ServeError::Bind {
            addr: cfg.addr.clone(),
            source,
        })?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::default());
    let infer = Infer::new(queue, &cfg, metrics.clone());
    let gate = Arc::new(Gate::default());
    let state = AppState {
        cfg: Arc::new(cfg),
        front: Arc::new(front),
        infer,
        metrics: metrics.clone(),
        gate: gate.clone(),
    };
    // The HTTP side runs on the runtime's threads; this thread is the worker. When the server
    // has stopped, its state (the queue's sender) is dropped and the worker's loop ends.
    let door = gate.clone();
    let http = std::thread::spawn(move || {
        runtime.block_on(async move {
            listening(addr);
            let (stopping, stopped) = tokio::sync::oneshot::channel();
            let signal = async move {
                stop.await;
                let _ = stopping.send(());
            };
            let drained = async move {
                if stopped.await.is_ok() {
                    door.close().await;
                    tokio::time::sleep(GRACE).await;
                }
            };
            // Graceful shutdown stops accepting, closes idle connections and ends when every
            // connection has; a client stalled mid-request would hold it, so once all that was
            // accepted is answered the grace bounds the wait.
            let server = axum::serve(listener, router(state)).with_graceful_shutdown(signal);
            tokio::select! {
                served = server.into_future() => served,
                () = drained => Ok(()),
            }
        })
    });
    work(&model, inputs, limits, device, &metrics);
    http.join()
        .map_err(|_| std::io::Error::other("the HTTP thread panicked"))??;
    Ok(gate.tally())
}

/// What the model in `dir` attends to in `text` (BERT: every layer and head, or the `pick`ed
/// (layer, head)), read as the server's `/attend` reads it: `attn attend` draws this.
pub fn attend<B: Backend>(
    dir: &std::path::Path,
    max_len: usize,
    text: &str,
    pick: Option<(usize, usize)>,
    device: &B::Device,
) -> Result<Attention, ServeError> {
    let (model, front) = model::load::<B>(dir, max_len, device)?;
    let (job, _) = front.attend_job(text.to_string(), pick, false)?;
    match model.run(&[&job], device) {
        Ok(mut outputs) => match outputs.remove(0) {
            job::Output::Attention(attention) => Ok(attention),
            other => unreachable!("attending answered {other:?}"),
        },
        Err(reason) => Err(ServeError::Model {
            path: dir.to_path_buf(),
            reason,
        }),
    }
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
