//! The recurrent baseline: a BiGRU tags each word (lowercased, from the training file's
//! vocabulary), trained, saved and scored as the BERT tagger is.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use attn_data::WordVocab;
use attn_rnn::{Cell, RnnTagger, RnnTaggerConfig};
use attn_train::{
    Cluster, Event, Observer, Result, TrainConfig, TrainError, TrainJob, io_err, show_scores,
};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::conll::TaggedFile;
use crate::data::{TagData, TagFiles, evaluation, examples, read, score_file};
use crate::objective::TokenClassification;
use crate::report::TagReport;
use crate::settings::NerSettings;
use crate::tagger::Layout;
use crate::tags::TagSet;

/// The file that marks a run directory as the recurrent tagger's: its sizes, settings and tags.
const SAVED: &str = "rnn_tagger.json";

/// The recurrent tagger's sizes and vocabulary (saved in its run directory; the dropout is the
/// run's `--dropout`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnTaggerSettings {
    /// The recurrent cell.
    pub cell: Cell,
    /// Width of the word embeddings.
    pub embed_dim: usize,
    /// Hidden width of each direction.
    pub hidden: usize,
    /// Words seen fewer times than this in training become `<unk>`.
    pub min_freq: usize,
    /// At most this many words (with `<pad>` and `<unk>`).
    pub max_vocab: usize,
}

