//! Settings of mimalloc, the allocator of `attn` and of the benches.
//!
//! mimalloc's settings are a C API: this module is the binary's one place with `unsafe`.

#![allow(unsafe_code)]

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
    use super::*;

    /// Option `index` as mimalloc reads it now.
    fn option(index: libmimalloc_sys::mi_option_t) -> i64 {
        // SAFETY: mi_option_get reads an integer from mimalloc's option table.
        unsafe { libmimalloc_sys::mi_option_get(index) as i64 }
    }

    #[test]
    fn option_15_is_the_purge_delay_and_keep_freed_memory_turns_purging_off() {
        // mimalloc v3 ships a purge delay of 1000 ms: option 15 is that setting, not another.
        assert_eq!(option(MI_OPTION_PURGE_DELAY), 1000);
        keep_freed_memory();
        assert_eq!(option(MI_OPTION_PURGE_DELAY), PURGE_DELAY_MS);
    }
}
