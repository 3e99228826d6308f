//! VACUUM for `ruhnsw` (`ambulkdelete` / `amvacuumcleanup`), in pgvector's three passes:
//!
//! 1. *Remove heap TIDs*: every element drops the heap rows VACUUM reports dead; elements left
//!    with none are "being deleted". Searches still traverse them but inserts never link to
//!    them (`insert::find_neighbors` drops elements without heap rows).
//! 2. *Repair graph*: after waiting for inserts in progress (which may have linked to such
//!    elements), every live element whose neighbour list points at an element being deleted
//!    gets new neighbour lists — its layers' from a fresh search, its key lists that lost
//!    members from their members' lists (`keylinks::consolidate`) — and the entry point is
//!    moved off any element being deleted. No link to an element being deleted remains.
//! 3. *Mark deleted*: after waiting for inserts and scans in progress, the elements are marked
//!    deleted (value zeroed, neighbour list cleared, version bumped) under cleanup locks; a later
//!    insert reuses the slot, and the meta page's insert page moves back to the first free slot.

use super::disk::{key_columns, read_meta, update_meta, DiskGraph};
use super::insert::{
    ensure_in_link, find_neighbors, layer0_sketches, link_back, neighbor_tuple, ImageCache,
    SCAN_LOCK, UPDATE_LOCK,
};
use super::keydir;
use super::keylinks;
use super::layout::{self, List, MetaPage, Shape, Tid};
use crate::am::page::{BulkRead, Exclusive, Locked, PageLock, Rel, Share, WalChange};
use crate::am::vacuum::{delay_point, new_stats};
use crate::graph::search::{reach, IdHash, Visited};
use crate::graph::Scored;
use pgrx::pg_sys;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// One VACUUM's (or `ruvector_index_maintenance()`'s, `maintain.rs`) graph work on an index.
pub(super) struct Vacuum {
    pub(super) index: Rel,
    pub(super) strategy: BulkRead,
    /// Elements left without heap rows by this VACUUM: their links are repaired, then they are
    /// marked deleted.
    pub(super) deleting: HashSet<u64, IdHash>,
    /// Whether ground-layer lists that are not full are refreshed too, and key lists that
    /// lost members are consolidated instead of searched for again (VACUUM, as pgvector; not
    /// maintenance, which repairs only what points at deleted elements, by searches).
    pub(super) refresh_partial: bool,
    /// Highest live element and the next highest (entry point candidates).
    pub(super) highest: Option<(Tid, usize)>,
    pub(super) fallback: Option<(Tid, usize)>,
    /// Neighbour lists rewritten, unreachable elements linked, elements marked deleted.
    pub(super) repaired: Cell<u64>,
    pub(super) relinked: Cell<u64>,
    pub(super) marked: Cell<u64>,
}

/// A set of element TIDs as one bit per (block, offset), offsets up to 256 per block (more
/// than pages hold: an element takes two items of at least 40 bytes). TIDs beyond the blocks
/// it was sized for (pages added concurrently) count as present.
struct ReachedSet {
    words: Vec<u64>,
}

impl ReachedSet {
    const WORDS_PER_BLOCK: usize = 4;

    fn new(blocks: usize) -> ReachedSet {
        ReachedSet {
            words: vec![0; blocks * Self::WORDS_PER_BLOCK],
        }
    }

    fn bit(t: Tid) -> Option<(usize, u64)> {
        let off = t.offset as usize;
        (off < 64 * Self::WORDS_PER_BLOCK).then(|| {
            (
                t.block as usize * Self::WORDS_PER_BLOCK + off / 64,
                1u64 << (off % 64),
            )
        })
    }

    fn insert(&mut self, t: Tid) {
        if let Some((w, b)) = Self::bit(t) {
            if let Some(word) = self.words.get_mut(w) {
                *word |= b;
            }
        }
    }

    fn contains(&self, t: Tid) -> bool {
        match Self::bit(t) {
            Some((w, b)) => self.words.get(w).is_none_or(|word| word & b != 0),
            None => true,
        }
    }
}

impl Visited<u64> for ReachedSet {
    fn insert(&mut self, id: u64) -> bool {
        let t = Tid::unpack(id);
        let new = !self.contains(t);
        ReachedSet::insert(self, t);
        new
    }

    fn clear(&mut self) {
        self.words.fill(0);
    }
}

