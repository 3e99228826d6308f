//! SELECT-NEIGHBORS-HEURISTIC (Algorithm 4 of the HNSW paper).
//!
//! A candidate joins the list only if it is closer to the base node than to every neighbour
//! already chosen, which keeps links pointing in diverse directions (the property that lets
//! greedy search cross between clusters). As in pgvector, pruned candidates then fill the
//! remaining slots nearest first ("keepPrunedConnections"), so lists are always full when enough
//! candidates exist.

use super::Scored;

/// A neighbour-list entry of the in-memory graph: the neighbour, its distance to the list's
/// owner, and whether the heuristic keeps it on its own merit ("closer" than every kept
/// neighbour before it) rather than as a filler.
///
/// Eight bytes: the flag is the top bit of the neighbour's id (graph ids stay below
/// [`MAX_LINK_ID`]). As a separate `bool` it padded each entry to 12 bytes, a third of the
/// lists' memory (a ground-layer list at `m` 16 is 33 entries: 264 bytes instead of 396; a
/// 390,000-row GloVe build peaked at 293 MB instead of 345).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    distance: f32,
    id_and_flag: u32,
}

/// A chosen neighbour and whether the heuristic kept it on its own merit (a [`Link`]'s flag).
pub type Flagged<Id> = (Scored<Id>, bool);

/// Ids a [`Link`] can hold: below 2³¹ (the top bit is its flag).
pub const MAX_LINK_ID: u32 = (1 << 31) - 1;
const CLOSER: u32 = 1 << 31;

impl Link {
    pub const fn new(scored: Scored<u32>, closer: bool) -> Link {
        debug_assert!(scored.id <= MAX_LINK_ID);
        Link {
            distance: scored.distance,
            id_and_flag: scored.id | if closer { CLOSER } else { 0 },
        }
    }

    pub fn id(self) -> u32 {
        self.id_and_flag & !CLOSER
    }

    pub fn scored(self) -> Scored<u32> {
        Scored {
            distance: self.distance,
            id: self.id(),
        }
    }

    pub fn closer(self) -> bool {
        self.id_and_flag & CLOSER != 0
    }

    fn set_closer(&mut self, closer: bool) {
        self.id_and_flag = self.id() | if closer { CLOSER } else { 0 };
    }
}

/// How much of a neighbour list's slots is in use, and whether its `closer` flags are current.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListHead {
    len: u32,
    /// Whether every `closer` flag is the heuristic's decision over the current list.
    decided: bool,
}

impl ListHead {
    /// Neighbours in the list.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A neighbour list kept sorted nearest first, in place: the first `head.len` of `slots`, a run
/// of `max + 1` slots the list owns (a list briefly holds one more than `max` before it is
/// pruned). The in-memory graph keeps every list of a layer in flat tables of such runs
/// (`memory.rs`), so reading a node's neighbours is one memory access, not a walk through a
/// node, a lock and a separate allocation. Each entry's heuristic decision is cached, so that
/// adding a neighbour to a full list costs O(m) distance computations instead of the O(m²) of
/// re-running the heuristic (pgvector caches the same flags, `closerSet`).
pub struct Links<'a> {
    head: &'a mut ListHead,
    slots: &'a mut [Link],
}

