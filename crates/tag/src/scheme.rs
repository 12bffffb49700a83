//! Tagging schemes: IOB2 (the default), IOB1 and BIOES, each read into IOB2 once.

use serde::{Deserialize, Serialize};

/// How a file marks entity boundaries in its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `B-` begins every entity, `I-` continues it (CoNLL-2003 as most tools ship it, WNUT-17).
    #[default]
    Iob2,
    /// `I-` begins an entity unless it follows one of its type, where `B-` marks the start.
    Iob1,
    /// `B-` begin, `I-` inside, `E-` end, `S-` a one-word entity.
    Bioes,
}

impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "iob2" | "bio" => Ok(Self::Iob2),
            "iob1" | "iob" => Ok(Self::Iob1),
            "bioes" | "iobes" => Ok(Self::Bioes),
            other => Err(format!(
                "unknown tagging scheme `{other}`: expected iob2, iob1 or bioes"
            )),
        }
    }
}

/// A tag's boundary mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Outside any entity.
    O,
    /// Begins an entity.
    B,
    /// Inside an entity.
    I,
    /// Ends an entity (BIOES).
    E,
    /// A one-word entity (BIOES).
    S,
}

/// A tag's mark and entity type (empty for `O`), or why the tag is not one of `scheme`'s.
pub(crate) fn parse(tag: &str, scheme: Scheme) -> Result<(Mark, &str), String> {
    if tag == "O" {
        return Ok((Mark::O, ""));
    }
    let (mark, kind) = match tag.split_once('-') {
        Some((mark, kind)) if !kind.is_empty() => (mark, kind),
        _ => return Err(format!("tag `{tag}` is neither O nor MARK-TYPE")),
    };
    let mark = match (mark, scheme) {
        ("B", _) => Mark::B,
        ("I", _) => Mark::I,
        ("E", Scheme::Bioes) => Mark::E,
        ("S", Scheme::Bioes) => Mark::S,
        _ => {
            let marks = match scheme {
                Scheme::Bioes => "B-, I-, E- or S-",
                _ => "B- or I-",
            };
            return Err(format!(
                "tag `{tag}` is not in the {scheme:?} scheme (O, or {marks} and a type)"
            ));
        }
    };
    Ok((mark, kind))
}

/// A sentence's tags, valid in `scheme` (see [`parse`]), rewritten in IOB2.
pub(crate) fn to_iob2(tags: &[String], scheme: Scheme) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    let mut previous: (Mark, &str) = (Mark::O, "");
    for tag in tags {
        let (mark, kind) = parse(tag, scheme).unwrap_or((Mark::O, ""));
        let iob2 = match (scheme, mark) {
            (_, Mark::O) => "O".to_string(),
            (Scheme::Iob1, Mark::I) if previous.0 == Mark::O || previous.1 != kind => {
                format!("B-{kind}")
            }
            (_, Mark::B | Mark::S) => format!("B-{kind}"),
            (_, Mark::I | Mark::E) => format!("I-{kind}"),
        };
        previous = (mark, kind);
        out.push(iob2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iob2(tags: &[&str], scheme: Scheme) -> Vec<String> {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        to_iob2(&tags, scheme)
    }

    #[test]
    fn iob1_begins_entities_with_i_and_separates_neighbours_with_b() {
        let read = iob2(
            &["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"],
            Scheme::Iob1,
        );
        assert_eq!(read, ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]);
    }

    #[test]
    fn bioes_ends_and_singles_become_iob2() {
        let read = iob2(
            &["B-PER", "E-PER", "S-LOC", "O", "B-ORG", "I-ORG", "E-ORG"],
            Scheme::Bioes,
        );
        assert_eq!(
            read,
            ["B-PER", "I-PER", "B-LOC", "O", "B-ORG", "I-ORG", "I-ORG"]
        );
    }

    #[test]
    fn iob2_is_kept_as_written() {
        let read = iob2(&["O", "I-PER", "B-LOC", "I-LOC"], Scheme::Iob2);
        assert_eq!(read, ["O", "I-PER", "B-LOC", "I-LOC"]);
    }

    #[test]
    fn tags_outside_the_scheme_are_refused_with_the_tag_named() {
        let e = parse("X-foo", Scheme::Iob2).unwrap_err();
        assert!(e.contains("`X-foo`") && e.contains("B- or I-"), "{e}");
        assert!(parse("S-PER", Scheme::Iob2).is_err());
        assert!(parse("S-PER", Scheme::Bioes).is_ok());
        assert!(parse("B-", Scheme::Iob2).is_err());
        assert!(parse("PER", Scheme::Iob2).is_err());
        assert_eq!(
            parse("B-creative-work", Scheme::Iob2),
            Ok((Mark::B, "creative-work"))
        );
    }
}
