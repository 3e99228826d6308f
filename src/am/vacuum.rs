//! Helpers shared by the access methods' VACUUM callbacks.

use pgrx::pg_sys;

/// Cost-based VACUUM delay (`vacuum_delay_point`); may sleep or raise a query cancel.
pub fn delay_point() {
    // SAFETY: cost-based VACUUM delay; may sleep or raise a query cancel.
    #[cfg(not(feature = "pg18"))]
    unsafe {
        pg_sys::vacuum_delay_point()
    };
    #[cfg(feature = "pg18")]
    unsafe {
        pg_sys::vacuum_delay_point(false)
    };
}

/// The bulk-delete result to fill: the one passed in, or a new zeroed one.
pub fn new_stats(stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        // SAFETY: palloc0 in the VACUUM's memory context.
        unsafe {
            pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBulkDeleteResult>())
                .cast::<pg_sys::IndexBulkDeleteResult>()
        }
    } else {
        stats
    }
}
