//! Parsers of flag values that several commands share.

/// Parses a count that must be at least 1.
pub fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// `--pad-to`'s lengths (empty: pad to the longest row).
#[derive(Debug, Clone)]
pub struct PadTo(pub Vec<usize>);

/// Parses `--pad-to`: `longest`, or comma-separated lengths.
pub fn pad_lengths(s: &str) -> Result<PadTo, String> {
    if s.trim() == "longest" {
        return Ok(PadTo(Vec::new()));
    }
    let lengths = s
        .split(',')
        .map(|l| l.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("`{s}`: expected `longest` or lengths such as 32,64,96,128"))?;
    attn_data::PadLengths::new(&lengths).map_err(|e| e.to_string())?;
    Ok(PadTo(lengths))
}
