//! Reading labelled CSV/TSV files into raw rows, with line numbers for errors.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// A column, by 0-based index or by header name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// 0-based position.
    Index(usize),
    /// Header name (needs a header row).
    Name(String),
}

impl std::str::FromStr for Column {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(s.parse()
            .map(Column::Index)
            .unwrap_or_else(|_| Column::Name(s.to_string())))
    }
}

/// How to read a labelled text file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFormat {
    /// Field separator (`,` or `\t`).
    pub delimiter: u8,
    /// Whether the first row names the columns.
    pub has_header: bool,
    /// The label column.
    pub label_col: Column,
    /// Text columns, joined by one space.
    pub text_cols: Vec<Column>,
}

impl CsvFormat {
    /// AG News: no header; class (1..4), title, description; text = title + " " + description.
    pub fn ag_news() -> Self {
        Self {
            delimiter: b',',
            has_header: false,
            label_col: Column::Index(0),
            text_cols: vec![Column::Index(1), Column::Index(2)],
        }
    }

    /// A general file: tab-separated when it ends in `.tsv`, else comma-separated. A column given
    /// by name means the file has a header row, whatever `has_header` says.
    pub fn for_path(
        path: &Path,
        has_header: bool,
        label_col: Column,
        text_cols: Vec<Column>,
    ) -> Self {
        let tsv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
        let named = std::iter::once(&label_col)
            .chain(&text_cols)
            .any(|c| matches!(c, Column::Name(_)));
        Self {
            delimiter: if tsv { b'\t' } else { b',' },
            has_header: has_header || named,
            label_col,
            text_cols,
        }
    }
}

/// A row as read: its label as written and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    /// 1-based line where the row starts.
    pub line: u64,
    /// The label field, trimmed.
    pub label: String,
    /// The joined text fields.
    pub text: String,
}

/// The rows of one file and how many bad rows were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTable {
    /// The file read.
    pub path: PathBuf,
    /// Good rows, in file order.
    pub rows: Vec<RawRow>,
    /// Rows skipped under `skip_bad` (0 otherwise).
    pub skipped: usize,
}

/// A labelled text ready for tokenization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow {
    /// The text.
    pub text: String,
    /// Class id (0-based).
    pub label: usize,
}

