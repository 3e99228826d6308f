//! Key links (`layout::Shape`): which key columns get them, how a build links them in memory,
//! and how an insert (or VACUUM's repair) finds an element's on disk.
//!
//! A key column whose values each hold a middling share of the rows is where a filtered walk
//! is slow: too many rows pass to visit them all from the key directory, too few for the
//! walk to find `ef_search` of them without reading many that fail (about `ef_search /
//! selectivity` elements). Key links give each such value its own graph over the elements
//! that have it (Qdrant's filterable HNSW builds the same extra links per payload value,
//! <https://qdrant.tech/articles/filtrable-hnsw/>); a walk filtered by that value follows them
//! and reads about as many elements as an unfiltered search of a graph that size.

use super::disk::DiskGraph;
use super::insert::{element_links, select_by_images, ImageCache};
use super::keydir;
use super::layout::{self, MetaPage, Shape, Tid};
use super::options::DEFAULT_EF_SEARCH;
use crate::am::page::Rel;
use crate::filter::{KeyLayout, Predicate};
use crate::graph::memory::MemoryGraph;
use crate::graph::search::{search_layer, HashVisited, IdHash, Visited};
use crate::graph::{Params, Scored};
use std::collections::{HashMap, HashSet};

/// Links in each key list: as many as layer 0's (`2m`), since a key value's graph is walked
/// like layer 0. Measured on glove-100k (m 16, a 10% filter, ef_search 40): recall 0.92 with
/// `m` links, 0.97 with `2m`, at the same speed.
pub fn key_m(m: usize) -> usize {
    2 * m
}

/// Key columns beyond the 16th never get key links (the meta page's bit set has 16 bits).
const MAX_LINKED: usize = 16;

/// A key column that gets key links, and the rows of its largest value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linked {
    pub column: usize,
    pub largest: usize,
}

/// Which key columns get key links, from the key blobs of the rows a build indexes (`blobs`,
/// one per element): a column does when at least a quarter of the rows have a value that
/// holds more rows than a filtered scan visits directly from the key directory (at the
/// default `ef_search`, `keydir::exact_most`) and at most a third of them (more pass than the
/// 2-hop walk needs key links for: on glove-100k at 50% it reached the same recall at the
/// same speed without them, and they cost `12m` bytes per element). Chosen at CREATE INDEX and REINDEX: an index built on an empty
/// table has none.
pub fn choose<'b>(
    layout: &KeyLayout,
    blobs: impl Iterator<Item = &'b [u8]>,
    m: usize,
) -> Vec<Linked> {
    let columns = layout.count().min(MAX_LINKED);
    let mut counts: Vec<HashMap<&[u8], usize>> = vec![HashMap::new(); columns];
    let mut rows = 0usize;
    for blob in blobs {
        rows += 1;
        for (c, count) in counts.iter_mut().enumerate() {
            if let Some(k) = layout.key_bytes(blob, c) {
                *count.entry(k).or_default() += 1;
            }
        }
    }
    let direct = keydir::exact_most(DEFAULT_EF_SEARCH as usize, m, rows as f64);
    counts
        .iter()
        .enumerate()
        .filter(|(_, count)| {
            let middling: usize = count
                .values()
                .filter(|&&n| n > direct && n * 3 <= rows)
                .sum();
            rows > 0 && middling * 4 >= rows
        })
        .map(|(column, count)| Linked {
            column,
            largest: count.values().copied().max().unwrap_or(0),
        })
        .collect()
}

/// The bit set of the meta page ([`MetaPage::key_links`]) of some linked columns.
pub fn mask(linked: &[Linked]) -> u16 {
    linked.iter().fold(0, |m, l| m | 1 << l.column)
}

/// Bytes [`build`] holds for `linked` over `nodes` graph nodes: each column's key lists, and
/// the graph of the largest value being linked (one at a time).
pub fn build_memory(linked: &[Linked], nodes: usize, params: &Params) -> usize {
    let key_m = key_m(params.m);
    let lists = linked.len() * nodes * key_m * std::mem::size_of::<u32>();
    let largest = linked.iter().map(|l| l.largest).max().unwrap_or(0);
    // Nodes of a value's graph are mostly on layer 0 (a share 1/m above it).
    lists + largest * (crate::graph::memory::node_overhead(params, 0) + 8)
}

