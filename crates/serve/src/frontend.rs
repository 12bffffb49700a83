//! The side of the server that reads requests: tokenizing texts into jobs off the worker, the
//! limits on inputs, and the answers' shapes.

use std::path::Path;

use attn_data::{WordVocab, basic_english};
use attn_transformer::BertTokenizer;
use attn_translate::{Vocabularies, detokenize};
use serde_json::{Value, json};

use crate::attention::{Heads, Probe};
use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::job::{Job, Output, Sized};
use crate::types::{EmbedPooling, Entity, Input, Prediction, SimpleToken, Translation};

/// What the served model does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Labels texts (these, by id).
    Classifier(Vec<String>),
    /// Tags words (these tags, by id).
    Tagger(Vec<String>),
    /// Embeds texts.
    Embedding,
    /// Translates texts (with this beam width unless asked otherwise).
    Translator(usize),
}

/// How the served model reads text.
#[derive(Debug, Clone)]
pub enum Reader {
    /// BERT's word pieces.
    Bert(Box<BertTokenizer>),
    /// The RNN baseline's words.
    Words(WordVocab),
    /// A translator's source tokens.
    Source(Box<Vocabularies>),
}

/// The served model as the request handlers see it.
#[derive(Debug, Clone)]
pub struct Frontend {
    /// The model's directory, as `/info` names it.
    pub model_id: String,
    /// How it reads text.
    pub reader: Reader,
    /// What it does.
    pub kind: Kind,
    /// The longest input, in tokens.
    pub max_len: usize,
    /// What it attends with.
    pub heads: Heads,
}

impl Frontend {
    /// The frontend of the model in `dir`.
    pub fn new(dir: &Path, reader: Reader, kind: Kind, max_len: usize, heads: Heads) -> Self {
        Self {
            model_id: dir.display().to_string(),
            reader,
            kind,
            max_len,
            heads,
        }
    }

    /// `/predict`'s jobs: each input classified, or tagged (a tagger reads texts of any
    /// length, in windows).
    pub fn predict_jobs(&self, inputs: Vec<Input>, truncate: bool) -> Result<Vec<Sized>, ApiError> {
        inputs
            .into_iter()
            .map(|(text, pair)| match (&self.kind, &self.reader) {
                (Kind::Embedding, _) => Err(ApiError::backend(
                    "the model is not a classifier or a tagger: use /embed",
                )),
                (Kind::Translator(_), _) | (_, Reader::Source(_)) => Err(ApiError::backend(
                    "the model is a translator: use /translate",
                )),
                (_, Reader::Words(_)) | (Kind::Tagger(_), _) if pair.is_some() => Err(
                    ApiError::validation("`inputs`: this model reads single texts, not pairs"),
                ),
                (Kind::Tagger(_), Reader::Bert(tokenizer)) => {
                    let whole = tokenizer.encode_with(&text, None, false).map_err(tokens)?;
                    Ok((Job::Tag(text), whole.ids.len()))
                }
                (_, Reader::Words(vocab)) => {
                    let ids = vocab.encode(&text);
                    let n = ids.len();
                    Ok((Job::Words(ids), n))
                }
                (_, Reader::Bert(_)) => {
                    let encoded = self.pieces(&text, pair.as_deref(), truncate)?;
                    let n = encoded.ids.len();
                    Ok((Job::Classify(encoded), n))
                }
            })
            .collect()
    }

    /// `/translate`'s jobs: each text with beam width `beam`, refused when longer than the
    /// translator reads unless `truncate`.
    pub fn translate_jobs(
        &self,
        texts: Vec<String>,
        truncate: bool,
        beam: usize,
    ) -> Result<Vec<Sized>, ApiError> {
        let Reader::Source(vocabs) = &self.reader else {
            return Err(ApiError::backend(
                "the model is not a translator: use /predict or /embed",
            ));
        };
        (texts.into_iter())
            .map(|text| {
                let n = vocabs.source_len(&text);
                if n > self.max_len && !truncate {
                    return Err(self.too_long(n));
                }
                Ok((Job::Translate(text, beam), n.clamp(1, self.max_len)))
            })
            .collect()
    }

