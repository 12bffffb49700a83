//! `cargo xtask layers`: the layering rules of docs/architecture.md, checked on the sources.
//!
//! 1. No import circle between the top-level modules of a crate (a file or folder under
//!    `src/`): each module's `crate::X` paths (in `use` groups too) are its edges.
//! 2. `attn-train` names no task: none of its sources mention BLEU, a tokenizer, the RNNs, the
//!    translator or label maps.
//! 3. The CLI's subcommands (`crates/cli/src/cmd/`, one file each) import no other subcommand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Words the loop's sources must not contain (lowercased), and the crate they are checked in.
const LOOP_CRATE: &str = "crates/train/src";
const TASK_WORDS: [&str; 6] = [
    "bleu",
    "tokenizer",
    "rnn",
    "seq2seq",
    "labelmap",
    "label_map",
];
/// The folder of the CLI's subcommands.
const COMMANDS: &str = "crates/cli/src/cmd";

/// Checks every crate of the workspace (and xtask) and prints each crate's module graph size;
/// fails naming every circle and every task word found.
pub fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("src")))
        .filter(|p| p.is_dir())
        .collect();
    sources.push(root.join("xtask/src"));
    sources.sort();
    for src in &sources {
        let graph = module_graph(src)?;
        let edges: usize = graph.values().map(BTreeSet::len).sum();
        for circle in circles(&graph) {
            problems.push(format!(
                "{}: import circle between {}",
                src.display(),
                circle.join(", ")
            ));
        }
        println!(
            "{}: {} top-level modules, {edges} imports between them",
            src.strip_prefix(root).unwrap_or(src).display(),
            graph.len()
        );
    }
    for file in rust_files(&root.join(LOOP_CRATE))? {
        let text = std::fs::read_to_string(&file)?.to_lowercase();
        for (n, line) in text.lines().enumerate() {
            if let Some(word) = TASK_WORDS.iter().find(|w| line.contains(*w)) {
                problems.push(format!(
                    "{}:{}: the loop names a task (`{word}`)",
                    file.display(),
                    n + 1
                ));
            }
        }
    }
    let commands = root.join(COMMANDS);
    let commands = match commands.is_dir() {
        true => rust_files(&commands)?,
        false => Vec::new(),
    };
    for file in commands {
        let text = std::fs::read_to_string(&file)?;
        let own = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if own != "mod" && (text.contains("super::") || text.contains("crate::cmd::")) {
            problems.push(format!(
                "{}: a subcommand imports another (shared code goes outside cmd/)",
                file.display()
            ));
        }
    }
    if !problems.is_empty() {
        bail!("layering broken:\n{}", problems.join("\n"));
    }
    println!("no import circle; the loop names no task");
    Ok(())
}

/// The top-level modules of the crate whose sources are in `src`, each with the others it
/// imports (`crate::X`).
fn module_graph(src: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let top = match (path.is_dir(), path.extension().and_then(|e| e.to_str())) {
            (true, _) => name.to_string(),
            (false, Some("rs")) if !["lib", "main"].contains(&name) => name.to_string(),
            _ => continue,
        };
        let files = match path.is_dir() {
            true => rust_files(&path)?,
            false => vec![path.clone()],
        };
        modules.entry(top).or_default().extend(files);
    }
    let mut graph = BTreeMap::new();
    for (module, files) in &modules {
        let mut uses = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            // In `src/x.rs` and `src/x/mod.rs`, `super::` is the crate's root as `crate::` is.
            let top_file = file.parent() == Some(src) || file.ends_with(format!("{module}/mod.rs"));
            let mut paths = crate_paths(&text, "crate::");
            if top_file {
                paths.extend(crate_paths(&text, "super::"));
            }
            uses.extend(
                paths
                    .into_iter()
                    .filter(|m| m != module && modules.contains_key(m)),
            );
        }
        graph.insert(module.clone(), uses);
    }
    Ok(graph)
}

/// The first segment of every `prefix…` path in `text` (`prefix` being `crate::` or `super::`),
/// groups (`crate::{a::x, b}`) included.
fn crate_paths(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        // `attn_crate::` or `$crate::` are other paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        match rest.strip_prefix('{') {
            Some(group) => found.extend(group_heads(group)),
            None => found.extend(ident(rest)),
        }
    }
    found
}

/// The first segments of the paths of a `{…}` group (its text after the `{`).
fn group_heads(group: &str) -> Vec<String> {
    let (mut depth, mut start, mut heads) = (0usize, 0usize, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                heads.extend(ident(group[start..i].trim_start()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.extend(ident(group[start..i].trim_start()));
                start = i + 1;
            }
            _ => {}
        }
    }
    heads
}

/// The identifier `text` starts with, if any.
fn ident(text: &str) -> Option<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_string())
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(files)
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            for next in &self.graph[node] {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    component.push(top.to_string());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_groups_and_plain_uses_are_found_and_other_crates_are_not() {
        let text = "use crate::{a::X, b, c::{d, e}};\nuse crate::f::G;\nuse attn_crate::h;\n\
                    let x = crate::g::y();";
        let found: Vec<String> = crate_paths(text, "crate::").into_iter().collect();
        assert_eq!(found, ["a", "b", "c", "f", "g"]);
        let found: Vec<String> = crate_paths("use super::{x, y::Z};", "super::")
            .into_iter()
            .collect();
        assert_eq!(found, ["x", "y"]);
    }

    #[test]
    fn a_circle_is_found_and_a_chain_is_not() {
        let graph = |edges: &[(&str, &str)]| {
            let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (from, to) in edges {
                g.entry(from.to_string())
                    .or_default()
                    .insert(to.to_string());
                g.entry(to.to_string()).or_default();
            }
            g
        };
        assert!(circles(&graph(&[("a", "b"), ("b", "c")])).is_empty());
        let found = circles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]));
        assert_eq!(found, [["a", "b", "c"]]);
    }
}
