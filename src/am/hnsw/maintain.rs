//! `ruvector_index_maintenance()` for a `ruhnsw` index: VACUUM's graph repair (`vacuum.rs`),
//! on demand, over the whole index rather than the rows one VACUUM removed:
//!
//! * elements left without heap rows but not marked deleted (a VACUUM cancelled between its
//!   first and third passes: searches walk through them, never return them, until the next
//!   VACUUM finishes them) get their links repaired and are marked deleted, their slots
//!   reusable;
//! * neighbour tuples holding a link only damage makes — to an element already marked deleted
//!   (VACUUM repairs every link to an element before it marks it), or a key link to an element
//!   with another key — get new lists from a fresh search, as VACUUM's repair gives them;
//! * live elements no search reaches from the entry point are linked from the nearest
//!   reachable elements (`Vacuum::ensure_reachable`);
//! * ground-layer sketches (version 5) that do not match their element's value — damage, which
//!   `ruvector_index_check()` reports — are rewritten from the value, and absent ones (an insert
//!   that could not read a neighbour leaves its slot without one, and searches then read that
//!   neighbour every time) are filled, under the same protocol as the damaged links;
//! * the key directory loses entries of deleted elements (`keydir::compact`);
//! * code pages no element refers to (an insert stopped between writing a split code's parts
//!   and its element) are emptied and recorded in the free space map for the next split code
//!   (`layout::PAGE_FREE`), again found without locks and confirmed under the update lock —
//!   an insert holding it may be about to write the element that refers to them;
//! * the meta page's insert page moves to the first page with a free slot or room.
//!
//! The damaged-link repair must not race with inserts: a deleted element's slot may be reused
//! at any moment by an insert that then links to its new element, and rewriting a list
//! "pointing at a deleted element" after that would cut a fresh link (a test run that did so without a lock
//! left 4 of 3,226 rows of `hnsw_concurrency`'s pgbench mix unfound by their own vectors). So
//! the damaged lists are found without locks, then re-read and repaired while holding the
//! update lock exclusively (`insert.rs`: every insert holds it in share mode for its whole
//! run), when no insert can reuse a slot or link to one. Only damage makes such links, so the
//! inserts wait only when there is something to repair.
//!
//! It runs with inserts and scans going on, under the same page locks and the same
//! insert/scan lock protocol as VACUUM, every change WAL-logged; the caller holds
//! `ShareUpdateExclusiveLock` on the table, so no VACUUM runs meanwhile.

use super::disk::{element_key_word, key_columns, read_meta, update_meta};
use super::insert::UPDATE_LOCK;
use super::keylinks;
use super::layout::{self, List, MetaPage, Shape, Tid};
use super::vacuum::{for_each_page, Vacuum};
use crate::am::page::{Exclusive, Locked, PageLock, Rel, Share, WalChange};
use crate::filter::KeyLayout;
use crate::graph::search::IdHash;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// A live element as maintenance's first pass saw it.
struct Live {
    tid: Tid,
    level: usize,
    neighbors: Tid,
}

/// Links only damage makes, found in one neighbour tuple.
#[derive(Default, Clone, Copy)]
struct Damage {
    to_deleted: u64,
    across_keys: u64,
}

impl Damage {
    fn any(self) -> bool {
        self.to_deleted + self.across_keys > 0
    }
}

/// What the damaged-link repair did.
#[derive(Default)]
struct LinkRepair {
    links_to_deleted: u64,
    key_links_across_keys: u64,
}