/// Calls `f(block)` for each element page in chain order; `f` returns the next block.
pub(super) fn for_each_page(index: Rel, mut f: impl FnMut(u32) -> u32) {
    let mut blk = layout::HEAD_BLKNO;
    let mut chain = crate::am::corrupt::Chain::new(index);
    while blk != pg_sys::InvalidBlockNumber {
        chain.step(blk);
        delay_point();
        blk = f(blk);
    }
}

impl Vacuum {
    pub(super) fn new(index: Rel, refresh_partial: bool) -> Vacuum {
        Vacuum {
            index,
            strategy: BulkRead::new(),
            deleting: HashSet::default(),
            refresh_partial,
            highest: None,
            fallback: None,
            repaired: Cell::new(0),
            relinked: Cell::new(0),
            marked: Cell::new(0),
        }
    }

    /// Counts a live element of `level` at `tid` among the entry point candidates.
    pub(super) fn candidate(&mut self, tid: Tid, level: usize) {
        rank(&mut self.highest, &mut self.fallback, tid, level);
    }

    /// After pass 3: the key directory loses the entries of the elements just deleted (and any
    /// other stale ones, `keydir::compact`). The live elements' keys are read in one pass over
    /// the element pages; an entry whose element is not among them (inserted since, or gone)
    /// is judged by reading that element.
    pub(super) fn compact_key_directory(&self) -> u64 {
        let index = self.index;
        let meta = read_meta(index);
        if meta.keys == 0 {
            return 0;
        }
        let keys = key_columns(index, &meta).layout;
        let live = |item: &[u8]| {
            (layout::is_element_tuple(item) && !layout::element_deleted(item))
                .then(|| layout::element_keys(item).to_vec())
        };
        let mut known: HashMap<u64, Vec<u8>, IdHash> = HashMap::default();
        for_each_page(index, |blk| {
            let buf = Locked::read_with(index, blk, Share, &self.strategy);
            let page = buf.page();
            for off in 1..=page.max_offset() {
                if let Some(blob) = page.item(off).and_then(live) {
                    known.insert(Tid::new(blk, off).pack(), blob);
                }
            }
            page.opaque().next_blkno
        });
        keydir::compact(index, (meta.key_head, meta.key_tail), &keys, |t| {
            if let Some(blob) = known.get(&t.pack()) {
                return Some(blob.clone());
            }
            if t.block >= index.blocks() {
                return None;
            }
            let buf = Locked::read(index, t.block, Share);
            let page = buf.page();
            if page.opaque().page_type != layout::PAGE_ELEMENT {
                return None;
            }
            page.item(t.offset).and_then(live)
        })
    }

    /// Pass 1.
    fn remove_heap_tids(
        &mut self,
        stats: *mut pg_sys::IndexBulkDeleteResult,
        callback: pg_sys::IndexBulkDeleteCallback,
        callback_state: *mut std::ffi::c_void,
    ) {
        let cb = callback.expect("bulk delete callback");
        let (index, strategy) = (self.index, &self.strategy);
        let (deleting, highest, fallback) =
            (&mut self.deleting, &mut self.highest, &mut self.fallback);
        for_each_page(index, |blk| {
            let buf = Locked::read_with(index, blk, Exclusive, strategy);
            let next = buf.page().opaque().next_blkno;
            let wal = WalChange::start(index);
            let mut page = wal.register(&buf, false);
            let mut updated = false;
            for off in 1..=page.as_ref().max_offset() {
                let Some(item) = page.item_mut(off) else {
                    continue;
                };
                let Some(e) = layout::decode_element(item) else {
                    continue;
                };
                if e.deleted {
                    continue;
                }
                let mut keep = Vec::with_capacity(e.heap_tids.len());
                for t in &e.heap_tids {
                    let mut ip = t.to_item_pointer();
                    // SAFETY: VACUUM's callback takes a heap TID and its state.
                    let dead = unsafe { cb(&mut ip, callback_state) };
                    // SAFETY: stats is a valid result struct.
                    unsafe {
                        if dead {
                            (*stats).tuples_removed += 1.0;
                        } else {
                            (*stats).num_index_tuples += 1.0;
                        }
                    }
                    if !dead {
                        keep.push(*t);
                    }
                }
                if keep.len() != e.heap_tids.len() {
                    layout::set_element_heap_tids(item, &keep);
                    updated = true;
                }
                let tid = Tid::new(blk, off);
                if keep.is_empty() {
                    deleting.insert(tid.pack());
                } else {
                    rank(highest, fallback, tid, e.level as usize);
                }
            }
            if updated {
                wal.commit();
            }
            next
        });
    }

