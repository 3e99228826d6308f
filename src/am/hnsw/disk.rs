//! The on-disk graph seen from one query: implements the pure search's [`Graph`] over index
//! pages, plus the meta-page accessors. Distances are computed on the value image in place,
//! under a share lock, without copying; one buffer stays pinned between accesses so that an
//! element and its neighbour tuple (usually on the same page) cost one buffer read.

use super::layout::{self, List, MetaPage, Shape, Tid};
use super::sketches::{Probe, Sketcher};
use crate::am::codebook;
use crate::am::keys::KeyColumns;
use crate::am::meta::{raise_meta_error, MetaError};
use crate::am::page::{BufferHint, Exclusive, Locked, PageRef, Pinned, Rel, Share, WalChange};
use crate::am::quantize::Estimator;
use crate::filter::{KeyLayout, Predicate};
use crate::graph::search::{Graph, IdHash};
use crate::graph::Scored;
use crate::kernels::metric::Metric;
use crate::quant::Codebook;
use std::collections::HashMap;
use std::sync::Arc;

/// Reads the meta page; an index this build cannot read raises its error (`am::meta`).
pub fn read_meta(rel: Rel) -> MetaPage {
    try_read_meta(rel).unwrap_or_else(|e| meta_error(rel, e))
}

/// Reads the meta page, or says why it cannot be used.
pub fn try_read_meta(rel: Rel) -> Result<MetaPage, MetaError> {
    let buf = Locked::read(rel, layout::META_BLKNO, Share);
    MetaPage::from_bytes(buf.page().contents())
}

/// The key columns of an index, checked against what its meta page says were built (an index
/// whose pages disagree with its definition is damaged).
pub fn key_columns(rel: Rel, meta: &MetaPage) -> KeyColumns {
    KeyColumns::built(rel, "ruhnsw", meta.keys, meta.key_len)
        .unwrap_or_else(|| meta_error(rel, MetaError::Damaged))
}

/// The directory word of key column `column` of the live element at `t` (equal keys have equal
/// words), read now under a share lock; `None` for a deleted element, a TID past the index's
/// end or an item that is not an element.
pub fn element_key_word(index: Rel, t: Tid, keys: &KeyLayout, column: usize) -> Option<u64> {
    if t.block >= index.blocks() {
        return None;
    }
    let buf = Locked::read(index, t.block, Share);
    let page = buf.page_unchecked();
    let item = page.item(t.offset)?;
    let e = layout::decode_element(item)?;
    let blob = layout::element_keys(item);
    (!e.deleted && blob.len() == keys.len())
        .then(|| keys.directory_word(blob, column))
        .flatten()
}

fn meta_error(rel: Rel, e: MetaError) -> ! {
    raise_meta_error(rel, "ruhnsw", layout::VERSIONS, e)
}

/// Changes the meta page under an exclusive lock, WAL-logged.
/// (What follows the [`MetaPage`], the sketches' centroid, is kept.)
pub fn update_meta(rel: Rel, f: impl FnOnce(&mut MetaPage)) {
    let buf = Locked::read(rel, layout::META_BLKNO, Exclusive);
    let wal = WalChange::start(rel);
    let mut page = wal.register(&buf, false);
    let contents = page.as_ref().contents();
    let mut meta = MetaPage::from_bytes(contents).unwrap_or_else(|e| meta_error(rel, e));
    let centroid = layout::meta_centroid(contents, &meta).unwrap_or_default();
    f(&mut meta);
    page.set_contents(&layout::meta_contents(&meta, &centroid));
    wal.commit();
}

/// What a search remembers about an element whose distance it computed: small and fixed
/// size, since a scan records one per visited element. Elements shared by several rows with
/// the same value (rare) have their other heap TIDs re-read when they become results.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub distance: f32,
    pub neighbors: Tid,
    first_heap_tid: Tid,
    pub level: u8,
    ntids: u8,
    /// Whether the element's keys pass the search's filter (always without one).
    pub accepted: bool,
}

