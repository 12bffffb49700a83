//! Reading and writing Hugging Face checkpoint directories (safetensors, single or sharded).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{TensorData, backend::Backend};
use safetensors::{Dtype, SafeTensors};

use crate::classifier::{BertForSequenceClassification, Pooling};
use crate::hf_head::HfHead;
use crate::model::BertModel;
use crate::token_classifier::BertForTokenClassification;
use crate::weights::{WeightStore, hf_tensors};
use crate::{BertConfig, BertError, Result, io_err};

/// Tokenizer files copied next to a saved model.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// Reads every float tensor of one safetensors file as f32 (f16, bf16 and f64 are converted).
///
/// Integer tensors (such as the `position_ids` buffer) are not parameters and are left out.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, TensorData>> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    parse_safetensors(&bytes, path)
}

/// Parses the bytes of a safetensors file read from `path` (named in errors); see
/// [`read_safetensors`]. Refuses, without panicking, headers whose offsets, shapes or dtypes do
/// not fit the bytes.
pub fn parse_safetensors(bytes: &[u8], path: &Path) -> Result<BTreeMap<String, TensorData>> {
    let invalid = |reason: String| BertError::Safetensors {
        path: path.to_path_buf(),
        reason,
    };
    let file = SafeTensors::deserialize(bytes).map_err(|e| invalid(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            Dtype::I64 | Dtype::I32 | Dtype::I16 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => continue,
            other => {
                return Err(BertError::Dtype {
                    name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        out.insert(name, TensorData::new(values, view.shape().to_vec()));
    }
    Ok(out)
}

/// Reads the weights of a model directory: `model.safetensors`, or every shard listed in
/// `model.safetensors.index.json`.
pub fn read_checkpoint(dir: &Path) -> Result<BTreeMap<String, TensorData>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return read_safetensors(&single);
    }
    let index = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).map_err(|_| BertError::Safetensors {
        path: dir.to_path_buf(),
        reason: "neither model.safetensors nor model.safetensors.index.json exists".into(),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| BertError::Safetensors {
            path: index.clone(),
            reason: e.to_string(),
        })?;
    let mut shards: Vec<&str> = value["weight_map"]
        .as_object()
        .ok_or_else(|| BertError::Safetensors {
            path: index.clone(),
            reason: "no `weight_map` object".into(),
        })?
        .values()
        .filter_map(|v| v.as_str())
        .collect();
    shards.sort_unstable();
    shards.dedup();
    let mut out = BTreeMap::new();
    for shard in shards {
        out.extend(read_safetensors(&dir.join(shard))?);
    }
    Ok(out)
}

/// A weight store over a checkpoint (bare or `bert.` names).
fn store_for(dir: &Path, config: &BertConfig) -> Result<WeightStore> {
    let tensors = read_checkpoint(dir)?;
    Ok(WeightStore::new(tensors, config.initializer_range))
}

/// Logs what a load left out and what it initialised, in HF's words.
fn report(store: &WeightStore, dir: &Path, architecture: &str) {
    let unused = store.unused();
    if !unused.is_empty() {
        tracing::warn!(
            "Some weights of the model checkpoint at {} were not used when initializing {architecture}: {unused:?}",
            dir.display()
        );
    }
    if !store.initialized().is_empty() {
        tracing::warn!(
            "Some weights of {architecture} were not initialized from the model checkpoint at {} and are newly initialized: {:?}",
            dir.display(),
            store.initialized()
        );
    }
}

impl<B: Backend> BertModel<B> {
    /// Loads `config.json` and the weights of a HF model directory (bare or `bert.` names).
    pub fn from_pretrained(dir: &Path, device: &B::Device) -> Result<(Self, BertConfig)> {
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let mut store = store_for(dir, &config)?;
        let model = store.load(Self::new(&config, device))?;
        report(&store, dir, "BertModel");
        Ok((model, config))
    }
}

impl<B: Backend> BertForSequenceClassification<B> {
    /// Loads a HF model directory as a classifier with `num_labels` classes (default: the
    /// config's `num_labels`, else 2); a head the checkpoint lacks is freshly initialised.
    pub fn from_pretrained(
        dir: &Path,
        num_labels: Option<usize>,
        pooling: Pooling,
        device: &B::Device,
    ) -> Result<(Self, BertConfig)> {
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        Self::from_pretrained_with(dir, config, num_labels, pooling, device)
    }

    /// As [`Self::from_pretrained`], with `config` (read from the directory's `config.json`, then
    /// changed, e.g. its dropout) instead of the file's.
    pub fn from_pretrained_with(
        dir: &Path,
        mut config: BertConfig,
        num_labels: Option<usize>,
        pooling: Pooling,
        device: &B::Device,
    ) -> Result<(Self, BertConfig)> {
        let (mut store, num_labels) = headed_store(dir, &mut config, num_labels)?;
        let model = store.load(Self::new(&config, num_labels, pooling, device))?;
        report(&store, dir, "BertForSequenceClassification");
        Ok((model, config))
    }

    /// Writes a HF-layout directory: `config.json` (with `num_labels`, `id2label`, `label2id` and
    /// the head declared as [`HfHead`] says), `model.safetensors` (`bert.*`, `classifier.*`), the
    /// custom code of a head HF has no class for, and the tokenizer files of `tokenizer_dir`.
    ///
    /// Every file is written to a temporary name and renamed, so a crash leaves no torn file.
    pub fn save_pretrained(
        &self,
        dir: &Path,
        config: &BertConfig,
        labels: &[String],
        tokenizer_dir: &Path,
    ) -> Result<()> {
        let head = HfHead::of(self.pooling);
        save_headed(
            dir,
            (config, labels),
            &head,
            &hf_tensors(self),
            tokenizer_dir,
        )
    }
}

impl<B: Backend> BertForTokenClassification<B> {
    /// Loads a HF model directory as a tagger of `tags` (default: the config's labels, else its
    /// `num_labels`, else 2) as HF's `AutoModelForTokenClassification` does: a head the
    /// checkpoint lacks, or one of another size, is freshly initialised, and so is one whose
    /// `id2label` names other tags or another order than `tags` (it would tag wrongly); a pooler
    /// is not used. `config` is the directory's `config.json`, possibly changed (its dropout).
    pub fn from_pretrained_with(
        dir: &Path,
        mut config: BertConfig,
        tags: Option<&[String]>,
        device: &B::Device,
    ) -> Result<(Self, BertConfig)> {
        let other_tags = match (tags, config.labels()) {
            (Some(tags), Some(saved)) => saved.len() == tags.len() && saved != tags,
            _ => false,
        };
        let (mut store, num_labels) = headed_store(dir, &mut config, tags.map(<[String]>::len))?;
        if other_tags {
            tracing::warn!(
                "{}: its head tags {:?}; starting a new one for {tags:?}",
                dir.display(),
                config.labels().unwrap_or_default()
            );
            store.forget("classifier.");
        }
        let model = store.load(Self::new(&config, num_labels, device))?;
        report(&store, dir, "BertForTokenClassification");
        Ok((model, config))
    }

    /// Writes a HF-layout directory that HF loads as its own `BertForTokenClassification`
    /// (`config.json` with the tags as `id2label`/`label2id`, `model.safetensors`, the tokenizer
    /// files of `tokenizer_dir`), every file atomically.
    pub fn save_pretrained(
        &self,
        dir: &Path,
        config: &BertConfig,
        labels: &[String],
        tokenizer_dir: &Path,
    ) -> Result<()> {
        let tensors = hf_tensors(self);
        save_headed(
            dir,
            (config, labels),
            &HfHead::tagger(),
            &tensors,
            tokenizer_dir,
        )
    }
}

/// A store over the checkpoint in `dir` for a model with a labelled head of `num_labels` (else
/// the config's count, else 2), and that count: a saved head of another size is forgotten (HF's
/// `ignore_mismatched_sizes`); `config` is given the count.
fn headed_store(
    dir: &Path,
    config: &mut BertConfig,
    num_labels: Option<usize>,
) -> Result<(WeightStore, usize)> {
    config.validate()?;
    let saved = config
        .num_labels
        .or(config.id2label.as_ref().map(|m| m.len()));
    let num_labels = num_labels.or(saved).unwrap_or(2);
    let mut store = store_for(dir, config)?;
    if saved.is_some_and(|n| n != num_labels) {
        // A head of another size cannot be reused: start a fresh one (HF's ignore_mismatched_sizes).
        tracing::warn!(
            "{}: dropping its {}-class head for a new {num_labels}-class one",
            dir.display(),
            saved.unwrap_or(0)
        );
        store.forget("classifier.");
        config.id2label = None;
    }
    config.num_labels = Some(num_labels);
    Ok((store, num_labels))
}

/// Writes a model with a labelled head as a HF directory: `config.json` (`config` with the
/// labels as `num_labels`, `id2label`, `label2id`, and `head` declared), the head's custom code
/// if any, `tensors` as `model.safetensors`, and the tokenizer files of `tokenizer_dir`.
fn save_headed(
    dir: &Path,
    (config, labels): (&BertConfig, &[String]),
    head: &HfHead,
    tensors: &BTreeMap<String, TensorData>,
    tokenizer_dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut config_json = serde_json::to_value(config).expect("config serializes");
    let id2label: BTreeMap<String, String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l.clone()))
        .collect();
    let label2id: BTreeMap<&String, usize> =
        labels.iter().enumerate().map(|(i, l)| (l, i)).collect();
    config_json["num_labels"] = labels.len().into();
    config_json["id2label"] = serde_json::to_value(id2label).expect("map serializes");
    config_json["label2id"] = serde_json::to_value(label2id).expect("map serializes");
    head.declare(&mut config_json);
    head.write_code(dir)?;
    let text = serde_json::to_string_pretty(&config_json).expect("json serializes");
    attn_atomic::write(&dir.join("config.json"), text.as_bytes())?;

    write_safetensors(&dir.join("model.safetensors"), tensors)?;

    for file in TOKENIZER_FILES {
        let from = tokenizer_dir.join(file);
        if from.is_file() && tokenizer_dir != dir {
            let bytes = std::fs::read(&from).map_err(io_err(&from))?;
            attn_atomic::write(&dir.join(file), &bytes)?;
        }
    }
    Ok(())
}

/// The pooling a saved classifier was trained with (`attn_pooling` in its config), if any.
pub fn saved_pooling(dir: &Path) -> Option<Pooling> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["attn_pooling"].as_str()?.parse().ok()
}

/// Writes f32 tensors to a safetensors file, atomically.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, TensorData>) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, data)| {
            let view = safetensors::tensor::TensorView::new(
                Dtype::F32,
                data.shape.to_vec(),
                data.as_bytes(),
            )
            .expect("shape matches f32 data");
            (name.clone(), view)
        })
        .collect();
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    let bytes = safetensors::serialize(views, metadata).map_err(|e| BertError::Safetensors {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(attn_atomic::write(path, &bytes)?)
}
