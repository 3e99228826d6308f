//! Index scans of `ruhnsw` (Algorithm 5 of the HNSW paper: greedy descent, then SEARCH-LAYER on
//! layer 0 with `ruvector.ef_search` candidates), returning heap rows nearest first.
//!
//! Iterative scans (`ruvector.hnsw_iterative_scan`): when the executor wants more rows than the
//! first search produced (a WHERE clause filtered them), the search resumes from the nearest
//! candidates it had set aside, `ef_search` at a time, keeping its visited set, until
//! `ruvector.hnsw_max_scan_tuples` elements were visited or its memory exceeds
//! `work_mem × ruvector.hnsw_scan_mem_multiplier`; then the remaining candidates are returned
//! in distance order. `strict_order` skips rows that would come out of order; `relaxed_order`
//! returns them. (pgvector's design, `hnswscan.c`.)
//!
//! The search holds the index's *scan lock* (`LockPage` number 1) in share mode; VACUUM takes it
//! exclusively before it marks elements deleted, so no search in progress can see an element
//! slot being reused.

use super::disk::{key_columns, read_meta, DiskGraph};
use super::insert::SCAN_LOCK;
use super::keydir;
use super::keylinks;
use super::layout::{MetaPage, Tid};
use super::options::{self, IterativeScan};
use crate::am::page::{PageLock, Rel};
use crate::am::quantize;
use crate::am::rerank::HeapFetch;
use crate::am::rerank::Reranked;
use crate::am::scan::{
    begin_scan, count_index_scan, end_scan, get_tuple, heap_fetch, is_mvcc, query_image, rescan,
    IndexSearch,
};
use crate::format::{SqlState, VecError};
use crate::graph::search::{descend, search_layer, Graph, HashVisited, Visited};
use crate::graph::Scored;
use crate::types::error::raise;
use pgrx::pg_sys;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

struct Search {
    graph: DiskGraph,
    visited: HashVisited,
    /// Candidates set aside by the searches so far (for iterative scans).
    discarded: BinaryHeap<Reverse<Scored<u64>>>,
    /// Rows to return next, in order: (heap TID, distance).
    pending: VecDeque<(Tid, f32)>,
    /// Quantized index: rows of `pending` re-ranked by exact distance at a time
    /// (`ruvector.rerank`; 0 for an unquantized index), and the current batch in exact order.
    rerank: usize,
    ready: Reranked,
    previous: f32,
    ef: usize,
    mode: IterativeScan,
    max_tuples: usize,
    max_memory: usize,
    exhausted: bool,
    /// Whether the executor rechecks the clauses on key columns, as it does whenever the
    /// index filters: text keys are hashes (lossy), and a key damaged on disk must not let
    /// through a row that fails them — the recheck costs one comparison per returned row.
    recheck: bool,
    /// A filtered walk whose passing rows are few enough to visit: when an iterative scan
    /// wants more rows than the walk gave, it visits them all instead of resuming the walk.
    fallback: Option<Fallback>,
    /// Heap rows returned so far (only while `fallback` may still be used).
    returned: std::collections::HashSet<u64, crate::graph::search::IdHash>,
}

/// What the exact answer of a filtered scan needs: the key directory and the filter.
struct Fallback {
    directory: (u32, u32),
    keys: crate::filter::KeyLayout,
    filter: crate::filter::Predicate,
}

impl Fallback {
    /// Every element that may pass the filter, from the key directory.
    fn candidates(&self, index: Rel) -> Vec<u64> {
        keydir::passing(
            index,
            self.directory,
            &self.keys,
            &self.filter,
            |_, _, _| true,
        )
        .ids
    }
}

/// Rows of the index as PostgreSQL last counted them (VACUUM, ANALYZE, CREATE INDEX), or an
/// estimate from its size before that.
fn index_rows(index: Rel) -> f64 {
    // SAFETY: an open relation has a pg_class entry.
    let counted = unsafe { (*(*index.as_ptr()).rd_rel).reltuples } as f64;
    if counted > 0.0 {
        counted
    } else {
        index.blocks() as f64 * 16.0
    }
}

/// Directory entries a filtered scan reads before it may conclude from their share that the
/// graph walk will be cheaper (see `Search::start`).
const SAMPLE: usize = 1024;

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

