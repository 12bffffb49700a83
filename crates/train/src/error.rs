//! Errors of training and evaluation.

use std::path::PathBuf;

/// What can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Data could not be read or prepared.
    #[error(transparent)]
    Data(#[from] attn_data::DataError),
    /// The model could not be built, loaded or saved.
    #[error(transparent)]
    Model(#[from] attn_transformer::BertError),
    /// The loss became NaN or infinite.
    #[error(
        "the loss is {loss} at iteration {iteration}: training stopped; the last good checkpoint is kept \
             (try a lower --lr or --grad-clip)"
    )]
    NonFinite {
        /// The 1-based iteration.
        iteration: usize,
        /// The loss value.
        loss: f32,
    },
    /// An I/O error on a named path.
    #[error("{path}: {error}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error (in the message, so not also its `source`).
        error: std::io::Error,
    },
    /// A checkpoint that cannot be written or read.
    #[error("{path}: checkpoint: {reason}")]
    Checkpoint {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Settings that cannot work together.
    #[error("invalid settings: {0}")]
    Settings(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

impl From<attn_atomic::Error> for TrainError {
    fn from(e: attn_atomic::Error) -> Self {
        Self::Io {
            path: e.path,
            error: e.error,
        }
    }
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |error| TrainError::Io { path, error }
}