impl<'a> Links<'a> {
    /// The list `head` describes in `slots` (at least `max + 1` of them for a list of at most
    /// `max` neighbours).
    pub fn new(head: &'a mut ListHead, slots: &'a mut [Link]) -> Links<'a> {
        debug_assert!(head.len as usize <= slots.len());
        Links { head, slots }
    }

    /// Replaces the list by one chosen by [`select_neighbors_flagged`].
    pub fn set_selection(&mut self, items: &[Flagged<u32>]) {
        for (slot, &(scored, closer)) in self.slots.iter_mut().zip(items) {
            *slot = Link::new(scored, closer);
        }
        *self.head = ListHead {
            len: items.len() as u32,
            decided: true,
        };
    }

    fn items(&self) -> &[Link] {
        &self.slots[..self.head.len as usize]
    }

    fn insert(&mut self, pos: usize, link: Link) {
        let n = self.head.len as usize;
        self.slots.copy_within(pos..n, pos + 1);
        self.slots[pos] = link;
        self.head.len += 1;
    }

    fn remove(&mut self, pos: usize) -> Link {
        let n = self.head.len as usize;
        let link = self.slots[pos];
        self.slots.copy_within(pos + 1..n, pos);
        self.head.len -= 1;
        link
    }

    pub fn len(&self) -> usize {
        self.head.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.head.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Scored<u32>> + '_ {
        self.items().iter().map(|l| l.scored())
    }

    pub fn contains(&self, id: u32) -> bool {
        self.items().iter().any(|l| l.id() == id)
    }

    /// Adds `new` (distance to the owner) keeping at most `max` neighbours chosen as
    /// [`select_neighbors`] would choose them from the current list plus `new`. Returns false
    /// if `new` was not kept. `dist(a, b)` is the distance between two neighbours.
    pub fn add(
        &mut self,
        new: Scored<u32>,
        max: usize,
        mut dist: impl FnMut(u32, u32) -> f32,
    ) -> bool {
        if self.contains(new.id) {
            return false;
        }
        debug_assert!(self.slots.len() > max);
        let pos = self.items().partition_point(|l| l.scored() < new);
        if self.len() < max {
            // Room left: no pruning, so flags are not needed until the list is full.
            self.insert(pos, Link::new(new, false));
            self.head.decided = false;
            return true;
        }
        if !self.head.decided {
            self.decide(&mut dist);
        }
        // Entries before `pos` keep their decisions; decide `new` against the kept ones.
        let closer = self.items()[..pos]
            .iter()
            .filter(|l| l.closer())
            .all(|l| dist(new.id, l.id()) > new.distance);
        self.insert(pos, Link::new(new, closer));
        // Later entries: a kept one must also be closer than every entry that became kept in
        // this pass (`new`, and fillers promoted below); a filler can only become kept if a
        // kept entry before it lost that status, and is then decided again in full.
        let mut promoted: Vec<usize> = if closer { vec![pos] } else { Vec::new() };
        let mut lost_any = false;
        for i in pos + 1..self.len() {
            let l = self.slots[i];
            let now = if l.closer() {
                promoted
                    .iter()
                    .all(|&k| dist(l.id(), self.slots[k].id()) > l.distance)
            } else if lost_any {
                self.items()[..i]
                    .iter()
                    .filter(|k| k.closer())
                    .all(|k| dist(l.id(), k.id()) > l.distance)
            } else {
                false
            };
            if l.closer() && !now {
                lost_any = true;
            }
            if !l.closer() && now {
                promoted.push(i);
            }
            self.slots[i].set_closer(now);
        }
        // One entry too many: the heuristic takes kept entries nearest first, then fillers
        // nearest first, so the farthest filler goes (or the farthest entry if all are kept).
        let drop = self
            .items()
            .iter()
            .rposition(|l| !l.closer())
            .unwrap_or(self.len() - 1);
        let dropped = self.remove(drop);
        dropped.id() != new.id
    }

    /// Adds `new` whatever the heuristic says, dropping (if the list is full) the entry the
    /// heuristic values least other than `new`: the farthest filler, else the farthest entry —
    /// among the entries `spare` allows first (neighbours whose link can go: ones other nodes
    /// link to as well), then among all. Returns the dropped neighbour. For a node that would
    /// otherwise have no incoming link.
    pub fn force(
        &mut self,
        new: Scored<u32>,
        max: usize,
        mut dist: impl FnMut(u32, u32) -> f32,
        spare: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        if self.contains(new.id) {
            return None;
        }
        debug_assert!(self.slots.len() > max);
        let pos = self.items().partition_point(|l| l.scored() < new);
        self.insert(pos, Link::new(new, false));
        self.head.decided = false;
        if self.len() <= max {
            return None;
        }
        self.decide(&mut dist);
        let other = |l: &Link| l.id() != new.id;
        let sparable = |l: &Link| other(l) && spare(l.id());
        let items = self.items();
        let drop = items
            .iter()
            .rposition(|l| !l.closer() && sparable(l))
            .or_else(|| items.iter().rposition(sparable))
            .or_else(|| items.iter().rposition(|l| !l.closer() && other(l)))
            .or_else(|| items.iter().rposition(other))?;
        let dropped = self.remove(drop);
        // Removing a kept entry can change later decisions; recompute them when next needed.
        self.head.decided = !dropped.closer();
        Some(dropped.id())
    }

    /// Recomputes every flag (once per list, when it first needs pruning).
    fn decide(&mut self, dist: &mut impl FnMut(u32, u32) -> f32) {
        for i in 0..self.len() {
            let l = self.slots[i];
            let closer = self.items()[..i]
                .iter()
                .filter(|k| k.closer())
                .all(|k| dist(l.id(), k.id()) > l.distance);
            self.slots[i].set_closer(closer);
        }
        self.head.decided = true;
    }
}

