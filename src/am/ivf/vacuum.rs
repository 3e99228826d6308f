//! VACUUM for `ruivfflat`: each list's pages lose the rows VACUUM reports dead (one Generic WAL
//! record per page changed), and the list's insert hint moves back to the first page of its
//! chain with room, so later inserts fill the space freed before they extend the index.
//! Scans copy what they need out of a page under its share lock, so removing items (which
//! moves the remaining ones) needs only the exclusive lock.

use super::layout::{self, ListHeader, Tid};
use super::lists::{for_each_list, read_meta, update_list};
use super::parts;
use crate::am::page::{maxalign, BulkRead, Exclusive, Locked, Rel, Share, WalChange};
use crate::am::vacuum::{delay_point, new_stats};
use pgrx::pg_sys;

/// Whether a data item counts as a row: every item, or the last part of a tuple in parts.
pub(super) fn is_row(meta: &layout::MetaPage, item: &[u8]) -> bool {
    !meta.data_parts() || parts::header(item).is_some_and(|(_, _, last)| last)
}

/// Whether a data page with `free` bytes for a new item takes a row (or a part of one) of this
/// index.
pub(super) fn has_room(meta: &layout::MetaPage, free: usize) -> bool {
    if meta.data_parts() {
        parts::payload_room(free) > 0
    } else {
        free >= maxalign(meta.data_tuple_len())
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
    let cb = callback.expect("bulk delete callback");
    // SAFETY: `stats` is the caller's or a fresh palloc'd result, used by nothing else during
    // the pass.
    let counts = unsafe { &mut *stats };
    // SAFETY: `cb` and `callback_state` are the pair VACUUM handed to this callback.
    crate::am::corrupt::guard(index, || unsafe {
        bulk_delete(index, counts, cb, callback_state)
    });
    stats
}

/// The pass of [`ambulkdelete`] over every list's pages.
///
/// # Safety
/// `cb` and `callback_state` are the callback and state VACUUM passed to `ambulkdelete`.
unsafe fn bulk_delete(
    index: Rel,
    stats: &mut pg_sys::IndexBulkDeleteResult,
    cb: unsafe extern "C-unwind" fn(pg_sys::ItemPointer, *mut std::ffi::c_void) -> bool,
    callback_state: *mut std::ffi::c_void,
) {
    let meta = read_meta(index);
    let mut lists: Vec<(Tid, ListHeader)> = Vec::with_capacity(meta.lists as usize);
    for_each_list(index, &meta, |loc, header, _| lists.push((loc, header)));
    let strategy = BulkRead::new();
    for (loc, header) in lists {
        let mut blk = header.start;
        let mut first_with_room = None;
        let mut chain = crate::am::corrupt::Chain::new(index);
        while blk != layout::INVALID_BLOCK {
            chain.step(blk);
            delay_point();
            let buf = Locked::read_with(index, blk, Exclusive, &strategy);
            let page = buf.page();
            let mut dead: Vec<u16> = Vec::new();
            let (mut live, mut removed) = (0u64, 0u64);
            for off in 1..=page.max_offset() {
                let Some(item) = page.item(off) else { continue };
                // A part carries its tuple's heap TID first too: all parts of a dead tuple go.
                let mut ip = layout::data_heap_tid(item).to_item_pointer();
                let row = is_row(&meta, item);
                // SAFETY: the caller's contract; `ip` is a local item pointer.
                if unsafe { cb(&mut ip, callback_state) } {
                    dead.push(off);
                    removed += row as u64;
                } else {
                    live += row as u64;
                }
            }
            let next = page.opaque().next_blkno;
            if !dead.is_empty() {
                let wal = WalChange::start(index);
                let mut p = wal.register(&buf, false);
                p.delete_items(&mut dead);
                wal.commit();
                stats.tuples_removed += removed as f64;
            }
            stats.num_index_tuples += live as f64;
            if first_with_room.is_none() && has_room(&meta, buf.page().free_space()) {
                first_with_room = Some(blk);
            }
            drop(buf);
            blk = next;
        }
        if let Some(b) = first_with_room {
            update_list(index, &meta, loc, |h| {
                (h.insert != b && h.start != layout::INVALID_BLOCK)
                    .then_some(ListHeader { insert: b, ..h })
            });
        }
    }
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
    // Without a bulk delete pass (nothing was deleted), count the rows ourselves.
    let stats = if stats.is_null() {
        let s = new_stats(stats);
        // SAFETY: `new_stats` returned a fresh palloc'd result no one else refers to yet.
        let counts = unsafe { &mut *s };
        crate::am::corrupt::guard(index, || {
            let meta = read_meta(index);
            let mut starts = Vec::new();
            for_each_list(index, &meta, |_, h, _| starts.push(h.start));
            for mut blk in starts {
                let mut chain = crate::am::corrupt::Chain::new(index);
                while blk != layout::INVALID_BLOCK {
                    chain.step(blk);
                    let buf = Locked::read(index, blk, Share);
                    let page = buf.page();
                    counts.num_index_tuples += (1..=page.max_offset())
                        .filter(|off| page.item(*off).is_some_and(|i| is_row(&meta, i)))
                        .count() as f64;
                    blk = page.opaque().next_blkno;
                }
            }
        });
        s
    } else {
        stats
    };
    // SAFETY: `stats` is the bulk delete's result or the one allocated above, valid for the call.
    unsafe { (*stats).num_pages = index.blocks() };
    stats
}
