//! Any text through the WordPiece front end (normalisation, pre-tokenization, truncation): ids
//! within the vocabulary, at most max_len of them, [CLS] first and [SEP] last; never a panic.
#![no_main]

use std::sync::OnceLock;

use attn_transformer::BertTokenizer;
use libfuzzer_sys::fuzz_target;

const MAX_LEN: usize = 16;

fn tokenizer() -> &'static BertTokenizer {
    static TOKENIZER: OnceLock<BertTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/transformer/tests/fixtures/tiny-bert-bare");
        BertTokenizer::from_dir(&dir, MAX_LEN).expect("fixture tokenizer")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tok = tokenizer();
    let encoded = tok.encode(&text).expect("any text encodes");
    assert!(encoded.ids.len() >= 2 && encoded.ids.len() <= MAX_LEN);
    assert!(encoded.ids.iter().all(|&id| (id as usize) < tok.vocab_size()));
    let batch = tok.encode_batch(&[&text, "plain text"]).expect("batch encodes");
    assert_eq!(batch[0].ids, encoded.ids);
});
