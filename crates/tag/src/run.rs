//! Fine-tuning, loading and scoring BERT taggers on CoNLL-style files with the shared run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use attn_data::{DataError, Example};
use attn_train::{Cluster, Event, Observer, Result, TrainConfig, TrainError, TrainJob, io_err};
use attn_transformer::{BertConfig, BertForTokenClassification, BertTokenizer, autocast};
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::conll::{TaggedFile, read_conll};
use crate::objective::TokenClassification;
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

/// A tagger's BERT, tokenizer and tags, and how it cuts sentences.
pub struct Tagger<B: Backend> {
    /// The model.
    pub model: BertForTokenClassification<B>,
    /// Its tokenizer.
    pub tokenizer: BertTokenizer,
    /// Its tags.
    pub tags: TagSet,
    /// Its run's settings (the defaults for a directory without `run.json`).
    pub settings: NerSettings,
}

impl<B: Backend> Tagger<B> {
    /// How this tagger cuts and batches sentences, `cfg` giving the length and batch size.
    pub fn layout(&self, cfg: &TrainConfig) -> Result<Layout> {
        layout_of::<B>(&self.tokenizer, &self.settings, cfg)
    }
}

/// How sentences are cut into windows of `cfg.max_len` and batched.
fn layout_of<B: Backend>(
    tokenizer: &BertTokenizer,
    settings: &NerSettings,
    cfg: &TrainConfig,
) -> Result<Layout> {
    let specials = (
        tokenizer.special_id("[CLS]")?,
        tokenizer.special_id("[SEP]")?,
    );
    Ok(Layout {
        specials,
        budget: cfg.max_len.saturating_sub(2).max(1),
        stride: settings.stride,
        batch_size: cfg.eval_batch_size,
        batcher: cfg.batcher::<B>(tokenizer.pad_id)?,
    })
}

