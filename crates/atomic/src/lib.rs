//! Files and directories that appear whole or not at all.
//!
//! Everything the project writes for later (checkpoints, saved models, caches, reports, downloads)
//! goes through here: written under a temporary name beside its final path, synced to disk,
//! renamed into place, and the directory that holds it synced too, so that neither a crash nor a
//! power cut leaves a torn file or a half-filled directory under the final name.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An I/O failure and the path it happened at.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct Error {
    /// The file or directory at fault.
    pub path: PathBuf,
    /// What went wrong.
    pub error: std::io::Error,
}

/// The result of this crate's functions.
pub type Result<T> = std::result::Result<T, Error>;

/// Attaches `path` to an I/O error.
fn at(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error {
        path: path.to_path_buf(),
        error,
    }
}

/// The directory that holds `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Syncs a directory's entries (a rename in it is durable once this returns).
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Writes `bytes` to `path`: a temporary file beside it, synced, renamed over `path`, and the
/// directory synced. The parent directory is created when missing.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(at(dir))?;
    tmp.write_all(bytes).map_err(at(tmp.path()))?;
    tmp.as_file().sync_all().map_err(at(tmp.path()))?;
    tmp.persist(path).map_err(|e| at(path)(e.error))?;
    sync_dir(dir)
}

/// A directory being filled in a temporary place beside its final path.
///
/// Dropping it without [`Dir::commit`] removes the temporary directory; a killed process leaves
/// only a `.tmp-*` directory, which the next [`Dir::new`] in the same parent removes.
#[derive(Debug)]
pub struct Dir {
    tmp: tempfile::TempDir,
    target: PathBuf,
}

impl Dir {
    /// Starts a directory that will become `target`.
    pub fn new(target: &Path) -> Result<Self> {
        let dir = parent(target);
        std::fs::create_dir_all(dir).map_err(at(dir))?;
        remove_stale(dir);
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(dir)
            .map_err(at(dir))?;
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// The temporary directory to write into.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Syncs the written files and puts the directory in place of `target`. An old `target` is
    /// first renamed aside (see [`recover`]) and removed only once the new one is in place.
    pub fn commit(self) -> Result<PathBuf> {
        for entry in walk(self.tmp.path()) {
            let sync = match entry.is_dir() {
                true => sync_dir(&entry),
                false => File::open(&entry)
                    .and_then(|f| f.sync_all())
                    .map_err(at(&entry)),
            };
            sync?;
        }
        sync_dir(self.tmp.path())?;
        let old = aside(&self.target);
        let _ = std::fs::remove_dir_all(&old);
        if self.target.exists() {
            std::fs::rename(&self.target, &old).map_err(at(&self.target))?;
        }
        let tmp = self.tmp.keep();
        std::fs::rename(&tmp, &self.target).map_err(at(&self.target))?;
        sync_dir(parent(&self.target))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(self.target)
    }
}

/// Where [`Dir::commit`] keeps the old `target` while it puts the new one in place.
fn aside(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    parent(target).join(format!(".old-{name}"))
}

/// Puts back the old `target` that a crash inside [`Dir::commit`] left renamed aside (there is
/// no `target` then); true when there was one.
pub fn recover(target: &Path) -> Result<bool> {
    let old = aside(target);
    if target.exists() || !old.is_dir() {
        return Ok(false);
    }
    std::fs::rename(&old, target).map_err(at(&old))?;
    Ok(true)
}

/// Removes `.tmp-*` entries that a killed process left in `dir`.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let path = entry.path();
            let _ = match path.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            };
        }
    }
}

/// Every file and directory below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_leaves_no_temporary_name() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("new").join("a.json");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // A file where its directory should be: the error names the path.
        let err = write(&path.join("x"), b"").unwrap_err();
        assert!(err.to_string().contains("a.json"), "{err}");
    }

    #[test]
    fn commit_moves_the_whole_directory_into_place_over_an_old_one() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("models").join("m");
        for text in ["x", "y"] {
            let dir = Dir::new(&target).unwrap();
            std::fs::create_dir(dir.path().join("sub")).unwrap();
            std::fs::write(dir.path().join("sub").join("a.txt"), text).unwrap();
            assert!(!target.join("sub").join("a.txt").is_file() || text == "y");
            dir.commit().unwrap();
            let read = std::fs::read_to_string(target.join("sub").join("a.txt")).unwrap();
            assert_eq!(read, text);
        }
        let names: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn dropping_leaves_nothing_and_stale_dirs_are_swept() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("m");
        std::fs::create_dir_all(root.path().join(".tmp-killed")).unwrap();
        {
            let dir = Dir::new(&target).unwrap();
            std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        }
        let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn an_old_directory_left_aside_by_a_crash_is_put_back() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("latest");
        std::fs::create_dir_all(aside(&target)).unwrap();
        assert!(recover(&target).unwrap());
        assert!(target.is_dir() && !aside(&target).exists());
        assert!(!recover(&target).unwrap());
    }
}
