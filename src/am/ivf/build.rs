//! `ambuild` / `ambuildempty` for `ruivfflat`.
//!
//! 1. *Reading tuples*: one heap scan keeps every row's value image in Rust memory (while it
//!    fits `maintenance_work_mem`) and a reservoir sample of training points
//!    ([`crate::ivf::sample_rows`]: 50 per list, at least 10,000).
//! 2. *Performing k-means*: k-means++ then Lloyd iterations on the sample, PURE code
//!    (`crate::ivf::kmeans`) on a pool of Rust threads; the backend thread checks for
//!    interrupts and reports progress between steps.
//! 3. *Assigning tuples*: every row goes to its nearest centre by the index's own distance, in
//!    parallel, in batches (interrupt checks between them).
//! 4. *Loading tuples*: meta page, list pages, then each list's data pages in list order, written
//!    sequentially without per-page WAL and WAL-logged together with `log_newpage_range`.
//!
//! When the rows outgrow `maintenance_work_mem` (with a NOTICE, as pgvector does for HNSW), the
//! rows kept so far are dropped, the index is written with empty lists, and a second heap scan
//! inserts every row through the ordinary insert path: slower, bounded in memory.

use super::insert::insert_image;
use super::layout::{self, ListHeader, MetaPage, Tid};
use super::lists::set_header;
use super::options;
use super::parts;
use crate::am::codebook;
use crate::am::codebook::CodebookRef;
use crate::am::keys::{check_first_column, KeyColumns};
use crate::am::page::{maxalign, BuildPages, Rel, MAX_ITEM};
use crate::am::progress;
use crate::am::quantize;
use crate::am::value::{column_dimensions, image_from_datum, metric_from_support};
use crate::format::{SqlState, VecError};
use crate::ivf::kmeans::{KMeans, Reservoir};
use crate::ivf::{points, sample_rows};
use crate::kernels::metric::{Metric, ValueKind};
use crate::quant::{Codebook, Quantization};
use crate::types::error::raise;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

pub const PHASE_READ: i64 = 2;
pub const PHASE_KMEANS: i64 = 3;
pub const PHASE_ASSIGN: i64 = 4;
pub const PHASE_LOAD: i64 = 5;

const SEED: u64 = 0x5255_4956_4B4D_4541;
/// Lloyd iterations at most (most builds converge, < 0.1% of points moving, well before).
const MAX_ITERATIONS: usize = 25;

/// Validates the index definition (pgvector's checks and messages); metric, lists, dimensions
/// and quantization.
pub fn index_setup(index: Rel) -> (Metric, usize, u32, Quantization) {
    check_first_column(index, "ruivfflat");
    let metric = metric_from_support(index);
    let lists = options::lists(index) as usize;
    if metric.kind() == ValueKind::Sparse {
        raise(VecError::new(
            SqlState::FeatureNotSupported,
            "type not supported for ruivfflat index",
        ));
    }
    // Centres and rows longer than a page are stored in parts (`super::parts`): every
    // dimension count of the dense types (16,000) can be indexed, quantized or not.
    let dense = matches!(metric.kind(), ValueKind::DenseF32 | ValueKind::DenseF16);
    let max = dense.then_some(crate::format::DENSE_MAX_DIM as usize);
    let dimensions = column_dimensions(index, metric, "ruivfflat", max);
    let quantization = options::quantization(index);
    quantize::check(quantization, metric, dimensions as usize);
    (metric, lists, dimensions, quantization)
}

struct BuildState {
    index: Rel,
    metric: Metric,
    lists: usize,
    dimensions: u32,
    /// Rows kept in memory: images of `stride` bytes back to back, and their heap TIDs.
    images: Vec<u8>,
    tids: Vec<Tid>,
    stride: usize,
    /// Key columns, and the rows' key blobs (`keys.layout.len()` bytes each) back to back.
    keys: KeyColumns,
    key_blobs: Vec<u8>,
    sample: Reservoir<Vec<f32>>,
    quantization: Quantization,
    /// Training rows of the codebook (raw floats; quantized indexes only).
    code_sample: Reservoir<Vec<f32>>,
    memory_limit: usize,
    /// Bytes one sampled row takes (training point and its share of the k-means state).
    sample_row_bytes: usize,
    /// Rows no longer fit in memory: the second heap scan inserts them.
    spilled: bool,
    reltuples: f64,
    indtuples: f64,
}

