//! `ruhnsw`: an HNSW index access method stored in PostgreSQL pages.
//!
//! | file | concern |
//! |---|---|
//! | `layout.rs`  | on-page format: meta page, element and neighbour tuples, page planning |
//! | `options.rs` | `WITH (m, ef_construction)` and the `ruvector.*` GUCs |
//! | `disk.rs`    | the on-disk graph seen by the pure search; meta page access |
//! | `build.rs`   | `ambuild` (parallel in-memory build, bulk write) and `ambuildempty` |
//! | `insert.rs`  | `aminsert` and the locking protocol |
//! | `keydir.rs`  | the key directory of an index with key columns (filtered search) |
//! | `keylinks.rs`| key links: per key value subgraphs that filtered walks follow |
//! | `scan.rs`    | `ambeginscan` / `amrescan` / `amgettuple` / `amendscan`, iterative scans |
//! | `vacuum.rs`  | `ambulkdelete` / `amvacuumcleanup` with graph repair |
//! | `cost.rs`    | `amcostestimate` |
//! | `stats.rs`   | `ruvector_index_stats()` |
//! | `check.rs`   | `ruvector_index_check()`: every page, tuple and link checked |
//!
//! The graph algorithms themselves are in the PURE `crate::graph`; all page access goes
//! through `crate::am::page`.

pub mod build;
pub mod check;
pub mod cost;
pub mod disk;
pub mod insert;
pub mod keydir;
pub mod keylinks;
pub mod layout;
pub mod maintain;
pub mod options;
pub mod scan;
pub mod sketches;
pub mod stats;
pub mod vacuum;

use pgrx::pg_sys;

/// `pg_stat_progress_create_index.phase` values (1 is PostgreSQL's "initializing").
pub const PHASE_LOAD: i64 = 2;
pub const PHASE_BUILD_GRAPH: i64 = 3;
pub const PHASE_WRITE: i64 = 4;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        1 => c"initializing",
        PHASE_LOAD => c"loading tuples",
        PHASE_BUILD_GRAPH => c"building graph",
        PHASE_WRITE => c"writing index",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr().cast_mut()
}

/// The index AM handler: `CREATE ACCESS METHOD ruhnsw TYPE INDEX HANDLER ruhnsw_handler`.
///
/// # Safety
/// Called by PostgreSQL's fmgr.
#[no_mangle]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ruhnsw_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: called from the AM handler, as `ordered_by_distance` requires.
    let am = unsafe { crate::am::routine::ordered_by_distance() };
    // SAFETY: a freshly palloc'd, zeroed routine (palloc raises rather than return null) that
    // nothing else refers to yet.
    let a = unsafe { &mut *am };
    // Columns after the vector are key columns, their WHERE clauses (`=`, ranges, `IN`/
    // `= ANY`) checked inside the index during the search (`crate::am::keys`).
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
pub extern "C" fn pg_finfo_ruhnsw_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

// The access method; its operator classes are in sql/finalize.sql (they need the distance
// functions of every type).
pgrx::extension_sql!(
    r#"
CREATE FUNCTION ruhnsw_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'ruhnsw_handler' LANGUAGE C;
CREATE ACCESS METHOD ruhnsw TYPE INDEX HANDLER ruhnsw_handler;
COMMENT ON ACCESS METHOD ruhnsw IS 'ruvector HNSW index access method';
"#,
    name = "ruhnsw_access_method"
);