/// Whether a model directory holds a tagger (its `config.json` names a token-classification
/// architecture).
pub fn is_tagger(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return false;
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    (value["architectures"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str())
        .any(|a| a.ends_with("ForTokenClassification"))
}

/// Loads a tagger: a run directory of `attn train ner`, or any HF token-classification
/// checkpoint of BERT (its tags from `id2label`).
pub fn load_tagger<B: Backend>(
    dir: &Path,
    max_len: usize,
    device: &B::Device,
) -> Result<Tagger<B>> {
    let config = BertConfig::from_file(&dir.join("config.json"))?;
    let id2label = config.id2label.clone().unwrap_or_default();
    let mut ids: Vec<(usize, String)> = id2label
        .into_iter()
        .map(|(id, name)| {
            id.parse::<usize>().map(|id| (id, name)).map_err(|_| {
                TrainError::Settings(format!(
                    "{}: id2label has the id `{id}`, not a number",
                    dir.join("config.json").display()
                ))
            })
        })
        .collect::<Result<_>>()?;
    ids.sort_unstable();
    if ids.is_empty() || ids.iter().enumerate().any(|(i, (id, _))| i != *id) {
        return Err(TrainError::Settings(format!(
            "{}: a tagger needs id2label with the ids 0 to num_labels - 1",
            dir.join("config.json").display()
        )));
    }
    let tags = TagSet {
        names: ids.into_iter().map(|(_, name)| name).collect(),
    };
    let (model, _) =
        BertForTokenClassification::from_pretrained_with(dir, config, Some(tags.len()), device)?;
    let tokenizer = BertTokenizer::from_dir(dir, max_len)?;
    Ok(Tagger {
        model,
        tokenizer,
        tags,
        settings: saved_settings(dir),
    })
}

/// The tagging settings of a run directory's `run.json`, else the defaults.
fn saved_settings(dir: &Path) -> NerSettings {
    std::fs::read_to_string(dir.join("run.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Each sentence's words' pieces.
fn word_pieces(tokenizer: &BertTokenizer, file: &TaggedFile) -> Result<Vec<Vec<Vec<u32>>>> {
    let words: Vec<&str> = (file.sentences.iter())
        .flat_map(|s| s.words.iter().map(String::as_str))
        .collect();
    let mut pieces = tokenizer.word_pieces(&words)?.into_iter();
    Ok(file
        .sentences
        .iter()
        .map(|s| pieces.by_ref().take(s.words.len()).collect())
        .collect())
}

/// The training (or validation) examples of a file: one per window that scores a word, each
/// owned word's first piece tagged (every piece with `all_pieces`); words whose tag is not in
/// `tags` are not scored.
fn examples(
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
fn score_file<B: Backend, M: Tag<B>>(
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

/// Tells the observer of the report (the table and `Entity F1: X`) and, given a directory,
/// writes `eval.json`.
fn finish(report: &TagReport, dir: Option<&Path>, observer: &dyn Observer) -> Result<()> {
    observer.event(Event::Scores(report));
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let json = serde_json::to_string_pretty(report).expect("serializes");
        attn_atomic::write(&dir.join("eval.json"), json.as_bytes())?;
    }
    Ok(())
}

/// Reads a tagged file, telling the observer of lines skipped as bad.
fn read(
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

/// Fine-tunes the BERT model in `model_dir` to tag the words of `files.train` (its tags from
/// that file) into the run directory `run`, validating on `files.dev`, then scores it on
/// `files.test`, or on the dev file without one (on rank 0 of `cluster`; the other ranks return
/// `None`). Resumes from `run`'s checkpoint when there is one. The run directory is a HF
/// `BertForTokenClassification` directory.
pub fn train_ner<B: AutodiffBackend>(
    cfg: &TrainConfig,
    (model_dir, settings): (&Path, &NerSettings),
    files: &TagFiles,
    run: &Path,
    device: &B::Device,
    cluster: &Cluster,
    observer: Arc<dyn Observer>,
) -> Result<Option<TagReport>> {
    let cfg = &cfg.with_task(settings);
    let _autocast = autocast(cfg.precision);
    let started = Instant::now();
    let obs = observer.as_ref();
    let train = read(&files.train, settings, cfg, obs)?;
    let read_opt = |path: &Option<PathBuf>| {
        path.as_deref()
            .map(|p| read(p, settings, cfg, obs))
            .transpose()
    };
    let (dev, test) = (read_opt(&files.dev)?, read_opt(&files.test)?);
    let tags = TagSet::from_file(&train);
    let tokenizer = BertTokenizer::from_dir(model_dir, cfg.max_len)?;
    let mut config = BertConfig::from_file(&model_dir.join("config.json"))?;
    if cfg.max_len > config.max_position_embeddings {
        return Err(TrainError::TooLong {
            max_len: cfg.max_len,
            positions: config.max_position_embeddings,
        });
    }
    if let Some(p) = cfg.dropout {
        config.hidden_dropout_prob = p;
        config.attention_probs_dropout_prob = p;
    }
    let layout = layout_of::<B>(&tokenizer, settings, cfg)?;
    let train_pieces = word_pieces(&tokenizer, &train)?;
    let train_examples = examples(
        &train,
        &train_pieces,
        &tags,
        settings.label_all_pieces,
        &layout,
    );
    let dev_pieces = dev
        .as_ref()
        .map(|f| word_pieces(&tokenizer, f))
        .transpose()?;
    let validation = match (&dev, &dev_pieces) {
        (Some(f), Some(p)) => examples(f, p, &tags, false, &layout),
        _ => Vec::new(),
    };
    let scored = match &test {
        Some(f) => Some((f, word_pieces(&tokenizer, f)?)),
        None => dev.as_ref().zip(dev_pieces),
    };
    let data = format!(
        "{} training sentences ({} words, {} windows), {} dev and {} test sentences, {} tags",
        train.sentences.len(),
        train.words(),
        train_examples.len(),
        dev.as_ref().map_or(0, |f| f.sentences.len()),
        test.as_ref().map_or(0, |f| f.sentences.len()),
        tags.len()
    );
    observer.event(Event::Prepared {
        data: &data,
        seconds: started.elapsed().as_secs_f64(),
    });
    // The fresh head is drawn from the backend's generator: seed it first.
    B::seed(device, cfg.seed);
    let (model, config) = BertForTokenClassification::<B>::from_pretrained_with(
        model_dir,
        config,
        Some(tags.len()),
        device,
    )?;
    tokenizer.check_fits(config.vocab_size)?;
    let job = TrainJob {
        examples: &train_examples,
        validation: &validation,
        cfg,
        pad_id: tokenizer.pad_id,
        run,
        device,
        cluster,
        observer: observer.clone(),
    };
    let save = |model: &BertForTokenClassification<B::InnerBackend>| {
        Ok(model.save_pretrained(run, &config, &tags.names, model_dir)?)
    };
    let evaluate = |model: &BertForTokenClassification<B::InnerBackend>, cfg: &TrainConfig| {
        let Some((file, pieces)) = &scored else {
            return Err(TrainError::Settings(
                "a tagger needs a dev or test file to be scored on".into(),
            ));
        };
        let layout = layout_of::<B::InnerBackend>(&tokenizer, settings, cfg)?;
        let report = score_file(
            model,
            (file, pieces),
            &tags,
            (layout, cfg.eval_limit),
            device,
        )?;
        finish(&report, Some(run), observer.as_ref())?;
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
    };
    attn_train::fit(
        (model, &TokenClassification),
        job,
        || Ok(()),
        save,
        evaluate,
    )
}

/// Scores a tagger (a run directory or a HF token-classification checkpoint) on a tagged file,
/// writing `eval.json` into `out` when given.
pub fn eval_ner<B: Backend>(
    model_dir: &Path,
    test: &Path,
    cfg: &TrainConfig,
    out: Option<&Path>,
    device: &B::Device,
    observer: &dyn Observer,
) -> Result<TagReport> {
    let tagger = load_tagger::<B>(model_dir, cfg.max_len, device)?;
    let file = read(test, &tagger.settings, cfg, observer)?;
    let pieces = word_pieces(&tagger.tokenizer, &file)?;
    let layout = tagger.layout(cfg)?;
    let report = score_file(
        &tagger.model,
        (&file, &pieces),
        &tagger.tags,
        (layout, cfg.eval_limit),
        device,
    )?;
    finish(&report, out, observer)?;
    Ok(report)
}
