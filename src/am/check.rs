//! `ruvector_index_check(index, heapallindexed)`: reads a ruvector index's every page and
//! reports what is wrong with it, in the spirit of amcheck's `bt_index_check` (PostgreSQL docs,
//! "amcheck"): `AccessShareLock` only (writers and VACUUM go on; hot standbys too), problems as
//! a list with block and offset rather than an ERROR at the first one, `ok` when there are
//! none. The access methods' own checks are `hnsw::check` and `ivf::check`; this file opens the
//! relations, runs the `heapallindexed` pass and shapes the report.
//!
//! `heapallindexed`: every heap TID the index holds goes into a Bloom filter
//! (`crate::check::Bloom`, sized by `maintenance_work_mem`, as amcheck sizes its own); then the
//! table is scanned as an index build scans it — same expressions, same partial-index predicate,
//! heap-only tuples reported at their HOT chain's root — with an MVCC snapshot taken before the
//! index was read, and every row the index should hold (a vector that is not NULL, and not a
//! zero vector under a cosine operator class) must be in the filter. A row visible to that
//! snapshot was inserted, index entry and all, before the index was read; a filter can only
//! miss a missing row by a false positive (about 1% at 10 bits a row), never report a present
//! one as missing.

use super::page::Rel;
use super::tid::Tid;
use crate::check::{Bloom, Finding, Findings};
use crate::format::{SqlState, VecError};
use crate::kernels::metric::Metric;
use crate::types::error::raise;
use pgrx::pg_sys;
use serde_json::{json, Value};

/// Most tuples a heap page holds (`MaxHeapTuplesPerPage` of `access/htup_details.h`: a page's
/// space after its header over the smallest tuple, a MAXALIGNed header, and its line pointer).
const MAX_HEAP_TUPLES_PER_PAGE: u16 = ((pg_sys::BLCKSZ as usize - 24) / (24 + 4)) as u16;

/// The index's table as the check sees it: its size (for heap TIDs) and the Bloom filter of
/// the `heapallindexed` pass.
pub struct Heap {
    rel: pg_sys::Relation,
    blocks: u32,
    bloom: Option<Bloom>,
}

impl Heap {
    /// A heap TID the index holds for a live entry.
    pub fn add(&mut self, t: Tid) {
        if let Some(b) = &mut self.bloom {
            b.insert(t.pack());
        }
    }
}

/// What is wrong with heap TID `t` read from the index (`None`: a row address within the
/// table). The table may have grown since the check began: its size is looked up again for
/// a block beyond it.
pub fn heap_tid_problem(heap: &mut Heap, t: Tid) -> Option<String> {
    if !t.is_valid() || t.offset > MAX_HEAP_TUPLES_PER_PAGE {
        return Some(format!(
            "heap TID ({},{}) is not a row address",
            t.block as i64, t.offset
        ));
    }
    if t.block >= heap.blocks {
        // SAFETY: the table is open for the whole check.
        heap.blocks = unsafe { Rel::from_raw(heap.rel) }.blocks();
        if t.block >= heap.blocks {
            return Some(format!(
                "heap TID ({},{}) is past the table's end ({} blocks)",
                t.block, t.offset, heap.blocks
            ));
        }
    }
    None
}

/// The meta page of `index` (block 0, whose page type is `page_type` in access method `am`,
/// read by `read`), or `None` with the problem recorded when it is not one. A format version
/// this build does not read is not damage: its error is raised (`am::meta`).
pub fn meta_page<M>(
    index: Rel,
    f: &mut Findings,
    page_type: u8,
    am: &str,
    versions: std::ops::RangeInclusive<u32>,
    read: impl FnOnce(Rel) -> Result<M, super::meta::MetaError>,
) -> Option<M> {
    {
        let buf = super::page::Locked::read(index, 0, super::page::Share);
        let page = buf.page_unchecked();
        if !page.is_ruvector() || page.opaque().page_type != page_type {
            f.page(0, format!("block 0 is not a {am} meta page"));
            return None;
        }
    }
    match read(index) {
        Ok(m) => Some(m),
        Err(super::meta::MetaError::Damaged) => {
            f.page(0, "the meta page's fields are out of range");
            None
        }
        Err(e) => super::meta::raise_meta_error(index, am, versions, e),
    }
}

