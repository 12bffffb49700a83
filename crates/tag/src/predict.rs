//! Tagging raw text: words as BERT's pre-tokenizer splits them, each tagged from its first
//! piece, and words grouped into entities with character offsets (HF's token-classification
//! pipeline with `aggregation_strategy="first"`).

use attn_train::Result;
use burn::tensor::backend::Backend;
use serde::Serialize;

use crate::entities::entities;
use crate::run::Tagger;
use crate::tagger::{Layout, tag_words};

/// An entity found in a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaggedEntity {
    /// The text it spans.
    pub text: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Offset of its first character in the text, in characters.
    pub start: usize,
    /// Offset just past its last character, in characters.
    pub end: usize,
    /// The mean probability of its words' tags.
    pub score: f32,
}

/// A text's entities, words and word tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaggedText {
    /// The entities, in order.
    pub entities: Vec<TaggedEntity>,
    /// The words.
    pub tokens: Vec<String>,
    /// Each word's tag.
    pub tags: Vec<String>,
}

/// Tags each text: words split as HF's pipeline splits them, each word's tag from its first
/// piece, entities by conlleval's rules over the word tags (as the pipeline groups them).
pub fn tag_texts<B: Backend>(
    tagger: &Tagger<B>,
    texts: &[&str],
    layout: Layout,
    device: &B::Device,
) -> Result<Vec<TaggedText>> {
    let words = texts
        .iter()
        .map(|t| tagger.tokenizer.words(t))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let pieces: Vec<Vec<Vec<u32>>> = (words.iter())
        .map(|ws| ws.iter().map(|w| w.ids.clone()).collect())
        .collect();
    let tagged = tag_words(&tagger.model, &pieces, layout, device)?;
    let mut out = Vec::with_capacity(texts.len());
    for ((text, words), tagged) in texts.iter().zip(&words).zip(&tagged) {
        let chars: Vec<char> = text.chars().collect();
        let slice = |start: usize, end: usize| -> String { chars[start..end].iter().collect() };
        let tags: Vec<String> = (tagged.iter())
            .map(|t| t.map_or("O", |t| tagger.tags.name(t.tag)).to_string())
            .collect();
        let found = entities(&tags)
            .into_iter()
            .map(|e| {
                let (first, last) = (&words[e.start], &words[e.end - 1]);
                let scores: Vec<f32> = tagged[e.start..e.end]
                    .iter()
                    .map(|t| t.map_or(0.0, |t| t.score))
                    .collect();
                TaggedEntity {
                    text: slice(first.start, last.end),
                    start: first.start,
                    end: last.end,
                    score: scores.iter().sum::<f32>() / scores.len().max(1) as f32,
                    kind: e.kind,
                }
            })
            .collect();
        out.push(TaggedText {
            entities: found,
            tokens: words.iter().map(|w| slice(w.start, w.end)).collect(),
            tags,
        });
    }
    Ok(out)
}