    fn needs_repair(&self, g: &mut DiskGraph, ntid: Tid, m: usize) -> bool {
        g.read_item(ntid, |item| {
            if !layout::is_neighbor_tuple(item) {
                return false;
            }
            if layout::all_neighbor_tids(item).any(|t| self.deleting.contains(&t.pack())) {
                return true;
            }
            // A ground-layer list that is not full may have lost links to deletions during
            // inserts; refresh it too (pgvector does the same).
            self.refresh_partial
                && Shape::plain(m)
                    .tids(item, List::Layer(0))
                    .last()
                    .is_some_and(|t| !t.is_valid())
        })
        .unwrap_or(false)
    }

    /// Gives `element` a new neighbour list, searching from `entry`.
    pub(super) fn repair(
        &self,
        meta: &MetaPage,
        element: Tid,
        level: usize,
        ntid: Tid,
        entry: Option<(Tid, usize)>,
    ) {
        if entry.is_some_and(|(e, _)| e == element) {
            return;
        }
        let index = self.index;
        let mut probe = DiskGraph::new(index, meta, None, 64);
        let Some(value) = probe.image(element.pack()) else {
            return;
        };
        let keys = probe
            .read_item(element, |item| layout::element_keys(item).to_vec())
            .unwrap_or_default();
        drop(probe);
        let mut images = ImageCache::default();
        let mut g = DiskGraph::new(
            index,
            meta,
            Some(value.clone()),
            meta.ef_construction as usize * 32,
        );
        let layers = find_neighbors(
            &mut g,
            meta,
            entry,
            level,
            Some(element.pack()),
            &mut images,
        );
        g.release();
        // Key lists: in VACUUM, those that lost members are chosen again from their members'
        // lists (`keylinks::consolidate`: no search) and linked back, the others kept as they
        // are; changed lists are linked back whole (only the new members: 0.004 less recall
        // for a 10% key in the study of `keylinks::consolidate`).
        let shape = Shape::of(meta);
        let old_keys: Vec<Vec<u64>> = if meta.key_links == 0 {
            Vec::new()
        } else {
            g.read_item(ntid, |item| {
                layout::is_neighbor_tuple(item).then(|| shape.key_links(item))
            })
            .flatten()
            .unwrap_or_default()
        };
        let new_keys = if meta.key_links == 0 {
            Vec::new()
        } else if !self.refresh_partial || old_keys.len() != shape.key_lists {
            // Maintenance: the damage it repairs (key links across keys, links to elements
            // deleted earlier) is not in `deleting`; a search leaves none of it. Also when
            // the lists could not be read (then there is nothing to consolidate).
            keylinks::find(
                index,
                meta,
                &key_columns(index, meta).layout,
                &value,
                &keys,
                layers.first().map_or(&[][..], |l| &l[..]),
                Some(element.pack()),
                &mut images,
            )
            .into_iter()
            .map(Some)
            .collect()
        } else {
            keylinks::consolidate(
                index,
                meta,
                &key_columns(index, meta).layout,
                &value,
                &keys,
                element.pack(),
                &old_keys,
                layers.first().map_or(&[][..], |l| &l[..]),
                &self.deleting,
                &mut images,
            )
        };
        let key_layers: Vec<Vec<Scored<u64>>> = new_keys
            .iter()
            .enumerate()
            .map(|(j, new)| match new {
                Some(l) => l.clone(),
                None => old_keys
                    .get(j)
                    .into_iter()
                    .flatten()
                    .map(|&id| Scored { distance: 0.0, id })
                    .collect(),
            })
            .collect();
        let changed_keys: Vec<Vec<Scored<u64>>> = new_keys
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        let sketches = layer0_sketches(&mut g, &mut images, &layers);
        g.release();
        let ntup = neighbor_tuple(&shape, level, &layers, &key_layers, &sketches);
        {
            let buf = Locked::read_with(index, ntid.block, Exclusive, &self.strategy);
            let wal = WalChange::start(index);
            let mut page = wal.register(&buf, false);
            if !page.overwrite_item(ntid.offset, &ntup) {
                return;
            }
            wal.commit();
        }
        self.repaired.set(self.repaired.get() + 1);
        images.insert(element.pack(), value);
        link_back(&mut g, &mut images, element, &layers, &changed_keys);
    }

