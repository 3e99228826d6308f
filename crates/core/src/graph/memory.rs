//! An HNSW graph built in Rust-owned memory, with INSERT (Algorithm 1 of the paper) safe to run
//! from many threads at once: values are immutable once added, each node's neighbour list on
//! each layer has its own lock (taken one at a time, never nested), and the entry point sits
//! behind a read-write lock. This is how hnswlib parallelises construction; the index build
//! (`src/am/hnsw/build.rs`) runs it on rayon threads and writes pages from the main thread.

use super::search::{descend, reach, search_layer, EpochVisited, Graph, Visited};
use super::select::{select_neighbors_flagged, Flagged, Link, Links, ListHead, MAX_LINK_ID};
use super::{LevelGenerator, Params, Scored};
use crate::kernels::metric::{
    half_image, half_image_len, int8_cosine_distance, int8_image, int8_image_len, is_unit, Metric,
};
use crate::kernels::prefetch::{prefetch, prefetch_range};
use std::cell::{RefCell, UnsafeCell};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, RwLock};

/// Value images (varlena bytes) stored back to back, each starting 8-byte aligned so kernels
/// can read f32/f16/i32 slices in place. Dense values all have one length: their place is then
/// computed from the id (no table of spans to read first, so the graph can prefetch several
/// values at once); values of varying length (sparse, say) keep a span per value.
#[derive(Default)]
pub struct Arena {
    words: Vec<u64>,
    /// Values held.
    count: usize,
    /// (words, bytes) of every value while all have the same length.
    uniform: Option<(usize, usize)>,
    /// (start word, byte length) per value, once lengths differ.
    spans: Vec<(usize, usize)>,
}

impl Arena {
    pub fn push(&mut self, image: &[u8]) -> u32 {
        let start = self.words.len();
        let nwords = image.len().div_ceil(8);
        self.words.resize(start + nwords, 0);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.words[start..start + nwords]);
        bytes[..image.len()].copy_from_slice(image);
        match self.uniform {
            None if self.count == 0 => self.uniform = Some((nwords, image.len())),
            Some(u) if u == (nwords, image.len()) => {}
            Some((w, len)) => {
                self.spans = (0..self.count).map(|i| (i * w, len)).collect();
                self.uniform = None;
                self.spans.push((start, image.len()));
            }
            None => self.spans.push((start, image.len())),
        }
        self.count += 1;
        (self.count - 1) as u32
    }

    #[inline]
    pub fn get(&self, id: u32) -> &[u8] {
        let (start, len) = match self.uniform {
            Some((w, len)) => (id as usize * w, len),
            None => self.spans[id as usize],
        };
        let bytes: &[u8] = bytemuck::cast_slice(&self.words[start..]);
        &bytes[..len]
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.words.capacity() * 8 + self.spans.capacity() * 16
    }
}

/// Bytes a node of `level` costs in the graph besides its value, for `maintenance_work_mem`
/// accounting: its level, where its upper lists start, and a list head (with its lock) and
/// `max + 1` slots per layer ([`ListTable`]).
pub fn node_overhead(params: &Params, level: usize) -> usize {
    let slots: usize = (0..=level).map(|l| params.max_neighbors(l) + 1).sum();
    1 + 4
        + (level + 1) * std::mem::size_of::<Mutex<ListHead>>()
        + slots * std::mem::size_of::<Link>()
}

/// The neighbour lists of one or more layers: every list in a run of `cap` slots of a flat
/// table, its head (length, cached heuristic state) under its own lock in another. Reading a
/// node's neighbours is then one lookup, where a list per node behind a box, a lock and a
/// vector was a chain of three dependent cache misses — the largest cost of a build once the
/// graph outgrows the CPU caches (measured: 20% of a glove-100k build in reading neighbours).
/// Locks are taken one at a time, never nested, as hnswlib does.
///
/// The tables grow in chunks of [`CHUNK_LISTS`] lists, each allocated once at its full size: a
/// table that doubled would hold up to twice what it uses, and three times while it moves —
/// memory a build's `maintenance_work_mem` accounting (per node, [`node_overhead`]) does not
/// see (measured: 26 MB at a 16 MB setting).
struct ListTable {
    /// Slots per list: the most neighbours a list keeps, plus one.
    cap: usize,
    /// Lists in use.
    len: usize,
    chunks: Vec<Chunk>,
}

/// [`CHUNK_LISTS`] lists of a [`ListTable`]: their heads, and their runs of slots.
struct Chunk {
    heads: Box<[Mutex<ListHead>]>,
    slots: Box<[UnsafeCell<Link>]>,
}

/// Lists per chunk of a [`ListTable`] (a ground-layer chunk at `m` 16 is 276 KiB).
const CHUNK_LISTS: usize = 1024;

// SAFETY: a list's slots are read and written only through a `ListGuard`, which holds the
// list's lock (its head's mutex) as long as it lives, and lists own disjoint runs of slots; the
// tables grow only through `&mut self`.
unsafe impl Sync for ListTable {}

const NO_LINK: Link = Link::new(
    Scored {
        distance: 0.0,
        id: 0,
    },
    false,
);

impl ListTable {
    fn new(max: usize) -> ListTable {
        ListTable {
            cap: max + 1,
            len: 0,
            chunks: Vec::new(),
        }
    }

