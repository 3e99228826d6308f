//! `ruivfflat` settings: the index option `WITH (lists = 100)` and the GUCs read at scan time.
//! Names, defaults, ranges and descriptions are pgvector's (`ivfflat.c`), under the
//! `ruvector.` prefix.

use crate::am::page::Rel;
use pgrx::pg_sys;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

pub const DEFAULT_LISTS: i32 = 100;
pub const MIN_LISTS: i32 = 1;
pub const MAX_LISTS: i32 = 32768;
pub const DEFAULT_PROBES: i32 = 1;

/// `ruvector.probes`: lists a scan visits.
pub static PROBES: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_PROBES);

/// `ruvector.ivfflat_iterative_scan`: whether a scan probes more lists when the executor asks
/// for more rows than the first `probes` lists produced (because a WHERE clause filtered some).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PostgresGucEnum)]
pub enum IterativeScan {
    #[name = c"off"]
    Off,
    /// Rows of later lists may be closer than rows already returned.
    #[name = c"relaxed_order"]
    RelaxedOrder,
}

pub static ITERATIVE_SCAN: GucSetting<IterativeScan> =
    GucSetting::<IterativeScan>::new(IterativeScan::Off);

/// `ruvector.ivfflat_max_probes`: most lists an iterative scan visits.
pub static MAX_PROBES: GucSetting<i32> = GucSetting::<i32>::new(MAX_LISTS);

static mut RELOPT_KIND: pg_sys::relopt_kind::Type = 0;

/// Registers the reloption and GUCs; called from `_PG_init`.
pub fn init() {
    // SAFETY: called once per backend from _PG_init, on the main thread.
    unsafe {
        RELOPT_KIND = pg_sys::add_reloption_kind();
        pg_sys::add_int_reloption(
            RELOPT_KIND as pg_sys::bits32,
            c"lists".as_ptr(),
            c"Number of inverted lists".as_ptr(),
            DEFAULT_LISTS,
            MIN_LISTS,
            MAX_LISTS,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        crate::am::quantize::add_reloption(RELOPT_KIND);
    }
    GucRegistry::define_int_guc(
        c"ruvector.probes",
        c"Sets the number of probes",
        c"Valid range is 1..lists.",
        &PROBES,
        1,
        MAX_LISTS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"ruvector.ivfflat_iterative_scan",
        c"Sets the mode for iterative scans",
        c"off or relaxed_order.",
        &ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ruvector.ivfflat_max_probes",
        c"Sets the max number of probes for iterative scans",
        c"",
        &MAX_PROBES,
        1,
        MAX_LISTS,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// The parsed `WITH (...)` options (layout fixed by `build_reloptions`).
#[repr(C)]
pub struct Options {
    vl_len_: i32,
    pub lists: i32,
    /// Offset of the `quantization` string (0: not set).
    quantization: i32,
}

/// `amoptions`: parses and validates `WITH (...)`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    let tab = [
        crate::compat::relopt_parse_elt(
            c"lists",
            pg_sys::relopt_type::RELOPT_TYPE_INT,
            std::mem::offset_of!(Options, lists),
        ),
        crate::am::quantize::parse_elt(std::mem::offset_of!(Options, quantization)),
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

/// `lists` of an index relation (the default when not given).
pub fn lists(index: Rel) -> i32 {
    // SAFETY: rd_options is null or points at our Options (built by amoptions).
    unsafe {
        let o = (*index.as_ptr()).rd_options.cast::<Options>();
        if o.is_null() {
            DEFAULT_LISTS
        } else {
            (*o).lists
        }
    }
}

/// `quantization` of an index relation (`none` when not given).
pub fn quantization(index: Rel) -> crate::quant::Quantization {
    crate::am::quantize::of_index::<Options>(index, |o| o.quantization)
}
