//! A classifier's data: labelled train and test files, read, tokenized (cached) and split into
//! training and validation rows.

use std::path::{Path, PathBuf};
use std::time::Instant;

use attn_data::{
    CsvFormat, Example, LabelMap, TextEncoder, TextRow, read_raw, stratified_split, tokenize_cached,
};
use attn_train::{Event, Observer, Result, TrainConfig, TrainError, latest_checkpoint};

/// Labelled train and test files and how to read them.
#[derive(Debug, Clone)]
pub struct DataFiles {
    /// Training file (absent for evaluation only).
    pub train: Option<PathBuf>,
    /// Test file.
    pub test: PathBuf,
    /// How the files are laid out.
    pub format: CsvFormat,
    /// Class map, when fixed in advance (AG News); else built from the training file.
    pub labels: Option<LabelMap>,
    /// Where token caches go when the data's directory is read-only.
    pub cache_root: PathBuf,
}

impl DataFiles {
    /// AG News `train.csv` and `test.csv` in `dir`.
    pub fn ag_news(dir: &Path, cache_root: &Path) -> Self {
        Self {
            train: Some(dir.join("train.csv")),
            test: dir.join("test.csv"),
            format: CsvFormat::ag_news(),
            labels: Some(LabelMap::ag_news()),
            cache_root: cache_root.to_path_buf(),
        }
    }

    /// The training file, or an error saying that training needs one.
    pub fn train_file(&self) -> Result<&Path> {
        self.train
            .as_deref()
            .ok_or_else(|| TrainError::Settings("training needs a training file".into()))
    }

    /// The labelled rows of one file.
    pub fn rows(
        &self,
        path: &Path,
        labels: &LabelMap,
        skip_bad: bool,
        observer: &dyn Observer,
    ) -> Result<Vec<TextRow>> {
        let (rows, count) = labels.apply(read_raw(path, &self.format, skip_bad)?, skip_bad)?;
        if count > 0 {
            observer.event(Event::SkippedRows { path, count });
        }
        Ok(rows)
    }

    /// The tokenized examples of one file (cached).
    pub fn examples(
        &self,
        path: &Path,
        labels: &LabelMap,
        skip_bad: bool,
        encoder: &dyn TextEncoder,
        observer: &dyn Observer,
    ) -> Result<Vec<Example>> {
        let rows = self.rows(path, labels, skip_bad, observer)?;
        Ok(tokenize_cached(path, &rows, encoder, &self.cache_root)?.examples)
    }

    /// The label map of the run in `run`: when it resumes from a checkpoint, the one saved in
    /// `run/labels.json` (so a changed training file cannot renumber the checkpoint's classes: an
    /// unknown label is then an error naming file and line); else [`Self::label_map`].
    pub fn run_label_map(&self, run: &Path, skip_bad: bool) -> Result<LabelMap> {
        let saved = run.join("labels.json");
        if latest_checkpoint(run)?.is_some() && saved.is_file() {
            return Ok(LabelMap::load(&saved)?);
        }
        self.label_map(skip_bad)
    }

    /// The label map: fixed, or built from the training file.
    pub fn label_map(&self, skip_bad: bool) -> Result<LabelMap> {
        match (&self.labels, &self.train) {
            (Some(map), _) => Ok(map.clone()),
            (None, Some(train)) => Ok(LabelMap::from_table(&read_raw(
                train,
                &self.format,
                skip_bad,
            )?)),
            (None, None) => Err(TrainError::Settings(
                "the model has no labels.json (a run directory of `attn train` has one) and \
                 there is no training file to build the label map from"
                    .into(),
            )),
        }
    }
}

/// Tokenized training, validation and test sets.
pub(crate) struct Prepared {
    pub labels: LabelMap,
    pub train: Vec<Example>,
    pub validation: Vec<Example>,
    pub test: Vec<Example>,
}

/// Reads and tokenizes the data and holds out `cfg.val_fraction` of the training rows.
pub(crate) fn prepare(
    data: &DataFiles,
    labels: LabelMap,
    encoder: &dyn TextEncoder,
    cfg: &TrainConfig,
    observer: &dyn Observer,
) -> Result<Prepared> {
    let started = Instant::now();
    let skip = cfg.skip_bad_rows;
    let train_all = data.examples(data.train_file()?, &labels, skip, encoder, observer)?;
    let test = data.examples(&data.test, &labels, skip, encoder, observer)?;
    let (train, validation) = if cfg.val_fraction > 0.0 {
        let classes: Vec<usize> = train_all.iter().map(|e| e.label).collect();
        let (keep, held) = stratified_split(&classes, cfg.val_fraction, cfg.seed);
        let pick = |idx: &[usize]| {
            idx.iter()
                .map(|&i| train_all[i].clone())
                .collect::<Vec<_>>()
        };
        (pick(&keep), pick(&held))
    } else {
        (train_all, Vec::new())
    };
    let data = format!(
        "{} training, {} validation and {} test rows, {} classes",
        train.len(),
        validation.len(),
        test.len(),
        labels.len()
    );
    observer.event(Event::Prepared {
        data: &data,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(Prepared {
        labels,
        train,
        validation,
        test,
    })
}