/// The damage in `element`'s neighbour tuple: links whose target `deleted` says is deleted, key
/// links whose target `key_word` says has another key than the element (`key_word(t, j)`: the
/// directory word of linked column `j` of element `t`). `None` if the element or its tuple is
/// no longer what `element` says (rewritten meanwhile).
fn damage_of(
    index: Rel,
    shape: &Shape,
    element: &Live,
    deleted: &mut impl FnMut(Tid) -> bool,
    key_word: &mut impl FnMut(Tid, usize) -> Option<u64>,
) -> Option<Damage> {
    let (layers, keys) = {
        let buf = Locked::read(index, element.neighbors.block, Share);
        let page = buf.page();
        let item = page.item(element.neighbors.offset)?;
        if !layout::is_neighbor_tuple(item) {
            return None;
        }
        let layers: Vec<Tid> = (0..=element.level)
            .flat_map(|l| shape.tids(item, List::Layer(l)))
            .filter(|t| t.is_valid())
            .collect();
        let keys: Vec<(usize, Tid)> = (0..shape.key_lists)
            .flat_map(|j| {
                shape
                    .tids(item, List::Key(j))
                    .into_iter()
                    .filter(|t| t.is_valid())
                    .map(move |t| (j, t))
            })
            .collect();
        (layers, keys)
    };
    let mut d = Damage {
        to_deleted: layers.into_iter().filter(|t| deleted(*t)).count() as u64,
        across_keys: 0,
    };
    for (j, t) in keys {
        if deleted(t) {
            d.to_deleted += 1;
            continue;
        }
        let (a, b) = (key_word(element.tid, j), key_word(t, j));
        if a.is_some() && b.is_some() && a != b {
            d.across_keys += 1;
        }
    }
    Some(d)
}

/// Repairs the neighbour tuples of live elements that link to deleted elements or, on key
/// lists, to elements of another key (see the module comment for the lock protocol).
fn repair_damaged_links(
    v: &Vacuum,
    meta: &MetaPage,
    live: &[Live],
    deleted: &HashSet<u64, IdHash>,
    words: &HashMap<u64, Vec<Option<u64>>, IdHash>,
) -> LinkRepair {
    let index = v.index;
    let shape = Shape::of(meta);
    // Without locks, from the first pass's picture.
    let suspects: Vec<&Live> = live
        .iter()
        .filter(|e| {
            crate::am::vacuum::delay_point();
            damage_of(
                index,
                &shape,
                e,
                &mut |t| deleted.contains(&t.pack()),
                &mut |t, j| words.get(&t.pack()).and_then(|w| w[j]),
            )
            .is_some_and(Damage::any)
        })
        .collect();
    let mut done = LinkRepair::default();
    if suspects.is_empty() {
        return done;
    }
    // Again, now that no insert runs, from what the pages say now.
    let _no_inserts = PageLock::exclusive(index, UPDATE_LOCK);
    let meta = read_meta(index);
    let keys = (meta.key_links != 0).then(|| key_columns(index, &meta).layout);
    let linked = keylinks::columns(meta.key_links);
    let deleted_now = |t: Tid| {
        t.block < index.blocks() && {
            let buf = Locked::read(index, t.block, Share);
            let page = buf.page();
            page.item(t.offset)
                .and_then(layout::decode_element)
                .is_some_and(|e| e.deleted)
        }
    };
    let word_now = |t: Tid, j: usize| {
        keys.as_ref()
            .and_then(|k: &KeyLayout| element_key_word(index, t, k, linked[j]))
    };
    for e in suspects {
        crate::am::vacuum::delay_point();
        let unchanged = {
            let buf = Locked::read(index, e.tid.block, Share);
            let page = buf.page();
            page.item(e.tid.offset)
                .and_then(layout::decode_element)
                .is_some_and(|now| {
                    !now.deleted && !now.heap_tids.is_empty() && now.neighbors == e.neighbors
                })
        };
        if !unchanged {
            continue;
        }
        let Some(d) = damage_of(index, &shape, e, &mut |t| deleted_now(t), &mut |t, j| {
            word_now(t, j)
        }) else {
            continue;
        };
        if !d.any() {
            continue;
        }
        // A search for the element's new lists starts from the entry point, or from the next
        // highest element when the element is the entry point itself.
        let entry = match meta.entry() {
            Some((t, _)) if t == e.tid => [v.highest, v.fallback]
                .into_iter()
                .flatten()
                .find(|(h, _)| *h != e.tid),
            other => other,
        };
        v.repair(&meta, e.tid, e.level, e.neighbors, entry);
        done.links_to_deleted += d.to_deleted;
        done.key_links_across_keys += d.across_keys;
    }
    done
}

