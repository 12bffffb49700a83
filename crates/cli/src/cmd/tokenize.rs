//! `attn tokenize`: one JSON line `{"ids", "tokens"}` per text.

use anyhow::Result;
use clap::Args;

use crate::inputs::ModelTexts;

/// Arguments of `attn tokenize`.
#[derive(Args, Debug)]
pub struct TokenizeArgs {
    #[command(flatten)]
    pub inputs: ModelTexts,
}

/// Prints each text's ids and tokens.
pub fn run(args: TokenizeArgs) -> Result<()> {
    let (_, tokenizer, texts) = args.inputs.resolve()?;
    for text in texts {
        let e = tokenizer.encode(&text)?;
        println!("{}", serde_json::json!({"ids": e.ids, "tokens": e.tokens}));
    }
    Ok(())
}
