//! Any bytes as a CSV/TSV file: the reader and the label maps return rows or an error, never panic.
#![no_main]

use attn_data::{Column, CsvFormat, LabelMap, read_raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("attn-fuzz-{}.csv", std::process::id()));
    std::fs::write(&path, data).expect("temp file");
    let formats = [
        CsvFormat::ag_news(),
        CsvFormat::for_path(
            &path,
            true,
            Column::Name("label".into()),
            vec![Column::Name("text".into()), Column::Index(2)],
        ),
    ];
    for format in &formats {
        for skip_bad in [false, true] {
            if let Ok(table) = read_raw(&path, format, skip_bad) {
                let _ = LabelMap::ag_news().apply(table.clone(), skip_bad);
                let map = LabelMap::from_table(&table);
                let _ = map.apply(table, skip_bad);
            }
        }
    }
});