    /// Appends `n` empty lists; returns the number of the first.
    fn push(&mut self, n: usize) -> usize {
        let first = self.len;
        self.len += n;
        while self.chunks.len() * CHUNK_LISTS < self.len {
            self.chunks.push(Chunk {
                heads: (0..CHUNK_LISTS)
                    .map(|_| Mutex::new(ListHead::default()))
                    .collect(),
                slots: (0..CHUNK_LISTS * self.cap)
                    .map(|_| UnsafeCell::new(NO_LINK))
                    .collect(),
            });
        }
        first
    }

    /// List `list`'s head and its run of slots.
    #[inline]
    fn parts(&self, list: usize) -> (&Mutex<ListHead>, &[UnsafeCell<Link>]) {
        debug_assert!(list < self.len);
        let chunk = &self.chunks[list / CHUNK_LISTS];
        let i = list % CHUNK_LISTS;
        (
            &chunk.heads[i],
            &chunk.slots[i * self.cap..(i + 1) * self.cap],
        )
    }

    /// Locks list `list`.
    #[inline]
    fn lock(&self, list: usize) -> ListGuard<'_> {
        let (head, run) = self.parts(list);
        let head = head.lock().expect("graph lock poisoned");
        // SAFETY: the run is the list's own, and its lock is held for as long as the guard
        // (which the slice borrows through) lives: no other reference to these slots exists.
        let slots =
            unsafe { std::slice::from_raw_parts_mut(UnsafeCell::raw_get(run.as_ptr()), self.cap) };
        ListGuard { head, slots }
    }

    /// Starts loading list `list`'s lock and its first entries (see [`Graph::will_expand`]).
    #[inline]
    fn prefetch(&self, list: usize) {
        let (head, run) = self.parts(list);
        prefetch(std::ptr::from_ref(head).cast::<u8>());
        prefetch_range(run[0].get().cast::<u8>().cast_const(), 128, 2);
    }

    fn memory(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.len()
                * CHUNK_LISTS
                * (std::mem::size_of::<Mutex<ListHead>>() + self.cap * std::mem::size_of::<Link>())
    }
}

/// A locked neighbour list.
struct ListGuard<'a> {
    head: MutexGuard<'a, ListHead>,
    slots: &'a mut [Link],
}

impl ListGuard<'_> {
    fn links(&mut self) -> Links<'_> {
        Links::new(&mut self.head, self.slots)
    }

    fn entries(&self) -> &[Link] {
        &self.slots[..self.head.len()]
    }

    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries().iter().map(|l| l.id())
    }
}

/// Where a graph's node values live: its own [`Arena`], or another graph's (a subgraph over
/// some of its nodes, [`MemoryGraph::over`]).
pub trait Values: Sync {
    fn value(&self, id: u32) -> &[u8];
}

/// Cache lines of a value prefetched ahead of its distance: enough for the dimensions where
/// latency, not bandwidth, bounds the kernel (8 lines = 128 `f32`); the hardware prefetcher
/// follows a longer value's sequential reads.
const PREFETCH_LINES: usize = 8;

impl Values for Arena {
    #[inline]
    fn value(&self, id: u32) -> &[u8] {
        self.get(id)
    }
}

/// Some nodes of a graph, renumbered `0..ids.len()`, with their values left where they are.
pub struct Members<'a> {
    values: &'a Arena,
    ids: &'a [u32],
}

impl Values for Members<'_> {
    #[inline]
    fn value(&self, id: u32) -> &[u8] {
        self.values.get(self.ids[id as usize])
    }
}

/// A graph under construction. Nodes are added with [`MemoryGraph::add`] (single-threaded) and
/// linked with [`MemoryGraph::insert`] (any thread, any order after the first).
pub struct MemoryGraph<V: Values = Arena> {
    metric: Metric,
    params: Params,
    values: V,
    /// Copies of the values that links are chosen by once
    /// [`MemoryGraph::link_in_low_precision`] made them (int8 or fp16, see [`LinkMetric`]);
    /// [`MemoryGraph::value`] still returns the values as added.
    copies: Option<Arena>,
    /// How links are chosen: by `metric` on the values, or on the copies.
    link: LinkMetric,
    /// Each node's level.
    levels: Vec<u8>,
    /// The ground layer's lists: list `id` is node `id`'s.
    ground: ListTable,
    /// The upper layers' lists: node `id`'s on layer `l ≥ 1` is `upper_first[id] + l - 1`
    /// (nodes above the ground layer are one in `m`).
    upper: ListTable,
    upper_first: Vec<u32>,
    /// (entry node, its level); `None` until the first node is linked.
    entry: RwLock<Option<(u32, usize)>>,
}

/// The distance a graph chooses its links by. Not a [`Metric`]: the int8 form exists only in a
/// build's memory, never in an index's meta page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkMetric {
    /// A metric of the values, or of their fp16 copies ([`Metric::half_precision`]).
    Values(Metric),
    /// [`int8_cosine_distance`] of [`int8_image`] copies (cosine, L2 and inner-product graphs
    /// of unit vectors).
    Int8Cosine,
}

impl LinkMetric {
    #[inline]
    fn distance(self, a: &[u8], b: &[u8]) -> f32 {
        match self {
            LinkMetric::Values(m) => m.distance(a, b),
            LinkMetric::Int8Cosine => int8_cosine_distance(a, b),
        }
    }

    /// The copy of a dense f32 `value` that this metric reads when a graph links by copies,
    /// into `out`: int8 for [`LinkMetric::Int8Cosine`], fp16 for the metric of fp16 values.
    fn copy(self, value: &[u8], out: &mut Vec<u8>) {
        match self {
            LinkMetric::Int8Cosine => int8_image(value, out),
            LinkMetric::Values(_) => half_image(value, out),
        }
    }

