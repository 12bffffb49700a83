//! Rows moved between a padded batch and its packed real tokens, each row copied once.

/// The rows `rows` of `x` (rows of `width` elements), in their order: [rows.len(), width].
pub fn pack_rows(x: &[f32], width: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        out.extend_from_slice(&x[r * width..(r + 1) * width]);
    }
    out
}

/// The rows of `x` ([rows.len(), width]) at rows `rows` of a [positions, width] matrix, zeros
/// elsewhere.
///
/// # Panics
/// Unless `rows` increase and lie below `positions`.
pub fn unpack_rows(x: &[f32], width: usize, rows: &[usize], positions: usize) -> Vec<f32> {
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]) && rows.last().is_none_or(|&r| r < positions),
        "packed rows must increase and lie below the {positions} positions"
    );
    let mut out = Vec::with_capacity(positions * width);
    for (&r, row) in rows.iter().zip(x.chunks_exact(width.max(1))) {
        out.resize(r * width, 0.0);
        out.extend_from_slice(row);
    }
    out.resize(positions * width, 0.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacking_the_packed_rows_restores_them_and_zeros_the_rest() {
        let x: Vec<f32> = (0..12).map(|i| i as f32 + 1.0).collect();
        let rows = [0, 2, 3];
        let packed = pack_rows(&x, 2, &rows);
        assert_eq!(packed, [1.0, 2.0, 5.0, 6.0, 7.0, 8.0]);
        let unpacked = unpack_rows(&packed, 2, &rows, 6);
        assert_eq!(
            unpacked,
            [1.0, 2.0, 0.0, 0.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    #[should_panic(expected = "must increase")]
    fn rows_out_of_order_are_refused() {
        unpack_rows(&[1.0, 2.0], 1, &[1, 0], 2);
    }
}
