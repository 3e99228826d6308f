//! SEARCH-LAYER (Algorithm 2 of the HNSW paper) over any [`Graph`], and the visited sets it uses.

use super::Scored;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::Hash;

/// What the search needs from a graph, with the query bound in: the neighbours of a node on a
/// layer and the distance from the query to a node.
pub trait Graph {
    type Id: Copy + Eq + Ord + Hash;

    /// Appends the neighbours of `id` on `level` to `out`.
    fn neighbors(&mut self, id: Self::Id, level: usize, out: &mut Vec<Self::Id>);

    /// The distance from the query to `id`, or `None` when the node must not be used (for
    /// example deleted, or not present on `level` — a node's links can briefly point at a
    /// node being inserted concurrently).
    fn distance(&mut self, id: Self::Id, level: usize) -> Option<f32>;

    /// The distances to several nodes the search is about to evaluate, one entry per id in
    /// order (`None` as for [`Graph::distance`]). Evaluating them together lets an on-disk
    /// graph overlap the memory accesses of several nodes.
    fn distances(&mut self, ids: &[Self::Id], level: usize, out: &mut Vec<Option<f32>>) {
        out.extend(ids.iter().map(|&id| self.distance(id, level)));
    }

    /// A hint that the search is likely to ask for `id`'s neighbours on `level` next (the best
    /// candidate after the one being expanded): a graph can start loading that list while the
    /// current one is read. Nothing, by default.
    fn will_expand(&mut self, _id: Self::Id, _level: usize) {}

    /// Whether `id`, whose distance was computed, may be a result on `level`. A filtered
    /// search walks through nodes that fail its filter (they keep the graph navigable) but
    /// never returns them. Every node, by default.
    fn accepts(&self, _id: Self::Id, _level: usize) -> bool {
        true
    }

    /// The distance a node must beat to enter the result of a search of width `ef`, told before
    /// each [`Graph::neighbors`] of a search that keeps nothing beyond its result (infinite
    /// while the result has room): a graph that can estimate distances cheaply may leave out
    /// neighbours sure not to make it. Ignored, by default.
    fn set_bound(&mut self, _bound: f32, _ef: usize) {}

    /// Whether the search has used up its budget of visits (see [`search_layer`]). Never, by
    /// default.
    fn exhausted(&self) -> bool {
        false
    }
}

/// The set of nodes a search has already looked at.
pub trait Visited<Id> {
    /// Adds `id`; true if it was not there yet.
    fn insert(&mut self, id: Id) -> bool;
    /// Forgets every id.
    fn clear(&mut self);
}

/// Marks in `reached` every node reachable from `start` (`start` too): a walk over the links
/// `links(id, out)` appends for each node it reaches — nothing for a node that must not be
/// walked through (deleted, say), and only the links that may be followed. Nodes already in
/// `reached` are not walked again, so a caller can extend a reached set from another start.
/// The one reachability walk of the in-memory graph (build), VACUUM's repair and the index
/// check.
pub fn reach<Id: Copy, V: Visited<Id>>(
    start: Id,
    reached: &mut V,
    mut links: impl FnMut(Id, &mut Vec<Id>),
) {
    reached.insert(start);
    let mut stack = vec![start];
    let mut out = Vec::new();
    while let Some(x) = stack.pop() {
        out.clear();
        links(x, &mut out);
        for &n in &out {
            if reached.insert(n) {
                stack.push(n);
            }
        }
    }
}

/// Dense visited marks for small integer ids, reset in O(1) by bumping an epoch.
pub struct EpochVisited {
    marks: Vec<u32>,
    epoch: u32,
}

impl EpochVisited {
    pub fn new(capacity: usize) -> EpochVisited {
        EpochVisited {
            marks: vec![0; capacity],
            epoch: 1,
        }
    }

    /// Whether `id` is marked.
    pub fn contains(&self, id: u32) -> bool {
        self.marks[id as usize] == self.epoch
    }

