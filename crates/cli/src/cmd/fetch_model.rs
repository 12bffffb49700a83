//! `attn fetch-model`: find or download a model into the cache and verify it.

use anyhow::Result;
use clap::Args;

/// Arguments of `attn fetch-model`.
#[derive(Args, Debug)]
pub struct FetchModelArgs {
    /// A model directory, a hub id, or a short name (all-MiniLM-L6-v2, bert-base-uncased).
    #[arg(default_value = "all-MiniLM-L6-v2")]
    pub name: String,
}

/// Prints where the model is and where it came from.
pub fn run(args: FetchModelArgs) -> Result<()> {
    let found = attn_hub::resolve_model(&args.name)?;
    println!("{} ({})", found.path.display(), found.source);
    Ok(())
}
