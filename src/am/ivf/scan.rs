//! Index scans of `ruivfflat`: rank the lists by the distance of their centres to the query,
//! read the nearest `ruvector.probes` lists (distances computed by the SIMD kernels on the
//! values in place, in the shared buffer) and return their rows nearest first.
//!
//! Only what is returned gets sorted: the scan keeps each probed row as (distance, heap TID),
//! 16 bytes, and hands them out in growing sorted batches (a linear-time selection of the next
//! batch, then a sort of that batch), so a `LIMIT 10` over 6,000 probed rows sorts 64, not
//! 6,000. (pgvector puts every probed tuple, value included, through a tuplesort.)
//!
//! A data tuple longer than a page is read from its parts, joined as the list is read
//! (`super::parts`; a tuple in parts is copied once, the others are read in place).
//!
//! Iterative scans (`ruvector.ivfflat_iterative_scan = relaxed_order`): when the executor wants
//! more rows than the probed lists held (a WHERE clause filtered them), the next `probes`
//! lists in centre order are read, up to `ruvector.ivfflat_max_probes` lists in all. Rows of a
//! later batch can be nearer than rows already returned, hence "relaxed".
//!
//! Key columns (`USING ruivfflat (embedding ..., tenant_id, category)`): the scan's `WHERE`
//! clauses on them (scan keys, `crate::am::keys`) are checked on each row's key blob while the
//! lists are read; rows that fail are skipped before their distance is computed, and never
//! reach the heap. Without ORDER BY (PostgreSQL 18 may plan it when every other plan is
//! disabled) the scan reads every list and returns every row that passes, unordered.

use super::layout::{self, Tid};
use super::lists::{for_each_list, key_columns, read_meta};
use super::options::{self, IterativeScan};
use super::parts::{self, Joiner};
use crate::am::codebook;
use crate::am::page::{Locked, Rel, Share};
use crate::am::quantize::{self, Estimator};
use crate::am::rerank::{HeapFetch, Reranked};
use crate::am::scan::{
    begin_scan, count_index_scan, end_scan, get_tuple, heap_fetch, is_mvcc, query_image, rescan,
    IndexSearch,
};
use crate::filter::Predicate;
use crate::format::{SqlState, VecError};
use crate::kernels::metric::Metric;
use crate::types::error::raise;
use pgrx::pg_sys;

struct Search {
    metric: Metric,
    /// Distances to stored values: exact, or estimated from codes (quantized index).
    estimator: Estimator,
    /// Quantized index: candidates re-ranked by exact distance at a time (`ruvector.rerank`).
    rerank: usize,
    /// Quantized index: the current re-ranked batch.
    ready: Reranked,
    /// Start blocks of the lists to probe, nearest centre first.
    lists: Vec<u32>,
    /// Lists probed so far.
    probed: usize,
    probes: usize,
    max_probes: usize,
    iterative: bool,
    /// Bytes of every data tuple of this index (fixed-size types: a tuple of another length is
    /// damaged, and its distance would read past it).
    tuple_len: usize,
    /// Data tuples are stored in parts (`super::parts`), joined as the lists are read.
    split: bool,
    /// (distance, packed heap TID) of the rows of the probed lists not returned yet, sorted up
    /// to `sorted`; `next` is the next to return.
    rows: Vec<(f32, u64)>,
    sorted: usize,
    next: usize,
    /// The scan's conditions on key columns: rows whose keys fail them are skipped.
    filter: Option<Predicate>,
    /// Whether the executor rechecks the clauses on key columns, as it does whenever the index
    /// filters (text keys are hashes, and a key damaged on disk must not let a failing row
    /// through).
    recheck: bool,
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    // SAFETY: ambeginscan's arguments from PostgreSQL, passed on.
    unsafe { begin_scan::<Search>(index, nkeys, norderbys) }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    // SAFETY: amrescan's arguments from PostgreSQL, on a scan begun by our `ambeginscan`
    // (`begin_scan::<Search>`).
    unsafe { rescan::<Search>(scan, keys, nkeys, orderbys, norderbys) };
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // SAFETY: PostgreSQL passes a scan begun by our `ambeginscan` (`begin_scan::<Search>`).
    unsafe { end_scan::<Search>(scan) };
}

