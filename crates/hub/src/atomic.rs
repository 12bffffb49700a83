//! Directories that appear whole or not at all.

use std::path::{Path, PathBuf};

use crate::{Result, io_err};

/// A directory being filled in a temporary place beside its final path.
///
/// Dropping it without [`AtomicDir::commit`] removes the temporary directory; a killed process
/// leaves only a `.tmp-*` directory, which the next [`AtomicDir::new`] in the same parent removes.
pub(crate) struct AtomicDir {
    tmp: tempfile::TempDir,
    target: PathBuf,
}

impl AtomicDir {
    /// Starts a directory that will become `target`.
    pub(crate) fn new(target: &Path) -> Result<Self> {
        let parent = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        remove_stale(parent);
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(parent)
            .map_err(io_err(parent))?;
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// The temporary directory to write into.
    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Syncs the written files and renames the directory into place.
    pub(crate) fn commit(self) -> Result<PathBuf> {
        for entry in walk(self.tmp.path()) {
            if let Ok(file) = std::fs::File::open(&entry) {
                file.sync_all().map_err(io_err(&entry))?;
            }
        }
        if self.target.exists() {
            std::fs::remove_dir_all(&self.target).map_err(io_err(&self.target))?;
        }
        let tmp = self.tmp.keep();
        std::fs::rename(&tmp, &self.target).map_err(io_err(&self.target))?;
        Ok(self.target)
    }
}

/// Removes `.tmp-*` directories that a killed process left in `parent`.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Every regular file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_moves_the_whole_directory_into_place() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("models").join("m");
        let dir = AtomicDir::new(&target).unwrap();
        std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        assert!(!target.exists());
        dir.commit().unwrap();
        assert_eq!(std::fs::read_to_string(target.join("a.txt")).unwrap(), "x");
    }

    #[test]
    fn dropping_leaves_nothing_and_stale_dirs_are_swept() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("m");
        std::fs::create_dir_all(root.path().join(".tmp-killed")).unwrap();
        {
            let dir = AtomicDir::new(&target).unwrap();
            std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        }
        let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