    /// Repairs the entry point first (pgvector's RepairGraphEntryPoint): the highest live
    /// element is repaired (searching from the current entry), then becomes the entry point if
    /// the current one is being deleted.
    fn repair_entry_point(&self) {
        let index = self.index;
        let mut highest = self.highest;
        if highest.is_some() {
            let lock = PageLock::share(index, UPDATE_LOCK);
            let meta = read_meta(index);
            let entry = meta.entry();
            if entry.map(|e| e.0) == highest.map(|h| h.0) {
                highest = self.fallback;
            }
            if let Some((h, level)) = highest {
                self.repair_if_needed(&meta, h, level, entry);
            }
            drop(lock);
        }
        let lock = PageLock::exclusive(index, UPDATE_LOCK);
        let meta = read_meta(index);
        if let Some((entry, level)) = meta.entry() {
            if self.deleting.contains(&entry.pack()) {
                update_meta(index, |mm| mm.set_entry(highest));
            } else {
                self.repair_if_needed(&meta, entry, level, highest);
            }
        }
        drop(lock);
    }

    fn repair_if_needed(
        &self,
        meta: &MetaPage,
        element: Tid,
        level: usize,
        entry: Option<(Tid, usize)>,
    ) {
        let mut g = DiskGraph::new(self.index, meta, None, 64);
        let Some(ntid) = g
            .read_item(element, |item| {
                layout::decode_element(item)
                    .filter(|e| !e.deleted)
                    .map(|e| e.neighbors)
            })
            .flatten()
        else {
            return;
        };
        let needs = self.needs_repair(&mut g, ntid, meta.m as usize);
        drop(g);
        if needs {
            self.repair(meta, element, level, ntid, entry);
        }
    }

    /// Pass 2.
    pub(super) fn repair_graph(&self) {
        let index = self.index;
        // Inserts before this point may have linked to elements being deleted; later ones won't.
        PageLock::wait_exclusive(index, UPDATE_LOCK);
        self.repair_entry_point();
        let strategy = &self.strategy;
        for_each_page(index, |blk| {
            // Read the page's live elements, then repair without holding its lock.
            let (next, elements) = {
                let buf = Locked::read_with(index, blk, Share, strategy);
                let page = buf.page();
                let mut v = Vec::new();
                for off in 1..=page.max_offset() {
                    let Some(item) = page.item(off) else { continue };
                    let Some(e) = layout::decode_element(item) else {
                        continue;
                    };
                    if e.deleted || e.heap_tids.is_empty() {
                        continue;
                    }
                    v.push((Tid::new(blk, off), e.level as usize, e.neighbors));
                }
                (page.opaque().next_blkno, v)
            };
            for (tid, level, ntid) in elements {
                let meta = read_meta(index);
                let mut g = DiskGraph::new(index, &meta, None, 64);
                let needs = self.needs_repair(&mut g, ntid, meta.m as usize);
                drop(g);
                if !needs {
                    continue;
                }
                let mut lock = PageLock::share(index, UPDATE_LOCK);
                let mut meta = read_meta(index);
                let raises_entry = meta.entry().is_none_or(|(_, l)| level > l);
                if raises_entry {
                    drop(lock);
                    lock = PageLock::exclusive(index, UPDATE_LOCK);
                    meta = read_meta(index);
                }
                let entry = meta.entry();
                self.repair(&meta, tid, level, ntid, entry);
                if entry.is_none_or(|(_, l)| level > l) {
                    update_meta(index, |mm| {
                        if mm.entry().is_none_or(|(_, l)| level > l) {
                            mm.set_entry(Some((tid, level)));
                        }
                    });
                }
                drop(lock);
            }
            next
        });
    }