impl BuildState {
    fn add(&mut self, image: &[u8], keys: &[u8], tid: Tid) {
        self.indtuples += 1.0;
        let metric = self.metric;
        self.sample.offer(|| {
            let mut p = Vec::new();
            points::push_point(metric, image, &mut p);
            p
        });
        if self.quantization != Quantization::None {
            self.code_sample
                .offer(|| quantize::image_floats(metric, image));
        }
        // The samples grow with the rows read (up to their target size), so what they need is
        // known only as the table is read: a small table builds with little memory however
        // many lists and dimensions the index has (pgvector sizes its k-means by the rows it
        // actually sampled too).
        let sample_memory = self.sample_memory();
        if sample_memory > self.memory_limit {
            let target =
                (self.sample.capacity() + self.code_sample.capacity()) * self.sample_row_bytes;
            raise(VecError::new(
                SqlState::ProgramLimitExceeded,
                format!(
                    "memory required is {} MB, maintenance_work_mem is {} MB",
                    target.max(sample_memory).div_ceil(1024 * 1024),
                    self.memory_limit / (1024 * 1024)
                ),
            ));
        }
        if self.spilled {
            return;
        }
        if self.stride == 0 {
            self.stride = image.len();
        }
        let used = self.images.len()
            + self.key_blobs.len()
            + self.tids.len() * 8
            + image.len()
            + keys.len()
            + 8;
        if image.len() != self.stride || used + sample_memory > self.memory_limit {
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
                format!(
                    "ruivfflat rows no longer fit into maintenance_work_mem after {} tuples",
                    self.tids.len()
                ),
                "ruivfflat",
            )
            .set_detail("Building will take significantly more time.")
            .set_hint("Increase maintenance_work_mem to speed up builds.")
            .report(PgLogLevel::NOTICE);
            self.spilled = true;
            self.images = Vec::new();
            self.key_blobs = Vec::new();
            self.tids = Vec::new();
            return;
        }
        self.images.extend_from_slice(image);
        self.key_blobs.extend_from_slice(keys);
        self.tids.push(tid);
    }

    fn rows(&self) -> usize {
        self.tids.len()
    }

    /// Bytes the samples taken so far need.
    fn sample_memory(&self) -> usize {
        (self.sample.items.len() + self.code_sample.items.len()) * self.sample_row_bytes
    }

    fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.stride..(i + 1) * self.stride]
    }

    fn key_blob(&self, i: usize) -> &[u8] {
        let n = self.keys.layout.len();
        &self.key_blobs[i * n..(i + 1) * n]
    }
}

/// Trains the list centres on the sample; returns their value images.
fn train(state: &BuildState, pool: &rayon::ThreadPool) -> Vec<Vec<u8>> {
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_KMEANS);
    let dims = state.dimensions as usize;
    let samples = &state.sample.items;
    if samples.len() < state.lists {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            "ruivfflat index created with little data",
            "ruivfflat",
        )
        .set_detail("This will cause low recall.")
        .set_hint("Drop the index until the table has more data.")
        .report(PgLogLevel::NOTICE);
    }
    let centres = if samples.is_empty() {
        points::random_centres(state.metric, dims, state.lists, SEED)
    } else {
        let data: Vec<f32> = samples.iter().flatten().copied().collect();
        let km = KMeans {
            data: &data,
            dims,
            k: state.lists,
            geometry: points::geometry(state.metric),
            max_iterations: MAX_ITERATIONS,
            seed: SEED,
            pool: Some(pool),
        };
        km.run(&mut || {
            pgrx::check_for_interrupts!();
        })
    };
    centres
        .chunks(dims)
        .map(|c| points::centre_image(state.metric, c))
        .collect()
}