impl Search {
    fn start(scan: pg_sys::IndexScanDesc) -> Search {
        // SAFETY: called from amgettuple with a valid scan.
        unsafe {
            count_index_scan((*scan).indexRelation);
            let index = Rel::from_raw((*scan).indexRelation);
            // Without ORDER BY only conditions on key columns make a scan (the planner costs
            // it as infinite, but from PostgreSQL 18 on it may still choose it when every
            // other plan is disabled): it returns every row that passes them, unordered.
            let ordered = !(*scan).orderByData.is_null() && (*scan).numberOfOrderBys > 0;
            if !ordered && (*scan).numberOfKeys == 0 {
                raise(VecError::new(
                    SqlState::InternalError,
                    "cannot scan ruhnsw index without order",
                ));
            }
            if !is_mvcc((*scan).xs_snapshot) {
                raise(VecError::new(
                    SqlState::InternalError,
                    "non-MVCC snapshots are not supported with ruhnsw",
                ));
            }
            let meta = read_meta(index);
            let query = if ordered {
                query_image(
                    scan,
                    meta.metric().expect("validated meta page"),
                    meta.dimensions,
                )
            } else {
                None
            };
            let ef = options::EF_SEARCH.get().max(1) as usize;
            let multiplier = options::SCAN_MEM_MULTIPLIER.get();
            let max_memory = (pg_sys::work_mem as f64 * 1024.0 * multiplier) as usize;
            let mut s = Search {
                graph: DiskGraph::new(index, &meta, query, (ef * 48).max(1024)),
                visited: HashVisited::with_capacity((ef * 48).max(1024)),
                discarded: BinaryHeap::new(),
                pending: VecDeque::new(),
                rerank: 0,
                ready: Reranked::default(),
                previous: f32::NEG_INFINITY,
                ef,
                mode: options::ITERATIVE_SCAN.get(),
                max_tuples: options::MAX_SCAN_TUPLES.get().max(1) as usize,
                max_memory,
                exhausted: false,
                recheck: false,
                fallback: None,
                returned: Default::default(),
            };
            if ordered && s.graph.estimates() {
                s.rerank = quantize::RERANK.get().max(1) as usize;
            }
            // WHERE clauses on key columns (scan keys) filter the search inside the index.
            let keys = key_columns(index, &meta);
            if !keys.is_empty() {
                let filter = keys.predicate(scan);
                let directory = (meta.key_head, meta.key_tail);
                if filter.is_never() {
                    s.exhausted = true;
                    return s;
                }
                if !ordered {
                    s.recheck = true;
                    let all =
                        keydir::passing(index, directory, &keys.layout, &filter, |_, _, _| true);
                    s.graph.set_filter(filter, usize::MAX);
                    let lock = PageLock::share(index, SCAN_LOCK);
                    s.exact(all.ids, usize::MAX);
                    s.graph.release();
                    drop(lock);
                    return s;
                }
                if !filter.is_always() {
                    s.recheck = true;
                    // The elements that may pass, from the key directory, unless there are
                    // too many for visiting them all to beat the graph walk.
                    let rows = index_rows(index);
                    let most = keydir::exact_most(ef, meta.m as usize, rows);
                    // Stop as soon as they are clearly too many: more than `most`, or, after
                    // a sample of the entries to read, projected to twice that.
                    let found = keydir::passing(
                        index,
                        directory,
                        &keys.layout,
                        &filter,
                        |read, passing, total| {
                            passing <= most
                                && !(read >= SAMPLE
                                    && passing as f64 * total as f64 / read as f64
                                        > 2.0 * most as f64)
                        },
                    );
                    let total = found.total as f64;
                    let few = found.complete;
                    let passing = found.ids;
                    // Rows expected to pass in all: what visiting them directly would cost.
                    let expected = if few {
                        passing.len()
                    } else {
                        (passing.len() as f64 * total / found.read.max(1) as f64) as usize
                    };
                    let fallback = Fallback {
                        directory,
                        keys: keys.layout.clone(),
                        filter: filter.clone(),
                    };
                    // Key lists of the columns the filter allows a few values of: the walk
                    // follows them from elements that pass (`keylinks.rs`).
                    let linked = keylinks::columns(meta.key_links);
                    let follow: Vec<usize> = filter
                        .equality_columns()
                        .iter()
                        .filter_map(|c| linked.iter().position(|x| x == c))
                        .collect();
                    s.graph.follow_key_lists(follow);
                    // A walk that reads more elements than pass is slower than visiting
                    // those: it stops there and the scan visits them instead.
                    s.graph
                        .set_filter(filter, expected.max(most).min(s.max_tuples));
                    let lock = PageLock::share(index, SCAN_LOCK);
                    if few {
                        s.exact(passing, s.memory_cap());
                    } else {
                        // Many pass: walk the graph, entering it also at elements known to
                        // pass, spread over those the directory pass found, when none near
                        // the entry point passes — when the rows that pass lie away from the
                        // query (a filter correlated with the vectors), the walk starts among
                        // them instead of searching for them (`first_search`).
                        let step = (passing.len() / ef).max(1);
                        let seeds: Vec<u64> = passing.iter().step_by(step).copied().collect();
                        s.first_search(&meta, &seeds);
                        if s.graph.exhausted() && expected < s.max_tuples {
                            s.discarded.clear();
                            s.exact(fallback.candidates(index), s.memory_cap());
                        } else {
                            s.graph.set_limit(s.max_tuples);
                            if s.iterative() && expected < s.max_tuples {
                                s.fallback = Some(fallback);
                            }
                        }
                    }
                    s.graph.release();
                    drop(lock);
                    return s;
                }
            }
            let lock = PageLock::share(index, SCAN_LOCK);
            s.first_search(&meta, &[]);
            s.graph.release();
            drop(lock);
            s
        }
    }