fn by_distance(a: &(f32, u64), b: &(f32, u64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

impl Search {
    fn start(scan: pg_sys::IndexScanDesc) -> Search {
        // SAFETY: called from amgettuple with a valid scan.
        unsafe {
            count_index_scan((*scan).indexRelation);
            let index = Rel::from_raw((*scan).indexRelation);
            let ordered = !(*scan).orderByData.is_null() && (*scan).numberOfOrderBys > 0;
            if !ordered && (*scan).numberOfKeys == 0 {
                raise(VecError::new(
                    SqlState::InternalError,
                    "cannot scan ruivfflat index without order",
                ));
            }
            if !is_mvcc((*scan).xs_snapshot) {
                raise(VecError::new(
                    SqlState::InternalError,
                    "non-MVCC snapshots are not supported with ruivfflat",
                ));
            }
            let meta = read_meta(index);
            let metric = meta.metric().expect("validated meta page");
            let query = if ordered {
                query_image(scan, metric, meta.dimensions)
            } else {
                None
            };
            let filter = (meta.keys > 0)
                .then(|| key_columns(index, &meta).predicate(scan))
                .filter(|f| !f.is_always());
            let codebook = meta
                .is_quantized()
                .then(|| codebook::load(index, &meta.codebook));
            // Unordered: every list (every row that passes must come back).
            let probes = if ordered {
                (options::PROBES.get().max(1) as usize).min(meta.lists as usize)
            } else {
                meta.lists as usize
            };
            let iterative = options::ITERATIVE_SCAN.get() != IterativeScan::Off;
            let max_probes = if iterative {
                (options::MAX_PROBES.get().max(1) as usize).max(probes)
            } else {
                probes
            };
            let mut ranked: Vec<(f32, u32)> = Vec::with_capacity(meta.lists as usize);
            for_each_list(index, &meta, |_, header, centre| {
                let d = match &query {
                    Some(q) => metric.distance(q, centre),
                    None => 0.0,
                };
                ranked.push((d, header.start));
            });
            let keep = max_probes.min(ranked.len());
            let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0);
            if keep < ranked.len() {
                ranked.select_nth_unstable_by(keep, cmp);
                ranked.truncate(keep);
            }
            ranked.sort_by(cmp);
            let never = filter.as_ref().is_some_and(|f| f.is_never());
            let mut s = Search {
                metric,
                estimator: Estimator::new(metric, query, codebook.as_deref()),
                rerank: if codebook.is_some() && ordered {
                    quantize::RERANK.get().max(1) as usize
                } else {
                    0
                },
                ready: Reranked::default(),
                lists: ranked.into_iter().map(|(_, start)| start).collect(),
                probed: 0,
                probes,
                max_probes,
                iterative,
                tuple_len: meta.data_tuple_len(),
                split: meta.data_parts(),
                rows: Vec::new(),
                sorted: 0,
                next: 0,
                recheck: filter.is_some(),
                filter,
            };
            if never {
                // No row can pass: nothing to read.
                s.lists.clear();
            }
            s.probe(index);
            s
        }
    }

    /// Reads the next `probes` lists into `rows`; false if there are none left to read.
    fn probe(&mut self, index: Rel) -> bool {
        let end = (self.probed + self.probes)
            .min(self.max_probes)
            .min(self.lists.len());
        if self.probed >= end {
            return false;
        }
        self.rows.clear();
        self.sorted = 0;
        self.next = 0;
        self.ready.clear();
        for i in self.probed..end {
            let mut blk = self.lists[i];
            let mut chain = crate::am::corrupt::Chain::new(index);
            let mut joiner = self.split.then(Joiner::default);
            while blk != layout::INVALID_BLOCK {
                chain.step(blk);
                let buf = Locked::read(index, blk, Share);
                let page = buf.page();
                for off in 1..=page.max_offset() {
                    let Some(item) = page.item(off) else { continue };
                    let Some((_, item)) = parts::whole(&mut joiner, Tid::new(blk, off), item)
                    else {
                        continue;
                    };
                    if item.len() != self.tuple_len {
                        crate::am::corrupt::damaged(format!(
                            "Data tuple ({blk},{off}) has {} bytes, {} expected.",
                            item.len(),
                            self.tuple_len
                        ));
                    }
                    if let Some(f) = &self.filter {
                        if !f.matches(layout::data_keys(item)) {
                            continue;
                        }
                    }
                    let distance = self.estimator.distance(layout::data_image(item));
                    self.rows
                        .push((distance, layout::data_heap_tid(item).pack()));
                }
                blk = page.opaque().next_blkno;
            }
            pgrx::check_for_interrupts!();
        }
        self.probed = end;
        true
    }

    /// The next row of a quantized index: the `rerank` best rows by estimate that are left are
    /// put in exact order (their vectors read from the table), returned, then the next batch.
    fn next_reranked(&mut self, fetch: &mut HeapFetch) -> Option<(f32, u64)> {
        loop {
            if let Some(r) = self.ready.pop() {
                return Some(r);
            }
            if self.sorted == self.rows.len() {
                return None;
            }
            let rest = &mut self.rows[self.sorted..];
            let batch = self.rerank.min(rest.len());
            if batch < rest.len() {
                rest.select_nth_unstable_by(batch - 1, by_distance);
            }
            self.ready.fill(
                fetch,
                self.metric,
                self.estimator.query.as_deref(),
                rest[..batch].iter().copied(),
            );
            self.sorted += batch;
        }
    }

    /// The next row in distance order among the rows read, if any.
    fn next_row(&mut self) -> Option<(f32, u64)> {
        if self.next == self.sorted {
            if self.sorted == self.rows.len() {
                return None;
            }
            let rest = &mut self.rows[self.sorted..];
            let batch = self.sorted.max(64).min(rest.len());
            if batch < rest.len() {
                rest.select_nth_unstable_by(batch - 1, by_distance);
            }
            rest[..batch].sort_unstable_by(by_distance);
            self.sorted += batch;
        }
        let r = self.rows[self.next];
        self.next += 1;
        Some(r)
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(
    scan: pg_sys::IndexScanDesc,
    _direction: pg_sys::ScanDirection::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a scan begun by our `ambeginscan` (`begin_scan::<Search>`).
    unsafe { get_tuple::<Search>(scan) }
}

impl IndexSearch for Search {
    unsafe fn start(scan: pg_sys::IndexScanDesc) -> Search {
        Search::start(scan)
    }

    /// Bytes the search holds (rows read, list order, re-rank batch, prepared query).
    fn held(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<(f32, u64)>()
            + self.lists.capacity() * 4
            + self.ready.memory()
            + self.estimator.memory()
    }

    unsafe fn next(&mut self, scan: pg_sys::IndexScanDesc, heap: &mut Option<HeapFetch>) -> bool {
        let s = self;
        // SAFETY: `scan` is the valid scan the search was started for (the trait's contract);
        // its index is open and locked while the scan runs.
        let index = unsafe { Rel::from_raw((*scan).indexRelation) };
        loop {
            let row = if s.rerank > 0 {
                // SAFETY: `heap` is the table access of `scan`'s own state (`get_tuple` passes it).
                s.next_reranked(unsafe { heap_fetch(heap, scan) })
            } else {
                s.next_row()
            };
            if let Some((_, tid)) = row {
                // SAFETY: `scan` is valid for the duration of amgettuple (the trait's contract).
                unsafe {
                    (*scan).xs_heaptid = Tid::unpack(tid).to_item_pointer();
                    (*scan).xs_recheck = s.recheck;
                    (*scan).xs_recheckorderby = false;
                }
                return true;
            }
            if !s.iterative || !s.probe(index) {
                return false;
            }
        }
    }
}
