//! `aminsert` for `ruivfflat`: a row goes to the list with the nearest centre, appended to the
//! first page of that list's chain (from the list's insert-page hint) with room, or to a new
//! page linked at the chain's end. Each step is one Generic WAL record: a new page is
//! initialised, filled and linked from the old last page atomically, so a crash never leaves a
//! page that the chain does not reach or a link to a page that is not there.
//!
//! A tuple longer than a page (`super::parts`) goes in parts into the free space of the list's
//! pages from the hint on, and new pages at the chain's end.
//!
//! Locking: data pages are locked one at a time (the new page is invisible until linked), and
//! the list page only after they are released, so inserts, scans and VACUUM never wait on each
//! other in a cycle. A stale insert hint costs a few page reads, never correctness.

use super::layout::{self, ListHeader, MetaPage, Tid};
use super::lists::{header_at, key_columns, nearest_list, read_meta, set_header, update_list};
use super::parts;
use crate::am::codebook;
use crate::am::page::{
    max_item_size, maxalign, Exclusive, Locked, Rel, Share, WalChange, MAX_ITEM,
};
use crate::am::quantize;
use crate::format::{SqlState, VecError};
use crate::types::error::raise;
use pgrx::pg_sys;

fn add_failed() -> ! {
    raise(VecError::new(
        SqlState::InternalError,
        "failed to add index item to ruivfflat index",
    ))
}

/// Inserts one (already normalised) value image with its key blob (empty without key columns)
/// for heap row `heap`.
pub fn insert_image(index: Rel, image: &[u8], keys: &[u8], heap: Tid) {
    let meta = read_meta(index);
    let metric = meta.metric().expect("validated meta page");
    let (loc, header) = nearest_list(index, &meta, metric, image);
    let tuple = if meta.is_quantized() {
        let cb = codebook::load(index, &meta.codebook);
        layout::encode_data(heap, keys, &quantize::encode_image(&cb, metric, image))
    } else {
        layout::encode_data(heap, keys, image)
    };
    if meta.data_parts() {
        insert_parts(index, &meta, loc, header, &tuple, heap);
        return;
    }
    if tuple.len() > max_item_size() {
        raise(VecError::new(
            SqlState::ProgramLimitExceeded,
            "index row size exceeds maximum for ruivfflat index",
        ));
    }
    let mut blk = header.insert;
    if blk == layout::INVALID_BLOCK {
        if start_list(index, &meta, loc, &tuple).is_some() {
            return;
        }
        // Another backend gave the list its first page meanwhile.
        blk = list_insert_block(index, &meta, loc);
    }
    let mut chain = crate::am::corrupt::Chain::new(index);
    loop {
        chain.step(blk);
        let buf = Locked::read(index, blk, Exclusive);
        if buf.page().free_space() >= maxalign(tuple.len()) {
            add(index, &buf, &tuple);
            return;
        }
        let next = buf.page().opaque().next_blkno;
        if next != pg_sys::InvalidBlockNumber {
            blk = next;
            continue;
        }
        let last = append_pages(index, buf, &[tuple]);
        set_insert_hint(index, &meta, loc, last);
        return;
    }
}

/// Inserts a tuple longer than a page (`super::parts`): its parts go into the list's pages
/// from the insert hint on, one into each page with room for a part (space VACUUM freed
/// included), and new pages at the chain's end take the rest. Parts only move forward along
/// the chain, which is all a reader needs to join them; a page is locked only while its part
/// is added. The hint moves to the page that took the first part.
fn insert_parts(
    index: Rel,
    meta: &MetaPage,
    loc: Tid,
    header: ListHeader,
    tuple: &[u8],
    heap: Tid,
) {
    let full = parts::payload_room(MAX_ITEM);
    let owner = parts::Owner {
        tid: heap,
        stamp: stamp(),
    };
    let mut cut = parts::Cutter::new(owner, tuple);
    let mut blk = header.insert;
    if blk == layout::INVALID_BLOCK {
        match start_list(index, meta, loc, &cut.next(full)) {
            Some(first) => blk = first,
            None => {
                // Another backend gave the list its first page meanwhile.
                cut.rewind();
                blk = list_insert_block(index, meta, loc);
            }
        }
    }
    let mut first_room = None;
    let mut chain = crate::am::corrupt::Chain::new(index);
    while !cut.done() {
        chain.step(blk);
        let buf = Locked::read(index, blk, Exclusive);
        let room = parts::payload_room(buf.page().free_space());
        if room > 0 {
            add(index, &buf, &cut.next(room));
            first_room.get_or_insert(blk);
            if cut.done() {
                break;
            }
        }
        let next = buf.page().opaque().next_blkno;
        if next != pg_sys::InvalidBlockNumber {
            blk = next;
            continue;
        }
        let mut rest = Vec::new();
        while !cut.done() {
            rest.push(cut.next(full));
        }
        let last = append_pages(index, buf, &rest);
        first_room.get_or_insert(last);
    }
    if let Some(b) = first_room.filter(|b| *b != header.insert) {
        set_insert_hint(index, meta, loc, b);
    }
}