    /// Rows an ordered exact answer keeps: as many as the scan's memory allows
    /// (`work_mem × ruvector.hnsw_scan_mem_multiplier`), like an iterative scan.
    fn memory_cap(&self) -> usize {
        (self.max_memory / std::mem::size_of::<(Tid, f32)>()).max(self.ef)
    }

    /// Answers a filtered search exactly from the elements `ids` that passed the filter in
    /// the key directory ([`DiskGraph::visit_exact`]): all their rows, nearest first, at most
    /// `cap` (an unordered scan keeps them all: every row that passes must come back).
    fn exact(&mut self, ids: Vec<u64>, cap: usize) {
        self.pending = self
            .graph
            .visit_exact(ids, cap)
            .into_iter()
            .map(|(d, t)| (t, d))
            .collect();
        self.exhausted = true;
    }

    fn iterative(&self) -> bool {
        self.mode != IterativeScan::Off
    }

    /// The first SEARCH-LAYER on layer 0, from the entry point found by the descent and from
    /// `seeds` (elements a filtered search knows pass its filter).
    fn first_search(&mut self, meta: &MetaPage, seeds: &[u64]) {
        let Some((entry, level)) = meta.entry() else {
            self.exhausted = true;
            return;
        };
        let Some(s) = self.graph.visit(entry.pack()) else {
            self.exhausted = true;
            return;
        };
        let start = Scored {
            distance: s.distance,
            id: entry.pack(),
        };
        let ep = descend(&mut self.graph, start, level, 0, &mut self.visited);
        self.visited.clear();
        self.visited.insert(ep.id);
        let mut entries = vec![ep];
        // Seeds cost a random page read each and only help when nothing near the entry
        // passes (a filter correlated with the vectors, the query's own region failing it):
        // a uniform filter passes some of the entry's layer-0 neighbours, and the walk enters
        // at those instead. The neighbours are read now (the walk's first expansion would
        // read them anyway, and takes their distances from this read).
        let seeds = if seeds.is_empty() || self.graph.accepted(ep.id) {
            &[]
        } else {
            let near = self.graph.passing_neighbors(ep.id);
            for s in &near {
                self.visited.insert(s.id);
            }
            entries.extend_from_slice(&near);
            if near.is_empty() {
                seeds
            } else {
                &[]
            }
        };
        for &id in seeds {
            if self.visited.insert(id) {
                if let Some(seen) = self.graph.visit(id) {
                    entries.push(Scored {
                        distance: seen.distance,
                        id,
                    });
                }
            }
        }
        let mut discarded = Vec::new();
        let iterative = self.iterative();
        let w = search_layer(
            &mut self.graph,
            &entries,
            self.ef,
            0,
            &mut self.visited,
            iterative.then_some(&mut discarded),
        );
        self.discarded.extend(discarded.into_iter().map(Reverse));
        self.queue(&w);
    }

    /// Queues the heap rows of `results` (nearest first).
    fn queue(&mut self, results: &[Scored<u64>]) {
        for r in results {
            for t in self.graph.heap_tids(r.id) {
                self.pending.push_back((t, r.distance));
            }
        }
    }

    fn memory(&self) -> usize {
        self.graph.memory() + self.visited.memory() + self.discarded.len() * 16
    }

