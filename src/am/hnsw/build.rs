//! `ambuild` / `ambuildempty` for `ruhnsw`.
//!
//! 1. *Loading tuples*: the heap scan hands each row's value to [`BuildState::add`], which
//!    stores its image in an in-memory graph ([`MemoryGraph`]) and draws its level.
//! 2. *Building graph*: rows with identical values share one element (up to 10 heap TIDs);
//!    the distinct values are linked (HNSW INSERT) on a pool of Rust threads — PURE code over
//!    Rust-owned memory only — while the backend's own thread checks for interrupts and
//!    reports progress between batches. The pool has `1 + max_parallel_maintenance_workers`
//!    threads (so setting that to 0 gives a serial build).
//! 3. *Writing index*: pages are laid out (element next to its neighbour tuple), written
//!    sequentially without per-page WAL, then WAL-logged together with `log_newpage_range`.
//!
//! If the graph would outgrow `maintenance_work_mem`, the graph built so far is written out
//! (with a NOTICE, as pgvector does) and the remaining rows are inserted one by one through the
//! on-disk insert path (`insert.rs`), which is much slower but bounded in memory.

use super::layout::{self, MetaPage, PagePlanner, Shape, Tid};
use super::sketches::Sketcher;
use super::{insert, keydir, keylinks, options, PHASE_BUILD_GRAPH, PHASE_LOAD, PHASE_WRITE};
use crate::am::codebook::{self, CodebookRef};
use crate::am::keys::{check_first_column, KeyColumns};
use crate::am::page::{BuildPages, Rel};
use crate::am::quantize;
use crate::am::value::{column_dimensions, image_from_datum, metric_from_support};
use crate::am::{progress, relation_name};
use crate::format::{SqlState, VecError};
use crate::graph::memory::{node_overhead, MemoryGraph};
use crate::graph::{LevelGenerator, Params};
use crate::kernels::metric::{Metric, ValueKind};
use crate::quant::{Codebook, Quantization};
use crate::types::error::raise;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use std::collections::HashMap;

/// Highest level a node may get: its neighbour tuple, (level + 2) · m TIDs and `key_slots`
/// key links, must fit a page (pgvector's HnswGetMaxLevel).
pub fn max_level(m: usize, key_slots: usize) -> usize {
    (((layout::MAX_ITEM - 4) / 6).saturating_sub(key_slots) / m)
        .saturating_sub(2)
        .min(63)
}

/// Bytes a row costs while the graph is written besides the graph itself (`write_index`: the
/// row's element and its heap TIDs, the duplicate grouping's table, the element's planned
/// place and its entry in the node-to-element map). Measured (`scripts/build_memory.py`): the
/// peak private memory of a serial build of glove-100k (50-d, m 16) at `maintenance_work_mem`
/// 64MB came to 80 MB before this was counted, 63 MB after (16MB: 16 MB).
const WRITE_PER_ROW: usize = 200;

/// Rows collected before the graph is written.
struct BuildState {
    index: Rel,
    metric: Metric,
    params: Params,
    dimensions: u32,
    quantization: Quantization,
    graph: MemoryGraph,
    levels: LevelGenerator,
    /// Heap TID of each graph node's row.
    heap_tids: Vec<Tid>,
    /// Key columns, and each graph node's key blob (`keys.layout.len()` bytes each).
    keys: KeyColumns,
    key_blobs: Vec<u8>,
    memory_limit: usize,
    memory_used: usize,
    /// Rows seen by the heap scan / rows indexed.
    reltuples: f64,
    indtuples: f64,
    /// Set once the in-memory graph has been written and later rows go through on-disk inserts.
    flushed: bool,
    /// Bytes of each row's neighbour sketch while the graph is written (`WITH (sketches = on)`).
    sketch_per_row: usize,
}