    /// Bytes of [`LinkMetric::copy`] of a `dims`-dimensional value.
    fn copy_len(self, dims: usize) -> usize {
        match self {
            LinkMetric::Int8Cosine => int8_image_len(dims),
            LinkMetric::Values(_) => half_image_len(dims),
        }
    }
}

thread_local! {
    static VISITED: RefCell<EpochVisited> = RefCell::new(EpochVisited::new(0));
}

/// The graph seen from one query (a value image), for the generic search.
struct View<'a, V: Values> {
    graph: &'a MemoryGraph<V>,
    query: &'a [u8],
}

impl<V: Values> Graph for View<'_, V> {
    type Id = u32;

    fn neighbors(&mut self, id: u32, level: usize, out: &mut Vec<u32>) {
        if let Some(list) = self.graph.list(id, level) {
            out.extend(list.ids());
        }
    }

    fn distance(&mut self, id: u32, level: usize) -> Option<f32> {
        // Every node is on the ground layer: no level to read there.
        if level > 0 && self.graph.level(id) < level {
            return None;
        }
        Some(self.graph.link_distance(self.query, id))
    }

    fn will_expand(&mut self, id: u32, level: usize) {
        if let Some((table, list)) = self.graph.list_number(id, level) {
            table.prefetch(list);
        }
    }

    /// All values' first lines are requested before the first distance, so their cache misses
    /// overlap instead of following one another (hnswlib prefetches the same way).
    fn distances(&mut self, ids: &[u32], level: usize, out: &mut Vec<Option<f32>>) {
        for &id in ids {
            let v = self.graph.link_value(id);
            prefetch_range(v.as_ptr(), v.len(), PREFETCH_LINES);
        }
        out.extend(ids.iter().map(|&id| self.distance(id, level)));
    }
}

impl MemoryGraph {
    pub fn new(metric: Metric, params: Params) -> MemoryGraph {
        MemoryGraph::unlinked(metric, params, Arena::default(), std::iter::empty())
    }

    /// Adds an unlinked node with its value and level; returns its id. The graph must not be
    /// [full](MemoryGraph::is_full).
    pub fn add(&mut self, image: &[u8], level: usize) -> u32 {
        assert!(!self.is_full(), "a graph holds at most 2^31 nodes");
        let id = self.values.push(image);
        self.push_node(level);
        id
    }

    /// Whether the graph holds as many nodes as a [`Link`] can name (2³¹); the index build
    /// then goes on as when `maintenance_work_mem` is full.
    pub fn is_full(&self) -> bool {
        self.len() > MAX_LINK_ID as usize
    }

    /// Bytes of memory the graph holds (values plus links at their maximum sizes).
    pub fn memory(&self) -> usize {
        self.values.memory()
            + self.copies.as_ref().map_or(0, |c| c.memory())
            + self.levels.capacity()
            + self.upper_first.capacity() * 4
            + self.ground.memory()
            + self.upper.memory()
    }

    /// A new graph over the nodes `ids` of this one (node `i` of it is `ids[i]` here), with
    /// its own parameters and levels drawn from `seed`, unlinked: the values stay in this
    /// graph. The index build links one per key value for key links (`am/hnsw/build.rs`).
    pub fn over<'a>(
        &'a self,
        ids: &'a [u32],
        params: Params,
        seed: u64,
    ) -> MemoryGraph<Members<'a>> {
        let mut levels = LevelGenerator::new(&params, 16, seed);
        let values = self.copies.as_ref().unwrap_or(&self.values);
        let mut g = MemoryGraph::unlinked(
            self.metric,
            params,
            Members { values, ids },
            ids.iter().map(|_| levels.next_level()),
        );
        g.link = self.link;
        g
    }

    /// How a graph of `metric` would choose its links by copies of its values
    /// ([`MemoryGraph::link_in_low_precision`]), or `None` when it would not: cosine, L2 and
    /// inner-product graphs by int8 copies, L1 graphs by fp16 copies (of unit vectors only,
    /// but for cosine's, which always are).
    ///
    /// Why L2 and inner product can link by a cosine: for unit vectors ‖a − b‖² = 2 − 2 cos
    /// and −a·b = −cos, both increasing in −cos, so every comparison a build makes — which
    /// candidate is nearer, and the heuristic's "nearer to a chosen neighbour than to the new
    /// node" — comes out as it would by the metric itself. (Values pass as unit vectors within
    /// [`is_unit`]'s 10⁻³ of a squared norm of one, which can move those identities by up to
    /// ~2·10⁻³ in a cosine, the int8 rounding's order; a model's normalised outputs are unit
    /// to ~10⁻⁷.) L1 is not a function of the cosine.
    fn copy_metric(metric: Metric) -> Option<LinkMetric> {
        match metric {
            Metric::CosineF32 | Metric::L2F32 | Metric::IpF32 => Some(LinkMetric::Int8Cosine),
            m => m.half_precision().map(LinkMetric::Values),
        }
    }

    /// Bytes the copies of the values would take ([`MemoryGraph::link_in_low_precision`]), or
    /// `None` when the metric has none.
    pub fn low_precision_memory(&self) -> Option<usize> {
        let copy = Self::copy_metric(self.metric)?;
        let per_value = |v: &[u8]| copy.copy_len((v.len() - 8) / 4).div_ceil(8) * 8;
        Some(if self.values.is_empty() {
            0
        } else {
            self.values.len() * per_value(self.values.get(0))
        })
    }

    /// Makes the links be chosen by low-precision copies of the values when they are unit
    /// vectors (all of a cosine graph's are; another metric's are checked, one pass over the
    /// values): int8 copies for cosine, L2 and inner product ([`int8_cosine_distance`] says
    /// why that loses nothing that matters, `copy_metric` why L2 and inner product may), fp16
    /// copies for L1 ([`Metric::half_precision`]). A quarter (int8) or half (fp16) of the
    /// values' bytes per distance, so a build that waits on values' cache lines (384-d and
    /// wider) links faster, and int8 products are 32 to an AVX-512 instruction. The values
    /// themselves — what [`MemoryGraph::value`] returns and the index stores — stay as added;
    /// only which neighbours are chosen can differ, as between two builds in another order
    /// (recall at each `ef_search` measured equal on glove-100k, minilm-384-50k and a 1536-d
    /// set: README, "Speed"). Call before linking. Returns whether the copies were made.
    pub fn link_in_low_precision(&mut self) -> bool {
        let Some(copy) = Self::copy_metric(self.metric) else {
            return false;
        };
        assert!(self.entry().is_none(), "values change before linking only");
        if !self.metric.normalizes()
            && !(0..self.values.len() as u32).all(|id| is_unit(self.values.get(id)))
        {
            return false;
        }
        // Allocated once at its final size, as `low_precision_memory` counted it (pushing into
        // a growing vector could hold up to twice that).
        let mut copies = Arena::default();
        copies
            .words
            .reserve_exact(self.low_precision_memory().unwrap_or(0) / 8);
        let mut image = Vec::new();
        for id in 0..self.values.len() as u32 {
            copy.copy(self.values.get(id), &mut image);
            copies.push(&image);
        }
        self.copies = Some(copies);
        self.link = copy;
        true
    }
}