/// The key layout an index's meta page describes (`count` columns, blobs of `len` bytes;
/// `Some(None)` without key columns), or `None` with the problem recorded when it is not the
/// index's definition.
pub fn key_layout(
    index: Rel,
    f: &mut Findings,
    am: &str,
    count: u16,
    len: u16,
) -> Option<Option<crate::filter::KeyLayout>> {
    if count == 0 {
        return Some(None);
    }
    match super::keys::KeyColumns::built(index, am, count, len) {
        Some(k) => Some(Some(k.layout)),
        None => {
            f.page(
                0,
                "the meta page's key columns are not the index's key columns",
            );
            None
        }
    }
}

/// The blocks of a quantized index's codebook (`r`; none for an unquantized one), the
/// problem recorded when it does not decode or is not for `dims` dimensions.
pub fn codebook(
    index: Rel,
    f: &mut Findings,
    r: &super::codebook::CodebookRef,
    dims: usize,
) -> Vec<u32> {
    if !r.is_quantized() {
        return Vec::new();
    }
    match super::codebook::read_checked(index, r) {
        Ok((cb, blocks)) if cb.dims() == dims => blocks,
        Ok((cb, _)) => {
            f.page(
                0,
                format!(
                    "the codebook is for {} dimensions, the index has {dims}",
                    cb.dims()
                ),
            );
            Vec::new()
        }
        Err(p) => {
            f.page(r.block, p);
            Vec::new()
        }
    }
}

/// Item `off` of `page` (block `blk`) if its line pointer is used and sound; one that puts an
/// item outside the page's item area is recorded in `f`.
pub fn item<'a>(
    page: super::page::PageRef<'a>,
    blk: u32,
    off: u16,
    f: &mut Findings,
) -> Option<&'a [u8]> {
    if let Some(p) = page.line_pointer_problem(off) {
        f.at(blk, off, p);
        return None;
    }
    page.item(off)
}

/// The index access methods `ruvector_index_check()` knows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Am {
    Hnsw,
    Ivf,
}

impl Am {
    fn name(self) -> &'static str {
        match self {
            Am::Hnsw => "ruhnsw",
            Am::Ivf => "ruivfflat",
        }
    }
}

fn finding_json(x: &Finding) -> Value {
    json!({"block": x.block, "offset": x.offset, "problem": x.problem})
}