/// Validates the index definition (pgvector's checks and messages) and returns metric,
/// parameters, dimensions and quantization.
fn index_setup(index: Rel) -> (Metric, Params, u32, Quantization) {
    check_first_column(index, "ruhnsw");
    let metric = metric_from_support(index);
    let (m, ef_construction) = options::of(index);
    let quantization = options::quantization(index);
    // An element holds a dense value's code or its full-precision image, split over code
    // pages when it is longer than a page holds: every dimension count of the types (16,000)
    // can be indexed, quantized or not.
    let dense = matches!(metric.kind(), ValueKind::DenseF32 | ValueKind::DenseF16);
    let max = (dense || quantization != Quantization::None)
        .then_some(crate::format::DENSE_MAX_DIM as usize);
    let dimensions = column_dimensions(index, metric, "ruhnsw", max);
    quantize::check(quantization, metric, dimensions as usize);
    if options::sketches(index) {
        let able = quantization == Quantization::None
            && KeyColumns::of(index, "ruhnsw").is_empty()
            && layout::sketchable(metric, dimensions as usize);
        if !able {
            raise(VecError::new(
                SqlState::FeatureNotSupported,
                "sketches are only supported for unquantized ruhnsw indexes without key columns \
                 on vector or halfvec l2 or cosine distance, of 64 to 2000 dimensions",
            ));
        }
    }
    if ef_construction < 2 * m {
        raise(VecError::new(
            SqlState::InvalidParameterValue,
            "ef_construction must be greater than or equal to 2 * m",
        ));
    }
    (
        metric,
        Params {
            m: m as usize,
            ef_construction: ef_construction as usize,
        },
        dimensions,
        quantization,
    )
}

impl BuildState {
    fn new(index: Rel) -> BuildState {
        let (metric, params, dimensions, quantization) = index_setup(index);
        // SAFETY: reading a GUC variable.
        let memory_limit = unsafe { pg_sys::maintenance_work_mem as usize } * 1024;
        let keys = KeyColumns::of(index, "ruhnsw");
        BuildState {
            index,
            metric,
            params,
            dimensions,
            quantization,
            graph: MemoryGraph::new(metric, params),
            // Room for key links on every key column that may get them.
            levels: LevelGenerator::new(
                &params,
                max_level(
                    params.m,
                    keys.layout.count().min(16) * keylinks::key_m(params.m),
                ),
                0x5256_4543_544F_5221,
            ),
            heap_tids: Vec::new(),
            keys,
            key_blobs: Vec::new(),
            memory_limit,
            memory_used: 0,
            reltuples: 0.0,
            indtuples: 0.0,
            flushed: false,
            sketch_per_row: match options::sketches(index) {
                true => layout::sketch_bits_for(metric, dimensions as usize, params.m)
                    .map_or(0, |bits| bits / 8 + layout::SKETCH_FACTORS),
                false => 0,
            },
        }
    }

    fn add(&mut self, image: &[u8], keys: &[u8], tid: Tid) {
        if self.flushed {
            insert::insert_image(self.index, image, keys, tid);
            self.indtuples += 1.0;
            return;
        }
        let level = self.levels.next_level();
        let cost = image.len().div_ceil(8) * 8
            + 16
            + node_overhead(&self.params, level)
            + 8
            + keys.len()
            + WRITE_PER_ROW
            + self.sketch_per_row;
        if (self.memory_used + cost > self.memory_limit || self.graph.is_full())
            && !self.graph.is_empty()
        {
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
                format!(
                    "ruhnsw graph no longer fits into maintenance_work_mem after {} tuples",
                    self.indtuples as i64
                ),
                "ruhnsw",
            )
            .set_detail("Building will take significantly more time.")
            .set_hint("Increase maintenance_work_mem to speed up builds.")
            .report(PgLogLevel::NOTICE);
            self.flush();
            return self.add(image, keys, tid);
        }
        self.memory_used += cost;
        self.graph.add(image, level);
        self.heap_tids.push(tid);
        self.key_blobs.extend_from_slice(keys);
        self.indtuples += 1.0;
    }

    /// Links the collected rows and writes the index pages.
    fn flush(&mut self) {
        let mut graph =
            std::mem::replace(&mut self.graph, MemoryGraph::new(self.metric, self.params));
        let tids = std::mem::take(&mut self.heap_tids);
        let key_blobs = std::mem::take(&mut self.key_blobs);
        let codebook = self.train_codebook(&graph);
        // Graphs of unit vectors (every cosine graph's) link by int8 (cosine, L2, inner
        // product) or fp16 (L1) copies of the values when the copies fit in what is left of
        // maintenance_work_mem (the index stores the values as they are).
        if let Some(bytes) = graph.low_precision_memory() {
            if self.memory_used + bytes <= self.memory_limit && graph.link_in_low_precision() {
                self.memory_used += bytes;
            }
        }
        write_index(
            self.index,
            self.metric,
            self.params,
            self.dimensions,
            graph,
            tids,
            (&self.keys, &key_blobs),
            codebook.as_ref(),
            self.memory_limit.saturating_sub(self.memory_used),
        );
        self.flushed = true;
    }
}

