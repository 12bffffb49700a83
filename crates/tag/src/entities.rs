//! Entities in a sentence's IOB2 tags, by conlleval's rules.

use crate::scheme::{Mark, Scheme, parse};

/// An entity: its type and the words it spans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entity {
    /// The entity type (`person`, `LOC`).
    pub kind: String,
    /// Its first word.
    pub start: usize,
    /// Just past its last word.
    pub end: usize,
}

/// The entities of IOB2 tags as conlleval reads them: `B-X` opens an entity of type X, so does
/// an `I-X` after `O` or after an entity of another type; an entity ends before `O`, `B-` or a
/// tag of another type. A tag that is not IOB2 counts as `O`.
pub fn entities<S: AsRef<str>>(tags: &[S]) -> Vec<Entity> {
    let mut found = Vec::new();
    let mut open: Option<Entity> = None;
    for (i, tag) in tags.iter().enumerate() {
        let (mark, kind) = parse(tag.as_ref(), Scheme::Iob2).unwrap_or((Mark::O, ""));
        let continues = mark == Mark::I && open.as_ref().is_some_and(|e| e.kind == kind);
        if continues {
            continue;
        }
        if let Some(mut entity) = open.take() {
            entity.end = i;
            found.push(entity);
        }
        if mark != Mark::O {
            open = Some(Entity {
                kind: kind.to_string(),
                start: i,
                end: i + 1,
            });
        }
    }
    if let Some(mut entity) = open {
        entity.end = tags.len();
        found.push(entity);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(tags: &[&str]) -> Vec<(String, usize, usize)> {
        entities(tags)
            .into_iter()
            .map(|e| (e.kind, e.start, e.end))
            .collect()
    }

    fn e(kind: &str, start: usize, end: usize) -> (String, usize, usize) {
        (kind.to_string(), start, end)
    }

    #[test]
    fn b_opens_and_i_of_the_same_type_continues() {
        assert_eq!(
            spans(&["B-PER", "I-PER", "O", "B-LOC"]),
            [e("PER", 0, 2), e("LOC", 3, 4)]
        );
    }

    #[test]
    fn an_i_after_o_opens_an_entity() {
        assert_eq!(spans(&["O", "I-PER", "I-PER"]), [e("PER", 1, 3)]);
    }

    #[test]
    fn an_i_of_another_type_opens_a_new_entity() {
        assert_eq!(
            spans(&["B-PER", "I-LOC", "I-LOC"]),
            [e("PER", 0, 1), e("LOC", 1, 3)]
        );
    }

    #[test]
    fn b_after_an_entity_of_the_same_type_splits_it() {
        assert_eq!(
            spans(&["B-PER", "I-PER", "B-PER"]),
            [e("PER", 0, 2), e("PER", 2, 3)]
        );
    }

    #[test]
    fn an_entity_at_the_end_is_closed_and_o_yields_nothing() {
        assert_eq!(spans(&["O", "O", "B-ORG"]), [e("ORG", 2, 3)]);
        assert!(spans(&["O", "O"]).is_empty());
        assert!(spans(&[]).is_empty());
    }

    #[test]
    fn types_with_hyphens_keep_them() {
        assert_eq!(
            spans(&["B-creative-work", "I-creative-work"]),
            [e("creative-work", 0, 2)]
        );
    }
}
