//! A trained translator on disk: its model, configuration, settings and vocabularies written
//! into a run directory and read back.

use std::path::Path;

use attn_rnn::{Seq2Seq, Seq2SeqConfig};
use attn_train::{Result, TrainError, io_err};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;

use crate::settings::Seq2SeqSettings;
use crate::vocab::Vocabularies;

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// Writes a trained translator and what reading it back needs into `run`.
pub(crate) fn save_seq2seq<B: Backend>(
    model: &Seq2Seq<B>,
    config: &Seq2SeqConfig,
    settings: &Seq2SeqSettings,
    vocabs: &Vocabularies,
    run: &Path,
) -> Result<()> {
    std::fs::create_dir_all(run).map_err(io_err(run))?;
    vocabs.save(run)?;
    let json = serde_json::json!({"model": config, "settings": settings});
    let text = serde_json::to_string_pretty(&json).expect("serializes");
    attn_atomic::write(&run.join("seq2seq.json"), text.as_bytes())?;
    model
        .clone()
        .save_file(run.join("seq2seq_model"), &recorder())
        .map_err(|e| TrainError::Checkpoint {
            path: run.join("seq2seq_model.mpk"),
            reason: e.to_string(),
        })
}

/// A trained translator read back from its run directory.
pub struct LoadedSeq2Seq<B: Backend> {
    /// The model.
    pub model: Seq2Seq<B>,
    /// Its vocabularies.
    pub vocabs: Vocabularies,
    /// The settings it was trained with (the beam among them).
    pub settings: Seq2SeqSettings,
}

/// Loads a trained translator from its run directory.
pub fn load_seq2seq<B: Backend>(run: &Path, device: &B::Device) -> Result<LoadedSeq2Seq<B>> {
    let path = run.join("seq2seq.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let bad = |e: serde_json::Error| TrainError::Checkpoint {
        path: path.clone(),
        reason: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    let config: Seq2SeqConfig = serde_json::from_value(value["model"].clone()).map_err(bad)?;
    let settings: Seq2SeqSettings =
        serde_json::from_value(value["settings"].clone()).map_err(bad)?;
    let model = config
        .init::<B>(device)
        .load_file(run.join("seq2seq_model"), &recorder(), device)
        .map_err(|e| TrainError::Checkpoint {
            path: run.join("seq2seq_model.mpk"),
            reason: e.to_string(),
        })?;
    let vocabs = Vocabularies::load(run, &settings)?;
    Ok(LoadedSeq2Seq {
        model,
        vocabs,
        settings,
    })
}
