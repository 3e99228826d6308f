//! The key directory of an index with key columns: for each key column, every element's TID
//! with that column's key as one word ([`KeyLayout::directory_word`]), hashed into
//! [`BUCKETS`] buckets by the word — a small hash index per key column, inside the index.
//!
//! A filtered search reads it first (`scan.rs`): an equality condition (`=`, `IN`) reads only
//! the buckets of its values, a range condition every bucket of its column (14 bytes an
//! element, against hundreds for the element with its vector and neighbours); the scan picks
//! the condition whose buckets hold the fewest entries, and the slot table's counts tell it
//! before it reads any. The TIDs found are the elements that may pass (a superset: the other
//! columns' conditions, hash collisions and folded uuids are decided by the elements' own
//! keys). When few pass, visiting just those in block order gives the exact answer faster
//! than any graph walk (which would read about 1/selectivity times the elements an
//! unfiltered search reads); when many pass, the read stops early and the graph walk,
//! filtered, takes over.
//!
//! Entries are hints, the elements are the truth: an insert appends its element's entries
//! (after choosing the element's slot, before writing it, under the slot's page lock), so a
//! crash in between leaves entries pointing at nothing — skipped. VACUUM leaves entries of
//! deleted elements in place; when a slot is reused, its new element gets new entries, and the
//! old ones point at an element whose own keys the search checks again. So the directory may
//! hold stale and repeated TIDs, never miss a live element. NULL keys have no entry: no
//! condition passes them.
//!
//! Pages: the slot table (page type [`layout::PAGE_KEY_TABLE`], blocks `key_head..=key_tail`
//! of the meta page, consecutive), `[slots: u32][0: u32]` then per column and bucket
//! (`column · BUCKETS + bucket`) a slot `[head: u32][tail: u32][entries: u32]` (an empty
//! bucket's head and tail are `InvalidBlockNumber`); and each bucket's chain of entry pages
//! (page type [`layout::PAGE_KEYS`]), `[entries: u32][entry length: u16][0: u16]` then the
//! entries, a 6-byte element TID and the 8-byte word each.

use super::layout::{self, Tid};
use crate::am::page::{BuildPages, Exclusive, LockMode, Locked, Rel, Share, WalChange};
use crate::filter::{KeyLayout, Predicate};
use pgrx::pg_sys::InvalidBlockNumber;

/// Hash buckets per key column. A lookup reads about `rows / BUCKETS` entries besides those
/// of its values (1,600 entries, three pages, at 100,000 rows); an index built empty and
/// filled by inserts starts a page per bucket it uses (64 pages, 512 kB, per key column).
pub const BUCKETS: usize = 64;
const BUCKET_BITS: u32 = BUCKETS.trailing_zeros();

const HEADER: usize = 8;
const TID_SIZE: usize = 6;
const WORD: usize = 8;
/// Bytes of a directory entry: the element's TID and its key's word.
pub const ENTRY: usize = TID_SIZE + WORD;
const SLOT: usize = 12;

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

/// The bucket of a directory word (Fibonacci hashing: consecutive integers spread evenly).
fn bucket(word: u64) -> usize {
    (word.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BUCKET_BITS)) as usize
}

/// Bytes of a page's contents area (between the page header and the special space).
fn area() -> usize {
    crate::am::page::max_item_size() + std::mem::size_of::<pgrx::pg_sys::ItemIdData>()
}

/// Entries an entry page holds.
pub fn capacity() -> usize {
    (area() - HEADER) / ENTRY
}

/// Slots a slot table page holds.
fn slots_per_page() -> usize {
    (area() - HEADER) / SLOT
}

/// Slot table pages of an index with `keys` key columns.
pub fn table_pages(keys: usize) -> usize {
    (keys * BUCKETS).div_ceil(slots_per_page()).max(1)
}

/// Directory pages a search reads, at most, to find the `passing` rows of `rows` that pass a
/// condition: an equality condition reads its values' buckets (at least one bucket's worth of
/// entries), a range condition its column's every bucket (for the planner, `cost.rs`).
pub fn lookup_pages(rows: f64, passing: f64, equality: bool, keys: usize) -> f64 {
    let entries = if equality {
        passing.max(rows / BUCKETS as f64)
    } else {
        rows
    };
    table_pages(keys) as f64 + (entries / capacity() as f64).ceil()
}

/// One bucket's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub head: u32,
    pub tail: u32,
    pub entries: u32,
}

