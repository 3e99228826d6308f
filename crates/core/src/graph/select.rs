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
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link<Id> {
    pub scored: Scored<Id>,
    pub closer: bool,
}

/// A neighbour list kept sorted nearest first, with each entry's heuristic decision cached so
/// that adding a neighbour to a full list costs O(m) distance computations instead of the
/// O(m²) of re-running the heuristic (pgvector caches the same flags, `closerSet`).
#[derive(Clone, Debug, Default)]
pub struct Links<Id> {
    items: Vec<Link<Id>>,
    /// Whether every `closer` flag is the heuristic's decision over the current list.
    decided: bool,
}

impl<Id: Copy + Ord> Links<Id> {
    /// A list chosen by [`select_neighbors_flagged`], for a layer of at most `max` neighbours.
    pub fn from_selection(items: Vec<Link<Id>>, max: usize) -> Links<Id> {
        let mut exact = Vec::with_capacity(max.max(items.len()) + 1);
        exact.extend_from_slice(&items);
        Links {
            items: exact,
            decided: true,
        }
    }

    /// Makes room for `max + 1` entries, exactly: a list briefly holds one more than `max`
    /// before it is pruned, and a vector left to grow by doubling would hold twice that — the
    /// difference, times every node, is what a build's `maintenance_work_mem` accounting
    /// (`memory::node_overhead`) would not see.
    fn room(&mut self, max: usize) {
        if self.items.capacity() < max + 1 {
            self.items.reserve_exact(max + 1 - self.items.len());
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scored<Id>> {
        self.items.iter().map(|l| &l.scored)
    }

    pub fn contains(&self, id: Id) -> bool {
        self.items.iter().any(|l| l.scored.id == id)
    }

    /// Adds `new` (distance to the owner) keeping at most `max` neighbours chosen as
    /// [`select_neighbors`] would choose them from the current list plus `new`. Returns false
    /// if `new` was not kept. `dist(a, b)` is the distance between two neighbours.
    pub fn add(
        &mut self,
        new: Scored<Id>,
        max: usize,
        mut dist: impl FnMut(Id, Id) -> f32,
    ) -> bool {
        if self.contains(new.id) {
            return false;
        }
        self.room(max);
        let pos = self.items.partition_point(|l| l.scored < new);
        if self.items.len() < max {
            // Room left: no pruning, so flags are not needed until the list is full.
            self.items.insert(
                pos,
                Link {
                    scored: new,
                    closer: false,
                },
            );
            self.decided = false;
            return true;
        }
        if !self.decided {
            self.decide(&mut dist);
        }
        // Entries before `pos` keep their decisions; decide `new` against the kept ones.
        let closer = self.items[..pos]
            .iter()
            .filter(|l| l.closer)
            .all(|l| dist(new.id, l.scored.id) > new.distance);
        self.items.insert(
            pos,
            Link {
                scored: new,
                closer,
            },
        );
        // Later entries: a kept one must also be closer than every entry that became kept in
        // this pass (`new`, and fillers promoted below); a filler can only become kept if a
        // kept entry before it lost that status, and is then decided again in full.
        let mut promoted: Vec<usize> = if closer { vec![pos] } else { Vec::new() };
        let mut lost_any = false;
        for i in pos + 1..self.items.len() {
            let l = self.items[i];
            let now = if l.closer {
                promoted
                    .iter()
                    .all(|&k| dist(l.scored.id, self.items[k].scored.id) > l.scored.distance)
            } else if lost_any {
                self.items[..i]
                    .iter()
                    .filter(|k| k.closer)
                    .all(|k| dist(l.scored.id, k.scored.id) > l.scored.distance)
            } else {
                false
            };
            if l.closer && !now {
                lost_any = true;
            }
            if !l.closer && now {
                promoted.push(i);
            }
            self.items[i].closer = now;
        }
        // One entry too many: the heuristic takes kept entries nearest first, then fillers
        // nearest first, so the farthest filler goes (or the farthest entry if all are kept).
        let drop = self
            .items
            .iter()
            .rposition(|l| !l.closer)
            .unwrap_or(self.items.len() - 1);
        let dropped = self.items.remove(drop);
        dropped.scored.id != new.id
    }

    /// Adds `new` whatever the heuristic says, dropping (if the list is full) the entry the
    /// heuristic values least other than `new`: the farthest filler, else the farthest entry —
    /// among the entries `spare` allows first (neighbours whose link can go: ones other nodes
    /// link to as well), then among all. Returns the dropped neighbour. For a node that would
    /// otherwise have no incoming link.
    pub fn force(
        &mut self,
        new: Scored<Id>,
        max: usize,
        mut dist: impl FnMut(Id, Id) -> f32,
        spare: impl Fn(Id) -> bool,
    ) -> Option<Id> {
        if self.contains(new.id) {
            return None;
        }
        self.room(max);
        let pos = self.items.partition_point(|l| l.scored < new);
        self.items.insert(
            pos,
            Link {
                scored: new,
                closer: false,
            },
        );
        self.decided = false;
        if self.items.len() <= max {
            return None;
        }
        self.decide(&mut dist);
        let other = |l: &Link<Id>| l.scored.id != new.id;
        let sparable = |l: &Link<Id>| other(l) && spare(l.scored.id);
        let items = &self.items;
        let drop = items
            .iter()
            .rposition(|l| !l.closer && sparable(l))
            .or_else(|| items.iter().rposition(sparable))
            .or_else(|| items.iter().rposition(|l| !l.closer && other(l)))
            .or_else(|| items.iter().rposition(other))?;
        let dropped = self.items.remove(drop);
        // Removing a kept entry can change later decisions; recompute them when next needed.
        self.decided = !dropped.closer;
        Some(dropped.scored.id)
    }

    /// Recomputes every flag (once per list, when it first needs pruning).
    fn decide(&mut self, dist: &mut impl FnMut(Id, Id) -> f32) {
        for i in 0..self.items.len() {
            let l = self.items[i];
            self.items[i].closer = self.items[..i]
                .iter()
                .filter(|k| k.closer)
                .all(|k| dist(l.scored.id, k.scored.id) > l.scored.distance);
        }
        self.decided = true;
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
        .map(|l| l.scored)
        .collect()
}

/// [`select_neighbors`], also saying which neighbours the heuristic kept on their own merit
/// (for [`Links`]). When no pruning is needed every flag is `false` and the list is returned
/// undecided-equivalent: flags are then recomputed by [`Links`] before its first pruning.
pub fn select_neighbors_flagged<Id: Copy + Ord>(
    candidates: &[Scored<Id>],
    m: usize,
    mut dist: impl FnMut(Id, Id) -> f32,
) -> Vec<Link<Id>> {
    let mut sorted = candidates.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| a.id == b.id);
    let mut out: Vec<Link<Id>> = Vec::with_capacity(m.min(sorted.len()));
    let mut kept = 0;
    let mut pruned = Vec::new();
    for c in sorted {
        if kept >= m {
            break;
        }
        let closer = out
            .iter()
            .filter(|l| l.closer)
            .all(|l| dist(c.id, l.scored.id) > c.distance);
        if closer {
            out.push(Link { scored: c, closer });
            kept += 1;
        } else {
            pruned.push(c);
        }
    }
    for p in pruned {
        if out.len() >= m {
            break;
        }
        out.push(Link {
            scored: p,
            closer: false,
        });
    }
    out.sort_by_key(|l| l.scored);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    proptest! {
        /// Adding to a [`Links`] list one neighbour at a time gives exactly the list the full
        /// heuristic picks from the previous list plus the new neighbour.
        #[test]
        fn incremental_update_matches_full_heuristic(
            points in proptest::collection::vec((-10.0f32..10.0, -10.0f32..10.0), 2..60),
            max in 1usize..12,
        ) {
            let d = |a: usize, b: usize| {
                let (p, q) = (points[a], points[b]);
                ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()
            };
            // The owner is point 0; the others arrive one by one.
            let mut links: Links<usize> = Links::default();
            let mut reference: Vec<Scored<usize>> = Vec::new();
            for i in 1..points.len() {
                let s = Scored { distance: d(0, i), id: i };
                links.add(s, max, d);
                let mut candidates = reference.clone();
                candidates.push(s);
                reference = if candidates.len() <= max {
                    let mut c = candidates;
                    c.sort();
                    c
                } else {
                    select_neighbors(&candidates, max, d)
                };
                let got: Vec<Scored<usize>> = links.iter().copied().collect();
                prop_assert_eq!(&got, &reference);
            }
        }
    }

    #[test]
    fn force_keeps_the_new_link_and_drops_the_weakest() {
        // owner at 0; neighbours at 1, 2, 3 on a line (each hides the next: 1 kept, 2 and 3
        // fillers); forcing a far node in drops the farthest filler.
        let pos = [0.0f32, 1.0, 2.0, 3.0, 10.0];
        let d = |a: usize, b: usize| (pos[a] - pos[b]).abs();
        let mut l: Links<usize> = Links::default();
        for (i, &p) in pos.iter().enumerate().take(4).skip(1) {
            l.add(Scored { distance: p, id: i }, 3, d);
        }
        assert!(
            !l.add(
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
        let mut spared = l.clone();
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
            spared.force(
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
            spared.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![1, 3, 4]
        );
        // Later additions still follow the heuristic over the current list.
        let mut reference: Vec<Scored<usize>> = l.iter().copied().collect();
        reference.push(Scored {
            distance: 2.5,
            id: 5,
        });
        let pos2 = [0.0f32, 1.0, 2.0, 3.0, 10.0, 2.5];
        let d2 = |a: usize, b: usize| (pos2[a] - pos2[b]).abs();
        l.add(
            Scored {
                distance: 2.5,
                id: 5,
            },
            3,
            d2,
        );
        assert_eq!(
            l.iter().copied().collect::<Vec<_>>(),
            select_neighbors(&reference, 3, d2)
        );
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
