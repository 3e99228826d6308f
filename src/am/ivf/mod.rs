//! `ruivfflat`: an inverted-file (IVF-Flat) index access method stored in PostgreSQL pages.
//!
//! | file | concern |
//! |---|---|
//! | `layout.rs`  | on-page format: meta page, list tuples, data tuples |
//! | `parts.rs`   | tuples longer than a page: split into part items, joined when read |
//! | `lists.rs`   | reading the meta page and the list directory, updating a list |
//! | `options.rs` | `WITH (lists)` and the `ruvector.*` GUCs |
//! | `build.rs`   | `ambuild` (sample, k-means, assign, bulk write) and `ambuildempty` |
//! | `insert.rs`  | `aminsert` |
//! | `scan.rs`    | `ambeginscan` / `amrescan` / `amgettuple` / `amendscan`, iterative scans |
//! | `vacuum.rs`  | `ambulkdelete` / `amvacuumcleanup` |
//! | `cost.rs`    | `amcostestimate` |
//! | `stats.rs`   | `ruvector_index_stats()` |
//! | `check.rs`   | `ruvector_index_check()`: lists, data pages and tuples checked |
//!
//! k-means and the list-layout advice are PURE code in `crate::ivf`; all page access goes
//! through `crate::am::page`.

pub mod build;
pub mod check;
pub mod cost;
pub mod insert;
pub mod layout;
pub mod lists;
pub mod maintain;
pub mod options;
pub mod parts;
pub mod scan;
pub mod stats;
pub mod vacuum;

use pgrx::pg_sys;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        1 => c"initializing",
        build::PHASE_READ => c"reading tuples",
        build::PHASE_KMEANS => c"performing k-means",
        build::PHASE_ASSIGN => c"assigning tuples",
        build::PHASE_LOAD => c"loading tuples",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr().cast_mut()
}

/// The index AM handler: `CREATE ACCESS METHOD ruivfflat TYPE INDEX HANDLER ruivfflat_handler`.
///
/// # Safety
/// Called by PostgreSQL's fmgr.
#[no_mangle]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ruivfflat_handler(
    _fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: called from the AM handler, as `ordered_by_distance` requires.
    let am = unsafe { crate::am::routine::ordered_by_distance() };
    // SAFETY: a freshly palloc'd, zeroed routine (palloc raises rather than return null) that
    // nothing else refers to yet.
    let a = unsafe { &mut *am };
    // Key columns after the vector (`crate::am::keys`), with `IN (...)` as one scan key.
    a.amcanmulticol = true;
    a.amsearcharray = true;
    a.ambuild = Some(build::ambuild);
    a.ambuildempty = Some(build::ambuildempty);
    a.aminsert = Some(insert::aminsert);
    a.ambulkdelete = Some(vacuum::ambulkdelete);
    a.amvacuumcleanup = Some(vacuum::amvacuumcleanup);
    a.amcostestimate = Some(cost::amcostestimate);
    a.amoptions = Some(options::amoptions);
    a.ambuildphasename = Some(ambuildphasename);
    a.ambeginscan = Some(scan::ambeginscan);
    a.amrescan = Some(scan::amrescan);
    a.amgettuple = Some(scan::amgettuple);
    a.amendscan = Some(scan::amendscan);
    pg_sys::Datum::from(am)
}

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_ruivfflat_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

// The access method; its operator classes are in sql/finalize.sql.
pgrx::extension_sql!(
    r#"
CREATE FUNCTION ruivfflat_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'ruivfflat_handler' LANGUAGE C;
CREATE ACCESS METHOD ruivfflat TYPE INDEX HANDLER ruivfflat_handler;
COMMENT ON ACCESS METHOD ruivfflat IS 'ruvector IVFFlat index access method';
"#,
    name = "ruivfflat_access_method"
);
