//! The key directory of an index with key columns: every element's TID with a copy of its key
//! blob, packed on pages of their own (a chain from the meta page's `key_head` to `key_tail`).
//!
//! A filtered search reads it first (`scan.rs`): it is small — 14 to 30 bytes an element
//! against hundreds for the element with its vector and neighbours — so a pass over it finds,
//! and counts, the elements whose keys pass the filter, without touching the graph. When few
//! pass, visiting just those in block order gives the exact answer faster than any graph walk
//! (which would read about 1/selectivity times the elements an unfiltered search reads); when
//! many pass, the pass stops early and the graph walk, filtered, takes over.
//!
//! Entries are hints, the elements are the truth: an insert appends its element's entry
//! (after choosing the element's slot, before writing it, under the slot's page lock), so a
//! crash in between leaves an entry pointing at nothing — skipped. VACUUM leaves entries of
//! deleted elements in place; when a slot is reused, its new element gets a new entry, and the
//! old one points at an element whose own keys the search checks again. So the directory may
//! hold stale and repeated TIDs, never miss a live element.
//!
//! Page contents: `[entries: u32][entry length: u16][0: u16]` then the entries, each a 6-byte
//! element TID and the key blob.

use super::layout::{self, Tid};
use crate::am::page::{BuildPages, Locked, Mode, Rel, WalChange};
use crate::format::{SqlState, VecError};
use crate::types::error::raise;

const HEADER: usize = 8;

/// A filtered search visits the elements that pass its filter directly (in block order: the
/// exact answer) when there are at most `sqrt(EXACT_FACTOR · ef_search · 2m · rows)` of them,
/// and walks the graph otherwise. Visiting `p` elements costs about `p`; the filtered walk
/// reads about `ef_search · 2m / selectivity = ef_search · 2m · rows / p` elements, so the two
/// meet at a square root. The factor is measured (glove-100k, m 16, ef_search 40: the walk
/// takes 1.5 ms at 10% selectivity and 25 ms at 1%, the direct visit 17 ms and 4 ms; they
/// cross near 2.5%, 2,500 rows).
const EXACT_FACTOR: f64 = 0.05;

/// The most elements a filtered search visits directly (see [`EXACT_FACTOR`]).
pub fn exact_most(ef_search: usize, m: usize, rows: f64) -> usize {
    ((EXACT_FACTOR * ef_search as f64 * 2.0 * m as f64 * rows.max(1.0)).sqrt() as usize)
        .max(ef_search)
}
const TID_SIZE: usize = 6;

/// Bytes of a page's contents area (between the page header and the special space).
fn area() -> usize {
    crate::am::page::max_item_size() + std::mem::size_of::<pgrx::pg_sys::ItemIdData>()
}

/// Entries a directory page holds with key blobs of `key_len` bytes.
pub fn capacity(key_len: usize) -> usize {
    (area() - HEADER) / (TID_SIZE + key_len)
}

/// Encodes a page's contents from its entries.
fn encode(entries: &[u8], entry_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + entries.len());
    out.extend_from_slice(&((entries.len() / entry_len) as u32).to_ne_bytes());
    out.extend_from_slice(&(entry_len as u16).to_ne_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(entries);
    out
}

/// The entries of a page's contents (`None` if they do not fit the page or their length is
/// not `entry_len`: a damaged page).
fn entries(contents: &[u8], entry_len: usize) -> Option<&[u8]> {
    let count = u32::from_ne_bytes(contents.get(0..4)?.try_into().ok()?) as usize;
    let len = u16::from_ne_bytes(contents.get(4..6)?.try_into().ok()?) as usize;
    if len != entry_len {
        return None;
    }
    contents.get(HEADER..HEADER + count.checked_mul(entry_len)?)
}

/// Writes a bulk build's directory: one entry per element, in `entries` (TID, key blob)
/// order, on pages chained after whatever `pages` wrote last. Returns the first and last
/// block (an index with key columns always has at least one directory page).
pub fn write(pages: &mut BuildPages, key_len: usize, entries: &[(Tid, &[u8])]) -> (u32, u32) {
    let per_page = capacity(key_len);
    let entry_len = TID_SIZE + key_len;
    let mut head = None;
    let mut last = 0;
    let chunks: Vec<&[(Tid, &[u8])]> = if entries.is_empty() {
        vec![&[]]
    } else {
        entries.chunks(per_page).collect()
    };
    for chunk in chunks {
        let mut bytes = Vec::with_capacity(chunk.len() * entry_len);
        for (t, keys) in chunk {
            let mut tid = [0u8; TID_SIZE];
            t.write(&mut tid);
            bytes.extend_from_slice(&tid);
            bytes.extend_from_slice(keys);
        }
        let (blk, mut page) = if head.is_none() {
            pages.append_new_chain(layout::PAGE_KEYS)
        } else {
            pages.append(layout::PAGE_KEYS)
        };
        page.set_contents(&encode(&bytes, entry_len));
        head.get_or_insert(blk);
        last = blk;
    }
    (head.expect("at least one page"), last)
}

