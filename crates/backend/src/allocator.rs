//! Settings of mimalloc, the allocator of `attn` and of the benches.

/// mimalloc v3's `mi_option_purge_delay` (its `mimalloc.h`; `libmimalloc-sys` names only v2's).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps memory that mimalloc frees for reuse instead of returning it to the OS after its 1 s purge
/// delay: a training step frees and allocates the same hundreds of MB every ~1 s, and every purge
/// makes the kernel zero those pages again on their next use (8 % of a MiniLM step). Call it at the
/// start of `main` of a binary whose global allocator is `mimalloc::MiMalloc`.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table (an atomic store),
    // and option 15 of the mimalloc v3 that libmimalloc-sys 0.1.49 builds is purge_delay.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_reads_back_as_set() {
        super::keep_freed_memory();
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, -1);
    }
}
