//! Evaluation metrics: accuracy, per-class precision/recall/F1, macro-F1, confusion matrix.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Scores of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Class name.
    pub name: String,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Number of examples of the class.
    pub support: usize,
}

/// The evaluation of a model on a labelled set (`eval.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Share of correct predictions.
    pub test_accuracy: f64,
    /// Unweighted mean of the per-class F1.
    pub macro_f1: f64,
    /// Per-class scores.
    pub per_class: Vec<ClassScores>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Number of examples.
    pub examples: usize,
    /// Examples per second of evaluation.
    pub samples_per_s: f64,
}

impl EvalReport {
    /// Scores `predicted` against `actual` for classes named `names`.
    pub fn new(
        predicted: &[usize],
        actual: &[usize],
        names: &[String],
        samples_per_s: f64,
    ) -> Self {
        let k = names.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&p, &a) in predicted.iter().zip(actual) {
            confusion[a][p] += 1;
        }
        let ratio = |num: usize, den: usize| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        let per_class: Vec<ClassScores> = (0..k)
            .map(|c| {
                let tp = confusion[c][c];
                let predicted_c: usize = (0..k).map(|a| confusion[a][c]).sum();
                let support: usize = confusion[c].iter().sum();
                let precision = ratio(tp, predicted_c);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScores {
                    name: names[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
        Self {
            test_accuracy: ratio(correct, predicted.len()),
            macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / k.max(1) as f64,
            per_class,
            confusion,
            examples: predicted.len(),
            samples_per_s,
        }
    }

    /// The per-class table and the confusion matrix, as printed after training.
    pub fn table(&self) -> String {
        let width = self
            .per_class
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(5)
            .max(9);
        let mut out = format!("{:<width$}  precision  recall  f1      support\n", "class");
        for c in &self.per_class {
            out += &format!(
                "{:<width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}\n",
                c.name, c.precision, c.recall, c.f1, c.support
            );
        }
        out += &format!(
            "{:<width$}  {:>9}  {:>6}  {:>6.4}  {:>7}\n",
            "macro-F1", "", "", self.macro_f1, self.examples
        );
        out += "\nconfusion (rows: true, columns: predicted)\n";
        out += &format!("{:<width$}", "");
        for c in &self.per_class {
            out += &format!(" {:>9.9}", c.name);
        }
        out += "\n";
        for (c, row) in self.per_class.iter().zip(&self.confusion) {
            out += &format!("{:<width$}", c.name);
            for n in row {
                out += &format!(" {n:>9}");
            }
            out += "\n";
        }
        out
    }
}

/// What a run prints at its end: `Final accuracy: X` and the table.
impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Final accuracy: {:.4}\n{}",
            self.test_accuracy,
            self.table()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_a_hand_computation() {
        let names: Vec<String> = ["a", "b"].map(String::from).to_vec();
        // actual:    a a a b
        // predicted: a a b b
        let r = EvalReport::new(&[0, 0, 1, 1], &[0, 0, 0, 1], &names, 1.0);
        assert_eq!(r.test_accuracy, 0.75);
        assert_eq!(r.confusion, vec![vec![2, 1], vec![0, 1]]);
        assert_eq!(r.per_class[0].precision, 1.0);
        assert!((r.per_class[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.per_class[1].precision, 0.5);
        assert!((r.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!(r.table().contains("macro-F1"));
    }
}
