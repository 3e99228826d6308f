//! Tuples longer than a page (format version 4): a list tuple or data tuple that does not fit
//! one item — a full-precision value past ~2,000 `ruvector` or ~4,000 `halfvec` dimensions,
//! or a centre of that size — is stored as *part items* of its chain:
//!
//! ```text
//! [owner: heap TID, 6 bytes][part u8][flags u8: 1 = last part][stamp u32][zero u32][payload …]
//! ```
//!
//! The payloads, in part order, are the tuple's ordinary bytes (`layout::encode_data` /
//! `encode_list`). Every tuple of a split kind is split (all data tuples of an index have one
//! length, all list tuples another), so no item needs a flag saying which it is.
//!
//! The one rule of placement: a tuple's parts come in chain order (part i+1 on a later page
//! than part i, or later on the same page) — an IVF list is read front to back anyway. The
//! build writes them one after another; an insert puts them into the free space of the
//! list's pages from its insert hint on (space VACUUM freed included) and new pages at the
//! end. Parts of different tuples may interleave. A reader joins each owner's parts as they
//! come ([`Joiner`]) and drops parts that do not continue a tuple: the rest of a tuple VACUUM
//! is removing page by page (every part carries its owner's heap TID, so VACUUM removes them
//! all), of one whose insert failed or crashed (its transaction aborted; VACUUM removes those
//! too), or of one being inserted right now (not visible to the reader anyway).
//!
//! A tuple's parts are joined by (owner, stamp): the stamp is the transaction that wrote them.
//! A heap TID can be reused while a scan runs (VACUUM removed a dead row's parts, some after
//! the scan read its first part, and a new row took the TID); the new row's parts carry another
//! transaction's stamp, so they are never joined to the dead row's.
//!
//! PURE: no page access; `build.rs`, `insert.rs`, `scan.rs`, `lists.rs` and `check.rs` place
//! and read the items.

use crate::am::tid::Tid;
use std::collections::HashMap;

/// Bytes of a part item's header (a multiple of 8: payloads of [`payload_room`] keep items
/// MAXALIGNed).
pub const PART_HEADER: usize = 16;
/// Most parts of one tuple (the part number is a byte).
pub const MAX_PARTS: usize = 255;
/// A part smaller than this is not worth an item (the tuple goes on): at most 63 parts for
/// the 64 KB of a 16,000-dimension value.
const MIN_PAYLOAD: usize = 1024;
const LAST: u8 = 1;

/// Payload bytes a part item can take from a page with `free` bytes for a new item
/// (`PageGetFreeSpace`); 0 if too few to be worth a part. A multiple of 8, so the item's
/// MAXALIGNed size stays within `free`.
pub fn payload_room(free: usize) -> usize {
    let room = (free & !7).saturating_sub(PART_HEADER);
    if room >= MIN_PAYLOAD {
        room
    } else {
        0
    }
}

/// Who wrote a tuple's parts: its owner (the heap TID; `Tid::INVALID` for list tuples) and
/// stamp (the writing transaction's ID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    pub tid: Tid,
    pub stamp: u32,
}

/// Part `part` of a tuple of `owner` carrying `payload`.
pub fn item(owner: Owner, part: usize, payload: &[u8], last: bool) -> Vec<u8> {
    assert!(part < MAX_PARTS, "part {part} of a tuple");
    let mut item = vec![0u8; PART_HEADER + payload.len()];
    owner.tid.write(&mut item[0..6]);
    item[6] = part as u8;
    item[7] = if last { LAST } else { 0 };
    item[8..12].copy_from_slice(&owner.stamp.to_ne_bytes());
    item[PART_HEADER..].copy_from_slice(payload);
    item
}

/// Cuts a tuple into part items as rooms for them come (an insert walking its list's pages).
pub struct Cutter<'t> {
    owner: Owner,
    tuple: &'t [u8],
    at: usize,
    part: usize,
}

