//! PURE: the HNSW algorithms (Malkov & Yashunin, "Efficient and robust approximate nearest
//! neighbor search using Hierarchical Navigable Small World graphs", TPAMI 2018), written once
//! over a [`search::Graph`] so the same code serves the in-memory build (`memory.rs`, Rust-owned
//! arena, rayon threads) and the on-disk index (`src/am/hnsw/`, pages through the buffer manager).
//!
//! * `search.rs` — SEARCH-LAYER (Algorithm 2) and the greedy descent through upper layers;
//! * `select.rs` — SELECT-NEIGHBORS-HEURISTIC (Algorithm 4), keeping pruned connections to fill
//!   the list (as pgvector does), and the shrink step when a neighbour list overflows;
//! * `memory.rs` — a concurrent in-memory graph and parallel INSERT (Algorithm 1).

pub mod memory;
pub mod search;
pub mod select;

use std::cmp::Ordering;

/// HNSW construction parameters (pgvector's names and ranges: `m` 2..=100, `ef_construction`
/// 4..=1000 and ≥ 2·m).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub m: usize,
    pub ef_construction: usize,
}

impl Params {
    /// Neighbours kept per node on `level`: 2·m on the ground layer, m above (§4.2 of the paper).
    pub fn max_neighbors(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    /// The level normalisation factor mL = 1 / ln(m) (the paper's recommended choice).
    pub fn ml(&self) -> f64 {
        1.0 / (self.m as f64).ln()
    }
}

/// A node and its distance to the query. Ordered by distance, then by id, so heaps and sorts
/// are total and deterministic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored<Id> {
    pub distance: f32,
    pub id: Id,
}

impl<Id: Ord> Eq for Scored<Id> {}

impl<Id: Ord> PartialOrd for Scored<Id> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<Id: Ord> Ord for Scored<Id> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then_with(|| self.id.cmp(&other.id))
    }
}

/// Draws node levels: ⌊−ln(U)·mL⌋ capped at `max_level` (§4.1 of the paper). A SplitMix64
/// generator with a fixed seed keeps builds repeatable.
pub struct LevelGenerator {
    state: u64,
    ml: f64,
    max_level: usize,
}

impl LevelGenerator {
    pub fn new(params: &Params, max_level: usize, seed: u64) -> LevelGenerator {
        LevelGenerator {
            state: seed,
            ml: params.ml(),
            max_level,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn next_level(&mut self) -> usize {
        // uniform in (0, 1]
        let u = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        ((-u.ln() * self.ml).floor() as usize).min(self.max_level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_geometric_law() {
        let p = Params {
            m: 16,
            ef_construction: 64,
        };
        let mut g = LevelGenerator::new(&p, 20, 42);
        let n = 200_000;
        let above0 = (0..n).filter(|_| g.next_level() > 0).count() as f64 / n as f64;
        // P(level ≥ 1) = exp(-1/mL) = 1/m
        assert!((above0 - 1.0 / 16.0).abs() < 0.005, "{above0}");
    }

    #[test]
    fn scored_orders_by_distance_then_id() {
        let mut v = [
            Scored {
                distance: 2.0,
                id: 1u32,
            },
            Scored {
                distance: 1.0,
                id: 9,
            },
            Scored {
                distance: 1.0,
                id: 3,
            },
        ];
        v.sort();
        assert_eq!(v.iter().map(|s| s.id).collect::<Vec<_>>(), vec![3, 9, 1]);
    }
}
