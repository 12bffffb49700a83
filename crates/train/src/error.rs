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
        "the loss is {loss} at iteration {iteration}: training stopped; the last good checkpoint is kept"
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
    /// Sequences longer than the model's position table.
    #[error("sequences of up to {max_len} tokens do not fit the model's {positions} positions")]
    TooLong {
        /// The longest sequence asked for.
        max_len: usize,
        /// The model's `max_position_embeddings`.
        positions: usize,
    },
    /// A reduced precision asked of a model that trains in f32 only.
    #[error("precision {precision} is not supported by the {model}, which trains in f32")]
    Precision {
        /// The precision asked for.
        precision: &'static str,
        /// The model, in words.
        model: &'static str,
    },
    /// Another device's peer of a run failed or went silent.
    #[error(
        "training stopped: {0}; the last checkpoint is kept (run the command again with --resume to go on)"
    )]
    PeerLost(String),
    /// The collective (burn-collective, or MPI) failed.
    #[error("distributed training: {0}")]
    Collective(String),
    /// Ranks of an MPI job that train something other than rank 0 does: every rank returns
    /// this same error (so none needs to end the others).
    #[error("{0}")]
    RanksDiffer(String),
    /// A resumed run with settings other than those it was started with.
    #[error("{run}: the settings differ from the run's ({differences})")]
    ResumeMismatch {
        /// The run directory.
        run: PathBuf,
        /// `key old (run.json) vs new`, comma-separated.
        differences: String,
    },
    /// The training curves could not be drawn.
    #[error("{path}: cannot draw the training curves: {reason}")]
    Plot {
        /// The image at fault.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
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
pub fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |error| TrainError::Io { path, error }
}
