//! The tags a tagger predicts, from its training file.

use std::collections::BTreeSet;

use crate::conll::TaggedFile;
use crate::entities::entities;

/// The tags of a tagger by id: `O` first, then `B-` and `I-` of every entity type of the
/// training file in type order (both marks of a type even where the file uses one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSet {
    /// Tag names by id.
    pub names: Vec<String>,
}

impl TagSet {
    /// The tags of the entity types in `train`.
    pub fn from_file(train: &TaggedFile) -> Self {
        let kinds: BTreeSet<String> = (train.sentences.iter())
            .flat_map(|s| entities(&s.tags))
            .map(|e| e.kind)
            .collect();
        let mut names = vec!["O".to_string()];
        for kind in kinds {
            names.push(format!("B-{kind}"));
            names.push(format!("I-{kind}"));
        }
        Self { names }
    }

    /// The same tags in `saved`'s order (a checkpoint's `id2label`, whose head can then go on
    /// training), or these when `saved` names other tags.
    pub fn in_order_of(self, saved: Option<Vec<String>>) -> Self {
        let same = |saved: &Vec<String>| {
            let (mut a, mut b) = (saved.clone(), self.names.clone());
            a.sort_unstable();
            b.sort_unstable();
            a == b
        };
        match saved {
            Some(names) if same(&names) => Self { names },
            _ => self,
        }
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The id of a tag, if it is one of the set's.
    pub fn id(&self, tag: &str) -> Option<u32> {
        self.names.iter().position(|n| n == tag).map(|i| i as u32)
    }

    /// The id of the tag a word's later pieces carry when every piece is labelled: `I-` of a
    /// `B-` tag's type (HF's `label_all_tokens`), else the tag itself.
    pub fn continuation(&self, id: u32) -> u32 {
        let name = &self.names[id as usize];
        match name.strip_prefix("B-") {
            Some(kind) => self.id(&format!("I-{kind}")).unwrap_or(id),
            None => id,
        }
    }

    /// The tag named `id`, `O` for an id outside the set.
    pub fn name(&self, id: usize) -> &str {
        self.names.get(id).map_or("O", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conll::TaggedSentence;

    #[test]
    fn o_first_then_both_marks_of_each_type_in_order() {
        let file = TaggedFile {
            path: "train".into(),
            sentences: vec![TaggedSentence {
                words: vec!["a".into(), "b".into(), "c".into()],
                tags: vec!["I-loc".into(), "O".into(), "B-person".into()],
                line: 1,
            }],
            skipped: 0,
        };
        let set = TagSet::from_file(&file);
        assert_eq!(set.names, ["O", "B-loc", "I-loc", "B-person", "I-person"]);
        assert_eq!(set.continuation(set.id("B-person").unwrap()), 4);
        assert_eq!(set.continuation(0), 0);
        // A checkpoint's order of the same tags is kept; other tags are not taken.
        let mut saved = set.names.clone();
        saved.reverse();
        assert_eq!(set.clone().in_order_of(Some(saved.clone())).names, saved);
        saved.pop();
        assert_eq!(set.clone().in_order_of(Some(saved)), set);
    }
}