/// The nearest list of every row kept in memory, and (quantized indexes) the rows' codes back
/// to back.
fn assign(
    state: &BuildState,
    centres: &[Vec<u8>],
    codebook: Option<&Codebook>,
    pool: &rayon::ThreadPool,
) -> (Vec<u32>, Vec<u8>) {
    use rayon::prelude::*;
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_ASSIGN);
    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, state.rows() as i64);
    let metric = state.metric;
    let mut out = Vec::with_capacity(state.rows());
    let mut codes = Vec::new();
    const BATCH: usize = 8192;
    let (images, stride) = (&state.images[..], state.stride);
    let mut start = 0;
    while start < state.rows() {
        let end = (start + BATCH).min(state.rows());
        let batch: Vec<(u32, Vec<u8>)> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .with_min_len(64)
                .map(|i| {
                    let image = &images[i * stride..(i + 1) * stride];
                    let mut best = (0u32, f32::INFINITY);
                    for (c, centre) in centres.iter().enumerate() {
                        let d = metric.distance(image, centre);
                        if d < best.1 {
                            best = (c as u32, d);
                        }
                    }
                    let code = codebook
                        .map_or_else(Vec::new, |cb| quantize::encode_image(cb, metric, image));
                    (best.0, code)
                })
                .collect()
        });
        for (list, code) in batch {
            out.push(list);
            codes.extend_from_slice(&code);
        }
        start = end;
        pgrx::check_for_interrupts!();
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, start as i64);
    }
    (out, codes)
}

fn add_failed(index: Rel) -> ! {
    raise(VecError::new(
        SqlState::InternalError,
        format!(
            "failed to add index item to \"{}\"",
            crate::am::relation_name(index)
        ),
    ))
}

/// Appends `tuple` to the chain being written: to the current page if it fits there (and
/// `new_chain` is false), else to a new page chained after it (or starting a chain); a tuple
/// longer than a page (`split`) in parts (`super::parts`, written by `owner`), the first in the
/// current page's free space. Returns the location of its (first) item.
fn put(
    index: Rel,
    pages: &mut BuildPages,
    page_type: u8,
    tuple: &[u8],
    owner: parts::Owner,
    split: bool,
    new_chain: bool,
) -> Tid {
    let free = match pages.current_block() {
        Some(_) if !new_chain => Some(pages.current_page().as_ref().free_space()),
        _ => None,
    };
    let parts;
    let items: &[Vec<u8>] = if split {
        let first = free.map_or(0, parts::payload_room);
        parts = parts::split(owner, tuple, first, parts::payload_room(MAX_ITEM));
        &parts
    } else {
        &[]
    };
    let mut first = None;
    for (i, item) in items
        .iter()
        .map(Vec::as_slice)
        .chain((!split).then_some(tuple))
        .enumerate()
    {
        if i > 0 || free.is_none_or(|f| f < maxalign(item.len())) {
            if i == 0 && new_chain {
                pages.append_new_chain(page_type);
            } else {
                pages.append(page_type);
            }
        }
        let off = pages
            .current_page()
            .add_item(item)
            .unwrap_or_else(|| add_failed(index));
        let blk = pages.current_block().expect("a page was appended");
        first.get_or_insert(Tid::new(blk, off));
    }
    first.expect("a tuple has an item")
}

/// Writes the whole index: meta page, list pages, then each list's rows (`members[list]` are
/// row numbers of `state`), then the codebook of a quantized index (`codes` holds the rows'
/// codes back to back). List tuples are written before their lists' pages are known, and
/// their headers filled in once they are.
fn write_index(
    state: &BuildState,
    centres: &[Vec<u8>],
    members: &[Vec<u32>],
    codebook: Option<&Codebook>,
    codes: &[u8],
) {
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    let index = state.index;
    let lists = centres.len();
    let code_len = codebook.map(|c| c.code_len());
    let key_len = state.keys.layout.len();

    let mut pages = BuildPages::new(index, pg_sys::ForkNumber::MAIN_FORKNUM);
    let mut meta = MetaPage::new(state.dimensions, lists as u32, state.metric);
    meta.set_keys(state.keys.layout.count(), key_len);
    meta.set_built(members.iter().map(Vec::len));
    if let Some(cb) = codebook {
        // What data tuples hold follows from the quantization; the codebook's place is known
        // once it is written.
        meta.set_codebook(CodebookRef {
            quantization: cb.quantization().to_u32(),
            ..CodebookRef::default()
        });
    }
    {
        let (_, mut page) = pages.append(layout::PAGE_META);
        page.set_contents(&meta.to_bytes());
    }
    let list_locs = write_lists(index, &mut pages, &meta, centres);
    let mut headers = vec![EMPTY_LIST; lists];
    let split = meta.data_parts();
    let stamp = super::insert::stamp();
    let mut written = 0i64;
    for (list, m) in members.iter().enumerate() {
        for (j, row) in m.iter().enumerate() {
            let row = *row as usize;
            let tuple = layout::encode_data(
                state.tids[row],
                state.key_blob(row),
                match code_len {
                    Some(n) => &codes[row * n..(row + 1) * n],
                    None => state.image(row),
                },
            );
            let at = put(
                index,
                &mut pages,
                layout::PAGE_DATA,
                &tuple,
                parts::Owner {
                    tid: state.tids[row],
                    stamp,
                },
                split,
                j == 0,
            );
            if j == 0 {
                headers[list].start = at.block;
            }
            written += 1;
            if written % 8192 == 0 {
                pgrx::check_for_interrupts!();
                progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, written);
            }
        }
        if !m.is_empty() {
            headers[list].insert = pages.current_block().expect("the list's last page");
        }
    }
    // The list headers, one rewrite per list page.
    let mut by_page: Vec<(Tid, ListHeader)> = list_locs
        .into_iter()
        .zip(headers)
        .filter(|(_, h)| *h != EMPTY_LIST)
        .collect();
    by_page.sort_by_key(|(loc, _)| loc.block);
    for group in by_page.chunk_by(|a, b| a.0.block == b.0.block) {
        pages.rewrite(group[0].0.block, |page| {
            for (loc, header) in group {
                set_header(&meta, page, *loc, *header);
            }
        });
    }
    if let Some(cb) = codebook {
        meta.set_codebook(codebook::write(&mut pages, cb));
        pages.rewrite(layout::META_BLKNO, |page| {
            page.set_contents(&meta.to_bytes())
        });
    }
    pages.finish();
}

