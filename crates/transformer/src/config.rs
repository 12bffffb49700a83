//! `BertConfig`: the hyper-parameters of a BERT model, as in Hugging Face's `config.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{BertError, Result, io_err};

/// The largest parameter count a config may describe (10 billion): beyond it, allocation would fail.
const MAX_PARAMETERS: u128 = 10_000_000_000;

/// BERT hyper-parameters; field names and meaning follow Hugging Face's `BertConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Size of the WordPiece vocabulary.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer (only exact `gelu` is supported).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Dropout on embeddings and sub-layer outputs.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Longest sequence the position embeddings cover.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Standard deviation of the normal initialiser.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// LayerNorm epsilon (1e-12 in BERT, unlike burn's 1e-5 default).
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Number of classes of a classification head.
    #[serde(default)]
    pub num_labels: Option<usize>,
    /// Class names by id, for a classification head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Must be `absolute` (relative position embeddings are not supported).
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_init_range() -> f64 {
    0.02
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// A config with BERT's defaults for everything but the sizes.
    pub fn new(
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        intermediate_size: usize,
    ) -> Self {
        Self {
            vocab_size,
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            intermediate_size,
            hidden_act: default_act(),
            hidden_dropout_prob: default_dropout(),
            attention_probs_dropout_prob: default_dropout(),
            max_position_embeddings: default_positions(),
            type_vocab_size: default_type_vocab(),
            initializer_range: default_init_range(),
            layer_norm_eps: default_eps(),
            pad_token_id: 0,
            num_labels: None,
            id2label: None,
            position_embedding_type: default_position_type(),
        }
    }

    /// A built-in config by name: `bert-base`, `bert-large` or `minilm-l6` (uncased vocab, 30522).
    pub fn preset(name: &str) -> Result<Self> {
        let config = match name {
            "bert-base" => Self::new(30522, 768, 12, 12, 3072),
            "bert-large" => Self::new(30522, 1024, 24, 16, 4096),
            "minilm-l6" => Self::new(30522, 384, 6, 12, 1536),
            other => {
                return Err(BertError::Config {
                    path: PathBuf::from("<preset>"),
                    reason: format!(
                        "unknown preset `{other}`: expected bert-base, bert-large or minilm-l6"
                    ),
                });
            }
        };
        Ok(config)
    }

    /// Parses and validates a Hugging Face `config.json`; unknown fields are ignored.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::from_json(&text).map_err(|e| match e {
            BertError::Config { reason, .. } => BertError::Config {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })
    }

    /// Parses and validates the text of a `config.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(text).map_err(|e| BertError::Config {
            path: PathBuf::from("config.json"),
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The head's class names in id order, when `id2label` names every id from 0 to its
    /// length - 1 (and nothing else).
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.id2label.as_ref()?;
        (0..map.len())
            .map(|id| map.get(&id.to_string()).cloned())
            .collect()
    }

    /// The number of parameters of the encoder with its pooler (no classification head).
    pub fn num_parameters(&self) -> u128 {
        let h = self.hidden_size as u128;
        let ffn = self.intermediate_size as u128;
        let embeddings =
            (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) as u128 * h
                + 2 * h;
        let layer = 4 * (h * h + h) + 2 * h * ffn + ffn + h + 4 * h;
        embeddings + self.num_hidden_layers as u128 * layer + h * h + h
    }

    /// Checks that the sizes make a model that can be built.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| {
            Err(BertError::Config {
                path: PathBuf::from("config.json"),
                reason,
            })
        };
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if value == 0 {
                return fail(format!("`{name}` is 0"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return fail(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return fail(format!(
                "pad_token_id {} is outside the vocabulary of {}",
                self.pad_token_id, self.vocab_size
            ));
        }
        if self.num_parameters() > MAX_PARAMETERS {
            return fail(format!(
                "the sizes describe {} parameters, more than the {MAX_PARAMETERS} this loader accepts",
                self.num_parameters()
            ));
        }
        if !matches!(self.hidden_act.as_str(), "gelu" | "gelu_python") {
            return fail(format!(
                "hidden_act `{}` is not supported (only exact `gelu`)",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return fail(format!(
                "position_embedding_type `{}` is not supported (only `absolute`)",
                self.position_embedding_type
            ));
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return fail(format!("`{name}` {p} is not in [0, 1)"));
            }
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return fail(format!(
                "layer_norm_eps {} must be positive",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hf_config_ignoring_unknown_fields() {
        let c = BertConfig::from_json(
            r#"{"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
                "num_attention_heads": 12, "intermediate_size": 1536, "architectures": ["BertModel"],
                "layer_norm_eps": 1e-12, "model_type": "bert"}"#,
        )
        .unwrap();
        assert_eq!(c, BertConfig::preset("minilm-l6").unwrap());
        assert_eq!(c.head_dim(), 32);
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let err = BertConfig::from_json(r#"{"vocab_size": 10}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hidden_size"), "{err}");
    }

    #[test]
    fn impossible_values_are_rejected() {
        let cases = [
            (r#""num_attention_heads": 0"#, "is 0"),
            (r#""num_attention_heads": 5"#, "not divisible"),
            (r#""hidden_size": 1200000000"#, "parameters"),
            (r#""hidden_act": "relu""#, "not supported"),
        ];
        for (field, expected) in cases {
            let mut value = serde_json::to_value(BertConfig::preset("bert-base").unwrap()).unwrap();
            let patch: serde_json::Value = serde_json::from_str(&format!("{{{field}}}")).unwrap();
            for (k, v) in patch.as_object().unwrap() {
                value[k] = v.clone();
            }
            let err = BertConfig::from_json(&value.to_string())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{field}: {err}");
        }
    }

    #[test]
    fn presets_have_the_published_sizes() {
        let base = BertConfig::preset("bert-base").unwrap();
        assert_eq!(
            (
                base.num_hidden_layers,
                base.hidden_size,
                base.intermediate_size
            ),
            (12, 768, 3072)
        );
        // bert-base-uncased has 109,482,240 parameters with its pooler.
        assert_eq!(base.num_parameters(), 109_482_240);
        let large = BertConfig::preset("bert-large").unwrap();
        assert_eq!(
            (
                large.num_hidden_layers,
                large.hidden_size,
                large.num_attention_heads
            ),
            (24, 1024, 16)
        );
        assert!(BertConfig::preset("gpt").is_err());
    }
}