impl BuildState {
    /// Trains the codebook of a quantized index on (a sample of) the collected values: up to
    /// [`quantize::SAMPLE_ROWS`] nodes, evenly spread. If the rows outgrew memory, this is the
    /// part of the table read before that; later rows are encoded with it.
    fn train_codebook(&self, graph: &MemoryGraph) -> Option<Codebook> {
        if self.quantization == Quantization::None {
            return None;
        }
        let n = graph.len();
        let take = n.min(quantize::SAMPLE_ROWS);
        quantize::little_data_notice(self.quantization, take);
        let mut sample = Vec::with_capacity(take * self.dimensions as usize);
        for i in 0..take {
            let image = graph.value((i * n / take) as u32);
            sample.extend(quantize::image_floats(self.metric, image));
        }
        let pool = crate::am::threads::build_pool("ruhnsw codebook");
        Some(quantize::train(
            self.quantization,
            self.dimensions as usize,
            &sample,
            Some(&pool),
        ))
    }
}

/// One element to write: a graph node and the heap rows it stands for.
struct Element {
    node: u32,
    heap_tids: Vec<Tid>,
}

/// Groups rows with identical values and keys: each group of up to [`layout::HEAP_TIDS`]
/// rows becomes one element (the first row's node). `key_of(node)` is a node's key blob.
fn group_duplicates<'k>(
    graph: &MemoryGraph,
    tids: &[Tid],
    key_of: impl Fn(u32) -> &'k [u8],
) -> Vec<Element> {
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut elements: Vec<Element> = Vec::with_capacity(tids.len());
    for (i, tid) in tids.iter().enumerate() {
        let value = graph.value(i as u32);
        let keys = key_of(i as u32);
        let h = hash_bytes(value) ^ hash_bytes(keys);
        let group = by_hash.entry(h).or_default();
        let same = group.iter().copied().find(|&e| {
            elements[e].heap_tids.len() < layout::HEAP_TIDS
                && graph.value(elements[e].node) == value
                && key_of(elements[e].node) == keys
        });
        match same {
            Some(e) => elements[e].heap_tids.push(*tid),
            None => {
                group.push(elements.len());
                elements.push(Element {
                    node: i as u32,
                    heap_tids: vec![*tid],
                });
            }
        }
    }
    elements
}

fn hash_bytes(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// Links every element's node (HNSW INSERT on a rayon pool, in batches so the backend can
/// check for interrupts and report progress in between).
fn link(graph: &MemoryGraph, elements: &[Element]) {
    use rayon::prelude::*;
    if elements.is_empty() {
        return;
    }
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_BUILD_GRAPH);
    progress(
        pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL,
        elements.len() as i64,
    );
    graph.insert(elements[0].node);
    let pool = crate::am::threads::build_pool("ruhnsw build");
    let threads = pool.current_num_threads();
    const BATCH: usize = 2048;
    let mut done = 1;
    while done < elements.len() {
        let end = (done + BATCH * threads).min(elements.len());
        let batch = &elements[done..end];
        if threads == 1 {
            batch.iter().for_each(|e| graph.insert(e.node));
        } else {
            pool.install(|| batch.par_iter().for_each(|e| graph.insert(e.node)));
        }
        done = end;
        pgrx::check_for_interrupts!();
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
    }
}

