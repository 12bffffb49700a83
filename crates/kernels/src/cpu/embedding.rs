//! The gradient of an embedding lookup.

/// Adds row r of `grad` ([ids.len(), d]) into row `ids[r]` of `out` ([vocab, d]), in row order.
pub fn embedding_backward(ids: &[usize], grad: &[f32], out: &mut [f32]) {
    let d = grad.len() / ids.len().max(1);
    for (&id, g) in ids.iter().zip(grad.chunks_exact(d)) {
        for (o, &g) in out[id * d..(id + 1) * d].iter_mut().zip(g) {
            *o += g;
        }
    }
}