    /// Produces more rows for an iterative scan; false when there are none left.
    fn resume(&mut self, index: Rel) -> bool {
        if let Some(f) = self.fallback.take() {
            // A filtered walk that did not give enough rows, with few enough passing rows to
            // visit them all: the rest of the exact answer, nearest first, without the rows
            // already returned (the walk's resumptions would return them out of order, which
            // `strict_order` then drops).
            let candidates = f.candidates(index);
            let lock = PageLock::share(index, SCAN_LOCK);
            let rows = self.graph.visit_exact(candidates, self.memory_cap());
            self.graph.release();
            drop(lock);
            let returned = std::mem::take(&mut self.returned);
            self.pending = rows
                .into_iter()
                .filter(|(_, t)| !returned.contains(&t.pack()))
                .map(|(d, t)| (t, d))
                .collect();
            self.discarded.clear();
            self.exhausted = true;
            return !self.pending.is_empty();
        }
        if self.discarded.is_empty() {
            return false;
        }
        if self.graph.tuples >= self.max_tuples || self.memory() > self.max_memory {
            // Out of budget: hand out the set-aside candidates in distance order (under the
            // scan lock: reading an element's heap TIDs must not race with VACUUM reusing it),
            // those that pass the filter.
            let next = loop {
                match self.discarded.pop() {
                    Some(Reverse(c)) if self.graph.accepted(c.id) => break c,
                    Some(_) => {}
                    None => return false,
                }
            };
            let lock = PageLock::share(index, SCAN_LOCK);
            self.queue(&[next]);
            self.graph.release();
            drop(lock);
            return true;
        }
        let mut eps = Vec::with_capacity(self.ef);
        while eps.len() < self.ef {
            match self.discarded.pop() {
                Some(Reverse(c)) => eps.push(c),
                None => break,
            }
        }
        let lock = PageLock::share(index, SCAN_LOCK);
        let mut discarded = Vec::new();
        let w = search_layer(
            &mut self.graph,
            &eps,
            self.ef,
            0,
            &mut self.visited,
            Some(&mut discarded),
        );
        self.graph.release();
        drop(lock);
        self.discarded.extend(discarded.into_iter().map(Reverse));
        self.queue(&w);
        !w.is_empty() || !self.discarded.is_empty()
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

    /// All the search holds: [`Search::memory`] (what the iterative-scan budget counts) plus
    /// the rows queued for the executor.
    fn held(&self) -> usize {
        self.memory()
            + self
                .discarded
                .capacity()
                .saturating_sub(self.discarded.len())
                * 16
            + self.pending.capacity() * std::mem::size_of::<(Tid, f32)>()
            + self.ready.memory()
    }

    unsafe fn next(&mut self, scan: pg_sys::IndexScanDesc, heap: &mut Option<HeapFetch>) -> bool {
        let s = self;
        // SAFETY: `scan` is the valid scan the search was started for (the trait's contract);
        // its index is open and locked while the scan runs.
        let index = unsafe { Rel::from_raw((*scan).indexRelation) };
        loop {
            if s.rerank > 0 && s.ready.is_empty() && !s.pending.is_empty() {
                // Quantized index: the next `rerank` rows by estimate, in exact order.
                let n = s.rerank.min(s.pending.len());
                // SAFETY: `heap` is the table access of `scan`'s own state (`get_tuple` passes it).
                let fetch = unsafe { heap_fetch(heap, scan) };
                s.ready.fill(
                    fetch,
                    s.graph.metric,
                    s.graph.query(),
                    s.pending.drain(..n).map(|(t, d)| (d, t.pack())),
                );
            }
            let next = if s.rerank > 0 {
                s.ready.pop().map(|(d, t)| (Tid::unpack(t), d))
            } else {
                s.pending.pop_front()
            };
            if let Some((tid, distance)) = next {
                if s.mode == IterativeScan::StrictOrder {
                    if distance < s.previous {
                        continue;
                    }
                    s.previous = distance;
                }
                if s.fallback.is_some() {
                    s.returned.insert(tid.pack());
                }
                // SAFETY: `scan` is valid for the duration of amgettuple (the trait's contract).
                unsafe {
                    (*scan).xs_heaptid = tid.to_item_pointer();
                    (*scan).xs_recheck = s.recheck;
                    (*scan).xs_recheckorderby = false;
                }
                return true;
            }
            if !s.pending.is_empty() {
                continue;
            }
            if s.exhausted || !s.iterative() || !s.resume(index) {
                s.exhausted = true;
                return false;
            }
        }
    }
}