impl Default for RnnTaggerSettings {
    fn default() -> Self {
        Self {
            cell: Cell::Gru,
            embed_dim: 128,
            hidden: 128,
            min_freq: 1,
            max_vocab: 50_000,
        }
    }
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// Whether `dir` is a run directory of the recurrent tagger.
pub fn is_rnn_tagger(dir: &Path) -> bool {
    dir.join(SAVED).is_file()
}

/// How a word is looked up in the vocabulary.
fn normalise(word: &str) -> String {
    word.to_lowercase()
}

/// Each sentence's words' ids (one "piece" each).
fn word_ids(vocab: &WordVocab, file: &TaggedFile) -> Vec<Vec<Vec<u32>>> {
    (file.sentences.iter())
        .map(|s| {
            (s.words.iter())
                .map(|w| vec![vocab.id(&normalise(w)).unwrap_or(WordVocab::UNK)])
                .collect()
        })
        .collect()
}

/// Windows of `cfg.max_len` words, no specials.
fn layout_of<B: Backend>(cfg: &TrainConfig, settings: &NerSettings) -> Result<Layout> {
    Ok(Layout {
        specials: None,
        budget: cfg.max_len.max(1),
        stride: settings.stride,
        batch_size: cfg.eval_batch_size,
        batcher: cfg.batcher::<B>(WordVocab::PAD)?,
    })
}

/// Trains the recurrent tagger on `files` into `run` (vocabulary and tags from the training
/// file), then scores it as [`crate::train_ner`] does. Writes `rnn_tagger.json`, `vocab.json`
/// and `rnn_tagger_model.mpk` beside the loop's files.
pub fn train_rnn_tagger<B: AutodiffBackend>(
    cfg: &TrainConfig,
    (rnn, settings): (&RnnTaggerSettings, &NerSettings),
    files: &TagFiles,
    run: &Path,
    device: &B::Device,
    cluster: &Cluster,
    observer: Arc<dyn Observer>,
) -> Result<Option<TagReport>> {
    cfg.require_f32("RNN tagger")?;
    let mut task = serde_json::to_value(settings).expect("serializes");
    if let (Some(all), serde_json::Value::Object(more)) = (
        task.as_object_mut(),
        serde_json::to_value(rnn).expect("serializes"),
    ) {
        all.extend(more);
    }
    let cfg = &cfg.with_task(&task);
    let started = Instant::now();
    let data = TagData::read(files, settings, cfg, observer.as_ref())?;
    let tags = TagSet::from_file(&data.train);
    let sentences =
        (data.train.sentences.iter()).map(|s| s.words.iter().map(|w| normalise(w)).collect());
    let vocab = WordVocab::of_tokens(sentences, rnn.min_freq, rnn.max_vocab, cfg.max_len, &[]);
    let layout = layout_of::<B>(cfg, settings)?;
    let train = examples(
        &data.train,
        &word_ids(&vocab, &data.train),
        &tags,
        false,
        &layout,
    );
    let validation = match &data.dev {
        Some(dev) => examples(dev, &word_ids(&vocab, dev), &tags, false, &layout),
        None => Vec::new(),
    };
    let scored = data.scored().ok_or_else(|| {
        TrainError::Settings("a tagger needs a dev or test file to be scored on".into())
    })?;
    let scored_ids = word_ids(&vocab, scored);
    let summary = format!(
        "{}, {} words in the vocabulary",
        data.summary(train.len(), &tags),
        vocab.len()
    );
    observer.event(Event::Prepared {
        data: &summary,
        seconds: started.elapsed().as_secs_f64(),
    });
    let config = RnnTaggerConfig {
        cell: rnn.cell,
        vocab_size: vocab.len(),
        embed_dim: rnn.embed_dim,
        hidden: rnn.hidden,
        dropout: cfg.dropout.unwrap_or(0.0),
        num_tags: tags.len(),
    };
    B::seed(device, cfg.seed);
    let model = config.init::<B>(device);
    let job = TrainJob {
        examples: &train,
        validation: &validation,
        cfg,
        pad_id: WordVocab::PAD,
        run,
        device,
        cluster,
        observer: observer.clone(),
    };
    let save = |model: &RnnTagger<B::InnerBackend>| {
        std::fs::create_dir_all(run).map_err(io_err(run))?;
        vocab.save(&run.join("vocab.json"))?;
        let json = serde_json::json!({
            "model": config,
            "settings": rnn,
            "ner": settings,
            "tags": tags.names,
        });
        let text = serde_json::to_string_pretty(&json).expect("serializes");
        attn_atomic::write(&run.join(SAVED), text.as_bytes())?;
        model
            .clone()
            .save_file(run.join("rnn_tagger_model"), &recorder())
            .map_err(|e| TrainError::Checkpoint {
                path: run.join("rnn_tagger_model.mpk"),
                reason: e.to_string(),
            })
    };
    let evaluate = evaluation(
        (scored, &scored_ids),
        &tags,
        |cfg| layout_of::<B::InnerBackend>(cfg, settings),
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

/// A trained recurrent tagger read back from its run directory.
pub struct LoadedRnnTagger<B: Backend> {
    /// The model.
    pub model: RnnTagger<B>,
    /// Its vocabulary.
    pub vocab: WordVocab,
    /// Its tags.
    pub tags: TagSet,
    /// Its tagging settings.
    pub settings: NerSettings,
}

/// Loads a recurrent tagger from its run directory.
pub fn load_rnn_tagger<B: Backend>(run: &Path, device: &B::Device) -> Result<LoadedRnnTagger<B>> {
    let path = run.join(SAVED);
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let bad = |e: serde_json::Error| TrainError::Checkpoint {
        path: path.clone(),
        reason: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    let config: RnnTaggerConfig = serde_json::from_value(value["model"].clone()).map_err(bad)?;
    let settings: NerSettings = serde_json::from_value(value["ner"].clone()).map_err(bad)?;
    let names: Vec<String> = serde_json::from_value(value["tags"].clone()).map_err(bad)?;
    let model = config
        .init::<B>(device)
        .load_file(run.join("rnn_tagger_model"), &recorder(), device)
        .map_err(|e| TrainError::Checkpoint {
            path: run.join("rnn_tagger_model.mpk"),
            reason: e.to_string(),
        })?;
    Ok(LoadedRnnTagger {
        model,
        vocab: WordVocab::load(&run.join("vocab.json"))?,
        tags: TagSet { names },
        settings,
    })
}

/// Scores a recurrent tagger's run directory on a tagged file.
pub(crate) fn eval_rnn_tagger<B: Backend>(
    run: &Path,
    test: &Path,
    cfg: &TrainConfig,
    out: Option<&Path>,
    device: &B::Device,
    observer: &dyn Observer,
) -> Result<TagReport> {
    let tagger = load_rnn_tagger::<B>(run, device)?;
    let file = read(test, &tagger.settings, cfg, observer)?;
    let ids = word_ids(&tagger.vocab, &file);
    let layout = layout_of::<B>(cfg, &tagger.settings)?;
    let report = score_file(
        &tagger.model,
        (&file, &ids),
        &tagger.tags,
        (layout, cfg.eval_limit),
        device,
    )?;
    show_scores(&report, out, observer)?;
    Ok(report)
}
