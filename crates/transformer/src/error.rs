//! Errors of the transformer crate.

use std::path::PathBuf;

/// Everything that can go wrong building, loading or saving a BERT model.
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    /// An I/O error on a named path.
    #[error("{path}: {error}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error (in the message, so not also its `source`).
        error: std::io::Error,
    },
    /// A `config.json` that does not parse or holds impossible values.
    #[error("{path}: invalid BERT config: {reason}")]
    Config {
        /// The file at fault (or `<preset>` for built-in configs).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file that does not parse.
    #[error("{path}: invalid safetensors file: {reason}")]
    Safetensors {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A required tensor is absent from the checkpoint.
    #[error("tensor `{name}` is missing from the checkpoint (expected shape {expected:?})")]
    MissingTensor {
        /// The tensor's name in the checkpoint.
        name: String,
        /// The shape the model needs.
        expected: Vec<usize>,
    },
    /// A tensor whose shape differs from the model's.
    #[error("tensor `{name}` has shape {found:?} but the model needs {expected:?}")]
    ShapeMismatch {
        /// The tensor's name in the checkpoint.
        name: String,
        /// The shape the model needs.
        expected: Vec<usize>,
        /// The shape in the checkpoint.
        found: Vec<usize>,
    },
    /// A tensor with a dtype that cannot become f32.
    #[error("tensor `{name}` has dtype {dtype}, which cannot be loaded as float")]
    Dtype {
        /// The tensor's name in the checkpoint.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// A tokenizer that cannot be loaded or does not fit the model.
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An input the model cannot take.
    #[error("invalid input: {0}")]
    Input(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, BertError>;

impl From<attn_atomic::Error> for BertError {
    fn from(e: attn_atomic::Error) -> Self {
        Self::Io {
            path: e.path,
            error: e.error,
        }
    }
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BertError {
    let path = path.into();
    move |error| BertError::Io { path, error }
}