/// The header of a list without pages.
const EMPTY_LIST: ListHeader = ListHeader {
    start: layout::INVALID_BLOCK,
    insert: layout::INVALID_BLOCK,
};

/// Writes the list pages (a chain of their own after the meta page), every list empty;
/// returns the lists' locations.
fn write_lists(
    index: Rel,
    pages: &mut BuildPages,
    meta: &MetaPage,
    centres: &[Vec<u8>],
) -> Vec<Tid> {
    let split = meta.list_parts();
    let owner = parts::Owner {
        tid: Tid::INVALID,
        stamp: super::insert::stamp(),
    };
    centres
        .iter()
        .enumerate()
        .map(|(i, centre)| {
            let tuple = layout::encode_list(EMPTY_LIST, centre);
            put(
                index,
                pages,
                layout::PAGE_LIST,
                &tuple,
                owner,
                split,
                i == 0,
            )
        })
        .collect()
}

/// Trains the codebook of a quantized index on the build's sample.
fn train_codebook(state: &BuildState, pool: &rayon::ThreadPool) -> Option<Codebook> {
    if state.quantization == Quantization::None {
        return None;
    }
    let rows = state.code_sample.items.len();
    quantize::little_data_notice(state.quantization, rows);
    let data: Vec<f32> = state.code_sample.items.iter().flatten().copied().collect();
    Some(quantize::train(
        state.quantization,
        state.dimensions as usize,
        &data,
        Some(pool),
    ))
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
    if !vector_null {
        // SAFETY: as above; a non-NULL datum of the vector column's type.
        if let Some(image) = unsafe { image_from_datum(*values, state.metric, Some("ruivfflat")) } {
            // SAFETY: as above: one entry per index column.
            let keys = unsafe { state.keys.encode(values, isnull) };
            state.add(&image, &keys, Tid::from_item_pointer(ctid));
        }
    }
    if (state.reltuples as u64).is_multiple_of(1024) {
        pgrx::check_for_interrupts!();
        progress(
            pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE,
            state.reltuples as i64,
        );
    }
}