impl<'t> Cutter<'t> {
    /// Parts of `tuple` of `owner`.
    pub fn new(owner: Owner, tuple: &'t [u8]) -> Cutter<'t> {
        Cutter {
            owner,
            tuple,
            at: 0,
            part: 0,
        }
    }

    /// The next part, with at most `room` payload bytes (`payload_room`).
    pub fn next(&mut self, room: usize) -> Vec<u8> {
        assert!(room > 0 && !self.done(), "a part with room");
        let n = room.min(self.tuple.len() - self.at);
        let end = self.at + n;
        let out = item(
            self.owner,
            self.part,
            &self.tuple[self.at..end],
            end == self.tuple.len(),
        );
        (self.at, self.part) = (end, self.part + 1);
        out
    }

    /// Whether every part has been cut.
    pub fn done(&self) -> bool {
        self.at == self.tuple.len()
    }

    /// Starts again from the first part (the first was not written).
    pub fn rewind(&mut self) {
        (self.at, self.part) = (0, 0);
    }
}

/// The part items of `tuple` written one after another: the first payload takes at most
/// `first` bytes (0: none, the tuple starts a page), the others at most `rest` each.
pub fn split(owner: Owner, tuple: &[u8], first: usize, rest: usize) -> Vec<Vec<u8>> {
    assert!(rest >= MIN_PAYLOAD, "a page holds a part");
    let mut cut = Cutter::new(owner, tuple);
    let mut out = vec![cut.next(if first > 0 { first } else { rest })];
    while !cut.done() {
        out.push(cut.next(rest));
    }
    out
}

/// A part item's header: (owner, part, last); `None` for an item that cannot be a part
/// (too short to carry a payload, unknown flags, or its reserved bytes not zero).
pub fn header(item: &[u8]) -> Option<(Owner, usize, bool)> {
    if item.len() <= PART_HEADER || item[7] & !LAST != 0 || item[12..16] != [0; 4] {
        return None;
    }
    let owner = Owner {
        tid: Tid::read(&item[0..6]),
        stamp: u32::from_ne_bytes(item[8..12].try_into().expect("4 bytes")),
    };
    Some((owner, item[6] as usize, item[7] == LAST))
}

/// The tuple the item at `at` of a chain belongs to, with its location: the item itself where
/// tuples are whole (`joiner` is `None`), else the joined tuple once the item completes one.
pub fn whole<'a>(
    joiner: &'a mut Option<Joiner>,
    at: Tid,
    item: &'a [u8],
) -> Option<(Tid, &'a [u8])> {
    match joiner {
        None => Some((at, item)),
        Some(j) => j.feed(at, item),
    }
}

/// A tuple being joined.
struct Pending {
    /// Where its first part is.
    first: Tid,
    /// The part expected next.
    next: usize,
    bytes: Vec<u8>,
}

/// Joins the part items of one chain, fed in chain order, back into tuples.
#[derive(Default)]
pub struct Joiner {
    pending: HashMap<Owner, Pending>,
    /// The tuple completed last (returned by reference).
    done: Vec<u8>,
    /// Buffers of completed tuples, reused.
    spare: Vec<Vec<u8>>,
    /// Parts dropped because they did not continue a tuple.
    pub dropped: u64,
}

impl Joiner {
    /// Feeds the item at `at`; returns the location of its tuple's first part and the whole
    /// tuple when the item completes one.
    pub fn feed(&mut self, at: Tid, item: &[u8]) -> Option<(Tid, &[u8])> {
        let Some((owner, part, last)) = header(item) else {
            self.dropped += 1;
            return None;
        };
        let payload = &item[PART_HEADER..];
        if part == 0 {
            if let Some(old) = self.pending.remove(&owner) {
                self.drop(old);
            }
            let mut bytes = self.spare.pop().unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(payload);
            let p = Pending {
                first: at,
                next: 1,
                bytes,
            };
            return if last {
                Some(self.complete(p))
            } else {
                self.pending.insert(owner, p);
                None
            };
        }
        match self.pending.get_mut(&owner) {
            Some(p) if p.next == part => {
                p.bytes.extend_from_slice(payload);
                p.next += 1;
                if !last {
                    return None;
                }
                let p = self.pending.remove(&owner).expect("pending");
                Some(self.complete(p))
            }
            _ => {
                if let Some(old) = self.pending.remove(&owner) {
                    self.drop(old);
                }
                self.dropped += 1;
                None
            }
        }
    }

    fn complete(&mut self, p: Pending) -> (Tid, &[u8]) {
        let old = std::mem::replace(&mut self.done, p.bytes);
        self.spare.push(old);
        (p.first, &self.done)
    }

    fn drop(&mut self, p: Pending) {
        self.dropped += p.next as u64;
        self.spare.push(p.bytes);
    }