/// What the sketch repair did.
#[derive(Default)]
struct SketchRepair {
    rewritten: u64,
    filled: u64,
}

/// A layer-0 slot whose sketch is to be written: the slot, the element it links to, the sketch
/// it should hold, and whether it held none.
type SketchFix = (usize, Tid, Vec<u8>, bool);

/// The layer-0 slots of `element`'s neighbour tuple whose sketch is absent or differs from
/// `want(target)` (the sketch of the element a slot links to; `None`: unknown, left alone);
/// `None` if the tuple is no longer what `element` says.
fn sketch_fixes<'a>(
    index: Rel,
    shape: &Shape,
    element: &Live,
    want: &mut impl FnMut(Tid) -> Option<Cow<'a, [u8]>>,
) -> Option<Vec<SketchFix>> {
    let slots: Vec<(usize, Tid, Vec<u8>)> = {
        let buf = Locked::read(index, element.neighbors.block, Share);
        let page = buf.page();
        let item = page
            .item(element.neighbors.offset)
            .filter(|i| layout::is_neighbor_tuple(i))?;
        shape
            .tids(item, List::Layer(0))
            .into_iter()
            .enumerate()
            .filter(|(_, t)| t.is_valid())
            .filter_map(|(i, t)| Some((i, t, shape.sketch(item, i)?.to_vec())))
            .collect()
    };
    Some(
        slots
            .into_iter()
            .filter_map(|(i, t, stored)| {
                let absent = stored.iter().all(|&b| b == 0);
                let w = want(t)?;
                (absent || *w != stored[..]).then(|| (i, t, w.into_owned(), absent))
            })
            .collect(),
    )
}

/// Rewrites the layer-0 sketches of live elements' lists that do not match the element they
/// link to, and fills absent ones: found without locks against the sketches of the first
/// pass (`sketches`, by element), then, with no insert running (no slot is reused meanwhile),
/// each suspect list is read again with its targets' values read now, and written under its
/// page's exclusive lock, WAL-logged, where each slot still links where it did.
fn repair_sketches(
    v: &Vacuum,
    meta: &MetaPage,
    live: &[Live],
    sketches: &HashMap<u64, Vec<u8>, IdHash>,
) -> SketchRepair {
    let mut done = SketchRepair::default();
    let index = v.index;
    let Some(sketcher) = super::sketches::Sketcher::of(index, meta) else {
        return done;
    };
    let shape = Shape::of(meta);
    let suspects: Vec<&Live> = live
        .iter()
        .filter(|e| {
            crate::am::vacuum::delay_point();
            sketch_fixes(index, &shape, e, &mut |t| {
                sketches.get(&t.pack()).map(|v| Cow::Borrowed(&v[..]))
            })
            .is_some_and(|f| !f.is_empty())
        })
        .collect();
    if suspects.is_empty() {
        return done;
    }
    let _no_inserts = PageLock::exclusive(index, UPDATE_LOCK);
    let dims = meta.dimensions as usize;
    let mut sketch_now = |t: Tid| sketcher.element_sketch(index, t, dims).map(Cow::Owned);
    for e in suspects {
        crate::am::vacuum::delay_point();
        let Some(fixes) = sketch_fixes(index, &shape, e, &mut sketch_now) else {
            continue;
        };
        if fixes.is_empty() {
            continue;
        }
        let buf = Locked::read(index, e.neighbors.block, Exclusive);
        let wal = WalChange::start(index);
        let mut page = wal.register(&buf, false);
        let Some(item) = page
            .item_mut(e.neighbors.offset)
            .filter(|i| layout::is_neighbor_tuple(i))
        else {
            continue;
        };
        let mut changed = false;
        for (slot, target, sketch, absent) in fixes {
            if shape.tids(item, List::Layer(0)).get(slot) == Some(&target) {
                shape.set_sketch(item, slot, Some(&sketch));
                changed = true;
                if absent {
                    done.filled += 1;
                } else {
                    done.rewritten += 1;
                }
            }
        }
        if changed {
            wal.commit();
        }
    }
    done
}