/// The stamp of parts this transaction writes (`super::parts`): its transaction ID (0 if it
/// has none).
pub(super) fn stamp() -> u32 {
    // SAFETY: reads this backend's transaction state.
    unsafe { pg_sys::GetCurrentTransactionIdIfAny() }.into_inner()
}

/// Adds `item` to the page held in `buf`, WAL-logged.
fn add(index: Rel, buf: &Locked<Exclusive>, item: &[u8]) {
    let wal = WalChange::start(index);
    let mut page = wal.register(buf, false);
    page.add_item(item).unwrap_or_else(|| add_failed());
    wal.commit();
}

/// Links new pages after the chain's last page `tail` (held exclusively), each holding one of
/// `items`. Each page is initialised, filled and linked from the one before in one Generic
/// WAL record, so a crash never leaves a page the chain does not reach. Returns the last new
/// block.
fn append_pages(index: Rel, tail: Locked<Exclusive>, items: &[Vec<u8>]) -> u32 {
    let mut prev = tail;
    for item in items {
        let new = Locked::extend(index);
        {
            let wal = WalChange::start(index);
            let mut old_page = wal.register(&prev, false);
            let mut o = old_page.as_ref().opaque();
            o.next_blkno = new.block();
            old_page.set_opaque(o);
            let mut page = wal.register(&new, true);
            page.init(layout::PAGE_DATA);
            page.add_item(item).unwrap_or_else(|| add_failed());
            wal.commit();
        }
        prev = new;
    }
    prev.block()
}

/// Points the list's insert hint at `blk` (after the data pages are released).
fn set_insert_hint(index: Rel, meta: &MetaPage, loc: Tid, blk: u32) {
    update_list(index, meta, loc, |h| Some(ListHeader { insert: blk, ..h }));
}

/// The current insert hint of the list at `loc`.
fn list_insert_block(index: Rel, meta: &MetaPage, loc: Tid) -> u32 {
    let buf = Locked::read(index, loc.block, Share);
    header_of(meta, &buf, loc).insert
}

/// A list tuple's header (the corruption error for a tuple too short to hold one).
fn header_of<M: crate::am::page::LockMode>(
    meta: &MetaPage,
    buf: &Locked<M>,
    loc: Tid,
) -> ListHeader {
    header_at(meta, buf.page(), loc)
        .unwrap_or_else(|| crate::am::corrupt::damaged("A list tuple is too short."))
}

/// Gives an empty list its first page, holding `item` (a tuple, or its first part); returns
/// the page, or `None` if the list has a page already.
fn start_list(index: Rel, meta: &MetaPage, loc: Tid, item: &[u8]) -> Option<u32> {
    let list = Locked::read(index, loc.block, Exclusive);
    if header_of(meta, &list, loc).start != layout::INVALID_BLOCK {
        return None;
    }
    let new = Locked::extend(index);
    let new_blk = new.block();
    let wal = WalChange::start(index);
    let mut page = wal.register(&new, true);
    page.init(layout::PAGE_DATA);
    page.add_item(item).unwrap_or_else(|| add_failed());
    let mut list_page = wal.register(&list, false);
    set_header(
        meta,
        &mut list_page,
        loc,
        ListHeader {
            start: new_blk,
            insert: new_blk,
        },
    );
    wal.commit();
    Some(new_blk)
}

/// `aminsert`.
#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: PostgreSQL passes the row's index column values (`values` and `isnull`: one
    // entry per index column, the vector first), valid for the duration of aminsert.
    if unsafe { *isnull } {
        return false;
    }
    // SAFETY: PostgreSQL passes a valid index relation, open and locked, and the row's heap
    // TID, valid for the duration of aminsert; `values` as above.
    let (index, tid, value) = unsafe {
        (
            Rel::from_raw(index),
            Tid::from_item_pointer(&*heap_tid),
            *values,
        )
    };
    crate::am::memcx::scoped(c"ruivfflat insert", || {
        crate::am::corrupt::guard(index, || {
            // SAFETY: `value` is not NULL (checked above), and `values`/`isnull` hold one entry
            // per index column.
            unsafe { insert_value(index, value, values, isnull, tid) }
        })
    });
    false
}

/// The body of [`aminsert`] for a non-NULL value.
///
/// # Safety
/// `value` is a non-NULL datum of the vector column's type, and `values`/`isnull` hold one
/// entry per index column (as `aminsert` receives them).
unsafe fn insert_value(
    index: Rel,
    value: pg_sys::Datum,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    tid: Tid,
) {
    let meta = read_meta(index);
    let metric = meta.metric().expect("validated meta page");
    // SAFETY: a non-NULL datum of the vector column's type (the caller's contract).
    let image = unsafe { crate::am::value::image_from_datum(value, metric, Some("ruivfflat")) };
    if let Some(image) = image {
        let keys = if meta.keys > 0 {
            // SAFETY: one entry per index column in `values` and `isnull` (the caller's
            // contract).
            unsafe { key_columns(index, &meta).encode(values, isnull) }
        } else {
            Vec::new()
        };
        insert_image(index, &image, &keys, tid);
    }
}