    /// Ends the chain: tuples still being joined are dropped.
    pub fn finish(&mut self) {
        let left: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in left {
            self.drop(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(block: u32, offset: u16) -> Owner {
        Owner {
            tid: Tid::new(block, offset),
            stamp: 700 + offset as u32,
        }
    }

    fn tuple(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    fn join_all(items: &[(Tid, Vec<u8>)]) -> (Vec<(Tid, Vec<u8>)>, u64) {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        for (at, item) in items {
            if let Some((first, t)) = j.feed(*at, item) {
                out.push((first, t.to_vec()));
            }
        }
        j.finish();
        (out, j.dropped)
    }

    fn placed(parts: Vec<Vec<u8>>, block: u32) -> Vec<(Tid, Vec<u8>)> {
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (Tid::new(block + i as u32, 1), p))
            .collect()
    }

    #[test]
    fn room_is_aligned_and_worth_a_part() {
        assert_eq!(payload_room(8000), 8000 - 16);
        assert_eq!(payload_room(8007), 8000 - 16);
        assert_eq!(payload_room(1000), 0);
        assert_eq!(payload_room(0), 0);
    }

    #[test]
    fn split_and_join_round_trip() {
        let t = tuple(64_016, 3);
        let owner = own(70_000, 12);
        for first in [0, 1024, 3000, 8000] {
            let parts = split(owner, &t, first, 8100);
            assert!(parts.iter().all(|p| p.len() <= PART_HEADER + 8100));
            assert!(parts
                .iter()
                .enumerate()
                .all(|(i, p)| header(p) == Some((owner, i, i + 1 == parts.len()))));
            if first > 0 {
                assert_eq!(parts[0].len(), PART_HEADER + first);
            }
            assert_eq!(
                parts.len(),
                (t.len() - first).div_ceil(8100) + (first > 0) as usize
            );
            let (out, dropped) = join_all(&placed(parts, 5));
            assert_eq!(out, vec![(Tid::new(5, 1), t.clone())]);
            assert_eq!(dropped, 0);
        }
        // A tuple shorter than the first part's room is one part.
        let small = split(owner, &t[..300], 8000, 8100);
        assert_eq!(small.len(), 1);
        assert_eq!(join_all(&placed(small, 1)).0[0].1, &t[..300]);
    }

    #[test]
    fn parts_that_do_not_continue_a_tuple_are_dropped() {
        let (a, b) = (tuple(20_000, 1), tuple(20_000, 2));
        let pa = placed(split(own(1, 1), &a, 0, 8000), 10);
        let pb = placed(split(own(1, 2), &b, 0, 8000), 20);
        assert_eq!((pa.len(), pb.len()), (3, 3));
        // An insert that crashed after two of three parts, then a whole tuple.
        let crashed: Vec<_> = pa[..2].iter().chain(&pb).cloned().collect();
        assert_eq!(join_all(&crashed), (vec![(Tid::new(20, 1), b.clone())], 2));
        // VACUUM removed a's first part and b's first part (both dead) while a reader held
        // a's first part: b's second part must not be joined to it, though it is "part 1".
        let vacuumed: Vec<_> = [pa[0].clone(), pb[1].clone(), pb[2].clone()].to_vec();
        assert_eq!(join_all(&vacuumed), (vec![], 3));
        // A chain ending inside a tuple.
        assert_eq!(join_all(&pa[..2]), (vec![], 2));
        // A damaged header: dropped, the next tuple still joined.
        let mut bad = pa.clone();
        bad[1].1[7] = 0x80;
        let mut items = bad;
        items.extend(pb.iter().cloned());
        assert_eq!(join_all(&items).0, vec![(Tid::new(20, 1), b)]);
        assert_eq!(header(&[0u8; 16]), None);
        let mut reserved = pb[0].1.clone();
        reserved[13] = 1;
        assert_eq!(header(&reserved), None);
    }

    #[test]
    fn interleaved_tuples_are_joined() {
        // An insert puts parts into free space wherever it is, in chain order: two tuples'
        // parts may interleave, and one-part pieces of various sizes come between.
        let (a, b) = (tuple(20_000, 1), tuple(18_000, 2));
        let (oa, ob) = (own(1, 1), own(1, 2));
        let pa = split(oa, &a, 2048, 8000);
        let pb = split(ob, &b, 0, 6000);
        assert_eq!((pa.len(), pb.len()), (4, 3));
        let order = [
            (&pa[0], 1),
            (&pb[0], 2),
            (&pa[1], 3),
            (&pa[2], 4),
            (&pb[1], 4),
            (&pb[2], 5),
            (&pa[3], 6),
        ];
        let items: Vec<(Tid, Vec<u8>)> = order
            .iter()
            .enumerate()
            .map(|(i, (p, blk))| (Tid::new(*blk, i as u16 + 1), (*p).clone()))
            .collect();
        let (out, dropped) = join_all(&items);
        assert_eq!(
            out,
            vec![(Tid::new(2, 2), b.clone()), (Tid::new(1, 1), a.clone())]
        );
        assert_eq!(dropped, 0);
        // A part out of order (the second before the first) joins nothing.
        let swapped = [items[2].clone(), items[0].clone(), items[3].clone()];
        assert_eq!(join_all(&swapped), (vec![], 3));
    }

    #[test]
    fn a_reused_heap_tid_does_not_join_a_dead_rows_parts() {
        // A scan read a dead row's first part; VACUUM removed its others and a new row (another
        // transaction) took its heap TID: the new row's second part must not join the first.
        let (dead, new) = (tuple(20_000, 1), tuple(20_000, 2));
        let tid = Tid::new(9, 9);
        let pd = split(Owner { tid, stamp: 100 }, &dead, 0, 8000);
        let pn = split(Owner { tid, stamp: 250 }, &new, 0, 8000);
        let items = vec![
            (Tid::new(1, 1), pd[0].clone()),
            (Tid::new(2, 1), pn[1].clone()),
            (Tid::new(3, 1), pn[2].clone()),
        ];
        assert_eq!(join_all(&items), (vec![], 3));
        // ... while the new row's whole parts, after the dead row's first, join.
        let items = vec![
            (Tid::new(1, 1), pd[0].clone()),
            (Tid::new(2, 1), pn[0].clone()),
            (Tid::new(3, 1), pn[1].clone()),
            (Tid::new(4, 1), pn[2].clone()),
        ];
        assert_eq!(join_all(&items), (vec![(Tid::new(2, 1), new)], 1));
    }
}
