//! Seeded shuffling, stratified splits and length bucketing.

use rand::SeedableRng;
use rand::seq::SliceRandom;
// ChaCha12, named: rand documents `StdRng` as free to change between releases, and a resumed run
// must redraw the same batch order.
use rand_chacha::ChaCha12Rng as Rng;

use crate::Example;

/// The indices 0..n in a random order fixed by `seed`.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut Rng::seed_from_u64(seed));
    idx
}

/// The indices of `examples`, shortest first (batches in this order carry less padding).
pub fn shortest_first(examples: &[Example]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].ids.len());
    order
}

/// Splits indices 0..labels.len() into (train, validation) with `fraction` of each class in
/// validation, reproducibly for a seed. Both lists are sorted.
pub fn stratified_split(labels: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut rng = Rng::seed_from_u64(seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let take = (members.len() as f64 * fraction).round() as usize;
        val.extend_from_slice(&members[..take]);
        train.extend_from_slice(&members[take..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// Groups `order` into batches of `batch_size`; with `bucket`, sorts each window of 50 batches by
/// length first (so batches hold similar lengths and need less padding), then shuffles the
/// batches with `seed`.
pub fn bucketed_batches(
    order: &[usize],
    lengths: &[usize],
    batch_size: usize,
    bucket: bool,
    seed: u64,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    if !bucket {
        return order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    }
    let mut batches = Vec::new();
    for window in order.chunks(batch_size * 50) {
        let mut window = window.to_vec();
        window.sort_by_key(|&i| lengths[i]);
        batches.extend(window.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(&mut Rng::seed_from_u64(seed));
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_for_a_seed_is_pinned_across_rand_releases() {
        // ChaCha12 seeded by `seed_from_u64(42)`: a resumed run, a later build, the same order.
        assert_eq!(shuffled(10, 42), [8, 6, 3, 2, 1, 5, 9, 7, 4, 0]);
    }

    #[test]
    fn shuffling_is_reproducible_for_a_seed() {
        assert_eq!(shuffled(100, 7), shuffled(100, 7));
        assert_ne!(shuffled(100, 7), shuffled(100, 8));
        let mut s = shuffled(100, 7);
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn split_is_stratified_disjoint_and_reproducible() {
        let labels: Vec<usize> = (0..400).map(|i| if i < 300 { 0 } else { 1 }).collect();
        let (train, val) = stratified_split(&labels, 0.1, 3);
        assert_eq!(val.len(), 40);
        assert_eq!(val.iter().filter(|&&i| labels[i] == 1).count(), 10);
        assert_eq!(train.len() + val.len(), 400);
        assert!(train.iter().all(|i| !val.contains(i)));
        assert_eq!(stratified_split(&labels, 0.1, 3), (train, val));
    }

    #[test]
    fn bucketing_cuts_padding_and_keeps_every_index() {
        let lengths: Vec<usize> = (0..800).map(|i| (i * 37) % 120 + 5).collect();
        let order = shuffled(800, 1);
        let padded = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| b.iter().map(|&i| lengths[i]).max().unwrap() * b.len())
                .sum()
        };
        let plain = bucketed_batches(&order, &lengths, 8, false, 1);
        let bucketed = bucketed_batches(&order, &lengths, 8, true, 1);
        assert!(padded(&bucketed) < padded(&plain) * 2 / 3);
        let mut all: Vec<usize> = bucketed.concat();
        all.sort_unstable();
        assert_eq!(all, (0..800).collect::<Vec<_>>());
    }
}
