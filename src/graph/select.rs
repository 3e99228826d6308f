//! SELECT-NEIGHBORS-HEURISTIC (Algorithm 4 of the HNSW paper).
//!
//! A candidate joins the list only if it is closer to the base node than to every neighbour
//! already chosen, which keeps links pointing in diverse directions (the property that lets
//! greedy search cross between clusters). As in pgvector, pruned candidates then fill the
//! remaining slots nearest first ("keepPrunedConnections"), so lists are always full when enough
//! candidates exist.

use super::Scored;

/// Chooses up to `m` neighbours from `candidates` (distances to the base node; any order).
/// `dist(a, b)` is the distance between two candidates. The result is sorted nearest first.
pub fn select_neighbors<Id: Copy + Ord>(
    candidates: &[Scored<Id>],
    m: usize,
    mut dist: impl FnMut(Id, Id) -> f32,
) -> Vec<Scored<Id>> {
    let mut sorted = candidates.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| a.id == b.id);
    if sorted.len() <= m {
        return sorted;
    }
    let mut chosen: Vec<Scored<Id>> = Vec::with_capacity(m);
    let mut pruned = Vec::new();
    for c in sorted {
        if chosen.len() >= m {
            break;
        }
        if chosen.iter().all(|s| dist(c.id, s.id) > c.distance) {
            chosen.push(c);
        } else {
            pruned.push(c);
        }
    }
    for p in pruned {
        if chosen.len() >= m {
            break;
        }
        chosen.push(p);
    }
    chosen.sort();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

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
