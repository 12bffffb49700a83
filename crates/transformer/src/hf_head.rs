//! How a saved classifier declares its head to Hugging Face transformers, so that HF's standard
//! loading computes what this crate computes, or refuses the directory, and never silently differs.
//!
//! A [CLS]-pooler head is HF's own `BertForSequenceClassification`. A mean-pooled head has no HF
//! class: it is saved with HF's custom-code mechanism (`auto_map` naming the classes of
//! [`MODELING_FILE`], written beside the weights) under its own `model_type`, which HF only loads
//! with `trust_remote_code=True` and otherwise refuses with a message saying so.

use std::path::Path;

use serde_json::{Value, json};

use crate::Result;
use crate::classifier::Pooling;

/// The Python module written beside a mean-pooled classifier.
pub const MODELING_FILE: &str = "modeling_attn_bert.py";

/// The text of [`MODELING_FILE`]: `AttnBertConfig` and `AttnBertForSequenceClassification`.
pub const MODELING_SOURCE: &str = include_str!("hf/modeling_attn_bert.py");

/// What `config.json` declares for a head: HF's architecture, model type and custom-code map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfHead {
    /// The class HF instantiates (`architectures[0]`).
    pub architecture: &'static str,
    /// The config's `model_type`.
    pub model_type: &'static str,
    /// `auto_map` entries (auto class, `module.Class`), empty for HF's own classes.
    pub auto_map: &'static [(&'static str, &'static str)],
    /// A sequence classifier's pooling, written as `attn_pooling` (none for a tagger).
    pub pooling: Option<Pooling>,
}

impl HfHead {
    /// The declaration of a classifier pooled with `pooling`.
    pub fn of(pooling: Pooling) -> Self {
        match pooling {
            Pooling::Cls => Self {
                architecture: "BertForSequenceClassification",
                model_type: "bert",
                auto_map: &[],
                pooling: Some(pooling),
            },
            Pooling::Mean => Self {
                architecture: "AttnBertForSequenceClassification",
                model_type: "attn_bert",
                auto_map: &[
                    ("AutoConfig", "modeling_attn_bert.AttnBertConfig"),
                    (
                        "AutoModelForSequenceClassification",
                        "modeling_attn_bert.AttnBertForSequenceClassification",
                    ),
                ],
                pooling: Some(pooling),
            },
        }
    }

    /// The declaration of a tagger: HF's own `BertForTokenClassification`.
    pub fn tagger() -> Self {
        Self {
            architecture: "BertForTokenClassification",
            model_type: "bert",
            auto_map: &[],
            pooling: None,
        }
    }

    /// Writes the declaration into `config` (a `config.json` object) and `attn_pooling`.
    pub fn declare(&self, config: &mut Value) {
        config["architectures"] = json!([self.architecture]);
        config["model_type"] = self.model_type.into();
        let object = config.as_object_mut().expect("config.json is an object");
        match self.pooling {
            Some(pooling) => object.insert("attn_pooling".into(), pooling.name().into()),
            None => object.remove("attn_pooling"),
        };
        if self.auto_map.is_empty() {
            object.remove("auto_map");
        } else {
            let map: serde_json::Map<String, Value> = self
                .auto_map
                .iter()
                .map(|(class, target)| (class.to_string(), Value::from(*target)))
                .collect();
            object.insert("auto_map".into(), Value::Object(map));
            // AutoTokenizer cannot infer a tokenizer from an unknown model_type.
            object
                .entry("tokenizer_class")
                .or_insert_with(|| "BertTokenizer".into());
        }
    }

    /// Writes (or, for HF's own classes, removes a stale) [`MODELING_FILE`] in `dir`.
    pub fn write_code(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MODELING_FILE);
        if self.auto_map.is_empty() {
            if path.exists() {
                std::fs::remove_file(&path).map_err(crate::io_err(&path))?;
            }
            return Ok(());
        }
        Ok(attn_atomic::write(&path, MODELING_SOURCE.as_bytes())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_custom_code_defines_every_class_the_map_names() {
        let head = HfHead::of(Pooling::Mean);
        for (_, target) in head.auto_map {
            let (module, class) = target.split_once('.').unwrap();
            assert_eq!(format!("{module}.py"), MODELING_FILE);
            assert!(
                MODELING_SOURCE.contains(&format!("class {class}(")),
                "{class} is not defined in {MODELING_FILE}"
            );
        }
        assert!(MODELING_SOURCE.contains(&format!("model_type = \"{}\"", head.model_type)));
        assert!(MODELING_SOURCE.contains(&format!("class {}(", head.architecture)));
    }

    #[test]
    fn a_head_hf_has_no_class_for_never_claims_hfs_model_type() {
        // HF maps model_type `bert` to its [CLS]-pooler class whatever `architectures` says.
        assert_ne!(HfHead::of(Pooling::Mean).model_type, "bert");
        assert_eq!(
            HfHead::of(Pooling::Cls).architecture,
            "BertForSequenceClassification"
        );
    }

    #[test]
    fn declaring_a_cls_head_over_a_mean_one_drops_the_custom_code() {
        let mut config = json!({"hidden_size": 8});
        HfHead::of(Pooling::Mean).declare(&mut config);
        assert!(config["auto_map"].is_object());
        HfHead::of(Pooling::Cls).declare(&mut config);
        assert!(config.get("auto_map").is_none());
        assert_eq!(config["model_type"], "bert");
        assert_eq!(config["attn_pooling"], "cls");
        HfHead::tagger().declare(&mut config);
        assert_eq!(config["architectures"][0], "BertForTokenClassification");
        assert!(config.get("attn_pooling").is_none());
    }
}
