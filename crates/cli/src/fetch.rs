//! `attn fetch-model` and `attn fetch-data`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Arguments of `attn fetch-model`.
#[derive(Args, Debug)]
pub struct FetchModelArgs {
    /// A model directory, a hub id, or a short name (all-MiniLM-L6-v2, bert-base-uncased).
    #[arg(default_value = "all-MiniLM-L6-v2")]
    pub name: String,
}

/// Arguments of `attn fetch-data`.
#[derive(Args, Debug)]
pub struct FetchDataArgs {
    /// A directory holding train.csv and test.csv (else $AG_NEWS_DIR, the cache, a download).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn model(args: FetchModelArgs) -> Result<()> {
    let found = attn_hub::resolve_model(&args.name)?;
    println!("{} ({})", found.path.display(), found.source);
    Ok(())
}

pub fn data(args: FetchDataArgs) -> Result<()> {
    let dir = attn_hub::resolve_ag_news(args.data_dir.as_deref())?;
    println!("{}", dir.display());
    Ok(())
}