/// Checks index `index` (of table `heap`, access method `am`); the caller has checked the
/// user's rights. Takes `AccessShareLock` on the table, then the index (the order of every
/// PostgreSQL command that reads both).
///
/// # Safety
/// `index` must be an index of `heap` using `am`, as looked up without locks just before.
pub unsafe fn run(index: pg_sys::Oid, heap: pg_sys::Oid, am: Am, heapallindexed: bool) -> Value {
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    // SAFETY: in a transaction (a SQL function's); relation_open raises an ERROR for a relation
    // that has gone since the caller looked it up. Both stay open until closed at the end.
    let (heap_rel, rel) = unsafe {
        (
            pg_sys::relation_open(heap, lock),
            pg_sys::relation_open(index, lock),
        )
    };
    // SAFETY: `rel` and `heap_rel` are open (above) until closed at the end, after their last
    // use.
    let (r, heap_r) = unsafe { (Rel::from_raw(rel), Rel::from_raw(heap_rel)) };
    // SAFETY: a syscache lookup by OID, `missing_ok`: no ERROR for an index dropped since.
    if unsafe { pg_sys::IndexGetRelation(index, true) } != heap {
        raise(VecError::new(
            SqlState::UndefinedTable,
            format!(
                "could not open parent table of index \"{}\"",
                super::relation_name(r)
            ),
        ));
    }
    // SAFETY: `rel` is open, so its relcache entry and `pg_class` form are valid.
    let other_sessions_temp = unsafe {
        (*(*rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_TEMP as std::ffi::c_char
            && !(*rel).rd_islocaltemp
    };
    if other_sessions_temp {
        raise(VecError::new(
            SqlState::FeatureNotSupported,
            "cannot access temporary tables of other sessions",
        ));
    }
    // SAFETY: `rel` is an open index, so its `pg_index` form is valid.
    if !unsafe { (*(*rel).rd_index).indisvalid } {
        raise(
            VecError::new(
                SqlState::FeatureNotSupported,
                format!("cannot check index \"{}\"", super::relation_name(r)),
            )
            .with_detail("Index is not valid."),
        );
    }
    // The snapshot comes first: every row it sees had its index entry made before the index
    // is read below.
    let snapshot = if heapallindexed {
        // SAFETY: in a transaction; the snapshot stays registered until unregistered below
        // (or the transaction ends in an ERROR).
        let s = unsafe { pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot()) };
        // An index built by CREATE INDEX CONCURRENTLY may miss rows older snapshots still
        // see until its xmin is old enough (indcheckxmin): amcheck refuses those too.
        // SAFETY: `rel` is an open index, so its `pg_index` form is valid.
        if unsafe { (*(*rel).rd_index).indcheckxmin } {
            // SAFETY: the open index's `pg_index` tuple is valid with it; `s` is the snapshot
            // registered above.
            let too_new = unsafe {
                let xmin = (*(*(*rel).rd_indextuple).t_data).t_choice.t_heap.t_xmin;
                !pg_sys::TransactionIdPrecedes(xmin, (*s).xmin)
            };
            if too_new {
                // SAFETY: `s` was registered above and is not used after.
                unsafe { pg_sys::UnregisterSnapshot(s) };
                raise(
                    VecError::new(
                        SqlState::ObjectNotInPrerequisiteState,
                        format!(
                            "index \"{}\" cannot be verified using transaction snapshot",
                            super::relation_name(r)
                        ),
                    )
                    .with_detail("The index is too new for this snapshot; check it again later."),
                );
            }
        }
        Some(s)
    } else {
        None
    };
    // SAFETY: `heap_rel` is open, so its relcache entry and `pg_class` form are valid.
    let reltuples = unsafe { (*(*heap_rel).rd_rel).reltuples }.max(0.0) as u64;
    let expected = reltuples.max(heap_r.blocks() as u64 * 20).max(1000);
    let mut h = Heap {
        rel: heap_rel,
        blocks: heap_r.blocks(),
        bloom: snapshot.map(|_| {
            // SAFETY: a GUC, a plain value read in the backend's only thread.
            let work_mem = unsafe { pg_sys::maintenance_work_mem };
            Bloom::new(expected, work_mem as usize * 1024)
        }),
    };
    let mut f = Findings::default();
    let checked = super::corrupt::guard(r, || match am {
        Am::Hnsw => super::hnsw::check::check(r, &mut f, &mut h),
        Am::Ivf => super::ivf::check::check(r, &mut f, &mut h),
    });
    let heap_report = match (snapshot, &h.bloom) {
        (Some(s), Some(bloom)) => {
            // SAFETY: `heap_rel` is the open table of the open index `r`; `s` is the snapshot
            // registered above, unregistered once the scan is done.
            let (rows, missing) = unsafe {
                let counts = heap_pass(heap_rel, r, s, bloom, &mut f);
                pg_sys::UnregisterSnapshot(s);
                counts
            };
            json!({
                "table_rows": rows,
                "missing": missing,
                "bloom_bits": bloom.bits(),
                "bloom_fill": (bloom.fill() * 1000.0).round() / 1000.0,
            })
        }
        _ => Value::Null,
    };
    let name = super::qualified_name(r);
    // SAFETY: both opened above with `lock`, neither used after.
    unsafe {
        pg_sys::relation_close(rel, lock);
        pg_sys::relation_close(heap_rel, lock);
    }
    json!({
        "index": name,
        "access_method": am.name(),
        "ok": f.ok(),
        "problem_count": f.problem_count,
        "problems": f.problems.iter().map(finding_json).collect::<Vec<_>>(),
        "warning_count": f.warning_count,
        "warnings": f.warnings.iter().map(finding_json).collect::<Vec<_>>(),
        "checked": checked,
        "heapallindexed": heap_report,
    })
}

/// State of the `heapallindexed` table scan.
struct HeapPass<'a> {
    bloom: &'a Bloom,
    metric: Metric,
    rows: u64,
    missing: u64,
    findings: &'a mut Findings,
}