/// The blocks of the code pages elements refer to (live or deleted: a deleted element keeps
/// its parts for the insert that reuses its slot).
fn referenced_code_pages(v: &Vacuum) -> HashSet<u32> {
    let mut used = HashSet::new();
    for_each_page(v.index, |blk| {
        let buf = Locked::read_with(v.index, blk, Share, &v.strategy);
        let page = buf.page();
        for off in 1..=page.max_offset() {
            let Some(item) = page.item(off) else { continue };
            if let Some(e) = layout::decode_element(item) {
                if e.format == layout::FORMAT_CODE_PARTS {
                    let dir = layout::decode_directory(layout::element_value(item));
                    used.extend(dir.iter().filter(|t| t.is_valid()).map(|t| t.block));
                }
            }
        }
        page.opaque().next_blkno
    });
    used
}

/// The code pages no element refers to, given those that are.
fn unreferenced_code_pages(v: &Vacuum, used: &HashSet<u32>) -> Vec<u32> {
    (1..v.index.blocks())
        .filter(|blk| !used.contains(blk))
        .filter(|&blk| {
            crate::am::vacuum::delay_point();
            let buf = Locked::read_with(v.index, blk, Share, &v.strategy);
            let page = buf.page_unchecked();
            page.is_ruvector() && page.opaque().page_type == layout::PAGE_CODE
        })
        .collect()
}

/// Empties the code pages no element refers to and records them free (see the module
/// comment); returns how many.
fn reclaim_code_pages(v: &Vacuum, meta: &MetaPage) -> u64 {
    if meta.code_format() != layout::FORMAT_CODE_PARTS {
        return 0;
    }
    let index = v.index;
    if unreferenced_code_pages(v, &referenced_code_pages(v)).is_empty() {
        return 0;
    }
    // No insert runs now: every part written is referenced by its element, or never will be.
    let _no_inserts = PageLock::exclusive(index, UPDATE_LOCK);
    let orphans = unreferenced_code_pages(v, &referenced_code_pages(v));
    for &blk in &orphans {
        let buf = Locked::read(index, blk, Exclusive);
        let wal = WalChange::start(index);
        let mut page = wal.register(&buf, true);
        page.init(layout::PAGE_FREE);
        wal.commit();
        drop(buf);
        index.record_free_page(blk);
    }
    if !orphans.is_empty() {
        index.publish_free_pages();
    }
    orphans.len() as u64
}

