//! Corpus BLEU (Papineni et al. 2002): the geometric mean of 1- to 4-gram precisions, clipped by
//! the reference's counts, times the brevity penalty; no smoothing, one reference per sentence.

use std::collections::HashMap;

/// Corpus BLEU-4 of `hypotheses` against `references` (token lists, one reference each), in
/// 0..=1; 0 when any n-gram order has no match (no smoothing, as the reference computes it).
pub fn corpus_bleu<S: AsRef<str>>(hypotheses: &[Vec<S>], references: &[Vec<S>]) -> f64 {
    let (mut matches, mut totals) = ([0usize; 4], [0usize; 4]);
    let (mut hyp_len, mut ref_len) = (0, 0);
    for (hyp, reference) in hypotheses.iter().zip(references) {
        let hyp: Vec<&str> = hyp.iter().map(AsRef::as_ref).collect();
        let reference: Vec<&str> = reference.iter().map(AsRef::as_ref).collect();
        hyp_len += hyp.len();
        ref_len += reference.len();
        for n in 1..=4 {
            let wanted = ngrams(&reference, n);
            for (gram, count) in ngrams(&hyp, n) {
                matches[n - 1] += count.min(wanted.get(&gram).copied().unwrap_or(0));
                totals[n - 1] += count;
            }
        }
    }
    if hyp_len == 0 || matches.contains(&0) {
        return 0.0;
    }
    let log_precision: f64 = (0..4)
        .map(|i| (matches[i] as f64 / totals[i] as f64).ln())
        .sum::<f64>()
        / 4.0;
    let brevity = if hyp_len >= ref_len {
        0.0
    } else {
        1.0 - ref_len as f64 / hyp_len as f64
    };
    (log_precision + brevity).exp()
}

/// Each n-gram of `tokens` with its count.
fn ngrams<'a>(tokens: &[&'a str], n: usize) -> HashMap<Vec<&'a str>, usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram.to_vec()).or_insert(0) += 1;
    }
    counts
}

/// Text from tokens as written: spaces between words, none before closing punctuation or after
/// an opening bracket.
pub fn detokenize<S: AsRef<str>>(tokens: &[S]) -> String {
    let mut text = String::new();
    let mut glue = true;
    for token in tokens.iter().map(AsRef::as_ref) {
        let closing = matches!(token, "." | "," | "!" | "?" | ";" | ":" | ")" | "'s" | "%");
        if !glue && !closing {
            text.push(' ');
        }
        text.push_str(token);
        glue = token == "(";
    }
    text
}

/// The tokens of mteval-v13a's tokenizer (sacreBLEU's default `13a`), lowercased: punctuation
/// and symbols split off (not `-` and `'`), periods and commas too unless in a number, a dash
/// after a digit.
pub fn tokenize_13a(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let symbol = matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
            && !c.is_whitespace();
        let digit = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(char::is_ascii_digit)
        };
        let before = i.checked_sub(1);
        // Kept only after a digit and before a digit or the end ("3.5", "in 3.").
        let in_number = digit(before) && (i + 1 == chars.len() || digit(Some(i + 1)));
        let split = symbol || (matches!(c, '.' | ',') && !in_number) || (c == '-' && digit(before));
        if split {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out.split_whitespace().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn a_perfect_match_is_one_and_no_four_gram_match_is_zero() {
        let s = words("a man is riding a horse .");
        let one = std::slice::from_ref(&s);
        assert!((corpus_bleu(one, one) - 1.0).abs() < 1e-12);
        let short = words("a man rides");
        assert_eq!(corpus_bleu(&[short], &[s]), 0.0);
    }

    #[test]
    fn clipped_precisions_and_brevity_penalty_by_hand() {
        // Hypothesis "the the cat sat on the mat" vs "the cat sat on the red mat":
        // 1-grams: the 2 (clipped from 3), cat, sat, on, mat = 6/7; 2-grams: the cat, cat sat,
        // sat on, on the = 4/6; 3-grams: the cat sat, cat sat on, sat on the = 3/5; 4-grams:
        // the cat sat on, cat sat on the = 2/4. Same length (7): no brevity penalty.
        let hyp = words("the the cat sat on the mat");
        let reference = words("the cat sat on the red mat");
        let expected = (6.0 / 7.0 * 4.0 / 6.0 * 3.0 / 5.0 * 2.0 / 4.0f64).powf(0.25);
        let got = corpus_bleu(std::slice::from_ref(&hyp), std::slice::from_ref(&reference));
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        // Cut to 5 tokens: precisions 5/5, 4/4, 3/3, 2/2 and brevity exp(1 - 7/5).
        let cut = words("the cat sat on the");
        let got = corpus_bleu(&[cut], &[reference]);
        assert!((got - (1.0f64 - 7.0 / 5.0).exp()).abs() < 1e-12, "{got}");
    }

    #[test]
    fn corpus_counts_are_pooled_over_sentences() {
        let refs = [words("a b c d"), words("e f g h")];
        let hyps = [words("a b c d"), words("e f g x")];
        // 1-grams 7/8, 2-grams 5/6, 3-grams 3/4, 4-grams 1/2.
        let expected = (7.0 / 8.0 * 5.0 / 6.0 * 3.0 / 4.0 * 1.0 / 2.0f64).powf(0.25);
        assert!((corpus_bleu(&hyps, &refs) - expected).abs() < 1e-12);
    }

    #[test]
    fn detokenized_text_and_13a_tokens() {
        let text = detokenize(&words("a man ( in red ) , smiling ."));
        assert_eq!(text, "a man (in red), smiling.");
        assert_eq!(
            tokenize_13a("A man's (in red), 3.5 m-long."),
            words("a man's ( in red ) , 3.5 m-long .")
        );
        assert_eq!(tokenize_13a("1-2"), words("1 - 2"));
    }
}