impl Slot {
    const EMPTY: Slot = Slot {
        head: InvalidBlockNumber,
        tail: InvalidBlockNumber,
        entries: 0,
    };

    fn read(b: &[u8]) -> Slot {
        let w = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Slot {
            head: w(0),
            tail: w(4),
            entries: w(8),
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.head.to_ne_bytes());
        b[4..8].copy_from_slice(&self.tail.to_ne_bytes());
        b[8..12].copy_from_slice(&self.entries.to_ne_bytes());
    }
}

/// Encodes a slot table page's contents.
pub fn encode_table(slots: &[Slot]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER + slots.len() * SLOT];
    out[0..4].copy_from_slice(&(slots.len() as u32).to_ne_bytes());
    for (s, b) in slots.iter().zip(out[HEADER..].chunks_exact_mut(SLOT)) {
        s.write(b);
    }
    out
}

/// The slots of a table page's contents (`None` if they do not fit: a damaged page).
pub fn table_slots(contents: &[u8]) -> Option<Vec<Slot>> {
    let n = u32::from_ne_bytes(contents.get(0..4)?.try_into().ok()?) as usize;
    let bytes = contents.get(HEADER..HEADER + n.checked_mul(SLOT)?)?;
    Some(bytes.chunks_exact(SLOT).map(Slot::read).collect())
}

/// Encodes an entry page's contents from its entries.
pub fn encode(entries: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + entries.len());
    out.extend_from_slice(&((entries.len() / ENTRY) as u32).to_ne_bytes());
    out.extend_from_slice(&(ENTRY as u16).to_ne_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(entries);
    out
}

/// The entries of an entry page's contents (`None` if they do not fit the page or their
/// length is not [`ENTRY`]: a damaged page).
pub fn entries(contents: &[u8]) -> Option<&[u8]> {
    let count = u32::from_ne_bytes(contents.get(0..4)?.try_into().ok()?) as usize;
    let len = u16::from_ne_bytes(contents.get(4..6)?.try_into().ok()?) as usize;
    if len != ENTRY {
        return None;
    }
    contents.get(HEADER..HEADER + count.checked_mul(ENTRY)?)
}

/// An entry: the element's TID and its key's directory word.
pub fn entry(element: Tid, word: u64) -> [u8; ENTRY] {
    let mut e = [0u8; ENTRY];
    element.write(&mut e[..TID_SIZE]);
    e[TID_SIZE..].copy_from_slice(&word.to_ne_bytes());
    e
}

/// The element and directory word of an entry (one of [`entries`]' `ENTRY`-byte chunks).
pub fn read_entry(e: &[u8]) -> (Tid, u64) {
    let word = u64::from_ne_bytes(e[TID_SIZE..ENTRY].try_into().expect("an entry"));
    (Tid::read(&e[..TID_SIZE]), word)
}

/// Writes a bulk build's directory for the elements `entries` (TID, key blob), in that order
/// within each bucket, on pages after whatever `pages` wrote last. Returns the first and last
/// slot table block.
pub fn write(pages: &mut BuildPages, keys: &KeyLayout, entries: &[(Tid, &[u8])]) -> (u32, u32) {
    let per_page = capacity();
    let mut slots = vec![Slot::EMPTY; keys.count() * BUCKETS];
    for column in 0..keys.count() {
        let mut words: Vec<(usize, Tid, u64)> = entries
            .iter()
            .filter_map(|(t, blob)| {
                keys.directory_word(blob, column)
                    .map(|w| (bucket(w), *t, w))
            })
            .collect();
        // Stable: within a bucket, entries stay in element order (block order after a build).
        words.sort_by_key(|(b, _, _)| *b);
        for group in words.chunk_by(|a, b| a.0 == b.0) {
            let slot = &mut slots[column * BUCKETS + group[0].0];
            slot.entries = group.len() as u32;
            for (i, chunk) in group.chunks(per_page).enumerate() {
                let bytes: Vec<u8> = chunk.iter().flat_map(|(_, t, w)| entry(*t, *w)).collect();
                let (blk, mut page) = if i == 0 {
                    pages.append_new_chain(layout::PAGE_KEYS)
                } else {
                    pages.append(layout::PAGE_KEYS)
                };
                page.set_contents(&encode(&bytes));
                if i == 0 {
                    slot.head = blk;
                }
                slot.tail = blk;
            }
        }
    }
    let mut head = None;
    let mut last = 0;
    for chunk in slots.chunks(slots_per_page()) {
        let (blk, mut page) = if head.is_none() {
            pages.append_new_chain(layout::PAGE_KEY_TABLE)
        } else {
            pages.append(layout::PAGE_KEY_TABLE)
        };
        page.set_contents(&encode_table(chunk));
        head.get_or_insert(blk);
        last = blk;
    }
    (head.expect("at least one column"), last)
}

