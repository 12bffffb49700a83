//! `attn fetch-data`: find or download AG News into the cache and verify it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Arguments of `attn fetch-data`.
#[derive(Args, Debug)]
pub struct FetchDataArgs {
    /// A directory holding train.csv and test.csv (else $AG_NEWS_DIR, the cache, a download).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Prints the directory of the verified files.
pub fn run(args: FetchDataArgs) -> Result<()> {
    let dir = attn_hub::resolve_ag_news(args.data_dir.as_deref())?;
    println!("{}", dir.display());
    Ok(())
}
