//! Training and evaluating the Bahdanau additive-attention RNN baseline with the shared workflow.

use std::path::Path;
use std::sync::Arc;

use attn_data::{LabelMap, TextEncoder, WordVocab};
use attn_rnn::{RnnAttentionClassifier, RnnConfig};
use attn_train::{
    Cluster, Observer, Result, TrainConfig, TrainError, TrainJob, io_err, show_scores,
};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::data::{DataFiles, prepare};
use crate::fit::fit;
use crate::metrics::EvalReport;
use crate::predict::evaluate;

/// The RNN's sizes and vocabulary settings (saved as `rnn.json` in the run directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnSettings {
    /// The recurrent cell (GRU or LSTM).
    #[serde(default)]
    pub cell: attn_rnn::Cell,
    /// Width of the word embeddings.
    pub embed_dim: usize,
    /// Hidden width of each GRU direction.
    pub hidden: usize,
    /// Width of the attention's alignment layer.
    pub attention_dim: usize,
    /// Dropout on embeddings and on the classifier input.
    pub dropout: f64,
    /// Words seen fewer times than this in training become `<unk>`.
    pub min_freq: usize,
    /// At most this many words (with `<pad>` and `<unk>`).
    pub max_vocab: usize,
}

impl Default for RnnSettings {
    fn default() -> Self {
        Self {
            cell: attn_rnn::Cell::Gru,
            embed_dim: 128,
            hidden: 128,
            attention_dim: 128,
            dropout: 0.3,
            min_freq: 1,
            max_vocab: 50_000,
        }
    }
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// Trains the baseline on `data` into `run` (vocabulary from the training rows), then evaluates
/// it on the test file (on rank 0 of `cluster`; the other ranks return `None`).
pub fn train_rnn<B: AutodiffBackend>(
    cfg: &TrainConfig,
    settings: &RnnSettings,
    data: &DataFiles,
    run: &Path,
    device: &B::Device,
    cluster: &Cluster,
    observer: Arc<dyn Observer>,
) -> Result<Option<EvalReport>> {
    cfg.require_f32("RNN classifier")?;
    let labels = data.run_label_map(run, cfg.skip_bad_rows)?;
    let rows = data.rows(
        data.train_file()?,
        &labels,
        cfg.skip_bad_rows,
        observer.as_ref(),
    )?;
    let vocab = WordVocab::build(
        rows.iter().map(|r| r.text.as_str()),
        settings.min_freq,
        settings.max_vocab,
        cfg.max_len,
    );
    let prepared = prepare(data, labels, &vocab, cfg, observer.as_ref())?;
    let config = RnnConfig {
        cell: settings.cell,
        vocab_size: vocab.len(),
        embed_dim: settings.embed_dim,
        hidden: settings.hidden,
        attention_dim: settings.attention_dim,
        dropout: settings.dropout,
        num_classes: prepared.labels.len(),
    };
    B::seed(device, cfg.seed);
    let model = config.init::<B>(device);
    let job = TrainJob {
        examples: &prepared.train,
        validation: &prepared.validation,
        cfg,
        pad_id: vocab.pad_id(),
        run,
        device,
        cluster,
        observer,
    };
    fit(model, &prepared, job, |model| {
        std::fs::create_dir_all(run).map_err(io_err(run))?;
        vocab.save(&run.join("vocab.json"))?;
        let json = serde_json::json!({"model": config, "settings": settings});
        attn_atomic::write(
            &run.join("rnn.json"),
            serde_json::to_string_pretty(&json)
                .expect("serializes")
                .as_bytes(),
        )?;
        model
            .clone()
            .save_file(run.join("rnn_model"), &recorder())
            .map_err(|e| TrainError::Checkpoint {
                path: run.join("rnn_model.mpk"),
                reason: e.to_string(),
            })
    })
}

/// Loads a trained baseline from its run directory: model, vocabulary and labels.
pub fn load_rnn<B: Backend>(
    run: &Path,
    device: &B::Device,
) -> Result<(RnnAttentionClassifier<B>, WordVocab, LabelMap)> {
    let path = run.join("rnn.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let config: RnnConfig =
        serde_json::from_value(value["model"].clone()).map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let model = config
        .init::<B>(device)
        .load_file(run.join("rnn_model"), &recorder(), device)
        .map_err(|e| TrainError::Checkpoint {
            path: run.join("rnn_model.mpk"),
            reason: e.to_string(),
        })?;
    let vocab = WordVocab::load(&run.join("vocab.json"))?;
    let labels = LabelMap::load(&run.join("labels.json"))?;
    Ok((model, vocab, labels))
}

/// Evaluates a trained baseline's run directory on `data.test`.
pub fn eval_rnn<B: Backend>(
    run: &Path,
    data: &DataFiles,
    cfg: &TrainConfig,
    out: Option<&Path>,
    device: &B::Device,
    observer: &dyn Observer,
) -> Result<EvalReport> {
    let (model, vocab, labels) = load_rnn::<B>(run, device)?;
    let cfg = TrainConfig {
        max_len: vocab.max_len,
        ..cfg.clone()
    };
    let test = data.examples(&data.test, &labels, cfg.skip_bad_rows, &vocab, observer)?;
    let report = evaluate(&model, &test, &labels, &cfg, vocab.pad_id(), device)?;
    show_scores(&report, out, observer)?;
    Ok(report)
}
