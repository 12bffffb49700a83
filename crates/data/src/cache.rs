//! Tokenizing a whole set once, in parallel, with the token ids cached on disk.

use std::path::Path;

use crate::csv_rows::TextRow;
use crate::error::{DataError, Result};
use crate::{Example, TextEncoder, fnv1a};

/// A tokenized data set and where its cache lives.
#[derive(Debug, Clone)]
pub struct TokenizedSet {
    /// The examples, in the order of the rows.
    pub examples: Vec<Example>,
    /// Whether they came from the cache.
    pub from_cache: bool,
}

impl burn::data::dataset::Dataset<Example> for TokenizedSet {
    fn get(&self, index: usize) -> Option<Example> {
        self.examples.get(index).cloned()
    }

    fn len(&self) -> usize {
        self.examples.len()
    }
}

/// Tokenizes `rows` (read from `source`) with `encoder`, reusing a cache keyed by the rows' texts
/// and the encoder's fingerprint. The cache sits next to the data (`.attn-cache/`), or under
/// `cache_root` when the data's directory is read-only.
pub fn tokenize_cached(
    source: &Path,
    rows: &[TextRow],
    encoder: &dyn TextEncoder,
    cache_root: &Path,
) -> Result<TokenizedSet> {
    // The texts as read, not the file's bytes: other text columns of one file are another set.
    let key = rows.iter().fold(encoder.fingerprint(), |h, row| {
        fnv1a(&[0xff], fnv1a(row.text.as_bytes(), h))
    }) ^ rows.len() as u64;
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("data");
    let name = format!("{stem}-{key:016x}.tokens");
    let beside = source
        .parent()
        .unwrap_or(Path::new("."))
        .join(".attn-cache")
        .join(&name);
    let fallback = cache_root.join("tokens").join(&name);
    for path in [&beside, &fallback] {
        if let Some(ids) = read_cache(path, rows.len()) {
            return Ok(TokenizedSet {
                examples: labelled(ids, rows),
                from_cache: true,
            });
        }
    }
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let ids = encoder
        .encode_batch(&texts)
        .map_err(|error| DataError::Encode {
            path: source.to_path_buf(),
            error,
        })?;
    if write_cache(&beside, &ids).is_err()
        && let Err(e) = write_cache(&fallback, &ids)
    {
        tracing::warn!("could not cache token ids: {e}");
    }
    Ok(TokenizedSet {
        examples: labelled(ids, rows),
        from_cache: false,
    })
}

/// Pairs each row's token ids with its label.
fn labelled(ids: Vec<Vec<u32>>, rows: &[TextRow]) -> Vec<Example> {
    ids.into_iter()
        .zip(rows)
        .map(|(ids, r)| Example {
            ids,
            label: r.label,
            target: Vec::new(),
            tags: Vec::new(),
        })
        .collect()
}

/// Reads a cache file: u64 count, then per row a u32 length and the u32 ids (little-endian).
fn read_cache(path: &Path, expected_rows: usize) -> Option<Vec<Vec<u32>>> {
    let bytes = std::fs::read(path).ok()?;
    let mut words = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")));
    let lo = words.next()? as u64;
    let hi = words.next()? as u64;
    if (hi << 32 | lo) as usize != expected_rows {
        return None;
    }
    let mut out = Vec::with_capacity(expected_rows);
    for _ in 0..expected_rows {
        let len = words.next()? as usize;
        let ids: Vec<u32> = words.by_ref().take(len).collect();
        if ids.len() != len {
            return None;
        }
        out.push(ids);
    }
    words.next().is_none().then_some(out)
}

/// Writes a cache file atomically.
fn write_cache(path: &Path, ids: &[Vec<u32>]) -> Result<()> {
    let mut bytes = Vec::with_capacity(8 + ids.iter().map(|v| 4 + 4 * v.len()).sum::<usize>());
    bytes.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    for row in ids {
        bytes.extend_from_slice(&(row.len() as u32).to_le_bytes());
        row.iter()
            .for_each(|id| bytes.extend_from_slice(&id.to_le_bytes()));
    }
    Ok(attn_atomic::write(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WordVocab;

    #[test]
    fn a_second_run_reads_the_cache_and_gets_the_same_ids() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("train.csv");
        std::fs::write(&source, "1,a b,c\n").unwrap();
        let rows = vec![
            TextRow {
                text: "the cat sat".into(),
                label: 0,
            },
            TextRow {
                text: "the dog".into(),
                label: 1,
            },
        ];
        let vocab = WordVocab::build(rows.iter().map(|r| r.text.as_str()), 1, 100, 16);
        let first = tokenize_cached(&source, &rows, &vocab, dir.path()).unwrap();
        assert!(!first.from_cache);
        let second = tokenize_cached(&source, &rows, &vocab, dir.path()).unwrap();
        assert!(second.from_cache);
        assert_eq!(first.examples, second.examples);
        // Other texts read from the same file (another --text-col) are not served the cache.
        let mut other = rows.clone();
        other[1].text = "the dog barked".into();
        assert!(
            !tokenize_cached(&source, &other, &vocab, dir.path())
                .unwrap()
                .from_cache
        );
        // Another max length is another fingerprint, hence no stale cache hit.
        let short = WordVocab::build(rows.iter().map(|r| r.text.as_str()), 1, 100, 2);
        assert!(
            !tokenize_cached(&source, &rows, &short, dir.path())
                .unwrap()
                .from_cache
        );
    }
}
