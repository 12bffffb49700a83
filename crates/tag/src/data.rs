//! What every tagger reads and how it is scored: the tagged files, the examples of their
//! windows, and a file's entity scores.

use std::path::{Path, PathBuf};
use std::time::Instant;

use attn_data::{DataError, Example};
use attn_train::{Event, Observer, Result, TrainConfig, show_scores};
use burn::tensor::backend::Backend;

use crate::conll::{TaggedFile, read_conll};
use crate::report::{TagReport, score};
use crate::settings::NerSettings;
use crate::tagger::{Layout, Tag, tag_words};
use crate::tags::TagSet;
use crate::windows::{window_example, windows};

/// The files a tagger trains on and is scored on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFiles {
    /// The training file.
    pub train: PathBuf,
    /// The development file: validation during training, and the final score without a test.
    pub dev: Option<PathBuf>,
    /// The test file, scored at the end.
    pub test: Option<PathBuf>,
}

/// File names a data directory may use, per split: WNUT-17's, then CoNLL-2003's.
const NAMES: [(&str, &[&str]); 3] = [
    (
        "train",
        &["wnut17train.conll", "train.txt", "train.conll", "train.tsv"],
    ),
    (
        "dev",
        &[
            "emerging.dev.conll",
            "dev.txt",
            "valid.txt",
            "dev.conll",
            "dev.tsv",
        ],
    ),
    (
        "test",
        &[
            "emerging.test.annotated",
            "test.txt",
            "test.conll",
            "test.tsv",
        ],
    ),
];

impl TagFiles {
    /// The files of a data directory, by WNUT-17's names (`wnut17train.conll`,
    /// `emerging.dev.conll`, `emerging.test.annotated`) or CoNLL-2003's (`train.txt`,
    /// `dev.txt` or `valid.txt`, `test.txt`); a training file is required.
    pub fn in_dir(dir: &Path) -> std::result::Result<Self, DataError> {
        let find = |names: &[&str]| names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
        let [(_, train), (_, dev), (_, test)] = NAMES;
        let train = find(train).ok_or_else(|| {
            DataError::Other(format!(
                "{}: no training file (looked for {})",
                dir.display(),
                NAMES[0].1.join(", ")
            ))
        })?;
        Ok(Self {
            train,
            dev: find(dev),
            test: find(test),
        })
    }
}

/// A run's tagged files, read.
pub(crate) struct TagData {
    /// The training file.
    pub train: TaggedFile,
    /// The development file.
    pub dev: Option<TaggedFile>,
    /// The test file.
    pub test: Option<TaggedFile>,
}

impl TagData {
    /// Reads `files` in `settings`' scheme.
    pub fn read(
        files: &TagFiles,
        settings: &NerSettings,
        cfg: &TrainConfig,
        observer: &dyn Observer,
    ) -> Result<Self> {
        let optional = |path: &Option<PathBuf>| {
            (path.as_deref())
                .map(|p| read(p, settings, cfg, observer))
                .transpose()
        };
        Ok(Self {
            train: read(&files.train, settings, cfg, observer)?,
            dev: optional(&files.dev)?,
            test: optional(&files.test)?,
        })
    }

    /// The file scored at the end: the test file, else the dev file.
    pub fn scored(&self) -> Option<&TaggedFile> {
        self.test.as_ref().or(self.dev.as_ref())
    }

    /// The line `Event::Prepared` shows.
    pub fn summary(&self, windows: usize, tags: &TagSet) -> String {
        let count = |f: &Option<TaggedFile>| f.as_ref().map_or(0, |f| f.sentences.len());
        format!(
            "{} training sentences ({} words, {windows} windows), {} dev and {} test sentences, {} tags",
            self.train.sentences.len(),
            self.train.words(),
            count(&self.dev),
            count(&self.test),
            tags.len()
        )
    }
}

