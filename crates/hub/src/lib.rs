//! Finds and fetches what training needs: Hugging Face model directories, the AG News data set
//! and Multi30k.
//!
//! Everything fetched lands in a cache under [`attn_home`] (`$ATTN_HOME`, default `~/.cache/attn`),
//! written into a temporary directory first and renamed into place only once verified, so a crash
//! or a kill never leaves a half-written entry behind.

#![forbid(unsafe_code)]

mod ag_news;
mod home;
mod http;
mod model;
mod multi30k;
mod verify;

pub use ag_news::{AG_NEWS_TEST_MD5, AG_NEWS_TRAIN_MD5, AG_NEWS_URL, resolve_ag_news};
pub use home::attn_home;
pub use model::{KnownModel, ModelDir, resolve_model};
pub use multi30k::{MULTI30K_FILES, MULTI30K_URL, resolve_multi30k};
pub use verify::verify_model_dir;

use std::path::PathBuf;

/// Errors of finding, fetching and verifying models and data.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// An I/O error on a named path.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory at fault.
        path: PathBuf,
        /// The underlying error (in the message, so not also its `source`).
        error: std::io::Error,
    },
    /// A model directory is missing a file or holds one that does not parse.
    #[error("{path}: not a valid model directory: {reason}")]
    InvalidModel {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A model given as a path that is not a directory.
    #[error(
        "{path}: not a model directory ({reason}); a path is read from disk, never fetched: \
         give a directory holding config.json, or a hub id such as `owner/name`"
    )]
    NoModelDir {
        /// The path given.
        path: PathBuf,
        /// What is there instead.
        reason: &'static str,
    },
    /// No source could provide the model.
    #[error("could not find or fetch model `{name}`:\n{attempts}")]
    ModelNotFound {
        /// The name asked for.
        name: String,
        /// One line per source tried, saying why it failed.
        attempts: String,
    },
    /// No source could provide the data set.
    #[error("AG News: {tried}")]
    DataNotFound {
        /// What was tried and why it failed, in one line.
        tried: String,
    },
    /// A downloaded file does not have the checksum it must have.
    #[error("{path}: MD5 {found} differs from the expected {expected}")]
    Checksum {
        /// The file at fault.
        path: PathBuf,
        /// The checksum it must have.
        expected: String,
        /// The checksum it has.
        found: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, HubError>;

impl From<attn_atomic::Error> for HubError {
    fn from(e: attn_atomic::Error) -> Self {
        Self::Io {
            path: e.path,
            error: e.error,
        }
    }
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> HubError {
    let path = path.into();
    move |error| HubError::Io { path, error }
}
