//! Test prerequisites that a machine may lack (the shared AG News files, pip, Chromium): on a developer's
//! machine a missing one is a skip printed past the test harness's capture, under `CI=true` (set by
//! `.ci/run`) a failure, so that CI never passes a test that did not run.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;

/// Whether this is a CI run (`CI=true` or `CI=1`), where every prerequisite must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `found`, or where it is `None`: a panic under CI, else a skip notice on stderr (the caller
/// then returns). `what` says what is missing and how to provide it.
pub fn require<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        assert!(!in_ci(), "prerequisite missing under CI=true: {what}");
        // Straight to the process's stderr: the harness captures only `eprintln!`.
        let _ = writeln!(std::io::stderr(), "SKIPPED (prerequisite missing): {what}");
    }
    found
}

/// `$AG_NEWS_DIR` when it holds AG News' `train.csv` and `test.csv` (`.ci/run` sets it from
/// `../shared/data/ag_news`).
pub fn ag_news_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AG_NEWS_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("train.csv").is_file() && d.join("test.csv").is_file());
    require(
        dir,
        "AG_NEWS_DIR, a directory with AG News train.csv and test.csv (../shared/data/ag_news)",
    )
}

/// `Some(())` when `program --version` runs (e.g. `pip download` needs python3 with pip).
pub fn program(program: &str, args: &[&str]) -> Option<()> {
    let runs = std::process::Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success());
    require(
        runs.then_some(()),
        &format!("`{program} {}` runs", args.join(" ")),
    )
}

/// A Chromium or Chrome to drive headless: `$CHROME`, else the first of `chromium`,
/// `chromium-browser`, `google-chrome` on the PATH whose `--version` runs (`.ci/run` installs
/// Debian's `chromium`).
pub fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("CHROME").map(PathBuf::from);
    let candidates = named.into_iter().chain(
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .flat_map(|name| {
                let path = std::env::var_os("PATH").unwrap_or_default();
                std::env::split_paths(&path)
                    .map(move |dir| dir.join(name))
                    .collect::<Vec<_>>()
            }),
    );
    let found = candidates.into_iter().find(|path| {
        path.is_file()
            && std::process::Command::new(path)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
    });
    require(
        found,
        "a headless Chromium (`apt-get install chromium`, or $CHROME naming one)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_prerequisite_is_given_back() {
        assert_eq!(require(Some(3), "three"), Some(3));
        assert!(program("cargo", &["--version"]).is_some());
    }
}
