//! Software prefetch: asks the CPU to start loading a cache line a later step will read, so that
//! several nodes' memory is fetched at once instead of one miss after another (the in-memory
//! graph's neighbour values, index pages' items). Never changes what a program computes.

/// Asks the CPU to start loading the cache line at `p` into all cache levels.
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch instructions never fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// [`prefetch`] of every cache line of the `len` bytes at `start`, at most `max_lines` of them.
/// Only addresses are computed (nothing is read), so `start` may point into memory other
/// processes are changing, such as a shared buffer.
#[inline(always)]
pub fn prefetch_range(start: *const u8, len: usize, max_lines: usize) {
    let end = start.wrapping_add(len);
    let mut at = start.wrapping_sub(start as usize % 64);
    let mut lines = 0;
    while at < end && lines < max_lines {
        prefetch(at);
        at = at.wrapping_add(64);
        lines += 1;
    }
}
