//! Helpers shared by the access methods' index scans.

use crate::am::memstats::ScanAccount;
use crate::format::{SqlState, VecError};
use crate::kernels::metric::{Metric, ValueKind};
use crate::types::error::raise;
use pgrx::pg_sys;

/// Whether the scan's snapshot is an MVCC one.
///
/// # Safety
/// `snapshot` must be a valid snapshot.
pub unsafe fn is_mvcc(snapshot: *mut pg_sys::SnapshotData) -> bool {
    // SAFETY: the caller passes a valid snapshot.
    let t = unsafe { (*snapshot).snapshot_type };
    t == pg_sys::SnapshotType::SNAPSHOT_MVCC || t == pg_sys::SnapshotType::SNAPSHOT_HISTORIC_MVCC
}

pub use crate::compat::count_index_scan;

/// The query image from the ORDER BY argument (`None` for NULL or a cosine zero vector:
/// every distance is then taken as 0, as pgvector does).
///
/// # Safety
/// `scan` must be a valid index scan with one ORDER BY key of the index column's type.
pub unsafe fn query_image(
    scan: pg_sys::IndexScanDesc,
    metric: Metric,
    dimensions: u32,
) -> Option<Vec<u8>> {
    // SAFETY: the caller passes a valid scan with one ORDER BY key (`orderByData` holds it).
    let key = unsafe { &*(*scan).orderByData };
    if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
        return None;
    }
    // SAFETY: the key is not NULL (checked above) and its argument is a value of the index
    // column's type (the caller's contract).
    let image = unsafe { crate::am::value::image_from_datum(key.sk_argument, metric, None) }?;
    let dims = metric.dimensions(&image) as u32;
    if dims != dimensions {
        let message = match metric.kind() {
            ValueKind::Bits => format!("different bit lengths {} and {}", dims, dimensions),
            kind => format!(
                "different {} dimensions {} and {}",
                match kind {
                    ValueKind::DenseF32 => "vector",
                    ValueKind::DenseF16 => "halfvec",
                    _ => "sparsevec",
                },
                dims,
                dimensions
            ),
        };
        raise(VecError::new(SqlState::DataException, message));
    }
    Some(image)
}

/// Per-scan state of an access method, owned by the scan's memory context (dropped with it even
/// if the scan ends with an ERROR and `amendscan` never runs). `S` is the AM's search.
pub struct ScanState<S> {
    pub inner: Option<S>,
    /// Table access for re-ranking (quantized indexes), kept across rescans.
    pub heap: Option<crate::am::rerank::HeapFetch>,
    /// The search's memory, for `ruvector_memory_stats()`.
    pub account: ScanAccount,
    /// The table's size, to refuse a damaged heap TID before the executor follows it.
    pub heap_bound: crate::am::corrupt::HeapBound,
}

/// An access method's search, as [`get_tuple`] drives it.
pub trait IndexSearch: Sized + 'static {
    /// Starts the search: the first `amgettuple` after `amrescan`.
    ///
    /// # Safety
    /// `scan` is a valid index scan of this access method.
    unsafe fn start(scan: pg_sys::IndexScanDesc) -> Self;

    /// Puts the next heap row in `scan.xs_heaptid`; false when there are none. `heap` is the
    /// scan's table access for re-ranking ([`heap_fetch`]).
    ///
    /// # Safety
    /// `scan` is the scan the search was started for.
    unsafe fn next(
        &mut self,
        scan: pg_sys::IndexScanDesc,
        heap: &mut Option<crate::am::rerank::HeapFetch>,
    ) -> bool;

    /// Bytes the search holds (for `ruvector_memory_stats()`).
    fn held(&self) -> usize;
}

/// `amgettuple`: starts the search if needed, returns its next row and accounts its memory.
///
/// # Safety
/// `scan` was begun by [`begin_scan`] with the same `S`.
pub unsafe fn get_tuple<S: IndexSearch>(scan: pg_sys::IndexScanDesc) -> bool {
    // SAFETY: the caller's contract: `scan` was begun by `begin_scan::<S>`.
    let ScanState {
        inner,
        heap,
        account,
        heap_bound,
    } = unsafe { scan_state::<S>(scan) };
    // SAFETY: PostgreSQL passes a valid IndexScanDesc to amgettuple; its index is open and
    // locked for the duration of the scan.
    let index = unsafe { crate::am::page::Rel::from_raw((*scan).indexRelation) };
    crate::am::corrupt::guard(index, || {
        // SAFETY: `scan` is a valid index scan of this access method (amgettuple's argument).
        let search = inner.get_or_insert_with(|| unsafe { S::start(scan) });
        // SAFETY: `inner` is this scan's own state (reset by `rescan`), so the search was
        // started for `scan`.
        let found = unsafe { search.next(scan, heap) };
        account.set(search.held());
        if found {
            // SAFETY: `scan` is valid for the duration of amgettuple; `next` has just set
            // `xs_heaptid`.
            let blk = unsafe { crate::am::tid::Tid::from_item_pointer(&(*scan).xs_heaptid) }.block;
            // SAFETY: `heapRelation` of an index scan is its table, open while the scan runs.
            unsafe { heap_bound.check(index, (*scan).heapRelation, blk) };
        }
        found
    })
}

