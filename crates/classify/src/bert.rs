//! Fine-tuning and evaluating BERT classifiers: the reference workflow end to end.

use std::path::Path;
use std::sync::Arc;

use attn_data::{LabelMap, TextEncoder};
use attn_train::{Cluster, Observer, Result, TrainConfig, TrainError, TrainJob, show_scores};
use attn_transformer::{
    BertConfig, BertForSequenceClassification, BertTokenizer, Pooling, autocast, saved_pooling,
};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::data::{DataFiles, prepare};
use crate::encoder::WordPieceEncoder;
use crate::fit::fit;
use crate::metrics::EvalReport;
use crate::predict::evaluate;

/// How a pre-trained BERT is headed and tuned for classification (saved in `run.json` beside
/// the loop's settings).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BertSettings {
    /// The classification head's pooling: `cls` (HF's pooler) or `mean`.
    pub pooling: Pooling,
    /// Keep the word embeddings fixed (no gradient, no optimizer update).
    #[serde(default)]
    pub freeze_embeddings: bool,
}

impl Default for BertSettings {
    fn default() -> Self {
        Self {
            pooling: Pooling::Mean,
            freeze_embeddings: false,
        }
    }
}

/// Fine-tunes the BERT model in `model_dir` with `settings` on `data` into the run directory
/// `run`, then evaluates it on the test file (on rank 0 of `cluster`; the other ranks return
/// `None`). Resumes from `run`'s checkpoint when there is one.
pub fn train_bert<B: AutodiffBackend>(
    cfg: &TrainConfig,
    (model_dir, settings): (&Path, &BertSettings),
    data: &DataFiles,
    run: &Path,
    device: &B::Device,
    cluster: &Cluster,
    observer: Arc<dyn Observer>,
) -> Result<Option<EvalReport>> {
    let cfg = &cfg.with_task(settings);
    // Training and the final evaluation run their matrix products in this precision.
    let _autocast = autocast(cfg.precision);
    let labels = data.run_label_map(run, cfg.skip_bad_rows)?;
    let encoder = WordPieceEncoder::new(
        BertTokenizer::from_dir(model_dir, cfg.max_len)?,
        model_dir,
        cfg.max_len,
    );
    let mut config = BertConfig::from_file(&model_dir.join("config.json"))?;
    // Checked before the data set is tokenized at that length.
    if cfg.max_len > config.max_position_embeddings {
        return Err(TrainError::TooLong {
            max_len: cfg.max_len,
            positions: config.max_position_embeddings,
        });
    }
    let prepared = prepare(data, labels, &encoder, cfg, observer.as_ref())?;
    if let Some(p) = cfg.dropout {
        config.hidden_dropout_prob = p;
        config.attention_probs_dropout_prob = p;
    }
    let num_labels = Some(prepared.labels.len());
    // The fresh classification head is drawn from the backend's generator: seed it first.
    B::seed(device, cfg.seed);
    let (mut model, config) = BertForSequenceClassification::<B>::from_pretrained_with(
        model_dir,
        config,
        num_labels,
        settings.pooling,
        device,
    )?;
    if settings.freeze_embeddings {
        model.bert.embeddings = model.bert.embeddings.freeze_word_embeddings();
    }
    encoder.tokenizer.check_fits(config.vocab_size)?;
    let names = prepared.labels.names.clone();
    let job = TrainJob {
        examples: &prepared.train,
        validation: &prepared.validation,
        cfg,
        pad_id: encoder.pad_id(),
        run,
        device,
        cluster,
        observer,
    };
    fit(model, &prepared, job, |model| {
        Ok(model.save_pretrained(run, &config, &names, model_dir)?)
    })
}

/// Evaluates a saved classifier directory (a run dir or any HF model with a head) on `data.test`,
/// writing `eval.json` into `out` when given.
pub fn eval_bert<B: Backend>(
    model_dir: &Path,
    data: &DataFiles,
    cfg: &TrainConfig,
    out: Option<&Path>,
    device: &B::Device,
    observer: &dyn Observer,
) -> Result<EvalReport> {
    let labels = match LabelMap::load(&model_dir.join("labels.json")) {
        Ok(map) => map,
        Err(_) => data.label_map(cfg.skip_bad_rows)?,
    };
    let encoder = WordPieceEncoder::new(
        BertTokenizer::from_dir(model_dir, cfg.max_len)?,
        model_dir,
        cfg.max_len,
    );
    let pooling = saved_pooling(model_dir).unwrap_or(Pooling::Cls);
    let (model, config) = BertForSequenceClassification::<B>::from_pretrained(
        model_dir,
        Some(labels.len()),
        pooling,
        device,
    )?;
    encoder.tokenizer.check_fits(config.vocab_size)?;
    let test = data.examples(&data.test, &labels, cfg.skip_bad_rows, &encoder, observer)?;
    let report = evaluate(&model, &test, &labels, cfg, encoder.pad_id(), device)?;
    show_scores(&report, out, observer)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bert_settings_keep_their_words_in_run_json() {
        let cfg = TrainConfig::default().with_task(&BertSettings::default());
        let json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(
            (&json["pooling"], &json["freeze_embeddings"]),
            (&"mean".into(), &false.into())
        );
        // HF's word for the pooler, as earlier run.json files may hold it.
        let old = serde_json::json!({"pooling": "pooler"});
        let read: BertSettings = serde_json::from_value(old).unwrap();
        assert_eq!(
            read,
            BertSettings {
                pooling: Pooling::Cls,
                freeze_embeddings: false
            }
        );
    }
}
