//! What a translator's test set scored: corpus BLEU overall and by source length, shown and
//! written into the run directory.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use attn_data::translation_tokens;
use attn_rnn::Seq2Seq;
use attn_train::{Observer, Result, show_scores};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::bleu::{corpus_bleu, detokenize, tokenize_13a};
use crate::decode::translate_ids;
use crate::vocab::Vocabularies;

/// What a translation run's test set scored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BleuReport {
    /// Corpus BLEU-4 on lowercased tokens, no smoothing (the reference's measure).
    pub bleu: f64,
    /// sacreBLEU-style BLEU: 13a tokens of the detokenized, lowercased text.
    pub bleu_13a: f64,
    /// Sentence pairs scored.
    pub sentences: usize,
    /// Beam width (1: greedy).
    pub beam: usize,
    /// Sentences translated per second.
    pub sentences_per_s: f64,
    /// BLEU of the sentences grouped by source length (the paper's Fig. 2: without attention,
    /// long sentences degrade).
    #[serde(default)]
    pub by_source_length: Vec<LengthBucket>,
}

/// The BLEU of the sentences whose source has `from..to` tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LengthBucket {
    /// Fewest source tokens.
    pub from: usize,
    /// One past the most (`usize::MAX`: no limit).
    pub to: usize,
    /// Sentences in the bucket.
    pub sentences: usize,
    /// Their corpus BLEU.
    pub bleu: f64,
}

/// Source-length edges of [`BleuReport::by_source_length`].
const LENGTH_EDGES: [usize; 6] = [0, 10, 15, 20, 25, usize::MAX];

/// BLEU by source length: `lengths[i]` tokens for hypothesis and reference i.
fn by_length(
    lengths: &[usize],
    hypotheses: &[Vec<String>],
    references: &[Vec<String>],
) -> Vec<LengthBucket> {
    LENGTH_EDGES
        .windows(2)
        .filter_map(|edge| {
            let (from, to) = (edge[0], edge[1]);
            let inside: Vec<usize> = (0..lengths.len())
                .filter(|&i| (from..to).contains(&lengths[i]))
                .collect();
            let pick =
                |all: &[Vec<String>]| inside.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
            (!inside.is_empty()).then(|| LengthBucket {
                from,
                to,
                sentences: inside.len(),
                bleu: corpus_bleu(&pick(hypotheses), &pick(references)),
            })
        })
        .collect()
}

/// Translates the source side of `pairs` and scores it against the target side.
pub fn score_bleu<B: Backend>(
    model: &Seq2Seq<B>,
    vocabs: &Vocabularies,
    pairs: &[(String, String)],
    beam: usize,
    batch_size: usize,
    device: &B::Device,
) -> (BleuReport, Vec<Vec<String>>) {
    let started = Instant::now();
    let sources: Vec<Vec<u32>> = pairs.iter().map(|p| vocabs.source_ids(&p.0)).collect();
    let translations = translate_ids(model, vocabs, &sources, beam, batch_size, device);
    let hypotheses: Vec<Vec<String>> = translations
        .iter()
        .map(|t| vocabs.target_words(&t.tokens))
        .collect();
    let references: Vec<Vec<String>> = pairs.iter().map(|p| translation_tokens(&p.1)).collect();
    let seconds = started.elapsed().as_secs_f64();
    let hyp_13a: Vec<Vec<String>> = hypotheses
        .iter()
        .map(|h| tokenize_13a(&detokenize(h)))
        .collect();
    let ref_13a: Vec<Vec<String>> = pairs.iter().map(|p| tokenize_13a(&p.1)).collect();
    let lengths: Vec<usize> = pairs
        .iter()
        .map(|p| translation_tokens(&p.0).len())
        .collect();
    let report = BleuReport {
        bleu: corpus_bleu(&hypotheses, &references),
        bleu_13a: corpus_bleu(&hyp_13a, &ref_13a),
        sentences: pairs.len(),
        beam,
        sentences_per_s: pairs.len() as f64 / seconds,
        by_source_length: by_length(&lengths, &hypotheses, &references),
    };
    (report, hypotheses)
}

/// The line a run ends with: `BLEU: X` and how it was measured.
impl fmt::Display for BleuReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BLEU: {:.4}  (sacreBLEU 13a, lowercased: {:.4}; {} sentences, beam {}, {:.1} \
             sentences/s)",
            self.bleu, self.bleu_13a, self.sentences, self.beam, self.sentences_per_s
        )
    }
}

/// Tells the observer of the score and writes `eval.json` and `translations.txt` (one
/// translation per test line) into `dir`.
pub(crate) fn write_evaluation(
    report: &BleuReport,
    hypotheses: &[Vec<String>],
    dir: &Path,
    observer: &dyn Observer,
) -> Result<()> {
    show_scores(report, Some(dir), observer)?;
    let lines: Vec<String> = hypotheses.iter().map(|h| detokenize(h) + "\n").collect();
    attn_atomic::write(&dir.join("translations.txt"), lines.concat().as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bleu_by_source_length_groups_the_sentences() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let refs = [words("a b c d"), words("e f g h"), words("i j k l")];
        let hyps = [words("a b c d"), words("x y z w"), words("i j k l")];
        let buckets = by_length(&[3, 12, 4], &hyps, &refs);
        assert_eq!(buckets.len(), 2);
        assert_eq!(
            (buckets[0].from, buckets[0].to, buckets[0].sentences),
            (0, 10, 2)
        );
        assert!((buckets[0].bleu - 1.0).abs() < 1e-12);
        assert_eq!(
            (buckets[1].from, buckets[1].sentences, buckets[1].bleu),
            (10, 1, 0.0)
        );
    }
}
