//! `aminsert` for `ruivfflat`: a row goes to the list with the nearest centre, appended to the
//! first page of that list's chain (from the list's insert-page hint) with room, or to a new
//! page linked at the chain's end. Each step is one Generic WAL record: a new page is
//! initialised, filled and linked from the old last page atomically, so a crash never leaves a
//! page that the chain does not reach or a link to a page that is not there.
//!
//! Locking: data pages are locked one at a time (the new page is invisible until linked), and
//! the list page only after they are released, so inserts, scans and VACUUM never wait on each
//! other in a cycle. A stale insert hint costs a few page reads, never correctness.

use super::layout::{self, ListHeader, Tid};
use super::lists::{key_columns, nearest_list, read_meta, update_list};
use crate::am::codebook;
use crate::am::page::{maxalign, Exclusive, Locked, Rel, Share, WalChange};
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
    if tuple.len() > crate::am::page::max_item_size() {
        raise(VecError::new(
            SqlState::ProgramLimitExceeded,
            "index row size exceeds maximum for ruivfflat index",
        ));
    }
    let mut blk = header.insert;
    if blk == layout::INVALID_BLOCK && !start_list(index, loc, &tuple) {
        // Another backend gave the list its first page meanwhile.
        blk = list_insert_block(index, loc);
    }
    if blk == layout::INVALID_BLOCK {
        return;
    }
    let mut chain = crate::am::corrupt::Chain::new(index);
    loop {
        chain.step(blk);
        let buf = Locked::read(index, blk, Exclusive);
        if buf.page().free_space() >= maxalign(tuple.len()) {
            let wal = WalChange::start(index);
            let mut page = wal.register(&buf, false);
            page.add_item(&tuple).unwrap_or_else(|| add_failed());
            wal.commit();
            return;
        }
        let next = buf.page().opaque().next_blkno;
        if next != pg_sys::InvalidBlockNumber {
            blk = next;
            continue;
        }
        let new = Locked::extend(index);
        let new_blk = new.block();
        {
            let wal = WalChange::start(index);
            let mut old_page = wal.register(&buf, false);
            let mut o = old_page.as_ref().opaque();
            o.next_blkno = new_blk;
            old_page.set_opaque(o);
            let mut page = wal.register(&new, true);
            page.init(layout::PAGE_DATA);
            page.add_item(&tuple).unwrap_or_else(|| add_failed());
            wal.commit();
        }
        drop(new);
        drop(buf);
        update_list(index, loc, |h| {
            Some(ListHeader {
                insert: new_blk,
                ..h
            })
        });
        return;
    }
}

/// The current insert hint of the list at `loc`.
fn list_insert_block(index: Rel, loc: Tid) -> u32 {
    let buf = Locked::read(index, loc.block, Share);
    let item = buf.page().item(loc.offset).unwrap_or_else(|| add_failed());
    header_of(item).insert
}

/// A list tuple's header (the corruption error for a tuple too short to hold one).
fn header_of(item: &[u8]) -> ListHeader {
    layout::list_header(item)
        .unwrap_or_else(|| crate::am::corrupt::damaged("A list tuple is too short."))
}

/// Gives an empty list its first page holding `tuple`; false if the list has a page already.
fn start_list(index: Rel, loc: Tid, tuple: &[u8]) -> bool {
    let list = Locked::read(index, loc.block, Exclusive);
    let item = list.page().item(loc.offset).unwrap_or_else(|| add_failed());
    if header_of(item).start != layout::INVALID_BLOCK {
        return false;
    }
    let new = Locked::extend(index);
    let new_blk = new.block();
    let wal = WalChange::start(index);
    let mut page = wal.register(&new, true);
    page.init(layout::PAGE_DATA);
    page.add_item(tuple).unwrap_or_else(|| add_failed());
    let mut list_page = wal.register(&list, false);
    let item = list_page
        .item_mut(loc.offset)
        .unwrap_or_else(|| add_failed());
    layout::set_list_header(
        item,
        ListHeader {
            start: new_blk,
            insert: new_blk,
        },
    );
    wal.commit();
    true
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
