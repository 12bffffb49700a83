//! Sentences longer than the model's length as overlapping windows of whole words, each word
//! predicted once, from the window where it has the most context.

use std::ops::Range;

use attn_data::Example;

/// Words of a sentence that go through the model together, and those it predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The words in the window.
    pub words: Range<usize>,
    /// The words this window predicts (each word of the sentence is owned by one window).
    pub owned: Vec<usize>,
}

/// Windows over words of `pieces[i]` word pieces each (a word counts at most `budget`), each at
/// most `budget` pieces, the next starting at the first word from which the pieces to the end
/// of the one before are at most `stride` (at most `budget / 2`): a sentence that fits is one
/// window. Each word is owned by the window where the fewer of its pieces on either side is
/// largest (the first such window on ties); a word of no pieces is owned too.
pub fn windows(pieces: &[usize], budget: usize, stride: usize) -> Vec<Window> {
    let budget = budget.max(1);
    let stride = stride.min(budget / 2);
    let count: Vec<usize> = pieces.iter().map(|&p| p.min(budget)).collect();
    let mut spans: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    loop {
        let mut end = start;
        let mut used = 0;
        while end < count.len() && (end == start || used + count[end] <= budget) {
            used += count[end];
            end += 1;
        }
        spans.push(start..end);
        if end >= count.len() {
            break;
        }
        let mut next = end;
        let mut overlap = 0;
        while next > start + 1 && overlap + count[next - 1] <= stride {
            overlap += count[next - 1];
            next -= 1;
        }
        start = next;
    }
    let mut owner = vec![0usize; count.len()];
    let mut best = vec![None::<usize>; count.len()];
    for (w, span) in spans.iter().enumerate() {
        let total: usize = count[span.clone()].iter().sum();
        let mut left = 0;
        for i in span.clone() {
            let context = left.min(total - left - count[i]);
            if best[i].is_none_or(|b| context > b) {
                best[i] = Some(context);
                owner[i] = w;
            }
            left += count[i];
        }
    }
    spans
        .into_iter()
        .enumerate()
        .map(|(w, words)| Window {
            owned: words.clone().filter(|&i| owner[i] == w).collect(),
            words,
        })
        .collect()
}

/// The example of `window` over words of `pieces` ids each: `[CLS]` (where `specials` has it),
/// each word's first `budget` pieces, `[SEP]`. `tag(word)` of an owned word gives the tag of its first piece and,
/// where every piece is labelled, of the others (`None`: not scored); the other words are
/// context only.
pub fn window_example(
    pieces: &[Vec<u32>],
    window: &Window,
    specials: Option<(u32, u32)>,
    budget: usize,
    tag: impl Fn(usize) -> Option<(u32, Option<u32>)>,
) -> Example {
    let (mut ids, mut tags) = (Vec::new(), Vec::new());
    if let Some((cls, _)) = specials {
        ids.push(cls);
        tags.push(None);
    }
    for word in window.words.clone() {
        let scored = match window.owned.binary_search(&word) {
            Ok(_) => tag(word),
            Err(_) => None,
        };
        for (k, &id) in pieces[word].iter().take(budget).enumerate() {
            ids.push(id);
            tags.push(match (k, scored) {
                (0, Some((first, _))) => Some(first),
                (_, Some((_, rest))) => rest,
                (_, None) => None,
            });
        }
    }
    if let Some((_, sep)) = specials {
        ids.push(sep);
        tags.push(None);
    }
    Example {
        ids,
        tags,
        ..Example::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(pieces: &[usize], budget: usize, stride: usize) -> Vec<(Range<usize>, Vec<usize>)> {
        windows(pieces, budget, stride)
            .into_iter()
            .map(|w| (w.words, w.owned))
            .collect()
    }

    #[test]
    fn a_sentence_that_fits_is_one_window_owning_every_word() {
        assert_eq!(owners(&[1, 2, 0, 3], 6, 2), [(0..4, vec![0, 1, 2, 3])]);
    }

    #[test]
    fn long_sentences_overlap_by_the_stride_and_each_word_is_owned_once() {
        let pieces = [1; 10];
        let w = windows(&pieces, 4, 2);
        let spans: Vec<Range<usize>> = w.iter().map(|w| w.words.clone()).collect();
        assert_eq!(spans, [0..4, 2..6, 4..8, 6..10]);
        let mut owned: Vec<usize> = w.iter().flat_map(|w| w.owned.clone()).collect();
        owned.sort_unstable();
        assert_eq!(owned, (0..10).collect::<Vec<_>>());
        // Word 3 has 1 piece left and 0 right in 0..4, 1 and 2 in 2..6: the second owns it.
        assert!(w[1].owned.contains(&3) && !w[0].owned.contains(&3));
        // The sentence's ends stay with the only windows that hold them.
        assert!(w[0].owned.contains(&0) && w[3].owned.contains(&9));
    }

    #[test]
    fn a_word_longer_than_the_budget_is_cut_not_lost() {
        let w = windows(&[2, 50, 1], 4, 1);
        let mut owned: Vec<usize> = w.iter().flat_map(|w| w.owned.clone()).collect();
        owned.sort_unstable();
        assert_eq!(owned, [0, 1, 2]);
        let pieces = vec![vec![7, 8], (100..150).collect(), vec![9]];
        for window in &w {
            let e = window_example(&pieces, window, Some((1, 2)), 4, |_| Some((5, None)));
            assert!(e.ids.len() <= 6, "{:?}", e.ids);
        }
    }

    #[test]
    fn a_sentence_of_two_thousand_words_ends_in_finitely_many_windows() {
        let w = windows(&vec![3; 2000], 126, 32);
        let mut owned: Vec<usize> = w.iter().flat_map(|w| w.owned.clone()).collect();
        owned.sort_unstable();
        assert_eq!(owned, (0..2000).collect::<Vec<_>>());
        assert!(w.len() < 100, "{} windows", w.len());
    }

    #[test]
    fn the_first_piece_carries_the_tag_and_empty_words_carry_none() {
        let pieces = vec![vec![10, 11], vec![], vec![12]];
        let window = Window {
            words: 0..3,
            owned: vec![0, 1, 2],
        };
        let first = window_example(&pieces, &window, Some((1, 2)), 8, |w| {
            Some((w as u32 + 3, None))
        });
        assert_eq!(first.ids, [1, 10, 11, 12, 2]);
        assert_eq!(first.tags, [None, Some(3), None, Some(5), None]);
        let all = window_example(&pieces, &window, Some((1, 2)), 8, |_| Some((3, Some(4))));
        assert_eq!(all.tags, [None, Some(3), Some(4), Some(3), None]);
        let context = Window {
            words: 0..3,
            owned: vec![2],
        };
        let e = window_example(&pieces, &context, Some((1, 2)), 8, |_| Some((3, None)));
        assert_eq!(e.tags, [None, None, None, Some(3), None]);
        // A recurrent tagger's words go without specials.
        let bare = window_example(&pieces, &window, None, 8, |_| Some((3, None)));
        assert_eq!((bare.ids.len(), bare.tags.len()), (3, 3));
    }
}
