//! Any text as a `config.json`: parsed and validated, or refused with an error, never a panic or
//! a huge allocation.
#![no_main]

use attn_transformer::BertConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = BertConfig::from_json(text) {
        // A config that passed validation has sane sizes: these must not overflow or panic.
        let _ = config.num_parameters();
        let _ = config.head_dim();
    }
});
