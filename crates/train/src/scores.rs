//! A task's final scores, shown and kept.

use std::path::Path;

use serde::Serialize;

use crate::error::{Result, io_err};
use crate::events::{Event, Observer, Summary};

/// Shows `report` (a task's final scores, in its words) to the observer and, given a directory,
/// writes it there as `eval.json`, atomically.
pub fn show_scores<R: Summary + Serialize>(
    report: &R,
    dir: Option<&Path>,
    observer: &dyn Observer,
) -> Result<()> {
    observer.event(Event::Scores(report));
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let json = serde_json::to_string_pretty(report).expect("serializes");
        attn_atomic::write(&dir.join("eval.json"), json.as_bytes())?;
    }
    Ok(())
}