/// Second heap scan of a build whose rows did not fit in memory: insert each row.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn insert_callback(
    index: pg_sys::Relation,
    ctid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _tuple_is_alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: the callback runs in the backend that started the heap scan; `state` is the
    // BuildState that ambuild passed to IndexBuildHeapScan and does not touch until it returns.
    let state = unsafe { &mut *state.cast::<BuildState>() };
    // SAFETY: the table AM passes the open, locked index being built, the row's TID and its
    // index column values (`values` and `isnull`: one entry per index column, the vector
    // first), all valid for the call.
    let (index, ctid, vector_null) = unsafe { (Rel::from_raw(index), &*ctid, *isnull) };
    if vector_null {
        return;
    }
    let metric = state.metric;
    // SAFETY: as above.
    let value = unsafe { *values };
    // SAFETY: as above: one entry per index column.
    let keys = unsafe { state.keys.encode(values, isnull) };
    crate::am::memcx::scoped(c"ruivfflat build insert", || {
        // SAFETY: a non-NULL datum of the vector column's type (checked above).
        if let Some(image) = unsafe { image_from_datum(value, metric, Some("ruivfflat")) } {
            insert_image(index, &image, &keys, Tid::from_item_pointer(ctid));
        }
    });
    state.indtuples += 1.0;
    if (state.indtuples as u64).is_multiple_of(1024) {
        pgrx::check_for_interrupts!();
        progress(
            pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE,
            state.indtuples as i64,
        );
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
            format!(
                "index \"{}\" already contains data",
                crate::am::relation_name(index)
            ),
        ));
    }
    let (metric, lists, dimensions, quantization) = index_setup(index);
    // SAFETY: reading a GUC variable (this backend's; set only between commands).
    let memory_limit = unsafe { pg_sys::maintenance_work_mem } as usize * 1024;
    let sample_size = sample_rows(lists);
    let code_sample_size = if quantization == Quantization::None {
        0
    } else {
        quantize::SAMPLE_ROWS
    };
    let mut state = BuildState {
        index,
        metric,
        lists,
        dimensions,
        images: Vec::new(),
        tids: Vec::new(),
        stride: 0,
        keys: KeyColumns::of(index, "ruivfflat"),
        key_blobs: Vec::new(),
        sample: Reservoir::new(sample_size, SEED),
        quantization,
        code_sample: Reservoir::new(code_sample_size, SEED ^ 1),
        memory_limit,
        sample_row_bytes: dimensions as usize * 4 + 24,
        spilled: false,
        reltuples: 0.0,
        indtuples: 0.0,
    };
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_READ);
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
    let pool = crate::am::threads::build_pool("ruivfflat build");
    let centres = train(&state, &pool);
    state.sample = Reservoir::new(0, SEED);
    let codebook = train_codebook(&state, &pool);
    state.code_sample = Reservoir::new(0, SEED);
    if state.spilled {
        write_index(
            &state,
            &centres,
            &vec![Vec::new(); centres.len()],
            codebook.as_ref(),
            &[],
        );
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
        state.indtuples = 0.0;
        // SAFETY: as for the first scan; `state` is used meanwhile only by insert_callback.
        unsafe {
            pg_sys::IndexBuildHeapScan(
                heap,
                index.as_ptr(),
                index_info,
                Some(insert_callback),
                &mut state,
            )
        };
    } else {
        let (assignment, codes) = assign(&state, &centres, codebook.as_ref(), &pool);
        let mut members = vec![Vec::new(); centres.len()];
        for (row, list) in assignment.into_iter().enumerate() {
            members[list as usize].push(row as u32);
        }
        write_index(&state, &centres, &members, codebook.as_ref(), &codes);
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

/// The init fork of an UNLOGGED index: meta page and list pages with random centres (the
/// table is empty after a crash, and inserts spread over the lists).
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    // SAFETY: PostgreSQL passes a valid index relation, open and locked, for the duration of
    // ambuildempty.
    let index = unsafe { Rel::from_raw(index) };
    let (metric, lists, dimensions, quantization) = index_setup(index);
    let centres: Vec<Vec<u8>> = points::random_centres(metric, dimensions as usize, lists, SEED)
        .chunks(dimensions as usize)
        .map(|c| points::centre_image(metric, c))
        .collect();
    let mut pages = BuildPages::new(index, pg_sys::ForkNumber::INIT_FORKNUM);
    let mut meta = MetaPage::new(dimensions, lists as u32, metric);
    let keys = KeyColumns::of(index, "ruivfflat");
    meta.set_keys(keys.layout.count(), keys.layout.len());
    {
        let (_, mut page) = pages.append(layout::PAGE_META);
        page.set_contents(&meta.to_bytes());
    }
    write_lists(index, &mut pages, &meta, &centres);
    if quantization != Quantization::None {
        // The table is empty after a crash: a codebook for unit-scale data.
        let cb = quantize::train(quantization, dimensions as usize, &[], None);
        meta.set_codebook(codebook::write(&mut pages, &cb));
        pages.rewrite(layout::META_BLKNO, |page| {
            page.set_contents(&meta.to_bytes())
        });
    }
    pages.finish();
}
