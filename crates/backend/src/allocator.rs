//! Settings of mimalloc, the allocator of `attn` and of the benches.

/// mimalloc v3's `mi_option_purge_delay` (its `mimalloc.h`; `libmimalloc-sys` names only v2's).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds that freed memory stays with mimalloc before it goes back to the OS: -1, never.
pub const PURGE_DELAY_MS: i64 = -1;

/// Keeps the memory that mimalloc frees for the rest of the process instead of returning it to the
/// OS after mimalloc's default 1 s, as PyTorch's caching allocator does: a training step frees and
/// allocates the same hundreds of MB about every second, and each purge makes the kernel zero those
/// pages again on their next use. A 10 s delay was not enough: once a run passed 10 s, purges came
/// back (a MiniLM bench of 15 steps took 7,179 page faults with it and 794 without; each one clears
/// a 2 MB huge page). The peak RSS is unchanged; the process just keeps it. Call it at the start of
/// `main` of a binary whose global allocator is `mimalloc::MiMalloc`.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table (an atomic store),
    // and option 15 of the mimalloc v3 that libmimalloc-sys 0.1.49 builds is purge_delay.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_reads_back_as_set() {
        super::keep_freed_memory();
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay as i64, super::PURGE_DELAY_MS);
    }
}
