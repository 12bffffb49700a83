//! CoNLL-style tagged files: one word a line with its tag in the last column (TAB- or
//! space-separated), sentences separated by blank or whitespace-only lines.

use std::path::{Path, PathBuf};

use attn_data::DataError;

use crate::scheme::{Scheme, parse, to_iob2};

/// A sentence of a tagged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedSentence {
    /// Its words, as written.
    pub words: Vec<String>,
    /// Each word's tag, in IOB2.
    pub tags: Vec<String>,
    /// The 1-based line of its first word.
    pub line: u64,
}

/// A tagged file read.
#[derive(Debug, Clone)]
pub struct TaggedFile {
    /// The file.
    pub path: PathBuf,
    /// Its sentences.
    pub sentences: Vec<TaggedSentence>,
    /// Lines left out as bad (with `skip_bad`).
    pub skipped: usize,
}

impl TaggedFile {
    /// Number of words in all sentences.
    pub fn words(&self) -> usize {
        self.sentences.iter().map(|s| s.words.len()).sum()
    }
}

/// Reads a CoNLL-style file whose tags follow `scheme`, rewritten in IOB2. `-DOCSTART-` lines
/// end a sentence and are skipped. A line without a tag column, a tag outside the scheme or
/// bytes that are not UTF-8 is an error naming the file and line, or with `skip_bad` a line left
/// out and counted; a file without a sentence is an error.
pub fn read_conll(path: &Path, scheme: Scheme, skip_bad: bool) -> Result<TaggedFile, DataError> {
    let bytes = std::fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            error,
        },
    })?;
    let mut file = TaggedFile {
        path: path.to_path_buf(),
        sentences: Vec::new(),
        skipped: 0,
    };
    let mut current = TaggedSentence {
        words: Vec::new(),
        tags: Vec::new(),
        line: 0,
    };
    let end_sentence = |current: &mut TaggedSentence, file: &mut TaggedFile| {
        if !current.words.is_empty() {
            current.tags = to_iob2(&current.tags, scheme);
            file.sentences.push(std::mem::replace(
                current,
                TaggedSentence {
                    words: Vec::new(),
                    tags: Vec::new(),
                    line: 0,
                },
            ));
        }
    };
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let row = match std::str::from_utf8(raw) {
            Ok(text) => word_and_tag(text, scheme),
            Err(e) => Err(format!("not UTF-8 ({e})")),
        };
        match row {
            Ok(None) => end_sentence(&mut current, &mut file),
            Ok(Some((word, tag))) => {
                if current.words.is_empty() {
                    current.line = line;
                }
                current.words.push(word.to_string());
                current.tags.push(tag.to_string());
            }
            Err(_) if skip_bad => file.skipped += 1,
            Err(problem) => {
                return Err(DataError::BadRow {
                    path: path.to_path_buf(),
                    line,
                    problem,
                });
            }
        }
    }
    end_sentence(&mut current, &mut file);
    if file.sentences.is_empty() {
        return Err(DataError::Other(format!(
            "{}: no tagged sentences (expected a word and its tag on each line)",
            path.display()
        )));
    }
    Ok(file)
}

/// The word and tag of a line, `None` for a sentence break (blank, whitespace-only or
/// `-DOCSTART-`), or what is wrong with it.
fn word_and_tag(line: &str, scheme: Scheme) -> Result<Option<(&str, &str)>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    // TAB-separated columns keep spaces inside a word; otherwise any whitespace separates.
    let (word, tag) = match line.contains('\t') {
        true => {
            let mut fields = line.split('\t').filter(|f| !f.trim().is_empty());
            (fields.next(), fields.next_back())
        }
        false => {
            let mut fields = line.split_whitespace();
            (fields.next(), fields.next_back())
        }
    };
    let word = word.unwrap_or_default();
    if word == "-DOCSTART-" {
        return Ok(None);
    }
    let Some(tag) = tag.map(str::trim) else {
        return Err(format!("`{word}` has no tag column"));
    };
    parse(tag, scheme)?;
    Ok(Some((word, tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], scheme: Scheme, skip_bad: bool) -> Result<TaggedFile, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.conll");
        std::fs::write(&path, text).unwrap();
        read_conll(&path, scheme, skip_bad)
    }

    #[test]
    fn sentences_end_at_blank_tab_only_and_docstart_lines() {
        let text = b"-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\t\nPeter\tB-PER\nBlackburn\tI-PER\r\n   \nNew York\tB-LOC\n";
        let file = read(text, Scheme::Iob2, false).unwrap();
        let words: Vec<Vec<&str>> = file
            .sentences
            .iter()
            .map(|s| s.words.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            words,
            [
                vec!["EU", "rejects"],
                vec!["Peter", "Blackburn"],
                vec!["New York"]
            ]
        );
        assert_eq!(file.sentences[0].tags, ["B-ORG", "O"]);
        assert_eq!(file.sentences[1].tags, ["B-PER", "I-PER"]);
        assert_eq!(
            file.sentences.iter().map(|s| s.line).collect::<Vec<_>>(),
            [3, 6, 9]
        );
    }

    #[test]
    fn iob1_and_bioes_files_are_read_into_iob2() {
        let file = read(b"a I-PER\nb I-PER\nc B-PER\n", Scheme::Iob1, false).unwrap();
        assert_eq!(file.sentences[0].tags, ["B-PER", "I-PER", "B-PER"]);
        let file = read(b"a S-PER\nb B-LOC\nc E-LOC\n", Scheme::Bioes, false).unwrap();
        assert_eq!(file.sentences[0].tags, ["B-PER", "B-LOC", "I-LOC"]);
    }

    #[test]
    fn bad_lines_name_the_file_and_line_or_are_skipped_and_counted() {
        let cases: [(&[u8], &str); 3] = [
            (b"a O\nlonely\n", "2: `lonely` has no tag column"),
            (b"a O\n\nb X-foo\n", "3: tag `X-foo`"),
            (b"a O\n\xff\xfe O\n", "2: not UTF-8"),
        ];
        for (text, expected) in cases {
            let e = read(text, Scheme::Iob2, false).unwrap_err().to_string();
            assert!(e.contains("data.conll:") && e.contains(expected), "{e}");
            let file = read(text, Scheme::Iob2, true).unwrap();
            assert_eq!((file.skipped, file.words()), (1, 1));
        }
    }

    #[test]
    fn an_empty_file_or_a_missing_one_is_one_clear_error() {
        let e = read(b"\n\t\n", Scheme::Iob2, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no tagged sentences"), "{e}");
        let e = read_conll(Path::new("/nonexistent/x.conll"), Scheme::Iob2, false).unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
    }

    #[test]
    fn words_keep_zero_width_characters() {
        let file = read(
            "\u{feff}@user\tO\nhi\u{200b}\tO\n".as_bytes(),
            Scheme::Iob2,
            false,
        )
        .unwrap();
        assert_eq!(file.sentences[0].words, ["\u{feff}@user", "hi\u{200b}"]);
    }
}
