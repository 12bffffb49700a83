//! The recurrent models' flags, shared by the RNN baseline and the translator.

use clap::Args;

/// Settings of the RNN baseline (`attn train rnn`).
#[derive(Args, Debug)]
pub struct RnnArgs {
    /// RNN: the recurrent cell, gru or lstm.
    #[arg(long, default_value = "gru")]
    pub cell: attn_rnn::Cell,
    /// RNN and seq2seq: width of the word embeddings [default: 128; seq2seq 256].
    #[arg(long)]
    pub embed_dim: Option<usize>,
    /// RNN and seq2seq: hidden width of each encoder GRU direction [default: 128; seq2seq 256].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// RNN and seq2seq: width of the additive attention's alignment layer [default: 128;
    /// seq2seq 256].
    #[arg(long)]
    pub attention_dim: Option<usize>,
    /// Dropout [default: BERT 0, instead of the checkpoint's 0.1, which measured worse for a
    /// 500-iteration fine-tune; RNN 0.3, on embeddings and the classifier input].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// RNN and seq2seq: words seen fewer times in training become <unk> [default: 1; seq2seq 2].
    #[arg(long)]
    pub min_freq: Option<usize>,
    /// RNN and seq2seq: vocabulary size cap (per language).
    #[arg(long, default_value_t = 50_000)]
    pub max_vocab: usize,
}
