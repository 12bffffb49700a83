//! The subcommands, one file each; none imports another (what they share is in `flags`,
//! `inputs`, `translator`, `heatmap` and `terminal`).

pub mod attend;
pub mod backends;
pub mod bench;
pub mod data;
pub mod embed;
pub mod eval;
pub mod fetch_data;
pub mod fetch_model;
pub mod predict;
pub mod serve;
pub mod tokenize;
pub mod train;
pub mod translate;