/// Where slot `slot` lives: its table block and its place there.
fn slot_place(head: u32, slot: usize) -> (u32, usize) {
    (
        head + (slot / slots_per_page()) as u32,
        slot % slots_per_page(),
    )
}

/// Reads and checks the slot table page `blk` (the caller locked it).
fn table_of<M: LockMode>(index: Rel, buf: &Locked<M>) -> Vec<Slot> {
    let page = buf.page();
    if page.opaque().page_type != layout::PAGE_KEY_TABLE {
        damaged(index);
    }
    table_slots(page.contents()).unwrap_or_else(|| damaged(index))
}

/// Appends the entries of element `element` with key blob `blob` (one per key column that is
/// not NULL) to the directory whose slot table starts at `head`. Called with the element's
/// page locked: directory pages are only ever locked after element pages, and table pages
/// before entry pages. One WAL record per entry.
pub fn append(index: Rel, head: u32, keys: &KeyLayout, element: Tid, blob: &[u8]) {
    for column in 0..keys.count() {
        let Some(word) = keys.directory_word(blob, column) else {
            continue;
        };
        let (tblk, at) = slot_place(head, column * BUCKETS + bucket(word));
        let table = Locked::read(index, tblk, Exclusive);
        let mut slots = table_of(index, &table);
        let Some(slot) = slots.get(at).copied() else {
            damaged(index)
        };
        let e = entry(element, word);
        let tail =
            (slot.tail != InvalidBlockNumber).then(|| Locked::read(index, slot.tail, Exclusive));
        let current = tail.as_ref().map(|buf| {
            let page = buf.page();
            if page.opaque().page_type != layout::PAGE_KEYS
                || page.opaque().next_blkno != InvalidBlockNumber
            {
                damaged(index);
            }
            entries(page.contents())
                .unwrap_or_else(|| damaged(index))
                .to_vec()
        });
        let mut updated = slot;
        updated.entries += 1;
        match (&tail, current) {
            (Some(buf), Some(mut all)) if all.len() / ENTRY < capacity() => {
                let wal = WalChange::start(index);
                let mut page = wal.register(buf, false);
                all.extend_from_slice(&e);
                page.set_contents(&encode(&all));
                slots[at] = updated;
                wal.register(&table, false)
                    .set_contents(&encode_table(&slots));
                wal.commit();
            }
            _ => {
                // No page yet, or the last one is full: a new one at the end of the chain.
                let new = Locked::extend(index);
                let wal = WalChange::start(index);
                if let Some(buf) = &tail {
                    let mut old = wal.register(buf, false);
                    let mut o = old.as_ref().opaque();
                    o.next_blkno = new.block();
                    old.set_opaque(o);
                } else {
                    updated.head = new.block();
                }
                let mut page = wal.register(&new, true);
                page.init(layout::PAGE_KEYS);
                page.set_contents(&encode(&e));
                updated.tail = new.block();
                slots[at] = updated;
                wal.register(&table, false)
                    .set_contents(&encode_table(&slots));
                wal.commit();
            }
        }
    }
}

/// What [`passing`] found.
pub struct Found {
    /// The elements (packed TIDs) that may pass the filter.
    pub ids: Vec<u64>,
    /// Entries read.
    pub read: usize,
    /// Entries of the buckets the read was to cover (reading all of them finds every element
    /// that passes).
    pub total: usize,
    /// Whether they were all read.
    pub complete: bool,
}