    /// Forgets every mark.
    pub fn reset(&mut self, capacity: usize) {
        if self.marks.len() < capacity {
            self.marks.resize(capacity, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }
}

impl Visited<u32> for EpochVisited {
    fn clear(&mut self) {
        let n = self.marks.len();
        self.reset(n);
    }

    #[inline]
    fn insert(&mut self, id: u32) -> bool {
        let m = &mut self.marks[id as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

/// An open-addressing hash set of `u64` keys (on-disk ids: block and offset packed), with
/// Fibonacci hashing and linear probing. Much cheaper than `HashSet` with SipHash for the
/// thousands of lookups a search makes; it only grows, and `clear` keeps the allocation.
pub struct HashVisited {
    slots: Vec<u64>,
    len: usize,
    mask: usize,
    shift: u32,
}

/// Keys are stored +1 so that 0 can mark an empty slot.
const EMPTY: u64 = 0;

impl HashVisited {
    pub fn with_capacity(n: usize) -> HashVisited {
        let cap = (n.max(16) * 2).next_power_of_two();
        HashVisited {
            slots: vec![EMPTY; cap],
            len: 0,
            mask: cap - 1,
            shift: 64 - cap.trailing_zeros(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated (for memory accounting).
    pub fn memory(&self) -> usize {
        self.slots.len() * 8
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    pub fn contains(&self, id: u64) -> bool {
        let key = id + 1;
        let mut i = self.slot(key);
        loop {
            match self.slots[i] {
                EMPTY => return false,
                k if k == key => return true,
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        *self = HashVisited::with_capacity(old.len());
        for k in old.into_iter().filter(|k| *k != EMPTY) {
            self.insert(k - 1);
        }
    }
}

impl Visited<u64> for HashVisited {
    fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.len = 0;
    }

    #[inline]
    fn insert(&mut self, id: u64) -> bool {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let key = id + 1;
        let mut i = self.slot(key);
        loop {
            match self.slots[i] {
                EMPTY => {
                    self.slots[i] = key;
                    self.len += 1;
                    return true;
                }
                k if k == key => return false,
                _ => i = (i + 1) & self.mask,
            }
        }
    }
}

/// A hasher for integer ids (Fibonacci hashing of one `u64`), for hash maps keyed by node ids:
/// `HashMap<u64, T, IdHash>`. SipHash's DoS resistance buys nothing for ids read from pages.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // hashbrown picks a bucket from the hash's low bits (and a tag from its top 7). The low
        // bits of a product depend only on the low bits of the key — for a packed TID, only the
        // item offset, a few dozen values — so the well-mixed high half is folded into them.
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ *b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64)
    }
}

pub type IdHash = std::hash::BuildHasherDefault<IdHasher>;

/// How many nodes in a row that fail a filter a filtered search walks through (see
/// [`search_layer`]). Nodes that pass are usually a few hops apart (ACORN-1 expands the
/// neighbours' neighbours of nodes that fail: Patel et al., "ACORN: Performant and
/// Predicate-Agnostic Search Over Vector Embeddings and Structured Data", SIGMOD 2024); walking
/// further only floods regions where nothing passes — the query's own neighbourhood, when the
/// filter is correlated with the vectors, where every node is nearer than any result and each
/// hop multiplies the nodes walked by up to 2m. Measured on glove-100k (m 16, walks at 10% and
/// 50% selectivity): 2 hops reach the recall of 3 at a smaller ef_search, faster.
const MAX_HOPS: u8 = 2;

/// SEARCH-LAYER: the `ef` nodes nearest to the query reachable on `level` from `entry`, nearest
/// first. Entry points must already be in `visited`. Nodes whose distance was computed but which
/// did not make (or were pushed out of) the result go to `discarded`, if given: iterative scans
/// resume from them.
///
/// Only nodes the graph [accepts](Graph::accepts) enter the result; the others are walked
/// through like any candidate. While fewer than `ef` nodes were accepted every reached node is
/// a candidate, so a filtered search goes on until it has `ef` results (or has reached every
/// node it can, or the graph says its budget is [exhausted](Graph::exhausted)): the in-index
/// counterpart of post-filtering, which returns rows that pass the filter instead of hoping
/// `ef` unfiltered ones contain enough of them. It walks through at most [`MAX_HOPS`] failing
/// nodes in a row once it has `ef` results, or from the start when it was entered at a node
/// that passes (falling back to an unlimited walk if that runs dry first). Unexpanded
/// candidates the result does not hold go to `discarded` when the search stops.
pub fn search_layer<G: Graph, V: Visited<G::Id>>(
    g: &mut G,
    entry: &[Scored<G::Id>],
    ef: usize,
    level: usize,
    visited: &mut V,
    mut discarded: Option<&mut Vec<Scored<G::Id>>>,
) -> Vec<Scored<G::Id>> {
    let ef = ef.max(1);
    // Candidates with the number of hops since the last accepted node on their path. An entry
    // that fails the filter counts as far from every accepted node: only its neighbours that
    // pass lead on (other entries may be nodes known to pass).
    let mut candidates: BinaryHeap<Reverse<(Scored<G::Id>, u8)>> = entry
        .iter()
        .map(|s| Reverse((*s, if g.accepts(s.id, level) { 0 } else { MAX_HOPS })))
        .collect();
    // Entered at a node that passes (a filtered search is also seeded with nodes known to
    // pass): the walk need not cross regions where nothing passes to find results, so the hop
    // limit holds from the start, not only once it has `ef` results — otherwise, while it has
    // fewer, it would first flood the query's own neighbourhood when none of it passes (a
    // filter correlated with the vectors). Nodes cut off meanwhile wait in `far`; should the
    // limited walk run dry before it has `ef` results, it goes on from them unlimited.
    let mut limited = entry.iter().any(|s| g.accepts(s.id, level));
    let mut far: Vec<Reverse<(Scored<G::Id>, u8)>> = Vec::new();
    let mut result: BinaryHeap<Scored<G::Id>> = BinaryHeap::with_capacity(ef + 1);
    for s in entry.iter().filter(|s| g.accepts(s.id, level)) {
        result.push(*s);
        if result.len() > ef {
            let out = result.pop().expect("non-empty");
            if let Some(d) = discarded.as_deref_mut() {
                d.push(out);
            }
        }
    }
    let mut neighbors = Vec::new();
    let mut fresh = Vec::new();
    let mut distances = Vec::new();
    let bound = |result: &BinaryHeap<Scored<G::Id>>| {
        if result.len() < ef {
            f32::INFINITY
        } else {
            result.peek().map_or(f32::INFINITY, |f| f.distance)
        }
    };
    loop {
        let Some(Reverse((c, hops))) = candidates.pop() else {
            if limited && result.len() < ef && !far.is_empty() {
                limited = false;
                candidates.extend(far.drain(..));
                continue;
            }
            break;
        };
        if c.distance > bound(&result) || g.exhausted() {
            if let Some(d) = discarded.as_deref_mut() {
                let rest = std::iter::once(c).chain(candidates.drain().map(|Reverse((r, _))| r));
                d.extend(rest.filter(|r| !g.accepts(r.id, level)));
            }
            break;
        }
        if let Some(Reverse((next, _))) = candidates.peek() {
            g.will_expand(next.id, level);
        }
        if discarded.is_none() {
            // (A search that keeps its discarded nodes for later must see every neighbour.)
            g.set_bound(bound(&result), ef);
        }
        neighbors.clear();
        g.neighbors(c.id, level, &mut neighbors);
        fresh.clear();
        fresh.extend(neighbors.iter().copied().filter(|&e| visited.insert(e)));
        distances.clear();
        g.distances(&fresh, level, &mut distances);
        for (&e, d) in fresh.iter().zip(&distances) {
            let Some(d) = *d else {
                continue;
            };
            let s = Scored { distance: d, id: e };
            let accepted = g.accepts(e, level);
            let e_hops = if accepted { 0 } else { hops + 1 };
            if e_hops > MAX_HOPS && result.len() < ef && limited {
                far.push(Reverse((s, e_hops)));
                continue;
            }
            if e_hops > MAX_HOPS && result.len() >= ef {
                // Far from every accepted node: kept for an iterative scan, not walked.
                if let Some(dd) = discarded.as_deref_mut() {
                    dd.push(s);
                }
                continue;
            }
            if result.len() < ef || d < bound(&result) {
                candidates.push(Reverse((s, e_hops)));
                if !accepted {
                    continue;
                }
                result.push(s);
                if result.len() > ef {
                    let out = result.pop().expect("non-empty");
                    if let Some(dd) = discarded.as_deref_mut() {
                        dd.push(out);
                    }
                }
            } else if let Some(dd) = discarded.as_deref_mut() {
                dd.push(s);
            }
        }
    }
    if let Some(d) = discarded {
        d.extend(far.into_iter().map(|Reverse((s, _))| s));
    }
    result.into_sorted_vec()
}

/// Greedy descent from `entry` through layers `top` down to `bottom + 1` (one nearest node kept
/// per layer, Algorithm 5's first loop); returns the entry point for layer `bottom`. Each layer
/// starts with an empty visited set.
pub fn descend<G: Graph, V: Visited<G::Id>>(
    g: &mut G,
    entry: Scored<G::Id>,
    top: usize,
    bottom: usize,
    visited: &mut V,
) -> Scored<G::Id> {
    let mut ep = entry;
    let mut level = top;
    while level > bottom {
        visited.clear();
        visited.insert(ep.id);
        let w = search_layer(g, &[ep], 1, level, visited, None);
        if let Some(best) = w.first() {
            ep = *best;
        }
        level -= 1;
    }
    ep
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packed TIDs (block << 16 | offset) spread over a hash map's buckets: the bucket comes
    /// from the hash's low bits, which must not be the offset's alone.
    #[test]
    fn id_hash_spreads_packed_tids_over_low_bits() {
        use std::hash::{BuildHasher, Hasher};
        let mut buckets = std::collections::HashSet::new();
        for block in 1..1000u64 {
            for offset in 1..21u64 {
                let mut h = IdHash::default().build_hasher();
                h.write_u64(block << 16 | offset);
                buckets.insert(h.finish() & 2047);
            }
        }
        // 19,980 keys into 2,048 buckets: all but a handful get used.
        assert!(
            buckets.len() > 2000,
            "{} of 2048 buckets used",
            buckets.len()
        );
    }

    /// Points on a line, each linked to its two neighbours: the search must walk to the nearest.
    struct Line {
        query: f32,
    }

    impl Graph for Line {
        type Id = u32;
        fn neighbors(&mut self, id: u32, _level: usize, out: &mut Vec<u32>) {
            if id > 0 {
                out.push(id - 1);
            }
            if id < 99 {
                out.push(id + 1);
            }
        }
        fn distance(&mut self, id: u32, _level: usize) -> Option<f32> {
            Some((id as f32 - self.query).abs())
        }
    }

    #[test]
    fn walks_to_the_nearest_nodes() {
        let mut g = Line { query: 70.2 };
        let mut v = EpochVisited::new(100);
        v.insert(0);
        let start = Scored {
            distance: 70.2,
            id: 0,
        };
        let mut discarded = Vec::new();
        let w = search_layer(&mut g, &[start], 3, 0, &mut v, Some(&mut discarded));
        assert_eq!(w.iter().map(|s| s.id).collect::<Vec<_>>(), vec![70, 71, 69]);
        assert!(!discarded.is_empty());
    }

    /// The line, filtered: only node 0 and nodes 95 to 99 pass.
    struct FilteredLine(Line);

    impl Graph for FilteredLine {
        type Id = u32;
        fn neighbors(&mut self, id: u32, level: usize, out: &mut Vec<u32>) {
            self.0.neighbors(id, level, out)
        }
        fn distance(&mut self, id: u32, level: usize) -> Option<f32> {
            self.0.distance(id, level)
        }
        fn accepts(&self, id: u32, _level: usize) -> bool {
            id == 0 || id >= 95
        }
    }

    #[test]
    fn filtered_walk_crosses_a_gap_when_it_must() {
        // Entered at a node that passes, the walk is limited to MAX_HOPS failing nodes in a
        // row; the 94 failing nodes between 0 and 95 stop it with one result, so it goes on
        // unlimited and finds the nearest nodes that pass.
        let mut g = FilteredLine(Line { query: 50.0 });
        let mut v = EpochVisited::new(100);
        v.insert(0);
        let start = Scored {
            distance: 50.0,
            id: 0,
        };
        let mut discarded = Vec::new();
        let w = search_layer(&mut g, &[start], 3, 0, &mut v, Some(&mut discarded));
        assert_eq!(w.iter().map(|s| s.id).collect::<Vec<_>>(), vec![95, 96, 97]);
        assert!(discarded.iter().any(|s| s.id == 0));
    }

    #[test]
    fn hash_visited_grows_and_clears() {
        let mut h = HashVisited::with_capacity(4);
        for i in 0..1000u64 {
            assert!(h.insert(i * 7919));
        }
        assert_eq!(h.len(), 1000);
        assert!(!h.insert(7919));
        assert!(h.contains(0) && !h.contains(1));
        h.clear();
        assert!(h.is_empty() && h.insert(0));
    }
}
