//! Fine-tuning, loading and scoring BERT taggers on CoNLL-style files with the shared run.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use attn_train::{
    Cluster, Event, Observer, Result, TrainConfig, TrainError, TrainJob, show_scores,
};
use attn_transformer::{BertConfig, BertForTokenClassification, BertTokenizer, autocast};
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::conll::TaggedFile;
use crate::data::{TagData, TagFiles, evaluation, examples, read, score_file};
use crate::objective::TokenClassification;
use crate::report::TagReport;
use crate::rnn::{eval_rnn_tagger, is_rnn_tagger};
use crate::settings::NerSettings;
use crate::tagger::Layout;
use crate::tags::TagSet;

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
    /// The longest window its position table takes.
    pub max_len: usize,
}

impl<B: Backend> Tagger<B> {
    /// How this tagger cuts and batches sentences, `cfg` giving the length (at most the
    /// model's positions) and batch size.
    pub fn layout(&self, cfg: &TrainConfig) -> Result<Layout> {
        let cfg = TrainConfig {
            max_len: cfg.max_len.min(self.max_len),
            ..cfg.clone()
        };
        layout_of::<B>(&self.tokenizer, &self.settings, &cfg)
    }
}

/// How sentences are cut into windows of `cfg.max_len` and batched.
fn layout_of<B: Backend>(
    tokenizer: &BertTokenizer,
    settings: &NerSettings,
    cfg: &TrainConfig,
) -> Result<Layout> {
    let specials = Some((
        tokenizer.special_id("[CLS]")?,
        tokenizer.special_id("[SEP]")?,
    ));
    Ok(Layout {
        specials,
        budget: cfg.max_len.saturating_sub(2).max(1),
        stride: settings.stride,
        batch_size: cfg.eval_batch_size,
        batcher: cfg.batcher::<B>(tokenizer.pad_id)?,
    })
}

/// Whether a model directory holds a tagger: a BERT one (its `config.json` names a
/// token-classification architecture) or the recurrent baseline's run.
pub fn is_tagger(dir: &Path) -> bool {
    if is_rnn_tagger(dir) {
        return true;
    }
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
    let names = config.labels().ok_or_else(|| {
        TrainError::Settings(format!(
            "{}: a tagger needs id2label naming the ids 0 to num_labels - 1",
            dir.join("config.json").display()
        ))
    })?;
    let tags = TagSet { names };
    let positions = config.max_position_embeddings;
    let (model, _) = BertForTokenClassification::from_pretrained_with(dir, config, None, device)?;
    let tokenizer = BertTokenizer::from_dir(dir, max_len)?;
    Ok(Tagger {
        model,
        tokenizer,
        tags,
        settings: saved_settings(dir),
        max_len: max_len.min(positions),
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
    let data = TagData::read(files, settings, cfg, observer.as_ref())?;
    let tokenizer = BertTokenizer::from_dir(model_dir, cfg.max_len)?;
    let mut config = BertConfig::from_file(&model_dir.join("config.json"))?;
    // A tagger fine-tuned further keeps its head where it tags what the training file tags.
    let tags = TagSet::from_file(&data.train).in_order_of(config.labels());
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
    let pieces = |f: &TaggedFile| word_pieces(&tokenizer, f);
    let train_pieces = pieces(&data.train)?;
    let all_pieces = settings.label_all_pieces;
    let train = examples(&data.train, &train_pieces, &tags, all_pieces, &layout);
    let validation = match &data.dev {
        Some(dev) => examples(dev, &pieces(dev)?, &tags, false, &layout),
        None => Vec::new(),
    };
    let scored = data.scored().ok_or_else(|| {
        TrainError::Settings("a tagger needs a dev or test file to be scored on".into())
    })?;
    let scored_pieces = pieces(scored)?;
    observer.event(Event::Prepared {
        data: &data.summary(train.len(), &tags),
        seconds: started.elapsed().as_secs_f64(),
    });
    // The fresh head is drawn from the backend's generator: seed it first.
    B::seed(device, cfg.seed);
    let (mut model, config) = BertForTokenClassification::<B>::from_pretrained_with(
        model_dir,
        config,
        Some(&tags.names),
        device,
    )?;
    if settings.freeze_embeddings {
        model.bert.embeddings = model.bert.embeddings.freeze_word_embeddings();
    }
    tokenizer.check_fits(config.vocab_size)?;
    let job = TrainJob {
        examples: &train,
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
    let evaluate = evaluation(
        (scored, &scored_pieces),
        &tags,
        |cfg| layout_of::<B::InnerBackend>(&tokenizer, settings, cfg),
        (run, device, observer.as_ref()),
    );
    attn_train::fit(
        (model, &TokenClassification),
        job,
        || Ok(()),
        save,
        evaluate,
    )
}

/// Scores a tagger (a run directory of `attn train ner`, BERT or the RNN baseline, or a HF
/// token-classification checkpoint) on a tagged file, writing `eval.json` into `out` when given.
pub fn eval_ner<B: Backend>(
    model_dir: &Path,
    test: &Path,
    cfg: &TrainConfig,
    out: Option<&Path>,
    device: &B::Device,
    observer: &dyn Observer,
) -> Result<TagReport> {
    if is_rnn_tagger(model_dir) {
        return eval_rnn_tagger::<B>(model_dir, test, cfg, out, device, observer);
    }
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
    show_scores(&report, out, observer)?;
    Ok(report)
}