/// Scans the table with `snapshot` as an index build would; every row the index should hold
/// must be in `bloom`. Returns the rows looked for and those missing.
///
/// # Safety
/// `heap` must be the open table of the open index `index`, `snapshot` a registered MVCC
/// snapshot.
unsafe fn heap_pass(
    heap: pg_sys::Relation,
    index: Rel,
    snapshot: pg_sys::Snapshot,
    bloom: &Bloom,
    f: &mut Findings,
) -> (u64, u64) {
    // SAFETY: `index` is open (the caller's contract); BuildIndexInfo returns a new palloc'd
    // IndexInfo, ours alone.
    let info = unsafe { pg_sys::BuildIndexInfo(index.as_ptr()) };
    // As amcheck: an MVCC snapshot scan, uniqueness not checked.
    // SAFETY: as above.
    unsafe {
        (*info).ii_Concurrent = true;
        (*info).ii_Unique = false;
    }
    let mut state = HeapPass {
        bloom,
        metric: super::value::metric_from_support(index),
        rows: 0,
        missing: 0,
        findings: f,
    };
    // SAFETY: `heap` is open (the caller's contract); its table AM routine is a static
    // struct of the AM's, never freed or changed.
    let am = unsafe { &*(*heap).rd_tableam };
    // table_beginscan_strat(heap, snapshot, 0, NULL, true, true) of access/tableam.h.
    let flags = pg_sys::ScanOptions::SO_TYPE_SEQSCAN
        | pg_sys::ScanOptions::SO_ALLOW_STRAT
        | pg_sys::ScanOptions::SO_ALLOW_SYNC
        | pg_sys::ScanOptions::SO_ALLOW_PAGEMODE;
    let scan_begin = am.scan_begin.expect("table access method scans");
    // SAFETY: the table AM's own scan_begin on its open table, with a registered snapshot (the
    // caller's contract) and no scan keys.
    let scan = unsafe {
        scan_begin(
            heap,
            snapshot,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            flags,
        )
    };
    // table_index_build_scan(heap, index, info, true, false, callback, state, scan): it ends
    // the scan.
    let index_build_range_scan = am
        .index_build_range_scan
        .expect("table access method builds indexes");
    // SAFETY: the table AM's own build scan of its open table for the open `index`, with the
    // IndexInfo and scan made above; `state` outlives the call and `heap_callback` takes it as
    // the `HeapPass` it is.
    unsafe {
        index_build_range_scan(
            heap,
            index.as_ptr(),
            info,
            true,
            false,
            false,
            0,
            pg_sys::InvalidBlockNumber,
            Some(heap_callback),
            (&mut state as *mut HeapPass).cast(),
            scan,
        )
    };
    (state.rows, state.missing)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn heap_callback(
    _index: pg_sys::Relation,
    ctid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _tuple_is_alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: `state` is the `HeapPass` that `heap_pass` hands its build scan, alive and not
    // otherwise used while the scan runs.
    let state = unsafe { &mut *state.cast::<HeapPass>() };
    // SAFETY: the build scan passes a value and a null flag for each index column, the
    // vector first.
    if unsafe { *isnull } {
        return;
    }
    // Zero vectors under a cosine operator class have no direction and are not indexed.
    if state.metric.normalizes()
        // SAFETY: as above; the value is not NULL, of the index column's type.
        && unsafe { super::value::image_from_datum(*values, state.metric, None) }.is_none()
    {
        return;
    }
    state.rows += 1;
    if state.rows.is_multiple_of(1024) {
        pgrx::check_for_interrupts!();
    }
    // SAFETY: the build scan passes the row's valid TID.
    let t = Tid::from_item_pointer(unsafe { &*ctid });
    if !state.bloom.may_contain(t.pack()) {
        state.missing += 1;
        state.findings.problem(
            None,
            None,
            format!("table row ({},{}) is not in the index", t.block, t.offset),
        );
    }
}