    /// `/attend`'s job for `text`: BERT's matrices (every layer and head, or the `pick`ed one),
    /// the RNN classifier's strip or a translator's alignment, refused when the model has no
    /// such attention or the text is longer than it reads (unless `truncate`).
    pub fn attend_job(
        &self,
        text: String,
        pick: Option<(usize, usize)>,
        truncate: bool,
    ) -> Result<Sized, ApiError> {
        match (&self.reader, self.heads) {
            (Reader::Bert(_), Heads::SelfAttention { layers, heads }) => {
                if let Some((layer, head)) = pick
                    && (layer >= layers || head >= heads)
                {
                    return Err(ApiError::validation(format!(
                        "`layer` must be below {layers} and `head` below {heads} (0-based). \
                         Given: layer {layer}, head {head}"
                    )));
                }
                let encoded = self.pieces(&text, None, truncate)?;
                let n = encoded.ids.len();
                Ok((Job::Attend(Probe::Pieces(encoded, pick)), n))
            }
            _ if pick.is_some() => Err(ApiError::validation(
                "`layer` and `head` choose among BERT's heads: this model has one attention",
            )),
            (Reader::Words(vocab), _) => {
                let words: Vec<String> = basic_english(&text).take(vocab.max_len).collect();
                if words.is_empty() {
                    return Err(ApiError::validation("`inputs`: the text has no words"));
                }
                let ids = vocab.encode(&text);
                let n = ids.len();
                Ok((Job::Attend(Probe::Words(words, ids)), n))
            }
            (Reader::Source(_), Heads::None) => Err(ApiError::validation(
                "this translator has no attention (trained with --attention none)",
            )),
            (Reader::Source(_), _) => {
                let (job, n) = self.translate_jobs(vec![text], truncate, 1)?.remove(0);
                let Job::Translate(text, _) = job else {
                    unreachable!("a translation job")
                };
                Ok((Job::Attend(Probe::Source(text)), n))
            }
            (Reader::Bert(_), heads) => unreachable!("a BERT model attending with {heads:?}"),
        }
    }

    /// A 422 for an input of `n` tokens, longer than the model reads.
    fn too_long(&self, n: usize) -> ApiError {
        ApiError::validation(format!(
            "`inputs` must have at most {} tokens (the model's length). Given: {n} (set \
             `truncate` or --auto-truncate to cut it)",
            self.max_len
        ))
    }

    /// `/embed`'s jobs.
    pub fn embed_jobs(
        &self,
        texts: Vec<String>,
        truncate: bool,
        pooling: EmbedPooling,
    ) -> Result<Vec<Sized>, ApiError> {
        if self.kind != Kind::Embedding {
            return Err(ApiError::backend(
                "the model is not an embedding model: use /predict",
            ));
        }
        (texts.iter())
            .map(|text| {
                let encoded = self.pieces(text, None, truncate)?;
                let n = encoded.ids.len();
                Ok((Job::Embed(encoded, pooling), n))
            })
            .collect()
    }

    /// `/tokenize`'s answer: each text's tokens, untruncated.
    pub fn tokenize(
        &self,
        texts: &[String],
        specials: bool,
    ) -> Result<Vec<Vec<SimpleToken>>, ApiError> {
        let Reader::Bert(tokenizer) = &self.reader else {
            return Err(ApiError::backend(
                "the model reads words, not BERT's word pieces: nothing to tokenize",
            ));
        };
        (texts.iter())
            .map(|text| {
                let tokens = tokenizer.tokens(text, specials).map_err(tokens)?;
                Ok((tokens.into_iter())
                    .map(|t| SimpleToken {
                        id: t.id,
                        text: t.span.map_or(t.piece, |(a, b)| text[a..b].to_string()),
                        special: t.special,
                        start: t.span.map(|s| s.0),
                        stop: t.span.map(|s| s.1),
                    })
                    .collect())
            })
            .collect()
    }