/// The scan's table access (`ScanState::heap`), begun on first use.
///
/// # Safety
/// `scan` is the scan the state belongs to.
pub unsafe fn heap_fetch(
    heap: &mut Option<crate::am::rerank::HeapFetch>,
    scan: pg_sys::IndexScanDesc,
) -> &mut crate::am::rerank::HeapFetch {
    // SAFETY: `scan` is a valid index scan of a table (the caller's contract); `amgettuple` is
    // never called for a bitmap scan.
    heap.get_or_insert_with(|| unsafe { crate::am::rerank::HeapFetch::begin(scan) })
}

/// `amendscan`: drops the search and releases the table access.
///
/// # Safety
/// `scan` was begun by [`begin_scan`] with the same `S`.
pub unsafe fn end_scan<S: 'static>(scan: pg_sys::IndexScanDesc) {
    // SAFETY: the caller's contract: `scan` was begun by `begin_scan::<S>`.
    let st = unsafe { scan_state::<S>(scan) };
    st.inner = None;
    st.account.end();
    if let Some(h) = st.heap.take() {
        h.end();
    }
}

/// `ambeginscan`: a scan descriptor with an empty [`ScanState`] as its opaque.
///
/// # Safety
/// Called from an AM's `ambeginscan` with its arguments.
pub unsafe fn begin_scan<S: 'static>(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    // SAFETY: ambeginscan's arguments from PostgreSQL, passed on (the caller's contract).
    let scan = unsafe { pg_sys::RelationGetIndexScan(index, nkeys, norderbys) };
    let st = pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(ScanState::<S> {
        inner: None,
        heap: None,
        account: ScanAccount::begin(),
        heap_bound: Default::default(),
    });
    // SAFETY: RelationGetIndexScan returns a freshly allocated scan descriptor (it raises an
    // ERROR rather than return null), not yet seen by anyone else.
    unsafe { (*scan).opaque = st.cast() };
    scan
}

/// The scan's [`ScanState`].
///
/// # Safety
/// `scan` was begun by [`begin_scan`] with the same `S`.
pub unsafe fn scan_state<S: 'static>(scan: pg_sys::IndexScanDesc) -> &'static mut ScanState<S> {
    // SAFETY: the caller's contract: `scan` is valid and was begun by `begin_scan::<S>`, whose
    // opaque is a `ScanState<S>` living in the scan's memory context.
    unsafe { &mut *(*scan).opaque.cast::<ScanState<S>>() }
}

/// `amrescan`: forgets the search and takes the new keys.
///
/// # Safety
/// Called from an AM's `amrescan` with its arguments, on a scan begun by [`begin_scan`].
pub unsafe fn rescan<S: 'static>(
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    // SAFETY: the caller's contract: `scan` was begun by `begin_scan::<S>`.
    let st = unsafe { scan_state::<S>(scan) };
    st.inner = None;
    st.account.set(0);
    // SAFETY: PostgreSQL passes a valid IndexScanDesc, owned by this scan, for the duration of
    // amrescan; nothing else refers to it during the call (`st` is a separate allocation).
    let scan = unsafe { &mut *scan };
    if !keys.is_null() && scan.numberOfKeys > 0 {
        // SAFETY: `keys` holds `nkeys` scan keys, and RelationGetIndexScan allocated `keyData`
        // for as many (amrescan's contract).
        unsafe { std::ptr::copy(keys, scan.keyData, nkeys as usize) };
    }
    if !orderbys.is_null() && scan.numberOfOrderBys > 0 {
        // SAFETY: as above, for the `norderbys` ORDER BY keys and `orderByData`.
        unsafe { std::ptr::copy(orderbys, scan.orderByData, norderbys as usize) };
    }
}