/// The key columns of a bit set, in order (list `j` is the `j`-th).
pub fn columns(mask: u16) -> Vec<usize> {
    (0..MAX_LINKED).filter(|c| mask & (1 << c) != 0).collect()
}

/// One key column's key lists from a build: `key_m` node numbers per graph node (`u32::MAX`
/// for none), kept compact since a build holds one per linked column for every row.
pub struct KeyLists {
    key_m: usize,
    links: Vec<u32>,
}

impl KeyLists {
    /// The key list of `node`.
    pub fn of(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        let at = node as usize * self.key_m;
        self.links[at..at + self.key_m]
            .iter()
            .copied()
            .take_while(|&n| n != u32::MAX)
    }

    fn set(&mut self, node: u32, list: impl Iterator<Item = u32>) {
        let at = node as usize * self.key_m;
        for (slot, n) in self.links[at..at + self.key_m].iter_mut().zip(list) {
            *slot = n;
        }
    }
}

/// The key lists of a build's elements, one [`KeyLists`] per column of `linked` (in order):
/// for each node of `graph` the nodes its key list links to (none for nodes not in `nodes`
/// and for NULL keys). `nodes` are the elements' nodes, `key_of(node)` a node's key blob; each
/// value's group gets a graph of its own over the same values ([`MemoryGraph::over`], with the
/// index's parameters), linked on `pool` in batches (the caller's thread checks for interrupts
/// in between through `between`), whose layer-0 lists become the key lists.
pub fn build<'k>(
    graph: &MemoryGraph,
    nodes: &[u32],
    key_of: impl Fn(u32) -> &'k [u8],
    layout: &KeyLayout,
    linked: &[Linked],
    pool: &rayon::ThreadPool,
    between: &mut dyn FnMut(),
) -> Vec<KeyLists> {
    use rayon::prelude::*;
    let params = *graph.params();
    let key_m = key_m(params.m);
    let mut out = Vec::new();
    for (column_number, l) in linked.iter().enumerate() {
        let c = l.column;
        let mut lists = KeyLists {
            key_m,
            links: vec![u32::MAX; graph.len() * key_m],
        };
        let mut groups: HashMap<&[u8], Vec<u32>> = HashMap::new();
        for &n in nodes {
            if let Some(k) = layout.key_bytes(key_of(n), c) {
                groups.entry(k).or_default().push(n);
            }
        }
        for (g, members) in groups.values().enumerate() {
            if members.len() <= key_m + 1 {
                // A small group: every other member, nearest first.
                for &x in members {
                    let mut others: Vec<Scored<u32>> = members
                        .iter()
                        .filter(|&&y| y != x)
                        .map(|&y| Scored {
                            distance: graph.metric().distance(graph.value(x), graph.value(y)),
                            id: y,
                        })
                        .collect();
                    others.sort();
                    lists.set(x, others.into_iter().map(|s| s.id));
                }
                continue;
            }
            let seed = 0x4B45_594C_494E_4B53 ^ ((column_number as u64) << 32) ^ g as u64;
            let sub = graph.over(members, params, seed);
            sub.insert(0);
            const BATCH: usize = 4096;
            let mut done = 1;
            while done < members.len() {
                let end = (done + BATCH).min(members.len());
                pool.install(|| {
                    (done as u32..end as u32)
                        .into_par_iter()
                        .for_each(|i| sub.insert(i))
                });
                done = end;
                between();
            }
            let all: Vec<u32> = (0..members.len() as u32).collect();
            sub.ensure_reachable(&all);
            for (i, &x) in members.iter().enumerate() {
                let list = sub.neighbors(i as u32, 0);
                lists.set(x, list.into_iter().map(|l| members[l as usize]));
            }
            between();
        }
        out.push(lists);
    }
    out
}

/// Groups at most this many times `ef_construction` elements are visited whole by
/// [`find`] (the nearest of them are its exact answer).
const VISIT_ALL: usize = 4;