impl Seen {
    /// Whether the element still stands for live heap rows (not being deleted by VACUUM).
    pub fn has_rows(&self) -> bool {
        self.ntids > 0
    }
}
/// The graph of an index, with a query bound in (`None`: every distance is 0, as for a NULL
/// ORDER BY argument).
pub struct DiskGraph {
    rel: Rel,
    pub metric: Metric,
    pub m: usize,
    /// The lists of the index's neighbour tuples.
    pub shape: Shape,
    /// Key lists a filtered walk follows from the elements that pass its filter instead of
    /// their layer-0 links ([`DiskGraph::follow_key_lists`]).
    follow: Vec<usize>,
    /// Distances to the query (taken out while a page is borrowed; always there otherwise).
    estimator: Option<Estimator>,
    /// The codebook of a quantized index (elements hold codes).
    codebook: Option<Arc<Codebook>>,
    pin: Option<Pinned>,
    /// Elements whose distance was computed.
    pub seen: HashMap<u64, Seen, IdHash>,
    /// Elements read (for `ruvector.hnsw_max_scan_tuples`).
    pub tuples: usize,
    /// Elements [`DiskGraph::passing_neighbors`] read ahead of the walk, not yet handed to it: their
    /// distances come from `seen` instead of a second read.
    read_ahead: Vec<u64>,
    /// Bytes of the key area and value image (dense types; prefetch length).
    value_len_hint: usize,
    /// Scratch space of `read_batch` (kept to avoid an allocation per expanded element).
    hints: Vec<Option<BufferHint>>,
    /// Scratch space of `visit_each`: what it read of each element.
    found: Vec<Option<Seen>>,
    /// Codes split over code pages ([`layout::FORMAT_CODE_PARTS`]): their parts (0: codes and
    /// values are in the element tuples) and length.
    parts: usize,
    code_len: usize,
    /// The scan's filter on key columns: elements failing it are walked through, never
    /// results ([`Graph::accepts`]).
    filter: Option<Predicate>,
    /// Elements a filtered search may read before it stops ([`Graph::exhausted`]).
    limit: usize,
    /// The sketches of a version 5 index (`sketches.rs`), and the query prepared to check
    /// them, with the bound the search told ([`Graph::set_bound`]).
    pub sketcher: Option<Arc<Sketcher>>,
    probe: Option<Probe>,
    /// The neighbour tuple whose layer-0 list [`Graph::neighbors`] read last (with sketches).
    expanded: Option<Tid>,
    /// Which neighbours of the list being expanded [`DiskGraph::sketch_filter`] keeps, and the
    /// scratch lists of [`Graph::distances`] (kept to avoid allocations per expansion).
    keep: Vec<bool>,
    scratch: (Vec<u64>, Vec<Option<f32>>),
}

impl DiskGraph {
    /// `expected` is how many elements the search will probably visit (sizes its tables).
    pub fn new(rel: Rel, meta: &MetaPage, query: Option<Vec<u8>>, expected: usize) -> DiskGraph {
        let metric = meta.metric().expect("validated meta page");
        let codebook = meta
            .is_quantized()
            .then(|| codebook::load(rel, &meta.codebook));
        DiskGraph {
            rel,
            metric,
            m: meta.m as usize,
            shape: Shape::of(meta),
            follow: Vec::new(),
            estimator: Some(Estimator::new(metric, query, codebook.as_deref())),
            codebook,
            pin: None,
            seen: HashMap::with_capacity_and_hasher(expected, IdHash::default()),
            tuples: 0,
            read_ahead: Vec::new(),
            value_len_hint: meta.value_len_hint() + layout::key_area(meta.key_len as usize),
            hints: Vec::new(),
            found: Vec::new(),
            parts: meta.parts(),
            code_len: meta.stored_len().unwrap_or(0),
            filter: None,
            limit: usize::MAX,
            sketcher: None,
            probe: None,
            expanded: None,
            keep: Vec::new(),
            scratch: (Vec::new(), Vec::new()),
        }
        .with_sketches(meta)
    }