impl<V: Values> MemoryGraph<V> {
    /// A graph over `values` with unlinked nodes of `levels`.
    fn unlinked(
        metric: Metric,
        params: Params,
        values: V,
        levels: impl Iterator<Item = usize>,
    ) -> MemoryGraph<V> {
        let mut g = MemoryGraph {
            metric,
            params,
            values,
            copies: None,
            link: LinkMetric::Values(metric),
            levels: Vec::new(),
            ground: ListTable::new(params.max_neighbors(0)),
            upper: ListTable::new(params.max_neighbors(1)),
            upper_first: Vec::new(),
            entry: RwLock::new(None),
        };
        for level in levels {
            g.push_node(level);
        }
        g
    }

    fn push_node(&mut self, level: usize) {
        self.levels
            .push(u8::try_from(level).expect("node level below 256"));
        self.ground.push(1);
        let first = if level > 0 {
            self.upper.push(level)
        } else {
            self.upper.len
        };
        self.upper_first
            .push(u32::try_from(first).expect("fewer than 2^32 upper lists"));
    }

    /// Locks `id`'s neighbour list on `level`, if it has one.
    #[inline]
    fn list(&self, id: u32, level: usize) -> Option<ListGuard<'_>> {
        let (table, list) = self.list_number(id, level)?;
        Some(table.lock(list))
    }

    /// The table holding `id`'s neighbour list on `level` and the list's number there, if the
    /// node has that layer.
    #[inline]
    fn list_number(&self, id: u32, level: usize) -> Option<(&ListTable, usize)> {
        if level == 0 {
            Some((&self.ground, id as usize))
        } else if level <= self.level(id) {
            Some((
                &self.upper,
                self.upper_first[id as usize] as usize + level - 1,
            ))
        } else {
            None
        }
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    pub fn value(&self, id: u32) -> &[u8] {
        self.values.value(id)
    }

    #[inline]
    pub fn level(&self, id: u32) -> usize {
        self.levels[id as usize] as usize
    }

    /// The neighbours of `id` on `level` (one of its layers), nearest first.
    pub fn neighbors(&self, id: u32, level: usize) -> Vec<u32> {
        self.list(id, level)
            .expect("a layer of the node")
            .ids()
            .collect()
    }

    pub fn entry(&self) -> Option<(u32, usize)> {
        *self.entry.read().expect("graph lock poisoned")
    }

    /// The value links are chosen by: the copy once there is one, else the value.
    #[inline]
    fn link_value(&self, id: u32) -> &[u8] {
        match &self.copies {
            Some(copies) => copies.get(id),
            None => self.values.value(id),
        }
    }

    /// The distance links are chosen by from `query` (in [`MemoryGraph::link_value`]'s form)
    /// to node `id`.
    #[inline]
    fn link_distance(&self, query: &[u8], id: u32) -> f32 {
        self.link.distance(query, self.link_value(id))
    }

    fn distance_between(&self, a: u32, b: u32) -> f32 {
        self.link_distance(self.link_value(a), b)
    }

    /// Links node `id` into the graph (Algorithm 1). Safe to call concurrently for different
    /// ids once at least one node has been inserted.
    ///
    /// The node's neighbours are chosen on every layer first and published afterwards: its own
    /// lists on all layers, then the reverse links that make it reachable. Publishing layer by
    /// layer, as the paper's single-threaded pseudocode does, lets another thread reach the
    /// node on an upper layer and descend from it into a lower layer whose list is still empty;
    /// that thread's search then stalls at the node and it ends up linked to it alone, and
    /// unreachable once the node writes its own lists.
    pub fn insert(&self, id: u32) {
        let level = self.level(id);
        let Some((entry, top)) = self.entry() else {
            let mut e = self.entry.write().expect("graph lock poisoned");
            if e.is_none() {
                *e = Some((id, level));
                return;
            }
            drop(e);
            return self.insert(id);
        };
        let query = self.link_value(id);
        let mut view = View { graph: self, query };
        let chosen: Vec<(usize, Vec<Flagged<u32>>)> = VISITED.with(|visited| {
            let mut visited = visited.borrow_mut();
            let n = self.len();
            visited.reset(n);
            let start = Scored {
                distance: self.link_distance(query, entry),
                id: entry,
            };
            let mut eps = vec![descend(&mut view, start, top, level, &mut *visited)];
            let mut chosen = Vec::new();
            for lc in (0..=level.min(top)).rev() {
                visited.reset(n);
                for e in &eps {
                    visited.insert(e.id);
                }
                visited.insert(id);
                let w = search_layer(
                    &mut view,
                    &eps,
                    self.params.ef_construction,
                    lc,
                    &mut *visited,
                    None,
                );
                chosen.push((
                    lc,
                    select_neighbors_flagged(&w, self.params.max_neighbors(lc), |a, b| {
                        self.distance_between(a, b)
                    }),
                ));
                if !w.is_empty() {
                    eps = w;
                }
            }
            chosen
        });
        let reverse: Vec<(usize, Vec<Scored<u32>>)> = chosen
            .iter()
            .map(|(lc, links)| (*lc, links.iter().map(|(l, _)| *l).collect()))
            .collect();
        for (lc, links) in chosen {
            self.list(id, lc)
                .expect("a layer of the node")
                .links()
                .set_selection(&links);
        }
        for (lc, links) in &reverse {
            for n in links {
                self.add_link(
                    n.id,
                    *lc,
                    Scored {
                        distance: n.distance,
                        id,
                    },
                );
            }
        }
        if level > top {
            let mut e = self.entry.write().expect("graph lock poisoned");
            if e.is_none_or(|(_, l)| level > l) {
                *e = Some((id, level));
            }
        }
    }

    /// Adds `new` to the neighbour list of `node` on `level`, shrinking it with the heuristic
    /// when it overflows.
    fn add_link(&self, node: u32, level: usize, new: Scored<u32>) {
        let max = self.params.max_neighbors(level);
        let Some(mut list) = self.list(node, level) else {
            return;
        };
        list.links()
            .add(new, max, |a, b| self.distance_between(a, b));
    }

    /// After every node of `nodes` is inserted: makes each one reachable from the entry point
    /// on the ground layer. A node no search can reach is one the heuristic kept out of every
    /// neighbour list — a vector far from all others, one of a few near-identical vectors that
    /// only link to each other, or, in sparse data where most distances tie, many. Each
    /// unreachable node gets a link from the nearest reachable node that has room or a link
    /// to spare — one whose target other nodes link to as well — which it drops; that also
    /// makes everything the node itself links to reachable. A displaced link can still cut a
    /// node off (its other incoming links may come from unreachable nodes), so this repeats
    /// (a few rounds at most in practice). Returns how many links were forced.
    pub fn ensure_reachable(&self, nodes: &[u32]) -> usize {
        let Some((entry, _)) = self.entry() else {
            return 0;
        };
        let max = self.params.max_neighbors(0);
        let mut forced = 0;
        for _round in 0..8 {
            let mut reached = EpochVisited::new(self.len());
            self.mark_reachable(entry, &mut reached);
            // Incoming links per node from reachable nodes (links from cut-off nodes lead
            // nowhere a search goes): a forced link displaces one whose target has others, where
            // the host has such a link, so that fixing one node cuts off no other.
            let mut incoming = vec![0u32; self.len()];
            for id in 0..self.len() as u32 {
                if !reached.contains(id) {
                    continue;
                }
                for n in self.ground.lock(id as usize).ids() {
                    incoming[n as usize] += 1;
                }
            }
            let unreached: Vec<u32> = nodes
                .iter()
                .copied()
                .filter(|&x| !reached.contains(x))
                .collect();
            if unreached.is_empty() {
                break;
            }
            for x in unreached {
                if reached.contains(x) {
                    continue; // reached through a node fixed earlier in this round
                }
                let ef = self.params.ef_construction;
                let hosts: Vec<Scored<u32>> = self
                    .search_linked(self.link_value(x), ef, ef)
                    .into_iter()
                    .filter(|s| s.id != x && reached.contains(s.id))
                    .collect();
                // The nearest reachable node with room or a link it can spare (else the
                // nearest): two cut-off nodes competing for one full host would displace each
                // other round after round.
                let can_take = |h: u32| {
                    let list = self.ground.lock(h as usize);
                    list.entries().len() < max || list.ids().any(|n| incoming[n as usize] > 1)
                };
                let Some(host) = hosts
                    .iter()
                    .find(|s| can_take(s.id))
                    .or(hosts.first())
                    .copied()
                else {
                    continue;
                };
                let dropped = self.ground.lock(host.id as usize).links().force(
                    Scored {
                        distance: host.distance,
                        id: x,
                    },
                    max,
                    |a, b| self.distance_between(a, b),
                    |y| incoming[y as usize] > 1,
                );
                incoming[x as usize] += 1;
                if let Some(y) = dropped {
                    incoming[y as usize] -= 1;
                }
                forced += 1;
                self.mark_reachable(x, &mut reached);
            }
        }
        forced
    }

    /// Marks every node reachable from `start` on the ground layer ([`reach`]).
    fn mark_reachable(&self, start: u32, reached: &mut EpochVisited) {
        reach(start, reached, |x, out| {
            out.extend(self.ground.lock(x as usize).ids());
        });
    }

    /// Searches the finished graph: the `k` nearest of `ef` candidates for a query image (of
    /// the values' form), with the distances links are chosen by.
    pub fn search(&self, query: &[u8], ef: usize, k: usize) -> Vec<Scored<u32>> {
        if self.copies.is_none() {
            return self.search_linked(query, ef, k);
        }
        // The query in the copies' form.
        let mut q = Vec::new();
        self.link.copy(query, &mut q);
        self.search_linked(&q, ef, k)
    }

    /// [`MemoryGraph::search`] for a query in [`MemoryGraph::link_value`]'s form.
    fn search_linked(&self, query: &[u8], ef: usize, k: usize) -> Vec<Scored<u32>> {
        let Some((entry, top)) = self.entry() else {
            return Vec::new();
        };
        let mut view = View { graph: self, query };
        let mut visited = EpochVisited::new(self.len());
        let start = Scored {
            distance: self.link_distance(query, entry),
            id: entry,
        };
        let ep = descend(&mut view, start, top, 0, &mut visited);
        visited.clear();
        visited.insert(ep.id);
        let mut w = search_layer(&mut view, &[ep], ef.max(k), 0, &mut visited, None);
        w.truncate(k);
        w
    }
}

