//! Token-length statistics, to choose `--max-len`.

use crate::Example;

/// Length percentiles and the share of texts cut at the maximum length.
#[derive(Debug, Clone, PartialEq)]
pub struct LengthStats {
    /// Number of examples.
    pub count: usize,
    /// Median token count.
    pub p50: usize,
    /// 90th percentile.
    pub p90: usize,
    /// 95th percentile.
    pub p95: usize,
    /// 99th percentile.
    pub p99: usize,
    /// Longest.
    pub max: usize,
    /// Share of examples at the maximum length (truncated, or exactly that long).
    pub truncated_share: f64,
}

/// Statistics of the token counts of `examples`, tokenized with at most `max_len` tokens.
pub fn length_stats(examples: &[Example], max_len: usize) -> LengthStats {
    let mut lengths: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    lengths.sort_unstable();
    let pct = |p: f64| -> usize {
        if lengths.is_empty() {
            return 0;
        }
        let i = ((lengths.len() - 1) as f64 * p).round() as usize;
        lengths[i]
    };
    let truncated = lengths.iter().filter(|&&l| l >= max_len).count();
    LengthStats {
        count: lengths.len(),
        p50: pct(0.5),
        p90: pct(0.9),
        p95: pct(0.95),
        p99: pct(0.99),
        max: lengths.last().copied().unwrap_or(0),
        truncated_share: truncated as f64 / lengths.len().max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_truncated_share() {
        let examples: Vec<Example> = (1..=100)
            .map(|n| Example {
                ids: vec![0; n],
                label: 0,
                target: Vec::new(),
                tags: Vec::new(),
            })
            .collect();
        let s = length_stats(&examples, 96);
        assert_eq!((s.count, s.p50, s.p90, s.max), (100, 51, 90, 100));
        assert!((s.truncated_share - 0.05).abs() < 1e-9);
    }
}
