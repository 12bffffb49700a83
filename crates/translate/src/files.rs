//! The parallel text a translator trains and is tested on.

use std::path::{Path, PathBuf};

/// A source and a target file, line N of one translated by line N of the other.
#[derive(Debug, Clone)]
pub struct ParallelPair {
    /// Source sentences.
    pub source: PathBuf,
    /// Their translations.
    pub target: PathBuf,
}

/// The training, validation and test pairs of a translation run.
#[derive(Debug, Clone)]
pub struct ParallelFiles {
    /// Training pairs.
    pub train: ParallelPair,
    /// Validation pairs (scored during training; none: no validation).
    pub validation: Option<ParallelPair>,
    /// Test pairs (BLEU at the end).
    pub test: ParallelPair,
}

impl ParallelFiles {
    /// Multi30k's `train`, `val` and `test_2016_flickr` files in `dir`, from language `source`
    /// (a file extension: `de`) into `target`.
    pub fn multi30k(dir: &Path, source: &str, target: &str) -> Self {
        let pair = |split: &str| ParallelPair {
            source: dir.join(format!("{split}.{source}")),
            target: dir.join(format!("{split}.{target}")),
        };
        Self {
            train: pair("train"),
            validation: Some(pair("val")),
            test: pair("test_2016_flickr"),
        }
    }
}