/// Appends the entry of element `element` with key blob `keys`, starting from the directory
/// page `tail` the caller read in the meta page (later pages are followed). Returns the new
/// last page if the directory grew. Called with the element's page locked: directory pages
/// are only ever locked after element pages.
pub fn append(index: Rel, tail: u32, element: Tid, keys: &[u8]) -> Option<u32> {
    let entry_len = TID_SIZE + keys.len();
    let mut blk = tail;
    let mut buf = Locked::read(index, blk, Mode::Exclusive);
    loop {
        let next = buf.page().opaque().next_blkno;
        if next == pgrx::pg_sys::InvalidBlockNumber {
            break;
        }
        drop(buf);
        blk = next;
        buf = Locked::read(index, blk, Mode::Exclusive);
    }
    let mut entry = vec![0u8; entry_len];
    element.write(&mut entry[..TID_SIZE]);
    entry[TID_SIZE..].copy_from_slice(keys);
    let current = {
        let page = buf.page();
        if page.opaque().page_type != layout::PAGE_KEYS {
            damaged(index);
        }
        entries(page.contents(), entry_len)
            .unwrap_or_else(|| damaged(index))
            .to_vec()
    };
    if current.len() / entry_len < capacity(keys.len()) {
        let wal = WalChange::start(index);
        let mut page = wal.register(&buf, false);
        let mut all = current;
        all.extend_from_slice(&entry);
        page.set_contents(&encode(&all, entry_len));
        wal.commit();
        return None;
    }
    // The last page is full: a new one chained after it.
    let new = Locked::extend(index);
    let wal = WalChange::start(index);
    {
        let mut old = wal.register(&buf, false);
        let mut o = old.as_ref().opaque();
        o.next_blkno = new.block();
        old.set_opaque(o);
    }
    let mut page = wal.register(&new, true);
    page.init(layout::PAGE_KEYS);
    page.set_contents(&encode(&entry, entry_len));
    wal.commit();
    Some(new.block())
}

/// Calls `f` with each entry (element TID, key blob) from page `head` on, one page at a time
/// under a share lock; `f` returns false to stop. Returns whether every page was read.
fn for_each(
    index: Rel,
    head: u32,
    key_len: usize,
    mut f: impl FnMut(Tid, &[u8]) -> bool,
) -> bool {
    let entry_len = TID_SIZE + key_len;
    let mut blk = head;
    let mut pages = 0u32;
    while blk != pgrx::pg_sys::InvalidBlockNumber {
        let next = {
            let buf = Locked::read(index, blk, Mode::Share);
            let page = buf.page();
            if page.opaque().page_type != layout::PAGE_KEYS {
                damaged(index);
            }
            let all = entries(page.contents(), entry_len).unwrap_or_else(|| damaged(index));
            for e in all.chunks_exact(entry_len) {
                if !f(Tid::read(&e[..TID_SIZE]), &e[TID_SIZE..]) {
                    return false;
                }
            }
            page.opaque().next_blkno
        };
        pages += 1;
        if pages.is_multiple_of(64) {
            pgrx::check_for_interrupts!();
        }
        // A chain longer than the index has blocks loops: damaged.
        if pages > index.blocks() {
            damaged(index);
        }
        blk = next;
    }
    true
}

/// The elements (packed TIDs) whose directory keys pass `filter`, read from page `head` on
/// while `go_on(entries read, elements passing)` holds; also the entries read and whether the
/// whole directory was read.
pub fn passing(
    index: Rel,
    head: u32,
    key_len: usize,
    filter: &crate::filter::Predicate,
    mut go_on: impl FnMut(usize, usize) -> bool,
) -> (Vec<u64>, usize, bool) {
    let mut ids = Vec::new();
    let mut read = 0usize;
    let complete = for_each(index, head, key_len, |tid, keys| {
        read += 1;
        if filter.matches(keys) {
            ids.push(tid.pack());
        }
        go_on(read, ids.len())
    });
    (ids, read, complete)
}

fn damaged(index: Rel) -> ! {
    raise(VecError::new(
        SqlState::IndexCorrupted,
        format!(
            "ruhnsw index \"{}\" has a damaged key directory page (REINDEX the index)",
            crate::am::relation_name(index)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip() {
        let e = [1u8; 15 * 3];
        let c = encode(&e, 15);
        assert_eq!(entries(&c, 15), Some(&e[..]));
        assert_eq!(entries(&c, 16), None);
        assert_eq!(entries(&c[..20], 15), None);
        // One int key (9-byte blob): 15-byte entries, over 500 a page.
        assert!(capacity(9) > 500);
    }
}
