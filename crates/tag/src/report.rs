//! Entity-level precision, recall and F1 (exact span and type), per type and micro-averaged,
//! and token accuracy: how a tagger is scored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::entities::{Entity, entities};

/// Scores of one entity type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeScores {
    /// The type.
    pub kind: String,
    /// Correct entities of this type among those predicted.
    pub precision: f64,
    /// Correct entities of this type among the gold ones.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Gold entities of this type.
    pub support: usize,
    /// Predicted entities of this type.
    pub predicted: usize,
}

/// A tagger's scores on a tagged file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagReport {
    /// Micro-averaged entity precision.
    pub precision: f64,
    /// Micro-averaged entity recall.
    pub recall: f64,
    /// Micro-averaged entity F1.
    pub f1: f64,
    /// Share of words whose predicted tag is the gold one.
    pub token_accuracy: f64,
    /// Each type's scores, by type.
    pub per_type: Vec<TypeScores>,
    /// Sentences scored.
    pub sentences: usize,
    /// Words scored.
    pub words: usize,
    /// Words with no word piece (predicted `O`).
    pub words_without_pieces: usize,
    /// Sentences tagged per second.
    pub sentences_per_s: f64,
}

/// Precision, recall and F1 of `correct` among `predicted` and `gold` entities (0 where empty).
fn prf(correct: usize, predicted: usize, gold: usize) -> (f64, f64, f64) {
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (p, r) = (ratio(correct, predicted), ratio(correct, gold));
    let f1 = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f1)
}

/// Scores the predicted IOB2 tags of each sentence against the gold ones (conlleval's rules:
/// an entity counts when its type and both ends match); `without_pieces` and `sentences_per_s`
/// are carried into the report.
pub fn score<G: AsRef<str>, P: AsRef<str>>(
    gold: &[Vec<G>],
    predicted: &[Vec<P>],
    without_pieces: usize,
    sentences_per_s: f64,
) -> TagReport {
    // (gold, predicted, correct) by type.
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let (mut words, mut right) = (0, 0);
    for (g, p) in gold.iter().zip(predicted) {
        words += g.len();
        right += (g.iter().zip(p))
            .filter(|(g, p)| g.as_ref() == p.as_ref())
            .count();
        let gold_entities: BTreeSet<Entity> = entities(g).into_iter().collect();
        for e in &gold_entities {
            counts.entry(e.kind.clone()).or_default().0 += 1;
        }
        for e in entities(p) {
            let c = counts.entry(e.kind.clone()).or_default();
            c.1 += 1;
            c.2 += usize::from(gold_entities.contains(&e));
        }
    }
    let per_type: Vec<TypeScores> = counts
        .iter()
        .map(|(kind, &(support, predicted, correct))| {
            let (precision, recall, f1) = prf(correct, predicted, support);
            TypeScores {
                kind: kind.clone(),
                precision,
                recall,
                f1,
                support,
                predicted,
            }
        })
        .collect();
    let total = |pick: fn(&(usize, usize, usize)) -> usize| counts.values().map(pick).sum();
    let (precision, recall, f1) = prf(total(|c| c.2), total(|c| c.1), total(|c| c.0));
    TagReport {
        precision,
        recall,
        f1,
        token_accuracy: right as f64 / words.max(1) as f64,
        per_type,
        sentences: gold.len(),
        words,
        words_without_pieces: without_pieces,
        sentences_per_s,
    }
}

impl fmt::Display for TagReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .per_type
            .iter()
            .map(|t| t.kind.len())
            .max()
            .unwrap_or(4)
            .max(5);
        writeln!(
            f,
            "{:<width$}  precision  recall      f1  support  predicted",
            "type"
        )?;
        for t in &self.per_type {
            writeln!(
                f,
                "{:<width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}  {:>9}",
                t.kind, t.precision, t.recall, t.f1, t.support, t.predicted
            )?;
        }
        let support: usize = self.per_type.iter().map(|t| t.support).sum();
        let predicted: usize = self.per_type.iter().map(|t| t.predicted).sum();
        writeln!(
            f,
            "{:<width$}  {:>9.4}  {:>6.4}  {:>6.4}  {support:>7}  {predicted:>9}",
            "micro", self.precision, self.recall, self.f1
        )?;
        writeln!(
            f,
            "Token accuracy: {:.4} ({} words in {} sentences, {} without word pieces predicted O; {:.1} sentences/s)",
            self.token_accuracy,
            self.words,
            self.sentences,
            self.words_without_pieces,
            self.sentences_per_s
        )?;
        write!(f, "Entity F1: {:.4}", self.f1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn exact_spans_and_types_count_and_partial_ones_do_not() {
        let gold = vec![
            tags("B-PER I-PER O B-LOC"),
            tags("B-ORG O O"),
            tags("O I-PER O"),
        ];
        let predicted = vec![
            // PER exact, LOC wrong type.
            tags("B-PER I-PER O B-ORG"),
            // ORG too long.
            tags("B-ORG I-ORG O"),
            // An I- after O opens PER [1, 2) as the gold one does.
            tags("O I-PER O"),
        ];
        let r = score(&gold, &predicted, 0, 1.0);
        // Gold: PER x2, LOC, ORG = 4; predicted: PER x2, ORG x2 = 4; correct: PER x2 = 2.
        assert_eq!((r.precision, r.recall), (0.5, 0.5));
        assert!((r.f1 - 0.5).abs() < 1e-12);
        let per: BTreeMap<&str, (usize, usize, f64)> = r
            .per_type
            .iter()
            .map(|t| (t.kind.as_str(), (t.support, t.predicted, t.recall)))
            .collect();
        assert_eq!(per["PER"], (2, 2, 1.0));
        assert_eq!(per["LOC"], (1, 0, 0.0));
        assert_eq!(per["ORG"], (1, 2, 0.0));
        assert_eq!(r.words, 10);
        assert!((r.token_accuracy - 8.0 / 10.0).abs() < 1e-12);
        let text = r.to_string();
        assert!(text.ends_with("Entity F1: 0.5000"), "{text}");
    }

    #[test]
    fn nothing_predicted_and_nothing_gold_score_zero_not_nan() {
        let r = score(&[tags("O O")], &[tags("O O")], 0, 1.0);
        assert_eq!((r.precision, r.recall, r.f1), (0.0, 0.0, 0.0));
        assert_eq!(r.token_accuracy, 1.0);
    }
}