    /// Pass 2b: after the repairs, every live element must still be reachable from the entry
    /// point on the ground layer — links from the elements being deleted are about to go, and
    /// an element only they led to could no longer be found (as could a pair of near-identical
    /// vectors that ended up linking only to each other). A breadth-first walk over the
    /// neighbour tuples marks what is reachable (a bitmap over block × offset); each live
    /// element left out gets a link from the nearest reachable element a search finds for it,
    /// which also brings in whatever it links to.
    pub(super) fn ensure_reachable(&self) {
        let index = self.index;
        let meta = read_meta(index);
        let Some((entry, _)) = meta.entry() else {
            return;
        };
        let mut reached = ReachedSet::new(index.blocks() as usize);
        let mut live: Vec<u64> = Vec::new();
        let strategy = &self.strategy;
        for_each_page(index, |blk| {
            let buf = Locked::read_with(index, blk, Share, strategy);
            let page = buf.page();
            for off in 1..=page.max_offset() {
                let Some(item) = page.item(off) else { continue };
                if !layout::is_element_tuple(item)
                    || layout::element_deleted(item)
                    || layout::element_heap_tid_count(item) == 0
                {
                    continue;
                }
                let tid = Tid::new(blk, off);
                if !self.deleting.contains(&tid.pack()) {
                    live.push(tid.pack());
                }
            }
            page.opaque().next_blkno
        });
        self.mark_reachable(&meta, entry, &mut reached);
        for tid in live.into_iter().map(Tid::unpack) {
            if reached.contains(tid) {
                continue;
            }
            delay_point();
            let mut probe = DiskGraph::new(index, &meta, None, 64);
            let Some(value) = probe.image(tid.pack()) else {
                continue;
            };
            drop(probe);
            // Reachable elements near it: a search from the entry point only finds those.
            let lock = PageLock::share(index, UPDATE_LOCK);
            let meta = read_meta(index);
            let mut images = ImageCache::default();
            let mut g = DiskGraph::new(
                index,
                &meta,
                Some(value.clone()),
                meta.ef_construction as usize * 32,
            );
            let found = find_neighbors(
                &mut g,
                &meta,
                meta.entry(),
                0,
                Some(tid.pack()),
                &mut images,
            );
            let hosts: Vec<Scored<u64>> = found
                .first()
                .map(|l| {
                    l.iter()
                        .filter(|s| !self.deleting.contains(&s.id))
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            images.insert(tid.pack(), value);
            ensure_in_link(&mut g, &mut images, tid, &hosts, List::Layer(0));
            self.relinked.set(self.relinked.get() + 1);
            drop(g);
            drop(lock);
            self.mark_reachable(&meta, tid, &mut reached);
        }
    }

    /// Marks the live elements reachable from `start` on the ground layer ([`reach`] over
    /// neighbour tuples read through the buffer manager; elements being deleted are not
    /// traversed, as searches will not pass through them once they are gone).
    fn mark_reachable(&self, meta: &MetaPage, start: Tid, reached: &mut ReachedSet) {
        let m = meta.m as usize;
        let mut g = DiskGraph::new(self.index, meta, None, 64);
        let mut steps = 0u32;
        reach(start.pack(), reached, |x, out| {
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(1024) {
                delay_point();
            }
            let Some(ntid) = g
                .read_item(Tid::unpack(x), |item| {
                    (layout::is_element_tuple(item) && !layout::element_deleted(item))
                        .then(|| layout::element_neighbors(item))
                })
                .flatten()
            else {
                return;
            };
            g.read_item(ntid, |item| {
                if layout::is_neighbor_tuple(item) {
                    out.extend(
                        Shape::plain(m)
                            .tids(item, List::Layer(0))
                            .into_iter()
                            .filter(|t| t.is_valid() && !self.deleting.contains(&t.pack()))
                            .map(|t| t.pack()),
                    );
                }
            });
        });
    }

    /// Pass 3.
    pub(super) fn mark_deleted(&self) {
        let index = self.index;
        // Wait for inserts and scans that started before the repair: they may still hold
        // addresses of the elements about to be deleted.
        PageLock::wait_exclusive(index, UPDATE_LOCK);
        PageLock::wait_exclusive(index, SCAN_LOCK);
        let strategy = &self.strategy;
        let mut first_free: Option<u32> = None;
        for_each_page(index, |blk| {
            let buf = Locked::cleanup(index, blk, strategy);
            let next = buf.page().opaque().next_blkno;
            let mut far: Vec<(u16, Tid)> = Vec::new();
            {
                let wal = WalChange::start(index);
                let mut page = wal.register(&buf, false);
                let mut updated = false;
                for off in 1..=page.as_ref().max_offset() {
                    let Some(item) = page.item_mut(off) else {
                        continue;
                    };
                    let Some(e) = layout::decode_element(item) else {
                        continue;
                    };
                    if e.deleted {
                        first_free.get_or_insert(blk);
                        continue;
                    }
                    if !self.deleting.contains(&Tid::new(blk, off).pack()) {
                        continue;
                    }
                    self.marked.set(self.marked.get() + 1);
                    if e.neighbors.block == blk {
                        let version = bump_version(item);
                        mark_element(item);
                        if let Some(n) = page.item_mut(e.neighbors.offset) {
                            clear_neighbors(n, version);
                        }
                        updated = true;
                        first_free.get_or_insert(blk);
                    } else {
                        far.push((off, e.neighbors));
                    }
                }
                if updated {
                    wal.commit();
                }
            }
            // Elements whose neighbour tuple is on a later page: one record per pair.
            for (off, ntid) in far {
                let nbuf = Locked::read_with(index, ntid.block, Exclusive, strategy);
                let wal = WalChange::start(index);
                let mut page = wal.register(&buf, false);
                let mut npage = wal.register(&nbuf, false);
                let mut version = 1;
                if let Some(item) = page.item_mut(off) {
                    version = bump_version(item);
                    mark_element(item);
                }
                if let Some(n) = npage.item_mut(ntid.offset) {
                    clear_neighbors(n, version);
                }
                wal.commit();
                first_free.get_or_insert(blk);
            }
            next
        });
        if let Some(p) = first_free {
            let meta = read_meta(index);
            if p < meta.insert_page {
                update_meta(index, |mm| mm.insert_page = p);
            }
        }
    }
}

/// Ranks a live element of `level` at `tid` among the entry point candidates: the highest
/// and the next highest.
fn rank(
    highest: &mut Option<(Tid, usize)>,
    fallback: &mut Option<(Tid, usize)>,
    tid: Tid,
    level: usize,
) {
    if highest.is_none_or(|(_, l)| level > l) {
        *fallback = *highest;
        *highest = Some((tid, level));
    } else if fallback.is_none_or(|(_, l)| level > l) {
        *fallback = Some((tid, level));
    }
}

/// Bumps an element's version (1..=15, as pgvector) and returns it.
fn bump_version(item: &mut [u8]) -> u8 {
    let v = match layout::element_version(item) {
        15.. => 1,
        v => v + 1,
    };
    layout::set_element_version(item, v);
    v
}

/// Marks an element tuple deleted (`layout::set_element_deleted`).
fn mark_element(item: &mut [u8]) {
    layout::set_element_deleted(item);
}

fn clear_neighbors(item: &mut [u8], version: u8) {
    if layout::is_neighbor_tuple(item) {
        layout::clear_neighbor_tuple(item, version);
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    let stats = new_stats(stats);
    // SAFETY: PostgreSQL passes a valid IndexVacuumInfo whose index is open and locked for the
    // whole VACUUM.
    let index = unsafe { Rel::from_raw((*info).index) };
    crate::am::corrupt::guard(index, || {
        let mut v = Vacuum::new(index, true);
        v.remove_heap_tids(stats, callback, callback_state);
        if !v.deleting.is_empty() {
            v.repair_graph();
            v.ensure_reachable();
            v.mark_deleted();
            v.compact_key_directory();
        }
    });
    stats
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: PostgreSQL passes a valid IndexVacuumInfo for the duration of the call, its index
    // open and locked for the whole VACUUM.
    let (analyze_only, index) = unsafe { ((*info).analyze_only, Rel::from_raw((*info).index)) };
    if analyze_only {
        return stats;
    }
    // Without a bulk delete pass (nothing was deleted), count the live rows ourselves.
    let stats = if stats.is_null() {
        let s = new_stats(stats);
        // SAFETY: `new_stats` returned a fresh palloc'd result no one else refers to yet.
        let counts = unsafe { &mut *s };
        crate::am::corrupt::guard(index, || {
            for_each_page(index, |blk| {
                let buf = Locked::read(index, blk, Share);
                let page = buf.page();
                for off in 1..=page.max_offset() {
                    if let Some(e) = page.item(off).and_then(layout::decode_element) {
                        if !e.deleted {
                            counts.num_index_tuples += e.heap_tids.len() as f64;
                        }
                    }
                }
                page.opaque().next_blkno
            })
        });
        s
    } else {
        stats
    };
    // SAFETY: `stats` is the bulk delete's result or the one allocated above, valid for the call.
    unsafe { (*stats).num_pages = index.blocks() };
    stats
}