    /// A text's word pieces, refused when longer than the model reads unless `truncate`.
    fn pieces(
        &self,
        text: &str,
        pair: Option<&str>,
        truncate: bool,
    ) -> Result<attn_transformer::Encoded, ApiError> {
        let Reader::Bert(tokenizer) = &self.reader else {
            unreachable!("word pieces of a BERT model")
        };
        let encoded = tokenizer
            .encode_with(text, pair, truncate)
            .map_err(tokens)?;
        if encoded.ids.len() > self.max_len {
            return Err(self.too_long(encoded.ids.len()));
        }
        Ok(encoded)
    }

    /// `/predict`'s answer for one input: labels by score, or a tagger's entities.
    pub fn prediction(&self, output: Output, raw_scores: bool) -> Value {
        match (output, &self.kind) {
            (Output::Logits(logits), Kind::Classifier(names)) => {
                let scores = if raw_scores {
                    logits
                } else {
                    probabilities(&logits)
                };
                let mut found: Vec<Prediction> = (scores.into_iter().zip(names))
                    .map(|(score, label)| Prediction {
                        score,
                        label: label.clone(),
                    })
                    .collect();
                found.sort_by(|a, b| b.score.total_cmp(&a.score));
                json!(found)
            }
            (Output::Tagged(tagged), _) => {
                let entities: Vec<Entity> = (tagged.entities.into_iter())
                    .map(|e| Entity {
                        entity_group: e.kind,
                        score: e.score,
                        word: e.text,
                        start: e.start,
                        end: e.end,
                    })
                    .collect();
                json!(entities)
            }
            (other, _) => unreachable!("a {:?} model answered {other:?}", self.kind),
        }
    }

    /// `/translate`'s answer for one input, with its alignment if `alignment`.
    pub fn translation(&self, output: Output, alignment: bool) -> Translation {
        let Output::Translated(t) = output else {
            unreachable!("a translator answered {output:?}")
        };
        Translation {
            translation: detokenize(&t.words),
            tokens: t.tokens,
            source_tokens: t.source,
            alignment: alignment.then_some(t.alignment),
        }
    }

    /// What `/info` says of the model and the limits.
    pub fn info(&self, cfg: &ServeConfig) -> Value {
        let labels = |names: &[String]| {
            json!({
                "id2label": (names.iter().enumerate())
                    .map(|(i, n)| (i.to_string(), json!(n)))
                    .collect::<serde_json::Map<_, _>>(),
                "label2id": (names.iter().enumerate())
                    .map(|(i, n)| (n.clone(), json!(i)))
                    .collect::<serde_json::Map<_, _>>(),
            })
        };
        let model_type = match &self.kind {
            Kind::Classifier(names) => json!({ "classifier": labels(names) }),
            Kind::Tagger(names) => json!({ "tagger": labels(names) }),
            Kind::Embedding => json!({ "embedding": { "pooling": "mean" } }),
            Kind::Translator(beam) => json!({ "translator": { "beam": beam } }),
        };
        json!({
            "model_id": self.model_id,
            "model_type": model_type,
            "max_concurrent_requests": cfg.max_concurrent_requests,
            "max_input_length": self.max_len,
            "max_batch_tokens": cfg.max_batch_tokens,
            "max_batch_requests": cfg.max_batch_requests,
            "max_client_batch_size": cfg.max_client_batch_size,
            "auto_truncate": cfg.auto_truncate,
            "version": env!("CARGO_PKG_VERSION"),
        })
    }
}

/// Softmax of `logits`, or the sigmoid of a single one (as TEI scores).
fn probabilities(logits: &[f32]) -> Vec<f32> {
    if let [one] = logits {
        return vec![1.0 / (1.0 + (-one).exp())];
    }
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|x| (x - top).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// A tokenizer's failure, as a 422.
fn tokens(e: attn_transformer::BertError) -> ApiError {
    ApiError::validation(format!("`inputs`: {e}"))
}
