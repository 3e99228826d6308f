//! Helpers shared by the access methods' VACUUM callbacks.

use pgrx::pg_sys;

pub use crate::compat::vacuum_delay_point as delay_point;

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
