//! What prediction needs of a tagger, and the tag of every word of many sentences.

use attn_data::{Example, TagBatch, TextBatch, TextBatcher, shortest_first};
use attn_rnn::RnnTagger;
use attn_train::{Result, TrainError};
use attn_transformer::{BertForTokenClassification, BertInput};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, activation};

use crate::windows::{Window, window_example, windows};

/// A tagger: the logits of a batch's scored tokens.
pub trait Tag<B: Backend> {
    /// Logits [scored, tags] of the tokens `batch.tags` names, in its order, and their tags.
    fn scored_logits(&self, batch: &TextBatch<B>) -> Result<(Tensor<B, 2>, Tensor<B, 1, Int>)>;
}

/// The tags of a batch, or the error of a batch without them.
fn tag_batch<B: Backend>(batch: &TextBatch<B>) -> Result<&TagBatch<B>> {
    batch
        .tags
        .as_ref()
        .ok_or_else(|| TrainError::Settings("a tagging batch needs tagged sentences".into()))
}

impl<B: Backend> Tag<B> for BertForTokenClassification<B> {
    fn scored_logits(&self, batch: &TextBatch<B>) -> Result<(Tensor<B, 2>, Tensor<B, 1, Int>)> {
        let tags = tag_batch(batch)?;
        let input = BertInput {
            input_ids: batch.input_ids.clone(),
            attention_mask: batch.attention_mask.clone(),
            token_type_ids: batch.token_type_ids.clone(),
        };
        let logits = self.forward_at(input, tags.positions.clone())?;
        Ok((logits, tags.labels.clone()))
    }
}

impl<B: Backend> Tag<B> for RnnTagger<B> {
    fn scored_logits(&self, batch: &TextBatch<B>) -> Result<(Tensor<B, 2>, Tensor<B, 1, Int>)> {
        let tags = tag_batch(batch)?;
        let logits = self.forward_at(
            batch.input_ids.clone(),
            &batch.lengths,
            tags.positions.clone(),
        );
        Ok((logits, tags.labels.clone()))
    }
}

/// A word's predicted tag id and its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordTag {
    /// The tag id (of the word's first piece).
    pub tag: usize,
    /// Its softmax probability.
    pub score: f32,
}

/// How sentences are cut and batched for a tagger.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// `[CLS]` and `[SEP]` ids (none for a model that reads words alone).
    pub specials: Option<(u32, u32)>,
    /// Word pieces a window holds (the model's length less any specials).
    pub budget: usize,
    /// Pieces consecutive windows share.
    pub stride: usize,
    /// Windows a batch holds.
    pub batch_size: usize,
    /// How windows are padded into batches.
    pub batcher: TextBatcher,
}

/// The predicted tag of every word of each sentence (`None` for a word of no pieces, which the
/// caller reads as `O`), given each word's pieces: sentences longer than the layout's budget go
/// through in overlapping windows, each word predicted from the one that owns it; windows are
/// batched shortest first.
pub fn tag_words<B: Backend, M: Tag<B>>(
    model: &M,
    sentences: &[Vec<Vec<u32>>],
    layout: Layout,
    device: &B::Device,
) -> Result<Vec<Vec<Option<WordTag>>>> {
    // Each window's example, its sentence and the words its scored pieces stand for.
    let mut examples: Vec<Example> = Vec::new();
    let mut scored_words: Vec<(usize, Vec<usize>)> = Vec::new();
    for (s, pieces) in sentences.iter().enumerate() {
        let counts: Vec<usize> = pieces.iter().map(Vec::len).collect();
        for window in windows(&counts, layout.budget, layout.stride) {
            let words = predicted_words(pieces, &window);
            if words.is_empty() {
                continue;
            }
            let example = window_example(pieces, &window, layout.specials, layout.budget, |_| {
                Some((0, None))
            });
            examples.push(example);
            scored_words.push((s, words));
        }
    }
    let mut tagged: Vec<Vec<Option<WordTag>>> =
        sentences.iter().map(|s| vec![None; s.len()]).collect();
    let batcher = layout.batcher;
    let order = shortest_first(&examples);
    for chunk in order.chunks(layout.batch_size.max(1)) {
        let items: Vec<&Example> = chunk.iter().map(|&i| &examples[i]).collect();
        let batch = batcher.collate::<B>(&items, device);
        let (logits, _) = model.scored_logits(&batch)?;
        let probs = activation::softmax(logits, 1);
        let (best, index) = probs.max_dim_with_indices(1);
        let best: Vec<f32> = best.into_data().convert::<f32>().to_vec().expect("floats");
        let index: Vec<i64> = index.into_data().convert::<i64>().to_vec().expect("ints");
        let mut at = 0;
        for &i in chunk {
            let (s, words) = &scored_words[i];
            for &w in words {
                tagged[*s][w] = Some(WordTag {
                    tag: index[at] as usize,
                    score: best[at],
                });
                at += 1;
            }
        }
    }
    Ok(tagged)
}

/// The words `window` predicts that have a piece, in order.
fn predicted_words(pieces: &[Vec<u32>], window: &Window) -> Vec<usize> {
    (window.owned.iter().copied())
        .filter(|&w| !pieces[w].is_empty())
        .collect()
}
