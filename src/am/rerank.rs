//! Exact re-ranking for quantized index scans: the full vectors of candidate rows are read from
//! the table (the index keeps only codes, which is what makes it small), their exact distances
//! to the query computed, and the candidates returned in that order.
//!
//! Rows are fetched as the executor fetches them after an index scan — through the table AM's
//! `index_fetch_tuple` with the scan's snapshot (following HOT chains) — and the indexed value
//! is formed with `FormIndexDatum`, so expression indexes work too. A row invisible to the
//! snapshot is dropped here; the executor would have dropped it anyway.
//!
//! Resources (the fetch's buffer pin, the slot) are released by [`HeapFetch::end`] from
//! `amendscan`; if the query fails first, the transaction's resource owner releases the pin and
//! the scan's memory context the rest.

use super::tid::Tid;
use crate::format::{SqlState, VecError};
use crate::kernels::metric::Metric;
use crate::types::error::raise;
use pgrx::pg_sys;

/// Fetches rows of an index scan's table and forms their index values.
pub struct HeapFetch {
    fetch: *mut pg_sys::IndexFetchTableData,
    slot: *mut pg_sys::TupleTableSlot,
    info: *mut pg_sys::IndexInfo,
    estate: *mut pg_sys::EState,
    snapshot: pg_sys::Snapshot,
    /// The index and table, to refuse a damaged heap TID before it is followed.
    index: super::page::Rel,
    heap: pg_sys::Relation,
    bound: super::corrupt::HeapBound,
}

impl HeapFetch {
    /// # Safety
    /// `scan` is a valid index scan of a table (not a bitmap scan).
    pub unsafe fn begin(scan: pg_sys::IndexScanDesc) -> HeapFetch {
        // SAFETY: the caller passes a valid index scan; nothing modifies it during this call.
        let scan = unsafe { &*scan };
        let heap = scan.heapRelation;
        if heap.is_null() {
            raise(VecError::new(
                SqlState::FeatureNotSupported,
                "quantized index scans need the table (index-only and bitmap scans are not supported)",
            ));
        }
        // SAFETY: the scan's index is open and locked while the scan runs.
        let info = unsafe { pg_sys::BuildIndexInfo(scan.indexRelation) };
        // SAFETY: `BuildIndexInfo` returns a valid IndexInfo (it raises an ERROR rather than
        // return null).
        let estate = if unsafe { (*info).ii_Expressions }.is_null() {
            std::ptr::null_mut()
        } else {
            // SAFETY: creates an executor state in the current memory context; no precondition.
            unsafe { pg_sys::CreateExecutorState() }
        };
        // SAFETY: `heap` is the scan's table (non-null, checked above), open while it runs.
        let slot = unsafe { pg_sys::table_slot_create(heap, std::ptr::null_mut()) };
        if !estate.is_null() {
            // SAFETY: `estate` was just created by `CreateExecutorState`; the per-tuple
            // expression context made for it is valid.
            unsafe {
                let econtext = pg_sys::MakePerTupleExprContext(estate);
                (*econtext).ecxt_scantuple = slot;
            }
        }
        // SAFETY: `heap` is the scan's open table (as above).
        let fetch = unsafe { pg_sys::table_index_fetch_begin(heap) };
        HeapFetch {
            fetch,
            slot,
            info,
            estate,
            snapshot: scan.xs_snapshot,
            // SAFETY: the scan's index relation, non-null and open while the scan runs.
            index: unsafe { super::page::Rel::from_raw(scan.indexRelation) },
            heap,
            bound: Default::default(),
        }
    }

    /// The exact distance from `query` to the indexed value of the row at `tid`, `None` if no
    /// version of the row is visible to the scan's snapshot (or its value is not indexable).
    pub fn distance(&mut self, tid: Tid, metric: Metric, query: &[u8]) -> Option<f32> {
        // SAFETY: the scan's table is open while the scan is.
        unsafe { self.bound.check(self.index, self.heap, tid.block) };
        let mut ip = tid.to_item_pointer();
        let mut call_again = false;
        let mut all_dead = false;
        // SAFETY: resources created in `begin` and not ended; the slot is ours.
        unsafe {
            let found = pg_sys::table_index_fetch_tuple(
                self.fetch,
                &mut ip,
                self.snapshot,
                self.slot,
                &mut call_again,
                &mut all_dead,
            );
            if !found {
                return None;
            }
            if !self.estate.is_null() {
                let econtext = (*self.estate).es_per_tuple_exprcontext;
                pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
            }
            let mut values = [pg_sys::Datum::from(0usize); pg_sys::INDEX_MAX_KEYS as usize];
            let mut isnull = [false; pg_sys::INDEX_MAX_KEYS as usize];
            pg_sys::FormIndexDatum(
                self.info,
                self.slot,
                self.estate,
                values.as_mut_ptr(),
                isnull.as_mut_ptr(),
            );
            if isnull[0] {
                return None;
            }
            let image = crate::am::value::image_from_datum(values[0], metric, None)?;
            pg_sys::ExecClearTuple(self.slot);
            Some(metric.distance(query, &image))
        }
    }

    /// Releases the fetch's resources (from `amendscan`).
    pub fn end(self) {
        // SAFETY: created in `begin`, ended once (self is consumed).
        unsafe {
            pg_sys::table_index_fetch_end(self.fetch);
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            if !self.estate.is_null() {
                pg_sys::FreeExecutorState(self.estate);
            }
        }
    }
}

/// The batch of candidates a quantized scan is returning: put in exact order when filled, then
/// handed out one by one.
#[derive(Default)]
pub struct Reranked {
    rows: Vec<(f32, u64)>,
    next: usize,
}

impl Reranked {
    /// The next row of the batch: (exact distance, packed heap TID).
    pub fn pop(&mut self) -> Option<(f32, u64)> {
        let r = self.rows.get(self.next).copied()?;
        self.next += 1;
        Some(r)
    }

    pub fn is_empty(&self) -> bool {
        self.next == self.rows.len()
    }

    pub fn clear(&mut self) {
        self.rows.clear();
        self.next = 0;
    }

    pub fn memory(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<(f32, u64)>()
    }

    /// Replaces the batch by `candidates` — (estimated distance, packed heap TID) — in exact
    /// order (see [`exact_order`]).
    pub fn fill(
        &mut self,
        fetch: &mut HeapFetch,
        metric: Metric,
        query: Option<&[u8]>,
        candidates: impl IntoIterator<Item = (f32, u64)>,
    ) {
        self.clear();
        self.rows.extend(candidates);
        exact_order(fetch, metric, query, &mut self.rows);
    }
}

/// Puts `candidates` — (estimated distance, packed heap TID), any order — into exact order:
/// fetches each row, replaces the estimate by the exact distance and drops invisible rows.
fn exact_order(
    fetch: &mut HeapFetch,
    metric: Metric,
    query: Option<&[u8]>,
    candidates: &mut Vec<(f32, u64)>,
) {
    let Some(query) = query else {
        // No query (NULL): every distance is 0; keep the candidates, in any order.
        return;
    };
    candidates.retain_mut(|c| match fetch.distance(Tid::unpack(c.1), metric, query) {
        Some(d) => {
            c.0 = d;
            true
        }
        None => false,
    });
    candidates.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
}
