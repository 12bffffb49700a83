//! Where labelled data comes from: AG News, or CSV/TSV files and their columns.

use std::path::PathBuf;

use anyhow::{Result, bail};
use attn_classify::DataFiles;
use attn_data::{Column, CsvFormat};
use clap::Args;

/// Where the labelled data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// AG News directory (train.csv, test.csv); else $AG_NEWS_DIR, the cache, or a download.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A labelled training CSV/TSV (instead of AG News); NER: a tagged CoNLL-style file.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// A labelled test CSV/TSV (instead of AG News); NER: a tagged CoNLL-style file.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// With --train/--test: the files have a header row (implied by a column given by name).
    #[arg(long)]
    pub header: bool,
    /// With --train/--test: label column (0-based index or header name).
    #[arg(long, default_value = "0")]
    pub label_col: Column,
    /// With --train/--test: text columns, joined by a space.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub text_col: Vec<Column>,
    /// Skip malformed rows (counted in one line) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl DataArgs {
    /// The labelled files the flags name, else AG News.
    pub fn files(&self) -> Result<DataFiles> {
        let cache = attn_hub::attn_home();
        if let (Some(train), None) = (&self.train, &self.test) {
            bail!(
                "--train {}: give the test file with --test F",
                train.display()
            );
        }
        if let Some(test) = &self.test {
            for (flag, file) in [("--train", self.train.as_ref()), ("--test", Some(test))] {
                if let Some(file) = file.filter(|f| !f.is_file()) {
                    bail!("{flag} {}: no such file", file.display());
                }
            }
            let format = CsvFormat::for_path(
                test,
                self.header,
                self.label_col.clone(),
                self.text_col.clone(),
            );
            return Ok(DataFiles {
                train: self.train.clone(),
                test: test.clone(),
                format,
                labels: None,
                cache_root: cache,
            });
        }
        let dir = attn_hub::resolve_ag_news(self.data_dir.as_deref())?;
        Ok(DataFiles::ag_news(&dir, &cache))
    }
}