/// Chooses up to `m` neighbours from `candidates` (distances to the base node; any order).
/// `dist(a, b)` is the distance between two candidates. The result is sorted nearest first.
pub fn select_neighbors<Id: Copy + Ord>(
    candidates: &[Scored<Id>],
    m: usize,
    dist: impl FnMut(Id, Id) -> f32,
) -> Vec<Scored<Id>> {
    select_neighbors_flagged(candidates, m, dist)
        .into_iter()
        .map(|(scored, _)| scored)
        .collect()
}

/// [`select_neighbors`], also saying (`true`) which neighbours the heuristic kept on their own
/// merit (for [`Links::set_selection`]). When no pruning is needed every flag is `false` and
/// the list is returned undecided-equivalent: flags are then recomputed by [`Links`] before its
/// first pruning.
pub fn select_neighbors_flagged<Id: Copy + Ord>(
    candidates: &[Scored<Id>],
    m: usize,
    mut dist: impl FnMut(Id, Id) -> f32,
) -> Vec<Flagged<Id>> {
    let mut sorted = candidates.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| a.id == b.id);
    let mut out: Vec<Flagged<Id>> = Vec::with_capacity(m.min(sorted.len()));
    let mut kept = 0;
    let mut pruned = Vec::new();
    for c in sorted {
        if kept >= m {
            break;
        }
        let closer = out
            .iter()
            .filter(|(_, kept)| *kept)
            .all(|(l, _)| dist(c.id, l.id) > c.distance);
        if closer {
            out.push((c, true));
            kept += 1;
        } else {
            pruned.push(c);
        }
    }
    for p in pruned {
        if out.len() >= m {
            break;
        }
        out.push((p, false));
    }
    out.sort_by_key(|(l, _)| *l);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// A list with slots of its own, for tests (the graph keeps its lists in flat tables).
    #[derive(Clone)]
    struct Owned {
        head: ListHead,
        slots: Vec<Link>,
    }

    impl Owned {
        fn new(max: usize) -> Owned {
            let empty = Link::new(
                Scored {
                    distance: 0.0,
                    id: 0,
                },
                false,
            );
            Owned {
                head: ListHead::default(),
                slots: vec![empty; max + 1],
            }
        }

        fn links(&mut self) -> Links<'_> {
            Links::new(&mut self.head, &mut self.slots)
        }
    }

    proptest! {
        /// Adding to a [`Links`] list one neighbour at a time gives exactly the list the full
        /// heuristic picks from the previous list plus the new neighbour.
        #[test]
        fn incremental_update_matches_full_heuristic(
            points in proptest::collection::vec((-10.0f32..10.0, -10.0f32..10.0), 2..60),
            max in 1usize..12,
        ) {
            let d = |a: u32, b: u32| {
                let (p, q) = (points[a as usize], points[b as usize]);
                ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()
            };
            // The owner is point 0; the others arrive one by one.
            let mut list = Owned::new(max);
            let mut reference: Vec<Scored<u32>> = Vec::new();
            for i in 1..points.len() as u32 {
                let s = Scored { distance: d(0, i), id: i };
                list.links().add(s, max, d);
                let mut candidates = reference.clone();
                candidates.push(s);
                reference = if candidates.len() <= max {
                    let mut c = candidates;
                    c.sort();
                    c
                } else {
                    select_neighbors(&candidates, max, d)
                };
                let got: Vec<Scored<u32>> = list.links().iter().collect();
                prop_assert_eq!(&got, &reference);
            }
        }
    }

    #[test]
    fn force_keeps_the_new_link_and_drops_the_weakest() {
        // owner at 0; neighbours at 1, 2, 3 on a line (each hides the next: 1 kept, 2 and 3
        // fillers); forcing a far node in drops the farthest filler.
        let pos = [0.0f32, 1.0, 2.0, 3.0, 10.0];
        let d = |a: u32, b: u32| (pos[a as usize] - pos[b as usize]).abs();
        let mut list = Owned::new(3);
        for (i, &p) in pos.iter().enumerate().take(4).skip(1) {
            list.links().add(
                Scored {
                    distance: p,
                    id: i as u32,
                },
                3,
                d,
            );
        }
        assert!(
            !list.links().add(
                Scored {
                    distance: 10.0,
                    id: 4
                },
                3,
                d
            ),
            "the heuristic refuses it"
        );
        // Nothing to spare: the farthest filler goes.
        let mut spared = list.clone();
        let mut l = list.links();
        assert_eq!(
            l.force(
                Scored {
                    distance: 10.0,
                    id: 4
                },
                3,
                d,
                |_| false
            ),
            Some(3)
        );
        assert_eq!(l.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(
            l.force(
                Scored {
                    distance: 10.0,
                    id: 4
                },
                3,
                d,
                |_| false
            ),
            None
        );
        // 3 is another node's only way in, 2 is not: 2 goes instead.
        assert_eq!(
            spared.links().force(
                Scored {
                    distance: 10.0,
                    id: 4
                },
                3,
                d,
                |id| id != 3
            ),
            Some(2)
        );
        assert_eq!(
            spared.links().iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![1, 3, 4]
        );
        // Later additions still follow the heuristic over the current list.
        let mut reference: Vec<Scored<u32>> = l.iter().collect();
        reference.push(Scored {
            distance: 2.5,
            id: 5,
        });
        let pos2 = [0.0f32, 1.0, 2.0, 3.0, 10.0, 2.5];
        let d2 = |a: u32, b: u32| (pos2[a as usize] - pos2[b as usize]).abs();
        l.add(
            Scored {
                distance: 2.5,
                id: 5,
            },
            3,
            d2,
        );
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            select_neighbors(&reference, 3, d2)
        );
    }

    /// A link is eight bytes and keeps its neighbour's id (up to the largest), distance and
    /// flag apart.
    #[test]
    fn link_packs_id_distance_and_flag() {
        assert_eq!(std::mem::size_of::<Link>(), 8);
        for id in [0, 1, 12_345, MAX_LINK_ID] {
            for closer in [false, true] {
                let s = Scored {
                    distance: -0.25,
                    id,
                };
                let mut l = Link::new(s, closer);
                assert_eq!((l.id(), l.scored(), l.closer()), (id, s, closer));
                l.set_closer(!closer);
                assert_eq!((l.id(), l.scored(), l.closer()), (id, s, !closer));
            }
        }
    }

    #[test]
    fn prefers_diverse_neighbors_then_fills() {
        // base at 0 on a line; candidates at 1, 1.1 (same side) and -2 (other side)
        let pos = [1.0f32, 1.1, -2.0];
        let c: Vec<Scored<usize>> = pos
            .iter()
            .enumerate()
            .map(|(i, p)| Scored {
                distance: p.abs(),
                id: i,
            })
            .collect();
        let d = |a: usize, b: usize| (pos[a] - pos[b]).abs();
        let two = select_neighbors(&c, 2, d);
        assert_eq!(two.iter().map(|s| s.id).collect::<Vec<_>>(), vec![0, 2]);
        let three = select_neighbors(&c, 3, d);
        assert_eq!(three.len(), 3);
        let one = select_neighbors(&c[..1], 5, d);
        assert_eq!(one.len(), 1);
    }
}
