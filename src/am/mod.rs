//! pgrx glue for ruvector's index access methods. `page.rs` is the only code that touches
//! index pages; `value.rs` turns column values into the images indexes store; `memcx.rs` scopes
//! per-call memory.

pub mod check;
pub mod codebook;
pub mod corrupt;
pub mod cost;
pub mod hnsw;
pub mod ivf;
pub mod keys;
pub mod memcx;
pub mod memstats;
pub mod meta;
pub mod page;
pub mod quantize;
pub mod rerank;
pub mod routine;
pub mod scan;
pub mod threads;
pub mod tid;
pub mod vacuum;
pub mod value;

use page::Rel;
use pgrx::pg_sys;

/// Reports CREATE INDEX progress (`pg_stat_progress_create_index`): `param` is one of
/// pg_sys's `PROGRESS_CREATEIDX_*`.
pub fn progress(param: u32, value: i64) {
    // SAFETY: progress reporting is a no-op outside a command that started it.
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) };
}

/// A relation's name, as messages quote it.
pub fn relation_name(rel: Rel) -> String {
    // SAFETY: an open relation has a name.
    unsafe {
        let name = &(*(*rel.as_ptr()).rd_rel).relname;
        std::ffi::CStr::from_ptr(name.data.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// A relation's schema-qualified name, quoted where SQL needs it (for a HINT to paste).
pub fn qualified_name(rel: Rel) -> String {
    // SAFETY: an open relation has a name and a namespace; both functions palloc their result
    // in the current memory context and raise (not return null) on failure, except
    // get_namespace_name for a namespace dropped concurrently, which cannot happen while the
    // relation is locked.
    unsafe {
        let r = &*(*rel.as_ptr()).rd_rel;
        let schema = pg_sys::get_namespace_name(r.relnamespace);
        let q = pg_sys::quote_qualified_identifier(schema, r.relname.data.as_ptr());
        std::ffi::CStr::from_ptr(q).to_string_lossy().into_owned()
    }
}
