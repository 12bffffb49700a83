//! Parallel text for translation: line N of the source file is translated by line N of the
//! target file; sentences become lowercased word and punctuation tokens.

use std::path::Path;

use crate::error::{DataError, Result, io_err};

/// A sentence's tokens: lowercased runs of letters and digits (with `'` inside a word kept in
/// it), and every other visible character on its own, as the reference's spaCy tokens are
/// compared (lowercased) by its BLEU.
pub fn translation_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let inner_apostrophe =
            c == '\'' && !word.is_empty() && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_apostrophe {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            tokens.push(c.to_lowercase().collect());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// The lines of a parallel pair of files, as (source, target) pairs; an error names the files
/// when their line counts differ, and the file and line of an empty sentence.
pub fn read_parallel(source: &Path, target: &Path) -> Result<Vec<(String, String)>> {
    let read = |path: &Path| -> Result<Vec<String>> {
        if !path.exists() {
            return Err(DataError::Missing {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Ok(text.lines().map(|l| l.trim().to_string()).collect())
    };
    let (src, tgt) = (read(source)?, read(target)?);
    if src.len() != tgt.len() {
        return Err(DataError::Other(format!(
            "{} has {} lines but {} has {}: a parallel pair needs one translation per line",
            source.display(),
            src.len(),
            target.display(),
            tgt.len()
        )));
    }
    for (path, lines) in [(source, &src), (target, &tgt)] {
        if let Some(line) = lines.iter().position(String::is_empty) {
            return Err(DataError::BadRow {
                path: path.to_path_buf(),
                line: line as u64 + 1,
                problem: "empty sentence".into(),
            });
        }
    }
    Ok(src.into_iter().zip(tgt).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lowercased_words_and_punctuation() {
        let tokens = translation_tokens("Ein Mann's T-Shirt, 2 Hunde.");
        assert_eq!(
            tokens,
            ["ein", "mann's", "t", "-", "shirt", ",", "2", "hunde", "."]
        );
        assert_eq!(translation_tokens("  'quoted' "), ["'", "quoted", "'"]);
    }

    #[test]
    fn pairs_need_equal_line_counts_and_no_empty_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.de"), dir.path().join("a.en"));
        std::fs::write(&a, "eins\nzwei\n").unwrap();
        std::fs::write(&b, "one\ntwo\n").unwrap();
        let pairs = read_parallel(&a, &b).unwrap();
        assert_eq!(pairs[1], ("zwei".to_string(), "two".to_string()));
        std::fs::write(&b, "one\n").unwrap();
        let e = read_parallel(&a, &b).unwrap_err().to_string();
        assert!(e.contains("has 2 lines") && e.contains("has 1"), "{e}");
        std::fs::write(&b, "one\n\n").unwrap();
        let e = read_parallel(&a, &b).unwrap_err().to_string();
        assert!(e.ends_with("a.en:2: empty sentence"), "{e}");
    }
}