/// The key lists of an element with value `value` and keys `keys` (one per key column with
/// key links, nearest first, at most `key_m` each, chosen by the neighbour-selection
/// heuristic): the elements with the same key in that column nearest to the value, found by
/// a walk filtered by that key that follows the key lists (entered at `near`, elements near
/// the value — its layer-0 neighbours — and at elements of that key from the key directory),
/// or, for a small group, by visiting all of it. Elements being deleted and `skip` (the
/// element itself, when VACUUM repairs it) are left out.
#[allow(clippy::too_many_arguments)]
pub fn find(
    index: Rel,
    meta: &MetaPage,
    layout: &KeyLayout,
    value: &[u8],
    keys: &[u8],
    near: &[Scored<u64>],
    skip: Option<u64>,
    images: &mut ImageCache,
) -> Vec<Vec<Scored<u64>>> {
    let ef = meta.ef_construction as usize;
    let key_m = meta.key_m as usize;
    let mut out = Vec::new();
    for (j, c) in columns(meta.key_links).into_iter().enumerate() {
        let Some(filter) = Predicate::same_key(layout, keys, c) else {
            out.push(Vec::new());
            continue;
        };
        let mut g = DiskGraph::new(index, meta, Some(value.to_vec()), ef * 32);
        g.set_filter(filter.clone(), usize::MAX);
        g.follow_key_lists(vec![j]);
        let found = keydir::passing(
            index,
            (meta.key_head, meta.key_tail),
            layout,
            &filter,
            |_, passing, _| passing <= VISIT_ALL * ef,
        );
        let mut visited = HashVisited::with_capacity(ef * 16);
        let results: Vec<Scored<u64>> = if found.complete {
            let ids: Vec<u64> = found
                .ids
                .iter()
                .copied()
                .filter(|&id| visited.insert(id))
                .collect();
            let mut results = Vec::with_capacity(ids.len());
            g.visit_each(&ids, |id, seen| {
                if let Some(s) = seen.filter(|s| s.accepted) {
                    results.push(Scored {
                        distance: s.distance,
                        id,
                    });
                }
            });
            results
        } else {
            let step = (found.ids.len() / ef).max(1);
            let seeds = near
                .iter()
                .map(|s| s.id)
                .chain(found.ids.iter().step_by(step).copied());
            let mut entries = Vec::new();
            for id in seeds {
                if visited.insert(id) {
                    if let Some(s) = g.visit(id) {
                        entries.push(Scored {
                            distance: s.distance,
                            id,
                        });
                    }
                }
            }
            search_layer(&mut g, &entries, ef, 0, &mut visited, None)
        };
        let mut candidates: Vec<Scored<u64>> = results
            .into_iter()
            .filter(|s| Some(s.id) != skip && g.seen.get(&s.id).is_some_and(|x| x.has_rows()))
            .collect();
        candidates.sort();
        candidates.truncate(ef);
        out.push(select_by_images(&mut g, images, &candidates, key_m));
        g.release();
    }
    out
}

