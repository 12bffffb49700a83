//! Request and response bodies, in TEI's shapes where TEI has the route.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A text, or the parts of one input: `["a"]` one text, `["a", "b"]` a pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Sequence {
    /// One text.
    Text(String),
    /// One text or a pair.
    Parts(Vec<String>),
}

/// One input: a text and, for a pair, the second text.
pub type Input = (String, Option<String>);

/// `/predict`'s inputs: `"t"`, a pair `["a", "b"]`, or a batch `[["a"], ["b", "c"], "d"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PredictInput {
    /// One input.
    One(Sequence),
    /// A batch.
    Many(Vec<Sequence>),
}

impl PredictInput {
    /// The inputs as (text, pair) and whether the request held one input (not a batch).
    pub fn sequences(self) -> Result<(Vec<Input>, bool), ApiError> {
        let (all, one) = match self {
            // `[]`: a batch of none.
            PredictInput::One(Sequence::Parts(parts)) if parts.is_empty() => (Vec::new(), false),
            PredictInput::One(s) => (vec![s], true),
            PredictInput::Many(all) => (all, false),
        };
        let parts = all
            .into_iter()
            .map(|s| match s {
                Sequence::Text(text) => Ok((text, None)),
                Sequence::Parts(parts) => match <[String; 2]>::try_from(parts) {
                    Ok([a, b]) => Ok((a, Some(b))),
                    Err(mut parts) if parts.len() == 1 => Ok((parts.remove(0), None)),
                    Err(parts) => Err(ApiError::validation(format!(
                        "`inputs`: an input is a text or a pair of texts, not {} texts",
                        parts.len()
                    ))),
                },
            })
            .collect::<Result<_, _>>()?;
        Ok((parts, one))
    }
}

/// `POST /predict`.
#[derive(Debug, Clone, Deserialize)]
pub struct PredictRequest {
    /// The inputs.
    pub inputs: PredictInput,
    /// Truncate long inputs (default: the server's `--auto-truncate`).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// A classifier's logits instead of probabilities.
    #[serde(default)]
    pub raw_scores: bool,
}

/// One text or a list of texts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Texts {
    /// One text.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Texts {
    /// Whether the request held one text (not a list).
    pub fn is_one(&self) -> bool {
        matches!(self, Texts::One(_))
    }

    /// The texts.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Texts::One(text) => vec![text],
            Texts::Many(texts) => texts,
        }
    }
}

/// How token vectors become one embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedPooling {
    /// The attention-masked mean of the last hidden state (sentence-transformers).
    #[default]
    Mean,
    /// The [CLS] token's last hidden state.
    Cls,
}

/// `POST /embed`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmbedRequest {
    /// The texts.
    pub inputs: Texts,
    /// Truncate long inputs (default: the server's `--auto-truncate`).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Scale each embedding to unit length.
    #[serde(default = "yes")]
    pub normalize: bool,
    /// The pooling (attn's addition; TEI fixes it at launch).
    #[serde(default)]
    pub pooling: EmbedPooling,
}

fn yes() -> bool {
    true
}

/// `POST /translate`.
#[derive(Debug, Clone, Deserialize)]
pub struct TranslateRequest {
    /// The texts.
    pub inputs: Texts,
    /// Truncate long inputs (default: the server's `--auto-truncate`).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// The beam width, 1 (greedy) to [`MAX_BEAM`] (default: the run's own).
    #[serde(default)]
    pub beam: Option<usize>,
    /// Answer each translation's alignment matrix too.
    #[serde(default)]
    pub alignment: bool,
}

/// The widest beam a request may ask for.
pub const MAX_BEAM: usize = 16;

/// A translation, as `attn translate` writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Translation {
    /// The output words, detokenized.
    pub translation: String,
    /// The output tokens (subwords where the translator has them).
    pub tokens: Vec<String>,
    /// The source's tokens as the model read them.
    pub source_tokens: Vec<String>,
    /// One row per output token and one for the end, over the source tokens (when asked; empty
    /// without attention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alignment: Option<Vec<Vec<f32>>>,
}

/// `POST /tokenize`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenizeRequest {
    /// The texts.
    pub inputs: Texts,
    /// Add [CLS] and [SEP].
    #[serde(default = "yes")]
    pub add_special_tokens: bool,
}

/// A token as `/tokenize` answers it (TEI's shape: byte offsets, none for a special token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimpleToken {
    /// Its id.
    pub id: u32,
    /// The text it covers, or a special token's name.
    pub text: String,
    /// Whether it is a special token.
    pub special: bool,
    /// Its first byte in the text.
    pub start: Option<usize>,
    /// The byte just past it.
    pub stop: Option<usize>,
}

/// How `/v1/embeddings` writes a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// A list of numbers.
    #[default]
    Float,
    /// Base64 of the little-endian f32 bytes.
    Base64,
}

/// `POST /v1/embeddings` (OpenAI's shape).
#[derive(Debug, Clone, Deserialize)]
pub struct OpenAiRequest {
    /// The texts.
    pub input: Texts,
    /// The model's name (informative).
    #[serde(default)]
    pub model: Option<String>,
    /// How the vectors are written.
    #[serde(default)]
    pub encoding_format: EncodingFormat,
}

/// A label and its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Its probability, or its logit with `raw_scores`.
    pub score: f32,
    /// The label.
    pub label: String,
}

/// An entity, as HF's token-classification pipeline groups it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    /// Its type.
    pub entity_group: String,
    /// The mean probability of its words' tags.
    pub score: f32,
    /// The text it spans.
    pub word: String,
    /// Offset of its first character, in characters.
    pub start: usize,
    /// Offset just past its last character, in characters.
    pub end: usize,
}

/// `POST /attend`.
#[derive(Debug, Clone, Deserialize)]
pub struct AttendRequest {
    /// The text.
    pub inputs: String,
    /// BERT: the layer (0-based) whose matrix to answer alone; with `head`.
    #[serde(default)]
    pub layer: Option<usize>,
    /// BERT: the head (0-based) whose matrix to answer alone; with `layer`.
    #[serde(default)]
    pub head: Option<usize>,
    /// Truncate a long text (default: the server's `--auto-truncate`).
    #[serde(default)]
    pub truncate: Option<bool>,
}
