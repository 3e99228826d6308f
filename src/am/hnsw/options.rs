//! `ruhnsw` settings: index options (`WITH (m = 16, ef_construction = 64)`) and the GUCs read at
//! scan time. Names, defaults, ranges and messages are pgvector's (`hnsw.c`), under the
//! `ruvector.` prefix.

use crate::am::page::Rel;
use pgrx::pg_sys;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::CStr;

pub const DEFAULT_M: i32 = 16;
pub const MIN_M: i32 = 2;
pub const MAX_M: i32 = 100;
pub const DEFAULT_EF_CONSTRUCTION: i32 = 64;
pub const MIN_EF_CONSTRUCTION: i32 = 4;
pub const MAX_EF_CONSTRUCTION: i32 = 1000;
pub const DEFAULT_EF_SEARCH: i32 = 40;

/// `ruvector.ef_search`: candidates kept while searching (1..1000).
pub static EF_SEARCH: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_EF_SEARCH);

/// `ruvector.hnsw_iterative_scan`: whether a scan continues past `ef_search` results when the
/// executor asks for more (because a WHERE clause filtered some out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PostgresGucEnum)]
pub enum IterativeScan {
    #[name = c"off"]
    Off,
    /// Results may come slightly out of order across batches.
    #[name = c"relaxed_order"]
    RelaxedOrder,
    /// Results that would break the order are skipped.
    #[name = c"strict_order"]
    StrictOrder,
}

pub static ITERATIVE_SCAN: GucSetting<IterativeScan> =
    GucSetting::<IterativeScan>::new(IterativeScan::Off);

/// `ruvector.hnsw_max_scan_tuples`: elements an iterative scan may visit.
pub static MAX_SCAN_TUPLES: GucSetting<i32> = GucSetting::<i32>::new(20000);

/// `ruvector.hnsw_scan_mem_multiplier`: an iterative scan's memory cap, as a multiple of
/// `work_mem`.
pub static SCAN_MEM_MULTIPLIER: GucSetting<f64> = GucSetting::<f64>::new(1.0);

static mut RELOPT_KIND: pg_sys::relopt_kind::Type = 0;

/// Registers the reloptions and GUCs; called from `_PG_init`.
pub fn init() {
    // SAFETY: called once per backend from _PG_init, on the main thread.
    unsafe {
        RELOPT_KIND = pg_sys::add_reloption_kind();
        pg_sys::add_int_reloption(
            RELOPT_KIND as pg_sys::bits32,
            c"m".as_ptr(),
            c"Max number of connections".as_ptr(),
            DEFAULT_M,
            MIN_M,
            MAX_M,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        pg_sys::add_int_reloption(
            RELOPT_KIND as pg_sys::bits32,
            c"ef_construction".as_ptr(),
            c"Size of the dynamic candidate list for construction".as_ptr(),
            DEFAULT_EF_CONSTRUCTION,
            MIN_EF_CONSTRUCTION,
            MAX_EF_CONSTRUCTION,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        crate::am::quantize::add_reloption(RELOPT_KIND);
        pg_sys::add_bool_reloption(
            RELOPT_KIND as pg_sys::bits32,
            c"sketches".as_ptr(),
            c"Store a sketch of each neighbour beside the ground-layer neighbour lists".as_ptr(),
            false,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
    GucRegistry::define_int_guc(
        c"ruvector.ef_search",
        c"Sets the size of the dynamic candidate list for search",
        c"Valid range is 1..1000.",
        &EF_SEARCH,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"ruvector.hnsw_iterative_scan",
        c"Sets the mode for iterative scans",
        c"off, relaxed_order or strict_order.",
        &ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ruvector.hnsw_max_scan_tuples",
        c"Sets the max number of tuples to visit for iterative scans",
        c"",
        &MAX_SCAN_TUPLES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"ruvector.hnsw_scan_mem_multiplier",
        c"Sets the multiple of work_mem to use for iterative scans",
        c"",
        &SCAN_MEM_MULTIPLIER,
        1.0,
        1000.0,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// The parsed `WITH (...)` options (layout fixed by `build_reloptions`).
#[repr(C)]
pub struct Options {
    vl_len_: i32,
    pub m: i32,
    pub ef_construction: i32,
    /// Offset of the `quantization` string (0: not set).
    quantization: i32,
    /// Neighbour sketches (`sketches.rs`; format version 5); PostgreSQL's `bool`.
    sketches: bool,
}

fn parse_elt(name: &'static CStr, offset: usize) -> pg_sys::relopt_parse_elt {
    crate::compat::relopt_parse_elt(name, pg_sys::relopt_type::RELOPT_TYPE_INT, offset)
}

/// `amoptions`: parses and validates `WITH (...)`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    let tab = [
        parse_elt(c"m", std::mem::offset_of!(Options, m)),
        parse_elt(
            c"ef_construction",
            std::mem::offset_of!(Options, ef_construction),
        ),
        crate::am::quantize::parse_elt(std::mem::offset_of!(Options, quantization)),
        crate::compat::relopt_parse_elt(
            c"sketches",
            pg_sys::relopt_type::RELOPT_TYPE_BOOL,
            std::mem::offset_of!(Options, sketches),
        ),
    ];
    // SAFETY: amoptions' arguments from PostgreSQL, passed on; `tab` describes `Options` (its
    // offsets and size taken from the struct) and outlives the call. `RELOPT_KIND` is written
    // only once, in `_PG_init`, before any index can be used, and only read afterwards.
    unsafe {
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND,
            std::mem::size_of::<Options>(),
            tab.as_ptr(),
            tab.len() as i32,
        )
    }
    .cast()
}

/// The options of an index relation (defaults when none were given).
pub fn of(index: Rel) -> (i32, i32) {
    // SAFETY: rd_options is null or points at our Options (built by amoptions).
    unsafe {
        let o = (*index.as_ptr()).rd_options.cast::<Options>();
        if o.is_null() {
            (DEFAULT_M, DEFAULT_EF_CONSTRUCTION)
        } else {
            ((*o).m, (*o).ef_construction)
        }
    }
}

/// `quantization` of an index relation (`none` when not given).
pub fn quantization(index: Rel) -> crate::quant::Quantization {
    crate::am::quantize::of_index::<Options>(index, |o| o.quantization)
}

/// Whether the index was created `WITH (sketches = on)`: its ground-layer neighbour lists carry
/// sketches of the neighbours (`sketches.rs`), which searches use to read fewer elements.
pub fn sketches(index: Rel) -> bool {
    // SAFETY: rd_options is null or the Options built by `amoptions`.
    unsafe {
        let o = (*index.as_ptr()).rd_options.cast::<Options>();
        !o.is_null() && (*o).sketches
    }
}