/// An element's key lists after VACUUM took some of their members away, chosen again without
/// a search, as FreshDiskANN consolidates deletions (Singh et al., 2021, Algorithm 4): a list
/// none of whose members is being deleted stays as it is (`None`); otherwise its candidates
/// are its live members, the live members of each deleted member's own list in that column
/// (key lists link elements with the same key only) and those of the element's new layer-0
/// neighbours `near` that have its key; the neighbour-selection heuristic picks `key_m` of
/// them. `old` holds the element's key lists as they are.
///
/// Why not [`find`]: its filtered searches were half of a VACUUM of a table with key links.
/// Measured on 50,000 glove rows keyed as in `hnsw_filter` (3,000 inserts, 1/29 updated,
/// 1/11 deleted, VACUUM, serial build, 300 queries): VACUUM 60–66 s → 39–40 s, recall@10 of
/// the 10% key at `ef_search` 10/20/40 0.870/0.942/0.986 → 0.867/0.940/0.986 and of the
/// correlated key 0.840/0.923/0.976 → 0.841/0.929/0.977 (means of two runs). Widening by one
/// more hop lost recall (0.979 at 40: the lists lose their long links, as layer 0's did), and
/// linking back only the new members lost 0.004.
#[allow(clippy::too_many_arguments)]
pub fn consolidate(
    index: Rel,
    meta: &MetaPage,
    key_layout: &KeyLayout,
    value: &[u8],
    keys: &[u8],
    element: u64,
    old: &[Vec<u64>],
    near: &[Scored<u64>],
    deleting: &HashSet<u64, IdHash>,
    images: &mut ImageCache,
) -> Vec<Option<Vec<Scored<u64>>>> {
    let shape = Shape::of(meta);
    let ef = meta.ef_construction as usize;
    let key_m = meta.key_m as usize;
    // Each deleted member's own key lists, read once for all columns.
    let mut g = DiskGraph::new(index, meta, None, 64);
    let mut of_deleted: HashMap<u64, Vec<Vec<u64>>> = HashMap::new();
    for &d in old.iter().flatten().filter(|d| deleting.contains(d)) {
        if of_deleted.contains_key(&d) {
            continue;
        }
        let lists = element_links(&mut g, Tid::unpack(d))
            .and_then(|(n, _)| {
                g.read_item(n, |item| {
                    layout::is_neighbor_tuple(item).then(|| shape.key_links(item))
                })
            })
            .flatten()
            .unwrap_or_default();
        of_deleted.insert(d, lists);
    }
    g.release();
    let mut out = Vec::with_capacity(old.len());
    for (j, c) in columns(meta.key_links).into_iter().enumerate() {
        let list = old.get(j).map_or(&[][..], |l| &l[..]);
        let filter = Predicate::same_key(key_layout, keys, c);
        let (Some(filter), true) = (filter, list.iter().any(|id| deleting.contains(id))) else {
            out.push(None);
            continue;
        };
        let mut ids: Vec<u64> = near.iter().map(|s| s.id).collect();
        for &id in list {
            match of_deleted.get(&id) {
                Some(lists) => ids.extend(lists.get(j).into_iter().flatten().copied()),
                None => ids.push(id),
            }
        }
        ids.retain(|&id| id != element && !deleting.contains(&id));
        ids.sort_unstable();
        ids.dedup();
        let mut kg = DiskGraph::new(index, meta, Some(value.to_vec()), ids.len());
        kg.set_filter(filter, usize::MAX);
        let mut candidates = Vec::with_capacity(ids.len());
        kg.visit_each(&ids, |id, seen| {
            if let Some(s) = seen.filter(|s| s.accepted && s.has_rows()) {
                candidates.push(Scored {
                    distance: s.distance,
                    id,
                });
            }
        });
        candidates.sort();
        candidates.truncate(ef);
        out.push(Some(select_by_images(&mut kg, images, &candidates, key_m)));
        kg.release();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{KeyKind, KeyValue};

    #[test]
    fn middling_columns_get_key_links() {
        let l = KeyLayout::new(vec![KeyKind::Int, KeyKind::Int, KeyKind::Int, KeyKind::Int]);
        // 100,000 rows: column 0 has 10 values (10% each), column 1 10,000 (10 rows each),
        // column 2 one value, column 3 is NULL but in 10% of the rows.
        let blobs: Vec<Vec<u8>> = (0..100_000i64)
            .map(|i| {
                l.encode(&[
                    Some(KeyValue::Int(i % 10)),
                    Some(KeyValue::Int(i % 10_000)),
                    Some(KeyValue::Int(7)),
                    (i % 10 == 0).then_some(KeyValue::Int(i)),
                ])
            })
            .collect();
        let linked = choose(&l, blobs.iter().map(|b| b.as_slice()), 16);
        assert_eq!(
            linked,
            vec![Linked {
                column: 0,
                largest: 10_000
            }]
        );
        assert_eq!(mask(&linked), 0b0001);
        assert_eq!(columns(mask(&linked)), vec![0]);
        assert!(choose(&l, std::iter::empty(), 16).is_empty());
    }
}
