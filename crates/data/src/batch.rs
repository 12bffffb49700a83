//! `pad_bert`-style collation: each mini-batch padded to its own longest sequence (on the GPU
//! backends: up to the next of a few fixed lengths).

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::{Example, PadLengths};

/// A padded mini-batch, every tensor [batch, longest] except `labels` [batch].
#[derive(Debug, Clone)]
pub struct TextBatch<B: Backend> {
    /// Token ids, padded with the pad id.
    pub input_ids: Tensor<B, 2, Int>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Tensor<B, 2, Int>,
    /// Segment ids (0: single texts).
    pub token_type_ids: Tensor<B, 2, Int>,
    /// Class ids.
    pub labels: Tensor<B, 1, Int>,
    /// Real (unpadded) token count of each row.
    pub lengths: Vec<usize>,
    /// The output sequences of sequence-to-sequence pairs (none for a classifier's batch).
    pub targets: Option<TargetBatch<B>>,
    /// The scored tokens of tagged sentences (none for other batches).
    pub tags: Option<TagBatch<B>>,
}

/// The tokens of a batch of tagged sentences that are scored, and their tags.
#[derive(Debug, Clone)]
pub struct TagBatch<B: Backend> {
    /// Each scored token's position in the batch flattened row by row (`row * longest + j`):
    /// [scored].
    pub positions: Tensor<B, 1, Int>,
    /// Each scored token's tag: [scored].
    pub labels: Tensor<B, 1, Int>,
}

/// The output sequences of a batch for teacher forcing: the decoder reads `inputs` and is
/// scored on predicting `labels`, each target shifted by one.
#[derive(Debug, Clone)]
pub struct TargetBatch<B: Backend> {
    /// Each target without its last token, padded: [batch, longest].
    pub inputs: Tensor<B, 2, Int>,
    /// Decoder steps of each row (its target's length - 1).
    pub steps: Vec<usize>,
    /// The token to predict at each real position, row by row (each target without its first):
    /// [tokens].
    pub labels: Tensor<B, 1, Int>,
}

/// Pads each batch to its longest sequence (at most `max_len`), like the reference's `pad_bert`,
/// or further, to the next of `pad_to`'s lengths.
#[derive(Debug, Clone, Copy)]
pub struct TextBatcher {
    /// Id written into padding positions.
    pub pad_id: u32,
    /// Sequences longer than this are cut (tokenizers already truncate; this is a guard).
    pub max_len: usize,
    /// Lengths the source side is padded up to (none: to the longest row). The attention mask
    /// and `lengths` still name the real tokens.
    pub pad_to: Option<PadLengths>,
}

impl TextBatcher {
    /// A batcher padding to each batch's longest row.
    pub fn longest(pad_id: u32, max_len: usize) -> Self {
        Self {
            pad_id,
            max_len,
            pad_to: None,
        }
    }

    /// The real token count of `item` in a batch.
    fn length(&self, item: &Example) -> usize {
        item.ids.len().min(self.max_len).max(1)
    }

    /// The width `items` are padded to.
    pub fn width(&self, items: &[&Example]) -> usize {
        let longest = items.iter().map(|e| self.length(e)).max().unwrap_or(1);
        self.pad_to
            .map_or(longest, |pad| pad.padded(longest, self.max_len))
    }

    /// Collates `items` on `device`.
    pub fn collate<B: Backend>(&self, items: &[&Example], device: &B::Device) -> TextBatch<B> {
        let lengths: Vec<usize> = items.iter().map(|e| self.length(e)).collect();
        let longest = self.width(items);
        let batch = items.len();
        let mut ids = vec![self.pad_id as i64; batch * longest];
        let mut mask = vec![0i64; batch * longest];
        for (row, (item, &len)) in items.iter().zip(&lengths).enumerate() {
            for (j, &id) in item.ids.iter().take(len).enumerate() {
                ids[row * longest + j] = id as i64;
                mask[row * longest + j] = 1;
            }
            if item.ids.is_empty() {
                mask[row * longest] = 1;
            }
        }
        let labels: Vec<i64> = items.iter().map(|e| e.label as i64).collect();
        let shape = [batch, longest];
        let targets = items
            .iter()
            .any(|e| !e.target.is_empty())
            .then(|| self.targets(items, device));
        let tags = items
            .iter()
            .any(|e| !e.tags.is_empty())
            .then(|| Self::tags(items, &lengths, longest, device));
        TextBatch {
            input_ids: Tensor::from_data(TensorData::new(ids, shape), device),
            attention_mask: Tensor::from_data(TensorData::new(mask, shape), device),
            token_type_ids: Tensor::zeros(shape, device),
            labels: Tensor::from_data(TensorData::new(labels, [batch]), device),
            lengths,
            targets,
            tags,
        }
    }

    /// The scored positions of `items`' tags within their first `lengths` tokens, in a batch
    /// `longest` wide.
    fn tags<B: Backend>(
        items: &[&Example],
        lengths: &[usize],
        longest: usize,
        device: &B::Device,
    ) -> TagBatch<B> {
        let (mut positions, mut labels) = (Vec::new(), Vec::new());
        for (row, (item, &len)) in items.iter().zip(lengths).enumerate() {
            for (j, tag) in item.tags.iter().take(len).enumerate() {
                if let Some(tag) = tag {
                    positions.push((row * longest + j) as i64);
                    labels.push(*tag as i64);
                }
            }
        }
        let scored = positions.len();
        TagBatch {
            positions: Tensor::from_data(TensorData::new(positions, [scored]), device),
            labels: Tensor::from_data(TensorData::new(labels, [scored]), device),
        }
    }