/// Lays out and writes the index pages for a linked graph.
#[allow(clippy::too_many_arguments)]
fn write_index(
    index: Rel,
    metric: Metric,
    params: Params,
    dimensions: u32,
    graph: MemoryGraph,
    tids: Vec<Tid>,
    (keys, key_blobs): (&KeyColumns, &[u8]),
    codebook: Option<&Codebook>,
    memory_left: usize,
) {
    let key_len = keys.layout.len();
    let key_of = |node: u32| &key_blobs[node as usize * key_len..(node as usize + 1) * key_len];
    let elements = group_duplicates(&graph, &tids, key_of);
    // What each element stores: its value image, or its code in a quantized index.
    let stored = |node: u32| -> std::borrow::Cow<'_, [u8]> {
        match codebook {
            Some(cb) => quantize::encode_image(cb, metric, graph.value(node)).into(),
            None => graph.value(node).into(),
        }
    };
    // The meta page (its codebook reference is set once the codebook is written).
    let mut meta = MetaPage::new(
        dimensions,
        params.m as u16,
        params.ef_construction as u16,
        metric,
    );
    meta.set_keys(keys.layout.count(), key_len);
    if let Some(cb) = codebook {
        // What elements store follows from the quantization; the codebook's place is known
        // once it is written.
        meta.set_codebook(CodebookRef {
            quantization: cb.quantization().to_u32(),
            ..CodebookRef::default()
        });
    }
    // Codes, and full-precision images that do not fit an element tuple, have a fixed length
    // (`stored_len`); values too long for a page are split over code pages, written after the
    // element pages: element j's part i goes alone on block `first_code_block + j * parts + i`.
    let (stored_len, format, parts) = (meta.stored_len(), meta.code_format(), meta.parts());
    debug_assert_eq!(stored_len.is_some(), codebook.is_some() || parts > 0);
    link(&graph, &elements);
    let nodes: Vec<u32> = elements.iter().map(|e| e.node).collect();
    graph.ensure_reachable(&nodes);
    let m = params.m;
    // Key links, for the key columns whose values hold middling shares of the rows, as many
    // as fit what is left of maintenance_work_mem.
    let mut linked = if keys.is_empty() {
        Vec::new()
    } else {
        keylinks::choose(&keys.layout, elements.iter().map(|e| key_of(e.node)), m)
    };
    let mut dropped = Vec::new();
    while !linked.is_empty() && keylinks::build_memory(&linked, graph.len(), &params) > memory_left
    {
        dropped.push(linked.pop().expect("not empty").column);
    }
    if !dropped.is_empty() {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            format!(
                "ruhnsw key links of {} key column{} do not fit into maintenance_work_mem",
                dropped.len(),
                if dropped.len() == 1 { "" } else { "s" }
            ),
            "ruhnsw",
        )
        .set_detail("Filtered searches on those columns will be slower.")
        .set_hint("Increase maintenance_work_mem and REINDEX.")
        .report(PgLogLevel::NOTICE);
    }
    let key_lists = if linked.is_empty() {
        Vec::new()
    } else {
        let pool = crate::am::threads::build_pool("ruhnsw key links");
        keylinks::build(
            &graph,
            &nodes,
            key_of,
            &keys.layout,
            &linked,
            &pool,
            &mut || {
                pgrx::check_for_interrupts!();
            },
        )
    };
    let key_links = keylinks::mask(&linked);
    // Layer-0 lists carry sketches of their neighbours (format version 5) when the index can
    // have them: each element's sketch is made once, around the centroid of all values.
    // (An empty table: the origin, until a REINDEX computes the centroid of the rows.)
    let centroid = if options::sketches(index) && meta.set_sketched() {
        let values = elements.iter().map(|e| graph.value(e.node));
        Sketcher::centroid(metric, dimensions as usize, values)
    } else {
        Vec::new()
    };
    let sketcher = meta.sketched().then(|| {
        let bits = meta.sketch_bits as usize;
        Sketcher::new(metric, centroid.clone(), bits)
    });
    let node_sketches: Vec<u8> = match &sketcher {
        Some(sk) => {
            let pool = crate::am::threads::build_pool("ruhnsw sketches");
            let len = sk.sketch_bytes();
            let mut out = vec![0u8; graph.len() * len];
            pool.install(|| {
                use rayon::prelude::*;
                out.par_chunks_mut(len)
                    .enumerate()
                    .for_each(|(node, o)| o.copy_from_slice(&sk.encode(graph.value(node as u32))));
            });
            out
        }
        None => Vec::new(),
    };
    let sketch_of = |node: u32| {
        let len = sketcher.as_ref().map_or(0, |s| s.sketch_bytes());
        &node_sketches[node as usize * len..(node as usize + 1) * len]
    };
    let shape = Shape {
        sketch_len: meta.sketch_len(),
        m,
        key_lists: key_lists.len(),
        key_m: if key_links != 0 {
            keylinks::key_m(m)
        } else {
            0
        },
    };
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE);

    // Plan where each element and neighbour tuple goes, then encode neighbour lists.
    let mut planner = PagePlanner::new();
    let mut places: Vec<(Tid, Tid)> = Vec::with_capacity(elements.len());
    let mut node_to_element: HashMap<u32, Tid> = HashMap::with_capacity(elements.len());
    for e in &elements {
        let level = graph.level(e.node);
        let size = layout::element_tuple_size(
            match (parts, stored_len) {
                (0, Some(len)) => len,
                (0, None) => graph.value(e.node).len(),
                (_, Some(len)) => layout::directory_len(len),
                (_, None) => unreachable!("only fixed-size values are split"),
            },
            key_len,
        );
        if size > layout::MAX_ITEM {
            raise(VecError::new(
                SqlState::ProgramLimitExceeded,
                "index tuple too large",
            ));
        }
        let p = planner.place(size, shape.tuple_size(level));
        node_to_element.insert(e.node, p.0);
        places.push(p);
    }
    let first_code_block = planner.last_block() + 1;
    let part_tids = |j: usize| -> Vec<Tid> {
        (0..parts)
            .map(|i| Tid::new(first_code_block + (j * parts + i) as u32, 1))
            .collect()
    };

    let mut pages = BuildPages::new(index, pg_sys::ForkNumber::MAIN_FORKNUM);
    meta.key_links = key_links;
    meta.key_m = shape.key_m as u16;
    {
        let (blk, mut page) = pages.append(layout::PAGE_META);
        debug_assert_eq!(blk, layout::META_BLKNO);
        page.set_contents(&layout::meta_contents(&meta, &centroid));
    }
    // Block 1 always exists (an empty element page for an empty table), so inserts always
    // have a page chain to walk.
    let (mut current_block, _) = pages.append(layout::PAGE_ELEMENT);
    for (j, (e, (et, nt))) in elements.iter().zip(&places).enumerate() {
        let level = graph.level(e.node);
        let layers: Vec<Vec<Tid>> = (0..=level)
            .map(|l| {
                graph
                    .neighbors(e.node, l)
                    .into_iter()
                    .filter_map(|n| node_to_element.get(&n).copied())
                    .collect()
            })
            .collect();
        let etup = layout::encode_element(
            &layout::Element {
                level: level as u8,
                deleted: false,
                version: 0,
                format,
                heap_tids: e.heap_tids.clone(),
                neighbors: *nt,
            },
            &if parts > 0 {
                layout::encode_directory(&part_tids(j)).into()
            } else {
                stored(e.node)
            },
            key_of(e.node),
        );
        let key_layers: Vec<Vec<Tid>> = key_lists
            .iter()
            .map(|lists| {
                lists
                    .of(e.node)
                    .filter_map(|n| node_to_element.get(&n).copied())
                    .collect()
            })
            .collect();
        let mut ntup = shape.encode(level, &layers, &key_layers);
        if sketcher.is_some() {
            let layer0 = graph
                .neighbors(e.node, 0)
                .into_iter()
                .filter(|n| node_to_element.contains_key(n));
            for (i, n) in layer0.enumerate() {
                shape.set_sketch(&mut ntup, i, Some(sketch_of(n)));
            }
        }
        for (tid, bytes) in [(*et, &etup), (*nt, &ntup)] {
            while current_block < tid.block {
                let (blk, _) = pages.append(layout::PAGE_ELEMENT);
                current_block = blk;
            }
            let off = pages.current_page().add_item(bytes);
            if off != Some(tid.offset) {
                raise(VecError::new(
                    SqlState::InternalError,
                    format!("failed to add index item to \"{}\"", relation_name(index)),
                ));
            }
        }
    }
    let last = current_block;
    for (j, e) in elements.iter().enumerate().filter(|_| parts > 0) {
        let code = stored(e.node);
        for (i, (chunk, tid)) in code.chunks(layout::PART_MAX).zip(part_tids(j)).enumerate() {
            let (blk, mut page) = pages.append_new_chain(layout::PAGE_CODE);
            if blk != tid.block || page.add_item(&layout::encode_code_part(i, chunk)) != Some(1) {
                raise(VecError::new(
                    SqlState::InternalError,
                    format!("failed to add index item to \"{}\"", relation_name(index)),
                ));
            }
        }
        if j % 256 == 0 {
            pgrx::check_for_interrupts!();
        }
    }
    if !keys.is_empty() {
        let entries: Vec<(Tid, &[u8])> = elements
            .iter()
            .zip(&places)
            .map(|(e, (et, _))| (*et, key_of(e.node)))
            .collect();
        (meta.key_head, meta.key_tail) = keydir::write(&mut pages, &keys.layout, &entries);
    }
    if let Some((entry, level)) = graph.entry() {
        meta.set_entry(Some((node_to_element[&entry], level)));
    }
    meta.insert_page = last.max(layout::HEAD_BLKNO);
    drop(graph);
    if let Some(cb) = codebook {
        meta.set_codebook(codebook::write(&mut pages, cb));
    }
    debug_assert_eq!((meta.code_format(), meta.parts()), (format, parts));
    pages.rewrite(layout::META_BLKNO, |p| {
        p.set_contents(&layout::meta_contents(&meta, &centroid))
    });
    pages.finish();
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    ctid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _tuple_is_alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: the callback runs in the backend that started the heap scan; `state` is the
    // BuildState that ambuild passed to IndexBuildHeapScan and does not touch until it returns.
    let state = unsafe { &mut *state.cast::<BuildState>() };
    // SAFETY: the table AM passes the row's TID and its index column values (`values` and
    // `isnull`: one entry per index column, the vector first), valid for the call.
    let (ctid, vector_null) = unsafe { (&*ctid, *isnull) };
    state.reltuples += 1.0;
    if vector_null {
        return;
    }
    // SAFETY: as above; a non-NULL datum of the vector column's type.
    if let Some(image) = unsafe { image_from_datum(*values, state.metric, Some("ruhnsw")) } {
        // SAFETY: as above: one entry per index column.
        let keys = unsafe { state.keys.encode(values, isnull) };
        state.add(&image, &keys, Tid::from_item_pointer(ctid));
    }
    if (state.reltuples as u64).is_multiple_of(1024) {
        pgrx::check_for_interrupts!();
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    // SAFETY: PostgreSQL passes valid heap and index relations, open and locked, and their
    // IndexInfo for the duration of ambuild.
    let index = unsafe { Rel::from_raw(index) };
    if index.blocks() != 0 {
        raise(VecError::new(
            SqlState::InternalError,
            format!("index \"{}\" already contains data", relation_name(index)),
        ));
    }
    let mut state = BuildState::new(index);
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    // SAFETY: the relations and IndexInfo of ambuild (above); `state` outlives the scan and is
    // used meanwhile only by build_callback, through the pointer passed here.
    unsafe {
        pg_sys::IndexBuildHeapScan(
            heap,
            index.as_ptr(),
            index_info,
            Some(build_callback),
            &mut state,
        )
    };
    if !state.flushed {
        state.flush();
    }
    // SAFETY: palloc0 returns zeroed memory sized for an IndexBuildResult (or raises an
    // ERROR), in the memory context PostgreSQL called ambuild in; it reads the result.
    unsafe {
        let result = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>())
            .cast::<pg_sys::IndexBuildResult>();
        (*result).heap_tuples = state.reltuples;
        (*result).index_tuples = state.indtuples;
        result
    }
}