/// Maintains a ruhnsw index; returns what it did, as JSON.
pub fn maintain(index: Rel) -> Value {
    let mut v = Vacuum::new(index, false);
    let meta = read_meta(index);
    let room = layout::element_tuple_size(meta.value_len_hint(), meta.key_len as usize)
        + layout::Shape::of(&meta).tuple_size(0)
        + 16;
    let (mut live, mut deleted) = (0u64, 0u64);
    let mut candidates = Vec::new();
    let mut deleted_tids: HashSet<u64, IdHash> = HashSet::default();
    // Each live element's directory words of the columns with key links.
    let keys = (meta.key_links != 0).then(|| key_columns(index, &meta).layout);
    let linked = keylinks::columns(meta.key_links);
    let mut words: HashMap<u64, Vec<Option<u64>>, IdHash> = HashMap::default();
    // Each live element's sketch from its value, in an index with sketches (values split
    // over code pages are not read here: their sketches are left as they are).
    let sketcher = super::sketches::Sketcher::of(index, &meta);
    let mut sketches: HashMap<u64, Vec<u8>, IdHash> = HashMap::default();
    for_each_page(index, |blk| {
        let buf = Locked::read_with(index, blk, Share, &v.strategy);
        let page = buf.page();
        for off in 1..=page.max_offset() {
            let Some(item) = page.item(off) else { continue };
            let Some(e) = layout::decode_element(item) else {
                continue;
            };
            let tid = Tid::new(blk, off);
            if e.deleted {
                deleted += 1;
                deleted_tids.insert(tid.pack());
            } else if e.heap_tids.is_empty() {
                v.deleting.insert(tid.pack());
            } else {
                live += 1;
                candidates.push(Live {
                    tid,
                    level: e.level as usize,
                    neighbors: e.neighbors,
                });
                if let Some(sk) = sketcher
                    .as_ref()
                    .filter(|_| e.format == layout::FORMAT_PLAIN)
                {
                    // (A damaged value has no sketch: its links' sketches are left alone.)
                    let value = layout::element_value(item);
                    if let Some(sketch) = sk.encode_stored(value, meta.dimensions as usize) {
                        sketches.insert(tid.pack(), sketch);
                    }
                }
                if let Some(k) = keys.as_ref().filter(|_| !linked.is_empty()) {
                    let blob = layout::element_keys(item);
                    if blob.len() == k.len() {
                        let w = linked.iter().map(|&c| k.directory_word(blob, c)).collect();
                        words.insert(tid.pack(), w);
                    }
                }
            }
        }
        page.opaque().next_blkno
    });
    for e in &candidates {
        v.candidate(e.tid, e.level);
    }
    let stranded = v.deleting.len() as u64;
    if !v.deleting.is_empty() {
        v.repair_graph();
    }
    let repaired_before = v.repaired.get();
    let damaged = repair_damaged_links(&v, &meta, &candidates, &deleted_tids, &words);
    let damaged_lists = v.repaired.get() - repaired_before;
    let sketch_repair = repair_sketches(&v, &meta, &candidates, &sketches);
    drop((candidates, deleted_tids, words, sketches));
    v.ensure_reachable();
    if !v.deleting.is_empty() {
        v.mark_deleted();
    }
    let entries_removed = v.compact_key_directory();
    let code_pages_reclaimed = reclaim_code_pages(&v, &meta);

    // The insert page: the first page with a deleted element's slot or room for a new one.
    let before = read_meta(index).insert_page;
    let mut first = None;
    let mut last = layout::HEAD_BLKNO;
    for_each_page(index, |blk| {
        let buf = Locked::read_with(index, blk, Share, &v.strategy);
        let page = buf.page();
        last = blk;
        let free_slot = (1..=page.max_offset()).any(|off| {
            page.item(off)
                .and_then(layout::decode_element)
                .is_some_and(|e| e.deleted)
        });
        if first.is_none() && (free_slot || page.free_space() >= room) {
            first = Some(blk);
        }
        if first.is_some() {
            pgrx::pg_sys::InvalidBlockNumber
        } else {
            page.opaque().next_blkno
        }
    });
    let after = first.unwrap_or(last);
    if after != before {
        update_meta(index, |mm| mm.insert_page = after);
    }
    let deleted_after = deleted + v.marked.get();
    let mut advice = Vec::new();
    if deleted_after > live.max(1000) {
        advice.push(format!(
            "{deleted_after} of the index's {} element slots are free: REINDEX would make it \
             smaller (inserts reuse free slots meanwhile)",
            deleted_after + live
        ));
    }
    json!({
        "access_method": "ruhnsw",
        "elements": live,
        "stranded_elements_deleted": v.marked.get(),
        "stranded_elements_found": stranded,
        "neighbor_lists_repaired": v.repaired.get(),
        "unreachable_elements_linked": v.relinked.get(),
        "damaged_neighbor_lists_repaired": damaged_lists,
        "links_to_deleted_removed": damaged.links_to_deleted,
        "key_links_across_keys_removed": damaged.key_links_across_keys,
        "sketches_rewritten": sketch_repair.rewritten,
        "sketches_filled": sketch_repair.filled,
        "key_directory_entries_removed": entries_removed,
        "code_pages_reclaimed": code_pages_reclaimed,
        "insert_page": {"before": before, "after": after},
        "reindex_recommended": !advice.is_empty(),
        "advice": advice,
    })
}