/// Groups identical value images: for each image, the id of the first one equal to it. Index
/// builds link only one node per distinct value and attach the others' heap rows to it.
pub fn first_of_duplicates(images: impl Iterator<Item = Vec<u8>>) -> Vec<u32> {
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
    images
        .enumerate()
        .map(|(i, img)| *seen.entry(img).or_insert(i as u32))
        .collect()
}

/// Builds a graph over `images` on the current thread (tests, benchmarks; the index build runs
/// [`MemoryGraph::insert`] on a thread pool).
pub fn build_serial(metric: Metric, params: Params, images: &[Vec<u8>], seed: u64) -> MemoryGraph {
    let mut g = MemoryGraph::new(metric, params);
    let mut levels = LevelGenerator::new(&params, 16, seed);
    for img in images {
        g.add(img, levels.next_level());
    }
    for id in 0..g.len() as u32 {
        g.insert(id);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::metric::dense_f32_image;

    fn grid(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| dense_f32_image(&[(i % 30) as f32, (i / 30) as f32, ((i * 7) % 11) as f32]))
            .collect()
    }

    fn exact(images: &[Vec<u8>], q: &[u8], k: usize) -> Vec<u32> {
        let mut all: Vec<Scored<u32>> = images
            .iter()
            .enumerate()
            .map(|(i, v)| Scored {
                distance: Metric::L2F32.distance(q, v),
                id: i as u32,
            })
            .collect();
        all.sort();
        all.truncate(k);
        all.into_iter().map(|s| s.id).collect()
    }

    #[test]
    fn serial_build_finds_exact_neighbors_on_small_data() {
        let images = grid(900);
        let params = Params {
            m: 8,
            ef_construction: 64,
        };
        let g = build_serial(Metric::L2F32, params, &images, 7);
        let mut hits = 0;
        for qi in (0..900).step_by(37) {
            let q = &images[qi];
            let got: Vec<u32> = g.search(q, 64, 10).iter().map(|s| s.id).collect();
            let want = exact(&images, q, 10);
            let want_d: Vec<f32> = want
                .iter()
                .map(|i| Metric::L2F32.distance(q, &images[*i as usize]))
                .collect();
            let got_d: Vec<f32> = got
                .iter()
                .map(|i| Metric::L2F32.distance(q, &images[*i as usize]))
                .collect();
            hits += got_d.iter().zip(&want_d).filter(|(a, b)| a == b).count();
        }
        assert!(hits >= 240, "{hits} of 250");
    }

    #[test]
    fn links_respect_limits_and_are_symmetric_enough() {
        let images = grid(500);
        let params = Params {
            m: 4,
            ef_construction: 20,
        };
        let g = build_serial(Metric::L2F32, params, &images, 1);
        for id in 0..g.len() as u32 {
            for l in 0..=g.level(id) {
                let n = g.neighbors(id, l);
                assert!(n.len() <= params.max_neighbors(l));
                assert!(!n.contains(&id));
                for x in n {
                    assert!(g.level(x) >= l);
                }
            }
        }
    }

    /// Every node must be reachable after a concurrent build: each one's own value finds it.
    /// (Publishing links layer by layer left ~0.3% of nodes unreachable.)
    #[test]
    fn parallel_build_reaches_every_node() {
        use rayon::prelude::*;
        let n = 3000;
        let images: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let x = (i as f32 * 0.618).fract();
                let y = (i as f32 * 0.414).fract();
                let z = ((i * 7919) % 1000) as f32 / 1000.0;
                dense_f32_image(&[x, y, z, x * y, (i % 13) as f32 / 13.0, z - x])
            })
            .collect();
        let params = Params {
            m: 8,
            ef_construction: 40,
        };
        for round in 0..3 {
            let mut g = MemoryGraph::new(Metric::L2F32, params);
            let mut levels = LevelGenerator::new(&params, 16, round);
            for img in &images {
                g.add(img, levels.next_level());
            }
            g.insert(0);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(4)
                .build()
                .unwrap();
            pool.install(|| (1..n as u32).into_par_iter().for_each(|id| g.insert(id)));
            let missing = |g: &MemoryGraph| -> Vec<usize> {
                (0..n)
                    .filter(|&i| {
                        !g.search(&images[i], 64, 1)
                            .iter()
                            .any(|s| s.distance == 0.0)
                    })
                    .collect()
            };
            // Concurrent inserts publish every link they choose: at most a stray node (the
            // heuristic can prune a node's last in-link whatever the order, and thread timing
            // decides which) is left out — a lost-update race would strand many.
            let before = missing(&g);
            assert!(before.len() <= 3, "round {round}: unreachable {before:?}");
            // The build's repair pass (run before pages are written) links those too.
            let nodes: Vec<u32> = (0..n as u32).collect();
            g.ensure_reachable(&nodes);
            let after = missing(&g);
            assert!(
                after.is_empty(),
                "round {round}: unreachable after repair {after:?}"
            );
        }
    }

    /// Outliers inserted after a cluster get no incoming link from the heuristic; the repair
    /// pass links each one from the reachable graph, so every node is found by its own value.
    #[test]
    fn outliers_get_incoming_links() {
        let mut images: Vec<Vec<u8>> = (0..400)
            .map(|i| dense_f32_image(&[(i % 20) as f32 * 0.01, (i / 20) as f32 * 0.01, 0.0]))
            .collect();
        // Far points, each in its own direction, inserted last.
        for k in 0..40 {
            let a = k as f32 * 0.157;
            images.push(dense_f32_image(&[
                100.0 * a.cos(),
                100.0 * a.sin(),
                50.0 + k as f32,
            ]));
        }
        let params = Params {
            m: 2,
            ef_construction: 8,
        };
        let g = build_serial(Metric::L2F32, params, &images, 3);
        let all: Vec<u32> = (0..images.len() as u32).collect();
        let unreachable = |g: &MemoryGraph| {
            (0..images.len())
                .filter(|&i| {
                    !g.search(&images[i], 16, 1)
                        .iter()
                        .any(|s| s.distance == 0.0)
                })
                .count()
        };
        let before = unreachable(&g);
        assert!(before > 0, "the set-up should leave outliers unreachable");
        let forced = g.ensure_reachable(&all);
        assert_eq!(
            unreachable(&g),
            0,
            "{before} unreachable before, {forced} links forced"
        );
        for id in 0..g.len() as u32 {
            assert!(g.neighbors(id, 0).len() <= params.max_neighbors(0));
        }
    }

    /// Sparse-like data (6 non-zeros of 200 dimensions: most pairs orthogonal, so most
    /// distances tie): the heuristic leaves a quarter of the nodes without an incoming link.
    /// Forcing each a link by displacing its host's weakest one cut others off round after
    /// round (136 of 1,000 stayed unreachable; at 5,000 × 1,000-d 10-nnz, 187); displacing only
    /// links whose targets have another way in, from hosts that have such a link, reaches all.
    #[test]
    fn reachability_repair_converges_when_distances_tie() {
        let images: Vec<Vec<u8>> = (1..=1000u64)
            .map(|i| {
                let mut v = vec![0f32; 200];
                for k in 1..=6u64 {
                    v[((i * 7919 + k * 104729) % 200) as usize] = ((i * k) % 97 + 1) as f32;
                }
                dense_f32_image(&v)
            })
            .collect();
        let params = Params {
            m: 4,
            ef_construction: 16,
        };
        let g = build_serial(Metric::L2F32, params, &images, 42);
        let unreachable = |g: &MemoryGraph| {
            let mut reached = EpochVisited::new(g.len());
            g.mark_reachable(g.entry().expect("entry").0, &mut reached);
            (0..g.len() as u32)
                .filter(|&x| !reached.contains(x))
                .count()
        };
        let before = unreachable(&g);
        assert!(
            before > 100,
            "the set-up should leave many unreachable: {before}"
        );
        let all: Vec<u32> = (0..g.len() as u32).collect();
        let forced = g.ensure_reachable(&all);
        assert_eq!(
            unreachable(&g),
            0,
            "{before} unreachable before, {forced} forced"
        );
        for id in 0..g.len() as u32 {
            assert!(g.neighbors(id, 0).len() <= params.max_neighbors(0));
        }
    }

    /// A graph over some nodes of another (key links: one per key value) links only those,
    /// reads their values where they are, and finds their nearest among them.
    #[test]
    fn a_graph_over_some_nodes_links_only_them() {
        let images = grid(900);
        let params = Params {
            m: 8,
            ef_construction: 64,
        };
        let g = build_serial(Metric::L2F32, params, &images, 7);
        let members: Vec<u32> = (0..900).filter(|i| i % 3 == 0).collect();
        let sub = g.over(&members, Params { m: 4, ..params }, 11);
        for i in 0..members.len() as u32 {
            sub.insert(i);
        }
        let all: Vec<u32> = (0..members.len() as u32).collect();
        sub.ensure_reachable(&all);
        for i in 0..members.len() as u32 {
            assert_eq!(sub.value(i), g.value(members[i as usize]));
            let n = sub.neighbors(i, 0);
            assert!(!n.is_empty() && n.len() <= 8 && !n.contains(&i));
        }
        let member_images: Vec<Vec<u8>> = members
            .iter()
            .map(|&i| images[i as usize].clone())
            .collect();
        let mut hits = 0;
        for qi in (0..900).step_by(41) {
            let q = &images[qi];
            let got: Vec<f32> = sub.search(q, 64, 5).iter().map(|s| s.distance).collect();
            let want: Vec<f32> = exact(&member_images, q, 5)
                .iter()
                .map(|&i| Metric::L2F32.distance(q, &member_images[i as usize]))
                .collect();
            hits += got.iter().zip(&want).filter(|(a, b)| a == b).count();
        }
        assert!(hits >= 105, "{hits} of 110");
    }

    /// Values of one length are placed by id; a value of another length switches the arena
    /// to a span per value, and every value reads back as pushed either way.
    #[test]
    fn arena_reads_back_values_of_one_and_of_varying_lengths() {
        let mut a = Arena::default();
        let images: Vec<Vec<u8>> = (0..5u8)
            .map(|i| vec![i; 12])
            .chain([vec![9u8; 3], vec![7u8; 20], vec![1u8; 12]])
            .collect();
        for (i, img) in images.iter().enumerate() {
            assert_eq!(a.push(img), i as u32);
            assert_eq!(a.uniform.is_some(), i < 5, "after {i}");
            for (j, earlier) in images[..=i].iter().enumerate() {
                assert_eq!(a.get(j as u32), &earlier[..]);
                assert_eq!(a.get(j as u32).as_ptr() as usize % 8, 0);
            }
        }
        assert_eq!(a.len(), images.len());
    }

    /// A cosine, L2 or inner-product graph of unit vectors linked by int8 copies keeps the
    /// values as added, finds the exact nearest neighbours (by its own metric) as often as one
    /// linked by the values, takes the memory `low_precision_memory` said, and its key-link
    /// subgraphs choose by the same copies; L1 makes fp16 copies, of unit vectors only.
    #[test]
    fn low_precision_links_keep_values_and_recall() {
        let mut unit = crate::kernels::metric::unit_vectors(0x9E37_79B9_7F4A_7C15);
        let images: Vec<Vec<u8>> = (0..2000).map(|_| unit(24)).collect();
        let queries: Vec<Vec<u8>> = (0..50).map(|_| unit(24)).collect();
        let params = Params {
            m: 8,
            ef_construction: 48,
        };
        let build = |metric: Metric, copies: bool| {
            let mut g = MemoryGraph::new(metric, params);
            let mut levels = LevelGenerator::new(&params, 16, 5);
            for img in &images {
                g.add(img, levels.next_level());
            }
            if copies {
                let memory = g.memory();
                // 2,000 int8 copies of 8 + 24 bytes
                assert_eq!(g.low_precision_memory(), Some(2000 * 32));
                assert!(g.link_in_low_precision());
                assert_eq!(g.link, LinkMetric::Int8Cosine);
                assert_eq!(g.memory(), memory + 2000 * 32);
            }
            for id in 0..g.len() as u32 {
                g.insert(id);
            }
            g
        };
        let recall = |g: &MemoryGraph| {
            let mut hits = 0;
            for q in &queries {
                let want = {
                    let mut all: Vec<(f32, u32)> = images
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (g.metric.distance(q, v), i as u32))
                        .collect();
                    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    all[..10].iter().map(|x| x.1).collect::<Vec<_>>()
                };
                hits += g
                    .search(q, 40, 10)
                    .iter()
                    .filter(|s| want.contains(&s.id))
                    .count();
            }
            hits as f64 / 500.0
        };
        let int8_graphs: Vec<_> = [Metric::CosineF32, Metric::L2F32, Metric::IpF32]
            .into_iter()
            .map(|metric| {
                let full = build(metric, false);
                let int8 = build(metric, true);
                for (id, img) in images.iter().enumerate() {
                    assert_eq!(int8.value(id as u32), &img[..]);
                }
                let (r_full, r_int8) = (recall(&full), recall(&int8));
                assert!(r_full >= 0.9, "{metric:?}: {r_full}");
                println!(
                    "{metric:?}: recall@10 at ef 40: int8 links {r_int8}, full precision {r_full}"
                );
                assert!(
                    r_int8 >= r_full - 0.02,
                    "{metric:?}: int8 links {r_int8}, full {r_full}"
                );
                int8
            })
            .collect();
        // The cosine graph, built once above.
        let int8 = &int8_graphs[0];
        // A key-link subgraph compares the same copies the same way.
        let ids: Vec<u32> = (0..100).collect();
        let sub = int8.over(&ids, params, 9);
        assert_eq!(sub.link, LinkMetric::Int8Cosine);
        assert_eq!(sub.link_value(3), int8.link_value(3));
        // L1: fp16 copies; like L2's and inner product's, for unit vectors only; fp16 values
        // have no other form.
        let mut l1 = MemoryGraph::new(Metric::L1F32, params);
        l1.add(&images[0], 0);
        l1.add(&images[1], 0);
        // 2 fp16 copies of 8 + 2 × 24 bytes
        assert_eq!(l1.low_precision_memory(), Some(2 * 56));
        assert!(l1.link_in_low_precision());
        assert_eq!(l1.link, LinkMetric::Values(Metric::L1F16));
        let mut l2 = MemoryGraph::new(Metric::L2F32, params);
        l2.add(&images[0], 0);
        l2.add(&dense_f32_image(&[2.0; 24]), 0);
        assert!(!l2.link_in_low_precision());
        assert_eq!(l2.memory(), {
            let mut plain = MemoryGraph::new(Metric::L2F32, params);
            plain.add(&images[0], 0);
            plain.add(&images[1], 0);
            plain.memory()
        });
        let mut halfvec = MemoryGraph::new(Metric::CosineF16, params);
        halfvec.add(&images[0][..8 + 48], 0);
        assert_eq!(halfvec.low_precision_memory(), None);
        assert!(!halfvec.link_in_low_precision());
    }

    #[test]
    fn duplicates_map_to_their_first_copy() {
        let a = dense_f32_image(&[1.0]);
        let b = dense_f32_image(&[2.0]);
        let d = first_of_duplicates(vec![a.clone(), b.clone(), a, b.clone(), b].into_iter());
        assert_eq!(d, vec![0, 1, 0, 1, 1]);
    }
}
