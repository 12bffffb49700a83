//! Byte-pair merges learnt from word counts (Sennrich et al. 2016), the same for the same words
//! on every run: the most frequent pair of adjacent pieces is merged first, and a tie goes to the
//! pair of the earlier pieces (the initial pieces numbered in sorted order, each merged piece
//! after them). The `tokenizers` crate's trainer numbers the pieces in the order of a hash map
//! that changes per process, so its ties, and its merges, changed from run to run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A pair of adjacent pieces, by their numbers.
type Pair = (u32, u32);

/// What [`learn`] learnt: the pieces (numbered by their place) and the merges, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Learnt {
    /// Every piece: `specials`, the initial pieces, then each merge's new piece.
    pub pieces: Vec<String>,
    /// The merges in the order they were learnt, as (left, right) pieces.
    pub merges: Vec<(String, String)>,
}

/// Learns merges over `counts` (word -> occurrences) until there are `vocab_size` pieces
/// (`specials` and the initial pieces included) or no pair is left. A word starts as its first
/// character and then its other characters each marked with `continuation` (`läuft` -> `l`,
/// `##ä`, `##u`, ...); a merged piece keeps its left piece's mark (`l` + `##ä` -> `lä`).
pub(crate) fn learn(
    counts: &BTreeMap<&str, u64>,
    vocab_size: usize,
    specials: &[&str],
    continuation: &str,
) -> Learnt {
    let split = |word: &str| -> Vec<String> {
        (word.chars().enumerate())
            .map(|(i, c)| match i {
                0 => c.to_string(),
                _ => format!("{continuation}{c}"),
            })
            .collect()
    };
    let initial: BTreeSet<String> = counts.keys().flat_map(|w| split(w)).collect();
    let mut pieces: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
    pieces.extend(
        initial
            .into_iter()
            .filter(|p| !specials.contains(&p.as_str())),
    );
    let mut number: HashMap<String, u32> = (pieces.iter().enumerate())
        .map(|(i, p)| (p.clone(), i as u32))
        .collect();
    let mut words: Vec<Vec<u32>> = (counts.keys())
        .map(|w| split(w).iter().map(|p| number[p]).collect())
        .collect();
    let weights: Vec<i64> = counts.values().map(|&c| c as i64).collect();
    let mut pairs: HashMap<Pair, i64> = HashMap::new();
    let mut holders: HashMap<Pair, BTreeSet<usize>> = HashMap::new();
    for (w, word) in words.iter().enumerate() {
        tally(word, weights[w], &mut pairs);
        for pair in word.windows(2) {
            holders.entry((pair[0], pair[1])).or_default().insert(w);
        }
    }
    let mut merges = Vec::new();
    while pieces.len() < vocab_size {
        // The most frequent pair; of equal ones, the smallest numbers.
        let best = (pairs.iter()).max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)));
        let Some((&(left, right), _)) = best else {
            break;
        };
        let (a, b) = (&pieces[left as usize], &pieces[right as usize]);
        let merged = format!("{a}{}", b.strip_prefix(continuation).unwrap_or(b));
        merges.push((a.clone(), b.clone()));
        let id = match number.get(&merged) {
            Some(&id) => id,
            None => {
                number.insert(merged.clone(), pieces.len() as u32);
                pieces.push(merged);
                (pieces.len() - 1) as u32
            }
        };
        for w in holders.remove(&(left, right)).unwrap_or_default() {
            tally(&words[w], -weights[w], &mut pairs);
            words[w] = replaced(&words[w], (left, right), id);
            tally(&words[w], weights[w], &mut pairs);
            for pair in words[w].windows(2) {
                holders.entry((pair[0], pair[1])).or_default().insert(w);
            }
        }
        pairs.remove(&(left, right));
    }
    Learnt { pieces, merges }
}

/// Adds `weight` to the count of every adjacent pair of `word`.
fn tally(word: &[u32], weight: i64, pairs: &mut HashMap<Pair, i64>) {
    for pair in word.windows(2) {
        let pair = (pair[0], pair[1]);
        let count = pairs.entry(pair).or_default();
        *count += weight;
        if *count == 0 {
            pairs.remove(&pair);
        }
    }
}

/// `word` with each occurrence of `pair`, left to right, replaced by `merged`.
fn replaced(word: &[u32], pair: Pair, merged: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && (word[i], word[i + 1]) == pair {
            out.push(merged);
            i += 2;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(words: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
        words.iter().copied().collect()
    }

    #[test]
    fn the_most_frequent_pair_is_merged_first_and_ties_go_to_the_earlier_pieces() {
        let learnt = learn(
            &counts(&[("ab", 3), ("ac", 2), ("bc", 2)]),
            9,
            &["<unk>"],
            "##",
        );
        let initial = ["<unk>", "##b", "##c", "a", "b"];
        assert_eq!(learnt.pieces[..5], initial.map(String::from));
        let merges: Vec<(&str, &str)> = (learnt.merges.iter())
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        // (a, ##b) 3 times; then (a, ##c) and (b, ##c) twice each: `a` is the earlier piece.
        assert_eq!(merges, [("a", "##b"), ("a", "##c"), ("b", "##c")]);
        assert_eq!(learnt.pieces[5..], ["ab", "ac", "bc"].map(String::from));
    }

    #[test]
    fn learning_stops_at_the_size_or_when_no_pair_is_left() {
        let words = counts(&[("abab", 1)]);
        assert_eq!(learn(&words, 4, &[], "##").pieces.len(), 4);
        // a ##b ##a ##b -> abab in three merges, then no pair is left.
        let all = learn(&words, 100, &[], "##");
        assert_eq!(all.merges.len(), 3);
        assert_eq!(all.pieces.last().map(String::as_str), Some("abab"));
    }

    #[test]
    fn the_same_words_give_the_same_merges() {
        let text = "ein hund läuft über die wiese zwei hunde laufen ein mann läuft";
        let mut words = BTreeMap::new();
        for w in text.split(' ') {
            *words.entry(w).or_default() += 1;
        }
        let first = learn(&words, 60, &["<unk>"], "##");
        for _ in 0..5 {
            assert_eq!(learn(&words, 60, &["<unk>"], "##"), first);
        }
    }
}
