//! A short-lived PostgreSQL memory context for one AM callback.
//!
//! `aminsert` runs once per row in whatever context the executor has current, which is not
//! reset between rows of one INSERT statement; detoasting a value there would grow the
//! statement's memory with every row. pgvector creates a temporary context per insert for the
//! same reason (`hnswinsert`).

use pgrx::pg_sys;
use std::ffi::CStr;

/// Runs `f` with a new child of the current memory context current, and deletes that context
/// afterwards. On an ERROR inside `f` the context is freed with its parent at abort.
pub fn scoped<R>(name: &'static CStr, f: impl FnOnce() -> R) -> R {
    // SAFETY: creating, switching to and deleting a context we own; `name` is static, as
    // AllocSetContextCreate requires.
    unsafe {
        let cx = pg_sys::AllocSetContextCreateExtended(
            pg_sys::CurrentMemoryContext,
            name.as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        let previous = pg_sys::MemoryContextSwitchTo(cx);
        let r = f();
        pg_sys::MemoryContextSwitchTo(previous);
        pg_sys::MemoryContextDelete(cx);
        r
    }
}