/// The elements that may pass `filter` (a superset of those that do: only one condition is
/// checked, on directory words), read from the directory whose slot table is at
/// `head..=tail` while `go_on(entries read, elements found, entries to read)` holds. The condition is the one
/// whose buckets hold the fewest entries.
pub fn passing(
    index: Rel,
    (head, tail): (u32, u32),
    keys: &KeyLayout,
    filter: &Predicate,
    mut go_on: impl FnMut(usize, usize, usize) -> bool,
) -> Found {
    let mut found = Found {
        ids: Vec::new(),
        read: 0,
        total: 0,
        complete: true,
    };
    let probes = filter.probes();
    if tail < head || (tail - head + 1) as usize != table_pages(keys.count()) {
        damaged(index);
    }
    // The slot table, one page at a time (a few slots are all a search needs, but the table
    // is one page up to 10 key columns).
    let mut slots = Vec::with_capacity(keys.count() * BUCKETS);
    for blk in head..=tail {
        let buf = Locked::read(index, blk, Share);
        slots.extend(table_of(index, &buf));
    }
    if slots.len() != keys.count() * BUCKETS {
        damaged(index);
    }
    let buckets_of = |p: &crate::filter::Probe| -> Vec<usize> {
        let base = p.column * BUCKETS;
        match p.words() {
            Some(words) => {
                let mut b: Vec<usize> = words.iter().map(|w| base + bucket(*w)).collect();
                b.sort_unstable();
                b.dedup();
                b
            }
            None => (base..base + BUCKETS).collect(),
        }
    };
    let Some((probe, buckets, total)) = probes
        .iter()
        .map(|p| {
            let b = buckets_of(p);
            let total: usize = b.iter().map(|&s| slots[s].entries as usize).sum();
            (p, b, total)
        })
        .min_by_key(|(_, _, total)| *total)
    else {
        return found;
    };
    found.total = total;
    let mut pages = 0u32;
    for s in buckets {
        let mut blk = slots[s].head;
        while blk != InvalidBlockNumber {
            let next = {
                let buf = Locked::read(index, blk, Share);
                let page = buf.page();
                if page.opaque().page_type != layout::PAGE_KEYS {
                    damaged(index);
                }
                let all = entries(page.contents()).unwrap_or_else(|| damaged(index));
                for e in all.chunks_exact(ENTRY) {
                    found.read += 1;
                    let (element, word) = read_entry(e);
                    if probe.accepts(word) {
                        found.ids.push(element.pack());
                    }
                    if !go_on(found.read, found.ids.len(), total) {
                        found.complete = false;
                        return found;
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
    }
    found
}

/// VACUUM's compaction: removes the entries whose element is gone (deleted, or never written
/// after a crash) or whose element now holds another key in that column (its slot reused by a
/// later insert), and repeated entries (a reused slot whose new element has the same key: the
/// two entries are identical, one is enough). `current(element)` is the element's key blob if it is live, read under its
/// page's lock: an insert writes its element under that lock after appending its entries, so
/// an entry read here is never judged before its element exists. Each page's entries are read
/// under a share lock, judged without any directory lock, then removed under an exclusive lock
/// by position (entries are only ever appended meanwhile, so positions stay; a reused slot's
/// new entry, identical to the stale one, sits after it and stays). Emptied pages stay in their
/// chain. Returns the entries removed.
pub fn compact(
    index: Rel,
    (head, tail): (u32, u32),
    keys: &KeyLayout,
    mut current: impl FnMut(Tid) -> Option<Vec<u8>>,
) -> u64 {
    let per_page = slots_per_page();
    let mut removed_all = 0u64;
    for (t, tblk) in (head..=tail).enumerate() {
        let slots = {
            let buf = Locked::read(index, tblk, Share);
            table_of(index, &buf)
        };
        for (i, slot) in slots.iter().enumerate() {
            let column = (t * per_page + i) / BUCKETS;
            if column >= keys.count() {
                break;
            }
            let mut removed = 0u32;
            let mut blk = slot.head;
            let mut pages = 0u32;
            // Identical entries share a bucket: the first one found that is kept stays. (Only
            // kept ones count: a stale entry of a deleted element and the entry of a later
            // insert into its slot with the same key are identical, and the second, appended
            // after the first was judged, must not be dropped as its repeat.)
            let mut seen: std::collections::HashSet<[u8; ENTRY]> = Default::default();
            while blk != InvalidBlockNumber {
                crate::am::vacuum::delay_point();
                pages += 1;
                if pages > index.blocks() {
                    damaged(index);
                }
                let (before, next) = {
                    let buf = Locked::read(index, blk, Share);
                    let page = buf.page();
                    if page.opaque().page_type != layout::PAGE_KEYS {
                        damaged(index);
                    }
                    let all = entries(page.contents()).unwrap_or_else(|| damaged(index));
                    (all.to_vec(), page.opaque().next_blkno)
                };
                let stale: Vec<usize> = before
                    .chunks_exact(ENTRY)
                    .enumerate()
                    .filter(|(_, e)| {
                        let entry: [u8; ENTRY] = (*e).try_into().expect("an entry");
                        if seen.contains(&entry) {
                            return true;
                        }
                        let (element, word) = read_entry(e);
                        let stale = current(element)
                            .is_none_or(|blob| keys.directory_word(&blob, column) != Some(word));
                        if !stale {
                            seen.insert(entry);
                        }
                        stale
                    })
                    .map(|(n, _)| n)
                    .collect();
                if !stale.is_empty() {
                    let buf = Locked::read(index, blk, Exclusive);
                    let now = entries(buf.page().contents())
                        .unwrap_or_else(|| damaged(index))
                        .to_vec();
                    let gone = |n: usize, e: &[u8]| {
                        stale.binary_search(&n).is_ok()
                            && before.get(n * ENTRY..(n + 1) * ENTRY) == Some(e)
                    };
                    let keep: Vec<u8> = now
                        .chunks_exact(ENTRY)
                        .enumerate()
                        .filter(|(n, e)| !gone(*n, e))
                        .flat_map(|(_, e)| e.iter().copied())
                        .collect();
                    let n = ((now.len() - keep.len()) / ENTRY) as u32;
                    if n > 0 {
                        let wal = WalChange::start(index);
                        wal.register(&buf, false).set_contents(&encode(&keep));
                        wal.commit();
                        removed += n;
                    }
                }
                blk = next;
            }
            if removed > 0 {
                // The slot's count, under the table page's lock (taken with no other directory
                // lock held, as inserts take it first).
                let buf = Locked::read(index, tblk, Exclusive);
                let mut all = table_of(index, &buf);
                let s = &mut all[i];
                s.entries = s.entries.saturating_sub(removed);
                let wal = WalChange::start(index);
                wal.register(&buf, false).set_contents(&encode_table(&all));
                wal.commit();
                removed_all += removed as u64;
            }
        }
    }
    removed_all
}

/// The directory's pages and entries (for `ruvector_index_stats()`): every chain is followed.
pub fn summary(index: Rel, (head, tail): (u32, u32)) -> (u64, u64) {
    let mut pages = 0u64;
    let mut entries = 0u64;
    for blk in head..=tail {
        let slots = {
            let buf = Locked::read(index, blk, Share);
            table_of(index, &buf)
        };
        pages += 1;
        for slot in slots {
            entries += slot.entries as u64;
            let mut b = slot.head;
            while b != InvalidBlockNumber {
                pages += 1;
                if pages > index.blocks() as u64 {
                    damaged(index);
                }
                let buf = Locked::read(index, b, Share);
                b = buf.page().opaque().next_blkno;
            }
        }
    }
    (pages, entries)
}

/// The key of directory entry (`element`, `column`, `word`) in [`Checked::entries`]: a 64-bit
/// hash (a missing entry could hide behind a collision with odds of one in 2^64 per entry).
pub fn entry_key(element: Tid, column: usize, word: u64) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    mix(element.pack() | (column as u64) << 48) ^ mix(word ^ 0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// What `ruvector_index_check()` read from the directory.
pub struct Checked {
    /// Its pages (slot tables and entry pages).
    pub pages: Vec<u32>,
    /// Entries read.
    pub entries: u64,
    /// [`entry_key`] of every entry.
    pub keys: std::collections::HashSet<u64, crate::graph::search::IdHash>,
}

/// Checks the directory of an index with `columns` key columns whose slot table is at
/// `head..=tail`: page types, chains (within the index, no page in two chains or twice in one,
/// tails where they end), entries in the buckets of their words, counts. Each slot's chain is
/// read under its table page's share lock, so no insert appends to it meanwhile (inserts lock
/// the table page first); VACUUM's compaction removes entries before it lowers the count, so
/// a chain holding fewer entries than its count is a warning, more a problem.
pub fn check(
    index: Rel,
    (head, tail): (u32, u32),
    columns: usize,
    f: &mut crate::check::Findings,
) -> Checked {
    let nblocks = index.blocks();
    let mut out = Checked {
        pages: Vec::new(),
        entries: 0,
        keys: Default::default(),
    };
    let mut chained = std::collections::HashSet::<u32, crate::graph::search::IdHash>::default();
    let total = columns * BUCKETS;
    if head > tail || tail >= nblocks || (tail - head + 1) as usize != table_pages(columns) {
        f.page(0, format!("the key directory's slot table (blocks {head} to {tail}) is not where the meta page says"));
        return out;
    }
    for tblk in head..=tail {
        out.pages.push(tblk);
        let table = Locked::read(index, tblk, Share);
        let page = table.page_unchecked();
        if !page.is_ruvector() || page.opaque().page_type != layout::PAGE_KEY_TABLE {
            f.page(
                tblk,
                "block of the key directory's slot table is not a slot table page",
            );
            continue;
        }
        let Some(slots) = table_slots(page.contents()) else {
            f.page(tblk, "key directory slot table page does not decode");
            continue;
        };
        let base = (tblk - head) as usize * slots_per_page();
        let want = slots_per_page().min(total - base);
        if slots.len() != want {
            f.page(
                tblk,
                format!(
                    "key directory slot table page holds {} slots, {want} expected",
                    slots.len()
                ),
            );
            continue;
        }
        for (i, slot) in slots.iter().enumerate() {
            let (column, bkt) = ((base + i) / BUCKETS, (base + i) % BUCKETS);
            let mut blk = slot.head;
            let mut last = InvalidBlockNumber;
            let mut held = 0u64;
            while blk != InvalidBlockNumber {
                if blk >= nblocks || !chained.insert(blk) {
                    f.page(tblk, format!("the chain of key column {column}'s bucket {bkt} goes to block {blk}, past the index's end, into another chain or in a loop"));
                    break;
                }
                out.pages.push(blk);
                let buf = Locked::read(index, blk, Share);
                let page = buf.page_unchecked();
                if !page.is_ruvector() || page.opaque().page_type != layout::PAGE_KEYS {
                    f.page(blk, format!("block in the chain of key column {column}'s bucket {bkt} is not a key directory page"));
                    break;
                }
                let Some(all) = entries(page.contents()) else {
                    f.page(blk, "key directory page does not decode");
                    break;
                };
                for e in all.chunks_exact(ENTRY) {
                    let (element, word) = read_entry(e);
                    if bucket(word) != bkt {
                        f.page(blk, format!("key directory entry of element ({},{}) is in bucket {bkt}, its key's bucket is {}", element.block, element.offset, bucket(word)));
                    }
                    out.keys.insert(entry_key(element, column, word));
                }
                held += (all.len() / ENTRY) as u64;
                last = blk;
                blk = page.opaque().next_blkno;
            }
            out.entries += held;
            if last != slot.tail {
                f.page(tblk, format!("key column {column}'s bucket {bkt} says its chain ends at block {}, it ends at {}", slot.tail as i64, last as i64));
            }
            match held.cmp(&(slot.entries as u64)) {
                std::cmp::Ordering::Greater => f.page(tblk, format!("key column {column}'s bucket {bkt} counts {} entries, its chain holds {held}", slot.entries)),
                std::cmp::Ordering::Less => f.warn(Some(tblk), None, format!("key column {column}'s bucket {bkt} counts {} entries, its chain holds {held} (VACUUM may be removing some)", slot.entries)),
                std::cmp::Ordering::Equal => {}
            }
        }
    }
    out
}

fn damaged(index: Rel) -> ! {
    crate::am::corrupt::corrupted(index, "A key directory page is damaged.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip() {
        let e: Vec<u8> = (0..3)
            .flat_map(|i| entry(Tid::new(i, 1), i as u64))
            .collect();
        let c = encode(&e);
        assert_eq!(entries(&c), Some(&e[..]));
        assert_eq!(entries(&c[..20]), None);
        let mut bad = c.clone();
        bad[4] = 15;
        assert_eq!(entries(&bad), None);
        let slots = [
            Slot::EMPTY,
            Slot {
                head: 3,
                tail: 9,
                entries: 1000,
            },
        ];
        assert_eq!(table_slots(&encode_table(&slots)), Some(slots.to_vec()));
        assert_eq!(table_slots(&encode_table(&slots)[..20]), None);
        assert!(capacity() > 500);
        // Up to ten key columns: one slot table page.
        assert_eq!(table_pages(10), 1);
        assert_eq!(table_pages(32), 4);
    }

    #[test]
    fn buckets_spread_integers() {
        let mut counts = [0usize; BUCKETS];
        for v in 0..64_000i64 {
            counts[bucket(v as u64)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (900..1100).contains(&c)),
            "{counts:?}"
        );
        let mut counts = [0usize; BUCKETS];
        for v in -640i64..0 {
            counts[bucket(v as u64)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    }
}
