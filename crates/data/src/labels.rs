//! Label maps (label as written -> class id -> class name) and the AG News loader.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csv_rows::{CsvFormat, RawTable, TextRow, read_raw};
use crate::error::{DataError, Result, io_err};

/// AG News class names, for labels 1..4.
pub const AG_NEWS_CLASSES: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];

/// A stable map from labels as written in a file to class ids and names; saved with a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMap {
    /// Labels as written in the data, by class id.
    pub keys: Vec<String>,
    /// Human-readable class names, by class id.
    pub names: Vec<String>,
}

impl LabelMap {
    /// AG News: labels "1".."4" -> ids 0..3, named World, Sports, Business, Sci/Tech.
    pub fn ag_news() -> Self {
        Self {
            keys: (1..=4).map(|i| i.to_string()).collect(),
            names: AG_NEWS_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The distinct labels of a table: in numeric order when all are integers, else sorted.
    pub fn from_table(table: &RawTable) -> Self {
        let distinct: BTreeSet<&str> = table.rows.iter().map(|r| r.label.as_str()).collect();
        let mut keys: Vec<String> = distinct.into_iter().map(String::from).collect();
        if keys.iter().all(|k| k.parse::<i64>().is_ok()) {
            keys.sort_by_key(|k| k.parse::<i64>().expect("checked"));
        }
        Self {
            names: keys.clone(),
            keys,
        }
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The class id of a label as written.
    pub fn id(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }

    /// Maps a table's labels to ids; a label outside the map is an error naming file and line
    /// (or is skipped and counted when `skip_bad`).
    pub fn apply(&self, table: RawTable, skip_bad: bool) -> Result<(Vec<TextRow>, usize)> {
        let mut skipped = table.skipped;
        let mut rows = Vec::with_capacity(table.rows.len());
        for row in table.rows {
            match self.id(&row.label) {
                Some(label) => rows.push(TextRow {
                    text: row.text,
                    label,
                }),
                None if skip_bad => skipped += 1,
                None => {
                    return Err(DataError::BadRow {
                        path: table.path,
                        line: row.line,
                        problem: format!("label `{}` is not one of {:?}", row.label, self.keys),
                    });
                }
            }
        }
        Ok((rows, skipped))
    }

    /// Writes the map as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("serializes");
        Ok(attn_atomic::write(path, text.as_bytes())?)
    }

    /// Reads a map written by [`LabelMap::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        serde_json::from_str(&text)
            .map_err(|e| DataError::Other(format!("{}: {e}", path.display())))
    }
}

/// Reads an AG News split (`train.csv` or `test.csv` of `dir`), labels 1..4 mapped to 0..3.
pub fn load_ag_news(dir: &Path, split: &str, skip_bad: bool) -> Result<Vec<TextRow>> {
    let table = read_raw(
        &dir.join(format!("{split}.csv")),
        &CsvFormat::ag_news(),
        skip_bad,
    )?;
    let (rows, skipped) = LabelMap::ag_news().apply(table, skip_bad)?;
    if skipped > 0 {
        tracing::warn!(
            "{}/{split}.csv: skipped {skipped} bad rows in all",
            dir.display()
        );
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ag_news_labels_map_to_zero_based_ids_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("test.csv"),
            "\"1\",\"a\",\"b\"\n\"4\",\"c\",\"d\"\n\"5\",\"e\",\"f\"\n",
        )
        .unwrap();
        let err = load_ag_news(dir.path(), "test", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test.csv:3:") && err.contains("label `5`"),
            "{err}"
        );
        let rows = load_ag_news(dir.path(), "test", true).unwrap();
        assert_eq!(rows.iter().map(|r| r.label).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(rows[0].text, "a b");
    }

    #[test]
    fn string_and_integer_labels_get_a_stable_saved_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, "label,text\n10,x\n9,y\n10,z\n").unwrap();
        let format = CsvFormat::for_path(
            &path,
            true,
            "label".parse().unwrap(),
            vec!["text".parse().unwrap()],
        );
        let map = LabelMap::from_table(&read_raw(&path, &format, false).unwrap());
        assert_eq!(map.keys, ["9", "10"]);
        std::fs::write(&path, "label,text\nneg,x\npos,y\nmixed,z\n").unwrap();
        let table = read_raw(&path, &format, false).unwrap();
        let map = LabelMap::from_table(&table);
        assert_eq!(map.keys, ["mixed", "neg", "pos"]);
        let saved = dir.path().join("labels.json");
        map.save(&saved).unwrap();
        assert_eq!(LabelMap::load(&saved).unwrap(), map);
        let (rows, _) = map.apply(table, false).unwrap();
        assert_eq!(rows.iter().map(|r| r.label).collect::<Vec<_>>(), [1, 2, 0]);
    }

    #[test]
    fn the_shared_ag_news_files_have_the_documented_counts() {
        // AG_NEWS_DIR points at the official test set and the 6,000-row train sample (CI has it).
        let Some(dir) = attn_testing::ag_news_dir() else {
            return;
        };
        let count = |rows: &[TextRow]| {
            let mut c = [0usize; 4];
            rows.iter().for_each(|r| c[r.label] += 1);
            c
        };
        let test = load_ag_news(&dir, "test", false).unwrap();
        assert_eq!(test.len(), 7600);
        assert_eq!(count(&test), [1900; 4]);
        let train = load_ag_news(&dir, "train", false).unwrap();
        if train.len() == 6000 {
            assert_eq!(count(&train), [1498, 1508, 1542, 1452]);
        } else {
            assert_eq!(train.len(), 120_000);
            assert_eq!(count(&train), [30_000; 4]);
        }
    }
}