    fn with_sketches(mut self, meta: &MetaPage) -> DiskGraph {
        if !meta.sketched() {
            return self;
        }
        self.sketcher = Sketcher::of(self.rel, meta);
        self.probe = match (&self.sketcher, self.query()) {
            (Some(s), Some(q)) => s.probe(q),
            _ => None,
        };
        self
    }

    /// Filters the search: only elements whose keys pass `filter` are results, and the
    /// search stops after reading `limit` elements.
    pub fn set_filter(&mut self, filter: Predicate, limit: usize) {
        self.filter = Some(filter);
        self.limit = limit;
    }

    /// Makes a filtered walk follow key lists `lists` (numbers among the index's key lists,
    /// [`List::Key`]) from every element that passes its filter, and not that element's
    /// layer-0 links: when the filter allows one value (or a few) of those key columns, the
    /// elements that pass are linked among themselves by their key links, and walking only
    /// those never reads an element that fails. Elements that fail (the entry point the
    /// descent found) are walked through their layer-0 links as before.
    pub fn follow_key_lists(&mut self, lists: Vec<usize>) {
        self.follow = lists;
    }

    /// The layer-0 neighbours of the element `id` (visited) that pass the filter, with their
    /// distances. All its neighbours are read here, and the walk's [`Graph::distances`] takes
    /// their distances from this read when it expands `id`.
    pub fn passing_neighbors(&mut self, id: u64) -> Vec<Scored<u64>> {
        let mut around = Vec::new();
        self.neighbors(id, 0, &mut around);
        around.retain(|n| !self.seen.contains_key(n));
        let mut distances = Vec::new();
        self.distances(&around, 0, &mut distances);
        let passing = around
            .iter()
            .zip(&distances)
            .filter(|(&n, _)| self.accepted(n))
            .filter_map(|(&id, d)| d.map(|distance| Scored { distance, id }))
            .collect();
        self.read_ahead = around;
        passing
    }

    /// Changes how many elements the search may read in all ([`Graph::exhausted`]).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Whether the search is filtered.
    pub fn filtered(&self) -> bool {
        self.filter.is_some()
    }

