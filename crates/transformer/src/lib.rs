//! A hand-written BERT in [burn](https://burn.dev), numerically equal to Hugging Face transformers.
//!
//! Structs mirror HF's modules (`BertEmbeddings`, `MultiHeadAttention` for `BertSelfAttention`,
//! `BertLayer`, `BertEncoder`, `BertPooler`, `BertModel`, `BertForSequenceClassification`,
//! `BertForTokenClassification`) and
//! their load/save code is a readable map of HF weight names. Checkpoints load from HF-layout
//! directories (`config.json`, `model.safetensors` or shards, `tokenizer.json` or `vocab.txt`),
//! with either `bert.`-prefixed or bare names, `gamma`/`beta` LayerNorms and f16/bf16 weights.
//!
//! Load a HF checkpoint directory and run a forward pass (here the tiny fixture the tests use;
//! any BERT directory, such as all-MiniLM-L6-v2's, works the same):
//!
//! ```
//! use attn_transformer::{BertInput, BertModel, BertTokenizer};
//! use burn::backend::Flex;
//! use burn::tensor::{Int, Tensor, TensorData};
//!
//! # fn main() -> attn_transformer::Result<()> {
//! let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-bert-bare"));
//! let device = Default::default();
//! let (model, config) = BertModel::<Flex>::from_pretrained(dir, &device)?;
//! let tokenizer = BertTokenizer::from_dir(dir, 128)?;
//! let ids: Vec<i64> = tokenizer.encode("the market is up")?.ids.iter().map(|&i| i as i64).collect();
//! let len = ids.len();
//! let input_ids = Tensor::<Flex, 2, Int>::from_data(TensorData::new(ids, [1, len]), &device);
//! let input = BertInput {
//!     attention_mask: input_ids.ones_like(),
//!     token_type_ids: input_ids.zeros_like(),
//!     input_ids,
//! };
//! let out = model.forward(input, false)?;
//! assert_eq!(out.last_hidden_state.dims(), [1, len, config.hidden_size]);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod attention;
mod attention_maps;
mod checkpoint;
mod classifier;
mod config;
mod embeddings;
mod error;
mod hf_head;
mod layer;
mod model;
mod packing;
mod precision;
mod token_classifier;
mod tokenizer;
pub mod weights;

pub use attention::{AddNorm, BertAttention, MultiHeadAttention};
pub use attention_maps::AttentionMaps;
pub use checkpoint::{
    parse_safetensors, read_checkpoint, read_safetensors, saved_pooling, write_safetensors,
};
pub use classifier::{BertForSequenceClassification, Pooling, mean_pool};
pub use config::BertConfig;
pub use embeddings::BertEmbeddings;
pub(crate) use error::io_err;
pub use error::{BertError, Result};
pub use hf_head::{HfHead, MODELING_FILE, MODELING_SOURCE};
pub use layer::{BertEncoder, BertLayer};
pub use model::{BertInput, BertModel, BertOutput, BertPooler, mask_bias};
pub use packing::Packing;
pub use precision::{AutocastGuard, Precision, autocast, current_precision, linear, matmul};
pub use token_classifier::BertForTokenClassification;
pub use tokenizer::{BertTokenizer, Encoded, Token, Word};