/// Reads a tagged file, telling the observer of lines skipped as bad.
pub(crate) fn read(
    path: &Path,
    settings: &NerSettings,
    cfg: &TrainConfig,
    observer: &dyn Observer,
) -> Result<TaggedFile> {
    let file = read_conll(path, settings.scheme, cfg.skip_bad_rows)?;
    if file.skipped > 0 {
        observer.event(Event::SkippedRows {
            path,
            count: file.skipped,
        });
    }
    Ok(file)
}

/// The training (or validation) examples of a file: one per window that scores a word, each
/// owned word's first piece tagged (every piece with `all_pieces`); words whose tag is not in
/// `tags` are not scored.
pub(crate) fn examples(
    file: &TaggedFile,
    pieces: &[Vec<Vec<u32>>],
    tags: &TagSet,
    all_pieces: bool,
    layout: &Layout,
) -> Vec<Example> {
    let mut out = Vec::new();
    for (sentence, pieces) in file.sentences.iter().zip(pieces) {
        let counts: Vec<usize> = pieces.iter().map(Vec::len).collect();
        for window in windows(&counts, layout.budget, layout.stride) {
            let example = window_example(pieces, &window, layout.specials, layout.budget, |w| {
                let id = tags.id(&sentence.tags[w])?;
                Some((id, all_pieces.then(|| tags.continuation(id))))
            });
            if example.tags.iter().any(Option::is_some) {
                out.push(example);
            }
        }
    }
    out
}

/// Tags the first `limit` sentences of `file` (0: all) and scores them against its tags.
pub(crate) fn score_file<B: Backend, M: Tag<B>>(
    model: &M,
    (file, pieces): (&TaggedFile, &[Vec<Vec<u32>>]),
    tags: &TagSet,
    (layout, limit): (Layout, usize),
    device: &B::Device,
) -> Result<TagReport> {
    let n = match limit {
        0 => file.sentences.len(),
        n => n.min(file.sentences.len()),
    };
    let started = Instant::now();
    let tagged = tag_words(model, &pieces[..n], layout, device)?;
    let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let predicted: Vec<Vec<&str>> = (tagged.iter())
        .map(|words| {
            (words.iter())
                .map(|w| w.map_or("O", |w| tags.name(w.tag)))
                .collect()
        })
        .collect();
    let gold: Vec<&Vec<String>> = file.sentences[..n].iter().map(|s| &s.tags).collect();
    let gold: Vec<Vec<&str>> = gold
        .iter()
        .map(|t| t.iter().map(String::as_str).collect())
        .collect();
    let without = pieces[..n]
        .iter()
        .flatten()
        .filter(|p| p.is_empty())
        .count();
    Ok(score(&gold, &predicted, without, rate))
}

/// The end of a tagger's run: `file` tagged and scored with `layout_of`'s layout (given the run's
/// settings), the report shown and written into `run` as `eval.json`, and the summary's fields.
pub(crate) fn evaluation<'a, B: Backend, M: Tag<B>>(
    (file, pieces): (&'a TaggedFile, &'a [Vec<Vec<u32>>]),
    tags: &'a TagSet,
    layout_of: impl Fn(&TrainConfig) -> Result<Layout> + 'a,
    (run, device, observer): (&'a Path, &'a B::Device, &'a dyn Observer),
) -> impl FnOnce(&M, &TrainConfig) -> Result<(TagReport, serde_json::Value)> + 'a {
    move |model, cfg| {
        let layout = layout_of(cfg)?;
        let report = score_file(
            model,
            (file, pieces),
            tags,
            (layout, cfg.eval_limit),
            device,
        )?;
        show_scores(&report, Some(run), observer)?;
        let fields = serde_json::json!({
            "entity_f1": report.f1,
            "entity_precision": report.precision,
            "entity_recall": report.recall,
            "token_accuracy": report.token_accuracy,
            "scored_file": file.path,
            "test_rows": report.sentences,
            "inference_samples_per_s": report.sentences_per_s,
        });
        Ok((report, fields))
    }
}
