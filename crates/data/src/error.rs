//! Errors of data loading, naming the file and line at fault.

use std::path::PathBuf;

/// What can go wrong reading or preparing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O error on a named path.
    #[error("{path}: {error}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error (in the message, so not also its `source`).
        error: std::io::Error,
    },
    /// A data file that does not exist.
    #[error("{path}: no such file")]
    Missing {
        /// The path looked for.
        path: PathBuf,
    },
    /// A row that cannot be used (wrong field count, bad label, empty text, bad bytes).
    #[error("{path}:{line}: {problem}")]
    BadRow {
        /// The file at fault.
        path: PathBuf,
        /// The 1-based line where the row starts.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The encoder failed on a file's texts.
    #[error("{path}: {error}")]
    Encode {
        /// The file whose texts were encoded.
        path: PathBuf,
        /// The encoder's error.
        error: crate::EncodeError,
    },
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

impl From<attn_atomic::Error> for DataError {
    fn from(e: attn_atomic::Error) -> Self {
        Self::Io {
            path: e.path,
            error: e.error,
        }
    }
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |error| DataError::Io { path, error }
}