    /// The teacher-forcing tensors of `items`' targets (a target shorter than 2 has one step
    /// predicting its only token, or padding).
    fn targets<B: Backend>(&self, items: &[&Example], device: &B::Device) -> TargetBatch<B> {
        let steps: Vec<usize> = items
            .iter()
            .map(|e| e.target.len().saturating_sub(1).max(1))
            .collect();
        let longest = steps.iter().copied().max().unwrap_or(1);
        let mut inputs = vec![self.pad_id as i64; items.len() * longest];
        let mut labels = Vec::new();
        for (row, (item, &n)) in items.iter().zip(&steps).enumerate() {
            let target = &item.target;
            for t in 0..n {
                let input = target.get(t).copied().unwrap_or(self.pad_id);
                inputs[row * longest + t] = input as i64;
                labels.push(target.get(t + 1).copied().unwrap_or(self.pad_id) as i64);
            }
        }
        let tokens = labels.len();
        TargetBatch {
            inputs: Tensor::from_data(TensorData::new(inputs, [items.len(), longest]), device),
            steps,
            labels: Tensor::from_data(TensorData::new(labels, [tokens]), device),
        }
    }
}

impl<B: Backend> Batcher<B, Example, TextBatch<B>> for TextBatcher {
    fn batch(&self, items: Vec<Example>, device: &B::Device) -> TextBatch<B> {
        let refs: Vec<&Example> = items.iter().collect();
        self.collate(&refs, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn pads_to_the_longest_in_the_batch_with_a_matching_mask() {
        let items = vec![
            Example {
                ids: vec![101, 7, 8, 102],
                label: 2,
                ..Example::default()
            },
            Example {
                ids: vec![101, 102],
                label: 0,
                ..Example::default()
            },
        ];
        let b: TextBatch<Flex> = TextBatcher::longest(0, 128).batch(items, &Default::default());
        assert_eq!(b.input_ids.dims(), [2, 4]);
        let ids: Vec<i64> = b.input_ids.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(ids, [101, 7, 8, 102, 101, 102, 0, 0]);
        let mask: Vec<i64> = b
            .attention_mask
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        assert_eq!(mask, [1, 1, 1, 1, 1, 1, 0, 0]);
        let labels: Vec<i64> = b.labels.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(labels, [2, 0]);
        assert_eq!(b.lengths, [4, 2]);
        let types: Vec<i64> = b
            .token_type_ids
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        assert!(types.iter().all(|&t| t == 0));
        assert!(b.targets.is_none());
        assert!(b.tags.is_none());
    }

    #[test]
    fn tags_are_scored_at_their_flat_positions_within_each_row() {
        let tagged = |ids: Vec<u32>, tags: Vec<Option<u32>>| Example {
            ids,
            tags,
            ..Example::default()
        };
        let items = vec![
            tagged(
                vec![101, 7, 8, 9, 102],
                vec![None, Some(1), None, Some(2), None],
            ),
            tagged(vec![101, 5, 102], vec![None, Some(0), None]),
        ];
        let b: TextBatch<Flex> = TextBatcher::longest(0, 4).batch(items, &Default::default());
        let t = b.tags.expect("tagged sentences have tags");
        let ints =
            |x: Tensor<Flex, 1, Int>| x.into_data().convert::<i64>().to_vec::<i64>().unwrap();
        // Width 4 (max_len): the tag at index 3 of row 0 is kept, row 1 starts at 4.
        assert_eq!(ints(t.positions), [1, 3, 5]);
        assert_eq!(ints(t.labels), [1, 2, 0]);
    }

    #[test]
    fn targets_are_shifted_by_one_and_padded() {
        let pair = |ids: Vec<u32>, target: Vec<u32>| Example {
            ids,
            target,
            ..Example::default()
        };
        let items = vec![
            pair(vec![5, 6], vec![2, 7, 8, 3]),
            pair(vec![5], vec![2, 9, 3]),
        ];
        let batcher = TextBatcher::longest(0, 128);
        let b: TextBatch<Flex> = batcher.batch(items, &Default::default());
        let t = b.targets.expect("pairs have targets");
        let ints =
            |x: Tensor<Flex, 1, Int>| x.into_data().convert::<i64>().to_vec::<i64>().unwrap();
        let inputs: Vec<i64> = t.inputs.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(inputs, [2, 7, 8, 2, 9, 0]);
        assert_eq!(t.steps, [3, 2]);
        assert_eq!(ints(t.labels), [7, 8, 3, 9, 3]);
    }

    #[test]
    fn max_len_caps_the_width() {
        let items = vec![Example {
            ids: (0..300).collect(),
            label: 1,
            ..Example::default()
        }];
        let b: TextBatch<Flex> = TextBatcher::longest(0, 128).batch(items, &Default::default());
        assert_eq!(b.input_ids.dims(), [1, 128]);
    }

    #[test]
    fn pad_lengths_widen_the_batch_and_the_mask_keeps_the_real_tokens() {
        let items = vec![Example {
            ids: vec![101, 7, 102],
            ..Example::default()
        }];
        let batcher = TextBatcher {
            pad_to: Some(PadLengths::new(&[8, 16]).unwrap()),
            ..TextBatcher::longest(0, 128)
        };
        let b: TextBatch<Flex> = batcher.batch(items, &Default::default());
        assert_eq!(b.input_ids.dims(), [1, 8]);
        let mask: Vec<i64> = b
            .attention_mask
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        assert_eq!(mask, [1, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(b.lengths, [3]);
    }
}