    /// The exact answer of a filtered search without the graph walk: the elements `ids` (from
    /// the key directory, possibly stale or repeated) visited in block order, those that are
    /// live and pass the filter with their distance (an estimate in a quantized index) and
    /// heap rows; at most `cap` rows are kept, the nearest, in distance order.
    pub fn visit_exact(&mut self, mut ids: Vec<u64>, cap: usize) -> Vec<(f32, Tid)> {
        ids.sort_unstable();
        ids.dedup();
        let mut best: std::collections::BinaryHeap<(ordered::Dist, u64)> =
            std::collections::BinaryHeap::new();
        let mut keep = |d: f32, t: Tid| {
            best.push((ordered::Dist(d), t.pack()));
            if best.len() > cap {
                best.pop();
            }
        };
        if self.parts > 0 {
            // Codes on code pages: through `visit`, which reads the parts.
            for id in ids {
                if let Some(seen) = self.visit(id).filter(|s| s.accepted) {
                    for t in self.heap_tids(id) {
                        keep(seen.distance, t);
                    }
                }
            }
        } else {
            let est = self.estimator.take().expect("estimator");
            let filter = self.filter.take();
            self.pin = None;
            // One page at a time, under one share lock, in block order. The blocks come from
            // this index's key directory, so pages are read as the graph walk reads them
            // (`with_page`): through the buffer hint, without the trailer check — an item that
            // is not an element tuple is skipped by `read_header` — and with the next page's
            // buffer descriptors and line pointers prefetched a few pages ahead, and their
            // tuples a little less far ahead, so that the cache misses of consecutive pages
            // overlap (as `visit_each` does for a neighbour list).
            const AHEAD: usize = 4;
            let value_bytes = layout::ELEMENT_HEADER + self.value_len_hint;
            let groups: Vec<&[u64]> = ids
                .chunk_by(|a, b| Tid::unpack(*a).block == Tid::unpack(*b).block)
                .collect();
            let hints: Vec<Option<BufferHint>> = groups
                .iter()
                .map(|g| BufferHint::of(self.rel, Tid::unpack(g[0]).block))
                .collect();
            let prefetch_lines = |n: usize| {
                if let (Some(g), Some(Some(h))) = (groups.get(n), hints.get(n)) {
                    for &id in g.iter() {
                        h.prefetch(Tid::unpack(id).offset);
                    }
                }
            };
            let prefetch_items = |n: usize| {
                if let (Some(g), Some(Some(h))) = (groups.get(n), hints.get(n)) {
                    for &id in g.iter() {
                        h.prefetch_item(Tid::unpack(id).offset, value_bytes);
                    }
                }
            };
            (0..AHEAD).for_each(prefetch_lines);
            (0..AHEAD / 2).for_each(prefetch_items);
            for (n, group) in groups.iter().enumerate() {
                prefetch_lines(n + AHEAD);
                prefetch_items(n + AHEAD / 2);
                let pin = Pinned::read_with_hint(self.rel, Tid::unpack(group[0]).block, hints[n]);
                let lock = pin.share();
                let page = lock.page_of_this_index();
                for &id in group.iter() {
                    let off = Tid::unpack(id).offset;
                    let Some(item) = page.item(off) else { continue };
                    let Some(seen) = read_header(item, filter.as_ref()) else {
                        continue;
                    };
                    self.tuples += 1;
                    if !seen.accepted {
                        continue;
                    }
                    let d = est.distance(layout::element_value(item));
                    for i in 0..layout::element_heap_tid_count(item) {
                        keep(d, layout::element_heap_tid(item, i));
                    }
                }
                drop(lock);
                drop(pin);
                if n % 256 == 255 {
                    pgrx::check_for_interrupts!();
                }
            }
            self.estimator = Some(est);
            self.filter = filter;
        }
        let mut out: Vec<(f32, Tid)> = best
            .into_iter()
            .map(|(d, t)| (d.0, Tid::unpack(t)))
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// Whether a visited element passes the filter.
    pub fn accepted(&self, id: u64) -> bool {
        self.filter.is_none() || self.seen.get(&id).is_some_and(|s| s.accepted)
    }

    pub fn relation(&self) -> Rel {
        self.rel
    }

    /// Runs `f` on the page of `block` under a share lock, reusing the pinned buffer. Blocks
    /// come from TIDs stored in this index, so the page is read without the trailer check
    /// (which would cost a cache miss per visited element); item reads stay bounds-checked.
    fn with_page<T>(&mut self, block: u32, f: impl FnOnce(crate::am::page::PageRef<'_>) -> T) -> T {
        if self.pin.as_ref().map(|p| p.block()) != Some(block) {
            self.pin = None;
            self.pin = Some(Pinned::read_hinted(self.rel, block));
        }
        self.pin.as_ref().expect("pinned above").read_shared(f)
    }

    /// All heap TIDs of a visited element.
    pub fn heap_tids(&mut self, id: u64) -> Vec<Tid> {
        let Some(s) = self.seen.get(&id).copied() else {
            return Vec::new();
        };
        match s.ntids {
            0 => Vec::new(),
            1 => vec![s.first_heap_tid],
            _ => {
                let t = Tid::unpack(id);
                self.read_item(t, |item| match layout::decode_element(item) {
                    Some(e) if !e.deleted => e.heap_tids,
                    _ => Vec::new(),
                })
                .unwrap_or_default()
            }
        }
    }

    /// Drops the pin (before the caller takes locks of its own).
    pub fn release(&mut self) {
        self.pin = None;
    }

    /// The value image of an element (copied; for neighbour selection). For a quantized index
    /// it is the image of the vector the element's code stands for.
    pub fn image(&mut self, id: u64) -> Option<Vec<u8>> {
        let t = Tid::unpack(id);
        let stored = self.with_page(t.block, |page| stored_value(page, t.offset))?;
        let stored = if self.parts > 0 {
            self.read_code(&layout::decode_directory(&stored))
        } else {
            stored
        };
        Some(self.image_of_stored(stored))
    }

    /// The value image an element's stored value (its code, in a quantized index) stands for.
    fn image_of_stored(&self, stored: Vec<u8>) -> Vec<u8> {
        match &self.codebook {
            Some(cb) => crate::ivf::points::centre_image(self.metric, &cb.decode(&stored)),
            None => stored,
        }
    }

    /// The codebook of a quantized index.
    pub fn codebook(&self) -> Option<&Codebook> {
        self.codebook.as_deref()
    }

    /// Whether distances are estimates from codes.
    pub fn estimates(&self) -> bool {
        self.codebook.is_some()
    }

    /// The query's value image.
    pub fn query(&self) -> Option<&[u8]> {
        self.estimator.as_ref().and_then(|e| e.query.as_deref())
    }

    /// Runs `f` on the item at `tid` (under a share lock); `None` if there is no item.
    pub fn read_item<T>(&mut self, tid: Tid, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.with_page(tid.block, |page| page.item(tid.offset).map(f))
    }

    /// Bytes of memory held for the search's bookkeeping.
    pub fn memory(&self) -> usize {
        self.seen.capacity() * (std::mem::size_of::<Seen>() + 16)
            + self.estimator.as_ref().map_or(0, |e| e.memory())
    }

    /// The code of an element split over code pages, from its directory. The parts are read
    /// after the element page is released (one buffer lock at a time); they cannot change
    /// meanwhile, as the element is live (only the slot of a deleted element, which no search
    /// reaches, is rewritten).
    fn read_code(&mut self, directory: &[Tid]) -> Vec<u8> {
        let mut code = Vec::with_capacity(self.code_len);
        for (i, t) in directory.iter().enumerate() {
            let found = self.with_page(t.block, |page| {
                match page
                    .item(t.offset)
                    .and_then(|item| layout::code_part(item, i))
                {
                    Some(part) => {
                        code.extend_from_slice(part);
                        true
                    }
                    None => false,
                }
            });
            if !found {
                code_damaged();
            }
        }
        if directory.len() != self.parts || code.len() != self.code_len {
            code_damaged();
        }
        code
    }

    /// [`DiskGraph::visit`] of an element whose code is split over code pages.
    fn visit_split(&mut self, id: u64) -> Option<Seen> {
        let t = Tid::unpack(id);
        let filter = self.filter.take();
        let found = self.with_page(t.block, |page| {
            let item = page.item(t.offset)?;
            let seen = read_header(item, filter.as_ref())?;
            Some((seen, layout::decode_directory(layout::element_value(item))))
        });
        self.filter = filter;
        let (mut seen, directory) = found?;
        let code = self.read_code(&directory);
        seen.distance = self.estimator.as_ref().expect("estimator").distance(&code);
        Some(seen)
    }

    /// Computes the distance to an element at `tid` and records it; `None` if there is no
    /// live element there.
    pub fn visit(&mut self, id: u64) -> Option<Seen> {
        if self.parts > 0 {
            let seen = self.visit_split(id);
            return self.record(id, seen);
        }
        let t = Tid::unpack(id);
        let est = self.estimator.take().expect("estimator");
        let filter = self.filter.take();
        let seen = self.with_page(t.block, |page| {
            read_seen(page, t.offset, &est, filter.as_ref())
        });
        self.estimator = Some(est);
        self.filter = filter;
        self.record(id, seen)
    }

    /// Whether the element at `id` stands for live heap rows, as this graph last read it
    /// (visiting it if it has not): for the heuristics of inserts and VACUUM, which may act on
    /// what they read a moment ago — an element that loses its rows meanwhile is VACUUM's to
    /// unlink, as one that loses them right after the insert is.
    pub fn live(&mut self, id: u64) -> bool {
        match self.seen.get(&id) {
            Some(s) => s.has_rows(),
            None => self.visit(id).is_some_and(|s| s.has_rows()),
        }
    }

    fn record(&mut self, id: u64, seen: Option<Seen>) -> Option<Seen> {
        let seen = seen?;
        self.tuples += 1;
        self.seen.insert(id, seen);
        Some(seen)
    }

    /// Runs `f(i, page)` for each element `ids[i]` on its page under a share lock, reading
    /// them in batches: the buffers are pinned a few at a time, and line pointers and the
    /// first `item_bytes` of each tuple are prefetched for the whole list first, so the cache
    /// misses of a whole neighbour list overlap instead of following each other. (Few pins at
    /// a time: PostgreSQL tracks a backend's first 8 pins in a fast array.)
    fn read_batch(
        &mut self,
        ids: &[u64],
        item_bytes: usize,
        mut f: impl FnMut(usize, PageRef<'_>),
    ) {
        const CHUNK: usize = 6;
        let mut pins: Vec<Pinned> = Vec::with_capacity(CHUNK);
        let mut which = [0usize; CHUNK];
        // Where this backend last found the blocks: start fetching descriptors and line
        // pointers, then tuples, for the whole list before pinning anything.
        let mut hints = std::mem::take(&mut self.hints);
        hints.clear();
        BufferHint::of_each(
            self.rel,
            ids.iter().map(|&id| Tid::unpack(id).block),
            &mut hints,
        );
        for (&id, hint) in ids.iter().zip(&hints) {
            if let Some(h) = hint {
                h.prefetch(Tid::unpack(id).offset);
            }
        }
        for (&id, hint) in ids.iter().zip(&hints) {
            if let Some(h) = hint {
                h.prefetch_item(Tid::unpack(id).offset, item_bytes);
            }
        }
        for (c, (chunk, chunk_hints)) in ids.chunks(CHUNK).zip(hints.chunks(CHUNK)).enumerate() {
            // The chunk's distinct blocks, and which of them each element is on.
            let mut blocks = [(0u32, None); CHUNK];
            let mut distinct = 0;
            for (i, &id) in chunk.iter().enumerate() {
                let block = Tid::unpack(id).block;
                which[i] = match blocks[..distinct].iter().position(|b| b.0 == block) {
                    Some(p) => p,
                    None => {
                        blocks[distinct] = (block, chunk_hints[i]);
                        distinct += 1;
                        distinct - 1
                    }
                };
            }
            Pinned::read_each_with_hint(self.rel, &blocks[..distinct], &mut pins);
            // Blocks without a hint: prefetch now that they are pinned.
            for (i, &id) in chunk.iter().enumerate() {
                if chunk_hints[i].is_none() {
                    let p = &pins[which[i]];
                    p.prefetch_line_pointer(Tid::unpack(id).offset);
                    p.prefetch_item(Tid::unpack(id).offset, item_bytes);
                }
            }
            Pinned::read_each_shared(&pins, &which[..chunk.len()], |i, page| {
                f(c * CHUNK + i, page)
            });
            Pinned::release_all(&mut pins);
        }
        self.hints = hints;
    }

    /// [`DiskGraph::visit`] of each of `ids`, read in batches ([`DiskGraph::read_batch`]):
    /// `f(id, what was read)` for each, in order.
    pub fn visit_each(&mut self, ids: &[u64], mut f: impl FnMut(u64, Option<Seen>)) {
        if self.parts > 0 {
            for &id in ids {
                let seen = self.visit(id);
                f(id, seen);
            }
            return;
        }
        let est = self.estimator.take().expect("estimator");
        let filter = self.filter.take();
        let value_bytes = layout::ELEMENT_HEADER + self.value_len_hint;
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        found.resize(ids.len(), None);
        self.read_batch(ids, value_bytes, |i, page| {
            found[i] = read_seen(page, Tid::unpack(ids[i]).offset, &est, filter.as_ref());
        });
        self.estimator = Some(est);
        self.filter = filter;
        for (&id, &seen) in ids.iter().zip(&found) {
            f(id, self.record(id, seen));
        }
        self.found = found;
    }

    /// [`DiskGraph::image`] of each of `ids` (in order), read in batches
    /// ([`DiskGraph::read_batch`]): the neighbours of a list, for neighbour selection.
    pub fn images(&mut self, ids: &[u64]) -> Vec<Option<Vec<u8>>> {
        if self.parts > 0 {
            return ids.iter().map(|&id| self.image(id)).collect();
        }
        let mut stored: Vec<Option<Vec<u8>>> = vec![None; ids.len()];
        let value_bytes = layout::ELEMENT_HEADER + self.value_len_hint;
        self.read_batch(ids, value_bytes, |i, page| {
            stored[i] = stored_value(page, Tid::unpack(ids[i]).offset);
        });
        stored
            .into_iter()
            .map(|s| s.map(|s| self.image_of_stored(s)))
            .collect()
    }
}

/// The value stored in the element tuple at `off` (its code directory when codes are split
/// over code pages), copied; `None` if there is no element there.
fn stored_value(page: PageRef<'_>, off: u16) -> Option<Vec<u8>> {
    let item = page.item(off)?;
    layout::decode_element(item)?;
    Some(layout::element_value(item).to_vec())
}

/// Distances ordered for a max-heap (`total_cmp`: a NaN distance sorts last).
mod ordered {
    #[derive(Clone, Copy, Debug)]
    pub struct Dist(pub f32);
    impl PartialEq for Dist {
        fn eq(&self, o: &Self) -> bool {
            self.0.total_cmp(&o.0).is_eq()
        }
    }
    impl Eq for Dist {}
    impl PartialOrd for Dist {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Dist {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&o.0)
        }
    }
}

fn code_damaged() -> ! {
    crate::am::corrupt::damaged("A code page is damaged.")
}

/// The [`Seen`] record of the element at item `off`, with its distance to `query` and whether
/// it passes `filter`; `None` if the item is not a live element.
#[inline]
fn read_seen(
    page: crate::am::page::PageRef<'_>,
    off: u16,
    est: &Estimator,
    filter: Option<&Predicate>,
) -> Option<Seen> {
    let item = page.item(off)?;
    let mut seen = read_header(item, filter)?;
    seen.distance = est.distance(layout::element_value(item));
    Some(seen)
}

/// The [`Seen`] record of an element tuple, distance still 0; `None` if the item is not a live
/// element.
#[inline]
fn read_header(item: &[u8], filter: Option<&Predicate>) -> Option<Seen> {
    if !layout::is_element_tuple(item)
        || layout::element_deleted(item)
        || layout::element_value(item).is_empty()
    {
        return None;
    }
    let n = layout::element_heap_tid_count(item);
    Some(Seen {
        distance: 0.0,
        neighbors: layout::element_neighbors(item),
        first_heap_tid: if n > 0 {
            layout::element_heap_tid(item, 0)
        } else {
            Tid::INVALID
        },
        level: layout::element_level(item),
        ntids: n as u8,
        accepted: filter.is_none_or(|f| f.matches(layout::element_keys(item))),
    })
}

impl DiskGraph {
    /// Leaves out of `ids` (neighbours of the list just read by [`Graph::neighbors`]) those
    /// whose sketch in that list cannot beat the bound the search told ([`Graph::set_bound`]):
    /// returns which to read (in `self.keep`), or `false` when nothing is left out (no
    /// sketches, no bound, a filtered search). The bound holds for this expansion only.
    fn sketch_filter(&mut self, ids: &[u64], level: usize) -> bool {
        // The bound and the list are used up here whatever happens: a bound told for an upper
        // layer (the descent) must not prune the first ground-layer expansion of a search
        // that tells none (an iterative scan, which must see every neighbour).
        let nt = self.expanded.take();
        let Some(mut probe) = self.probe.take() else {
            return false;
        };
        let mut keep = std::mem::take(&mut self.keep);
        keep.clear();
        let checked = nt
            .filter(|_| {
                level == 0 && probe.active() && self.filter.is_none() && self.read_ahead.is_empty()
            })
            .and_then(|nt| {
                let shape = self.shape;
                self.with_page(nt.block, |page| {
                    let item = page
                        .item(nt.offset)
                        .filter(|i| layout::is_neighbor_tuple(i))?;
                    shape.slots_of(item, List::Layer(0), ids, |slot| {
                        keep.push(
                            slot.and_then(|i| shape.sketch(item, i))
                                .is_none_or(|s| probe.may_beat(s)),
                        )
                    });
                    Some(())
                })
            })
            .is_some();
        probe.clear_bound();
        self.probe = Some(probe);
        let pruned = checked && keep.iter().any(|&x| !x);
        self.keep = keep;
        pruned
    }

    /// The distances of `ids` on layer `level`, read from their elements.
    fn read_distances(&mut self, ids: &[u64], level: usize, out: &mut Vec<Option<f32>>) {
        if ids.len() < 2 || self.parts > 0 {
            out.extend(ids.iter().map(|&id| self.distance(id, level)));
        } else {
            self.visit_each(ids, |_, seen| {
                out.push(seen.and_then(|s| ((s.level as usize) >= level).then_some(s.distance)))
            });
        }
    }
}

impl Graph for DiskGraph {
    type Id = u64;

    fn neighbors(&mut self, id: u64, level: usize, out: &mut Vec<u64>) {
        let Some(s) = self.seen.get(&id) else {
            return;
        };
        if (s.level as usize) < level {
            return;
        }
        let nt = s.neighbors;
        let keyed = level == 0 && !self.follow.is_empty() && s.accepted;
        let shape = self.shape;
        let follow = std::mem::take(&mut self.follow);
        let sketched = level == 0 && !keyed && shape.sketch_len > 0;
        self.with_page(nt.block, |page| {
            if let Some(item) = page.item(nt.offset) {
                if layout::is_neighbor_tuple(item) {
                    if keyed {
                        for &j in &follow {
                            shape.read(item, List::Key(j), out);
                        }
                    } else {
                        shape.read(item, List::Layer(level), out);
                        if sketched {
                            // Checked next, in `distances`, for the neighbours not yet seen.
                            let sketches = shape.sketches(item);
                            crate::kernels::prefetch::prefetch_range(
                                sketches.as_ptr(),
                                sketches.len(),
                                usize::MAX,
                            );
                        }
                    }
                }
            }
        });
        self.expanded = sketched.then_some(nt);
        self.follow = follow;
    }

    fn set_bound(&mut self, bound: f32, ef: usize) {
        if let Some(p) = &mut self.probe {
            p.set_bound(bound, ef);
        }
    }

    fn distance(&mut self, id: u64, level: usize) -> Option<f32> {
        let s = self.visit(id)?;
        ((s.level as usize) >= level).then_some(s.distance)
    }

    fn accepts(&self, id: u64, level: usize) -> bool {
        level > 0 || self.accepted(id)
    }

    fn exhausted(&self) -> bool {
        self.tuples >= self.limit
    }

    fn distances(&mut self, ids: &[u64], level: usize, out: &mut Vec<Option<f32>>) {
        if !self.read_ahead.is_empty() && ids.iter().any(|id| self.read_ahead.contains(id)) {
            // The first expansion, read ahead by `passing_neighbors`: what was read then (an element
            // that was not live then is read again, and found missing again).
            self.read_ahead.clear();
            for &id in ids {
                match self.seen.get(&id) {
                    Some(s) => out.push(((s.level as usize) >= level).then_some(s.distance)),
                    None => out.push(self.distance(id, level)),
                }
            }
            return;
        }
        if self.sketch_filter(ids, level) {
            // Scratch lists kept between expansions: which to read, and their distances.
            let keep = std::mem::take(&mut self.keep);
            let (mut read, mut got) = std::mem::take(&mut self.scratch);
            read.clear();
            got.clear();
            read.extend(ids.iter().zip(&keep).filter(|(_, &k)| k).map(|(&id, _)| id));
            self.read_distances(&read, level, &mut got);
            let mut got_each = got.iter();
            out.extend(keep.iter().map(|&k| {
                if k {
                    got_each.next().copied().flatten()
                } else {
                    None
                }
            }));
            self.keep = keep;
            self.scratch = (read, got);
            return;
        }
        self.read_distances(ids, level, out);
    }
}
