//! `ruvector_index_maintenance()` for a `ruhnsw` index: VACUUM's graph repair (`vacuum.rs`),
//! on demand, over the whole index rather than the rows one VACUUM removed:
//!
//! * elements left without heap rows but not marked deleted (a VACUUM cancelled between its
//!   first and third passes: searches walk through them, never return them, until the next
//!   VACUUM finishes them) get their links repaired and are marked deleted, their slots
//!   reusable;
//! * live elements no search reaches from the entry point are linked from the nearest
//!   reachable elements (`Vacuum::ensure_reachable`);
//! * the key directory loses entries of deleted elements (`keydir::compact`);
//! * the meta page's insert page moves to the first page with a free slot or room.
//!
//! Links to elements already marked deleted are left alone: VACUUM repairs every link to an
//! element before it marks it, so only damage leaves one (`ruvector_index_check` counts them,
//! and a search skips them); and a deleted element's slot may already hold a new element that
//! concurrent inserts are linking to — rewriting those lists races with those inserts' links
//! (a test run with that repair in maintenance left 4 of 3,226 rows of `hnsw_concurrency`'s
//! pgbench mix unfound by their own vectors at ef_search 400, over the test's gate).
//!
//! It runs with inserts and scans going on, under the same page locks and the same
//! insert/scan lock protocol as VACUUM, every change WAL-logged; the caller holds
//! `ShareUpdateExclusiveLock` on the table, so no VACUUM runs meanwhile.

use super::disk::{read_meta, update_meta};
use super::layout::{self, Tid};
use super::vacuum::{for_each_page, Vacuum};
use crate::am::page::{Locked, Rel, Share};
use serde_json::{json, Value};

/// Maintains a ruhnsw index; returns what it did, as JSON.
pub fn maintain(index: Rel) -> Value {
    let mut v = Vacuum::new(index, false);
    let meta = read_meta(index);
    let room = layout::element_tuple_size(meta.value_len_hint(), meta.key_len as usize)
        + layout::Shape::of(&meta).tuple_size(0)
        + 16;
    let (mut live, mut deleted) = (0u64, 0u64);
    let mut candidates = Vec::new();
    for_each_page(index, |blk| {
        let buf = Locked::read_with(index, blk, Share, &v.strategy);
        let page = buf.page();
        for off in 1..=page.max_offset() {
            let Some(e) = page.item(off).and_then(layout::decode_element) else {
                continue;
            };
            let tid = Tid::new(blk, off);
            if e.deleted {
                deleted += 1;
            } else if e.heap_tids.is_empty() {
                v.deleting.insert(tid.pack());
            } else {
                live += 1;
                candidates.push((tid, e.level as usize));
            }
        }
        page.opaque().next_blkno
    });
    for (tid, level) in candidates {
        v.candidate(tid, level);
    }
    let stranded = v.deleting.len() as u64;
    if !v.deleting.is_empty() {
        v.repair_graph();
    }
    v.ensure_reachable();
    if !v.deleting.is_empty() {
        v.mark_deleted();
    }
    let entries_removed = v.compact_key_directory();

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
        "key_directory_entries_removed": entries_removed,
        "insert_page": {"before": before, "after": after},
        "reindex_recommended": !advice.is_empty(),
        "advice": advice,
    })
}