/// Reads `path` with `format`. A row with the wrong number of fields, an empty label or text, or
/// bytes that are not UTF-8 is an error naming file and line, or is skipped and counted when
/// `skip_bad`.
pub fn read_raw(path: &Path, format: &CsvFormat, skip_bad: bool) -> Result<RawTable> {
    if !path.is_file() {
        return Err(DataError::Missing {
            path: path.to_path_buf(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .has_headers(format.has_header)
        .flexible(true)
        .from_path(path)
        .map_err(|e| DataError::Other(format!("{}: {e}", path.display())))?;
    let header: Vec<String> = if format.has_header {
        let h = reader
            .byte_headers()
            .map_err(|e| DataError::Other(format!("{}: header: {e}", path.display())))?;
        h.iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let resolve = |col: &Column| -> Result<usize> {
        match col {
            Column::Index(i) => Ok(*i),
            Column::Name(name) => header.iter().position(|h| h == name).ok_or_else(|| {
                DataError::Other(format!(
                    "{}:1: no column named `{name}`; the header's columns are {}",
                    path.display(),
                    header
                        .iter()
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
        }
    };
    let label_col = resolve(&format.label_col)?;
    let text_cols: Vec<usize> = format
        .text_cols
        .iter()
        .map(resolve)
        .collect::<Result<_>>()?;
    let width = text_cols
        .iter()
        .copied()
        .chain([label_col])
        .max()
        .unwrap_or(0)
        + 1;
    let expected = if format.has_header {
        header.len().max(width)
    } else {
        width
    };

    let mut table = RawTable {
        path: path.to_path_buf(),
        rows: Vec::new(),
        skipped: 0,
    };
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                bad(&mut table, skip_bad, line, format!("unreadable CSV: {e}"))?;
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        if record.len() != expected {
            let problem = format!("{} fields, expected {expected}", record.len());
            bad(&mut table, skip_bad, line, problem)?;
            continue;
        }
        let field = |i: usize| std::str::from_utf8(&record[i]);
        let label = match field(label_col) {
            Ok(l) if !l.trim().is_empty() => l.trim().to_string(),
            Ok(_) => {
                bad(&mut table, skip_bad, line, "empty label".into())?;
                continue;
            }
            Err(e) => {
                bad(
                    &mut table,
                    skip_bad,
                    line,
                    format!("label is not UTF-8: {e}"),
                )?;
                continue;
            }
        };
        let parts: std::result::Result<Vec<&str>, _> =
            text_cols.iter().map(|&i| field(i)).collect();
        let text = match parts {
            Ok(parts) => parts.join(" ").trim().to_string(),
            Err(e) => {
                bad(
                    &mut table,
                    skip_bad,
                    line,
                    format!("text is not UTF-8: {e}"),
                )?;
                continue;
            }
        };
        if text.is_empty() {
            bad(&mut table, skip_bad, line, "empty text".into())?;
            continue;
        }
        table.rows.push(RawRow { line, label, text });
    }
    if table.skipped > 0 {
        tracing::warn!("{}: skipped {} bad rows", path.display(), table.skipped);
    }
    Ok(table)
}

/// Counts a bad row when skipping, else fails with it.
fn bad(table: &mut RawTable, skip_bad: bool, line: u64, problem: String) -> Result<()> {
    if skip_bad {
        table.skipped += 1;
        Ok(())
    } else {
        Err(DataError::BadRow {
            path: table.path.clone(),
            line,
            problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_quotes_embedded_newlines_and_escaped_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "t.csv",
            b"\"3\",\"Wall St. \"\"Bears\"\"\",\"line one\nline two\"\n\"1\",\"T\",\"a \\\\ b #39;s\"\n",
        );
        let t = read_raw(&path, &CsvFormat::ag_news(), false).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].text, "Wall St. \"Bears\" line one\nline two");
        assert_eq!(t.rows[0].label, "3");
        assert_eq!(t.rows[1].line, 3);
        assert_eq!(t.rows[1].text, "T a \\\\ b #39;s");
    }

    #[test]
    fn bad_rows_name_file_and_line_or_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "bad.csv",
            b"1,a,b\n2,only-two\n3,,\n4,\xff\xfe,x\n2,c,d\n",
        );
        let err = read_raw(&path, &CsvFormat::ag_news(), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.csv:2:") && err.contains("2 fields, expected 3"),
            "{err}"
        );
        let t = read_raw(&path, &CsvFormat::ag_news(), true).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.skipped, 3);
    }

    #[test]
    fn empty_text_and_non_utf8_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "e.csv", b"1,a,b\n3,,\n");
        let err = read_raw(&path, &CsvFormat::ag_news(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("e.csv:2: empty text"), "{err}");
        let path = write(&dir, "u.csv", b"1,a,b\n4,\xff\xfe,x\n");
        let err = read_raw(&path, &CsvFormat::ag_news(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("u.csv:2: text is not UTF-8"), "{err}");
    }

    #[test]
    fn header_names_and_tsv_are_understood() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "r.tsv",
            b"id\tsentiment\treview\n1\tpos\tgreat film\n2\tneg\tdull\n",
        );
        let format = CsvFormat::for_path(
            &path,
            true,
            "sentiment".parse().unwrap(),
            vec!["review".parse().unwrap()],
        );
        assert_eq!(format.delimiter, b'\t');
        let t = read_raw(&path, &format, false).unwrap();
        assert_eq!(
            t.rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(),
            ["pos", "neg"]
        );
        assert_eq!(t.rows[1].text, "dull");
        let missing = CsvFormat::for_path(
            &path,
            true,
            "label".parse().unwrap(),
            vec![Column::Index(2)],
        );
        let err = read_raw(&path, &missing, false).unwrap_err().to_string();
        assert!(
            err.contains("r.tsv:1: no column named `label`")
                && err.contains("`id`, `sentiment`, `review`"),
            "{err}"
        );
    }

    #[test]
    fn a_column_named_means_the_file_has_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "h.csv", b"text,label\ngreat film,pos\ndull,neg\n");
        let format = CsvFormat::for_path(
            &path,
            false,
            "label".parse().unwrap(),
            vec!["text".parse().unwrap()],
        );
        assert!(format.has_header);
        let t = read_raw(&path, &format, false).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            (t.rows[0].label.as_str(), t.rows[0].text.as_str()),
            ("pos", "great film")
        );
        let by_index = CsvFormat::for_path(&path, false, Column::Index(1), vec![Column::Index(0)]);
        assert!(!by_index.has_header);
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_raw(
            Path::new("/nonexistent/train.csv"),
            &CsvFormat::ag_news(),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
        // How to fetch the data is the CLI's hint (crates/cli/src/hints.rs).
        assert_eq!(err.to_string(), "/nonexistent/train.csv: no such file");
    }
}