/// The init fork of an UNLOGGED index: just an empty meta page.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    // SAFETY: PostgreSQL passes a valid index relation, open and locked, for the duration of
    // ambuildempty.
    let index = unsafe { Rel::from_raw(index) };
    let (metric, params, dimensions, quantization) = index_setup(index);
    let mut pages = BuildPages::new(index, pg_sys::ForkNumber::INIT_FORKNUM);
    let mut meta = MetaPage::new(
        dimensions,
        params.m as u16,
        params.ef_construction as u16,
        metric,
    );
    let keys = KeyColumns::of(index, "ruhnsw");
    meta.set_keys(keys.layout.count(), keys.layout.len());
    let centroid = if options::sketches(index) && meta.set_sketched() {
        vec![0.0; dimensions as usize]
    } else {
        Vec::new()
    };
    {
        let (_, mut page) = pages.append(layout::PAGE_META);
        page.set_contents(&layout::meta_contents(&meta, &centroid));
    }
    pages.append(layout::PAGE_ELEMENT);
    if !keys.is_empty() {
        (meta.key_head, meta.key_tail) = keydir::write(&mut pages, &keys.layout, &[]);
        pages.rewrite(layout::META_BLKNO, |p| {
            p.set_contents(&layout::meta_contents(&meta, &centroid))
        });
    }
    if quantization != Quantization::None {
        // The table is empty after a crash: a codebook for unit-scale data.
        let cb = quantize::train(quantization, dimensions as usize, &[], None);
        meta.set_codebook(codebook::write(&mut pages, &cb));
        pages.rewrite(layout::META_BLKNO, |p| {
            p.set_contents(&layout::meta_contents(&meta, &centroid))
        });
    }
    pages.finish();
}
