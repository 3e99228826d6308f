//! `aminsert` for `ruhnsw`: one row into the on-disk graph (Algorithm 1 of the HNSW paper over
//! pages), with pgvector's concurrency protocol:
//!
//! * every insert holds the index's *update lock* (`LockPage` on lock number 0) in share mode;
//!   one whose level would raise the entry point takes it exclusively instead, so entry-point
//!   changes are serialised while ordinary inserts run concurrently;
//! * buffer locks are taken one at a time, or two in increasing block order (an element page
//!   and its neighbour page), never while waiting for the update lock; code pages (parts of
//!   codes longer than a page) are locked last, while their element page is held, and nothing
//!   waits for another lock while holding one;
//! * a neighbour list is computed without locks and written under an exclusive buffer lock
//!   after checking it did not change meanwhile (if it did, a free slot is used or the link is
//!   left out — the graph stays valid, only slightly less connected);
//! * every page change is one Generic WAL record.

use super::disk::{key_columns, read_meta, update_meta, DiskGraph};
use super::keydir;
use super::keylinks;
use super::layout::{self, List, MetaPage, Shape, Tid};
use crate::am::page::{maxalign, Exclusive, LockMode, Locked, PageLock, Rel, WalChange};
use crate::format::{SqlState, VecError};
use crate::graph::search::{descend, search_layer, HashVisited, IdHash, Visited};
use crate::graph::select::select_neighbors;
use crate::graph::{Params, Scored};
use crate::types::error::raise;
use pgrx::pg_sys;
use std::collections::HashMap;

/// Lock numbers for `LockPage` (not buffers: names for AM-level locks, as in pgvector).
pub const UPDATE_LOCK: u32 = 0;
pub const SCAN_LOCK: u32 = 1;

/// Value images fetched for neighbour selection, by element id (hashed as the searches' id
/// tables are: SipHash cost a tenth of a VACUUM's time).
pub type ImageCache = HashMap<u64, Vec<u8>, IdHash>;

fn image<'c>(g: &mut DiskGraph, cache: &'c mut ImageCache, id: u64) -> Option<&'c [u8]> {
    match cache.entry(id) {
        std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut().as_slice()),
        std::collections::hash_map::Entry::Vacant(v) => Some(v.insert(g.image(id)?).as_slice()),
    }
}

/// Reads into `cache` the value images of those of `ids` it does not hold yet, in batches
/// ([`DiskGraph::images`]); an element that cannot be read is left out.
pub fn cache_images(g: &mut DiskGraph, cache: &mut ImageCache, ids: impl Iterator<Item = u64>) {
    let wanted: Vec<u64> = ids.filter(|id| !cache.contains_key(id)).collect();
    for (id, image) in wanted.iter().zip(g.images(&wanted)) {
        if let Some(image) = image {
            cache.insert(*id, image);
        }
    }
}

/// The neighbour-selection heuristic over `candidates` (nearest first), at most `cap`, with
/// the distances between them from the cached images (an element without one is infinitely
/// far from every other).
fn select_cached(
    metric: crate::kernels::metric::Metric,
    images: &ImageCache,
    candidates: &[Scored<u64>],
    cap: usize,
) -> Vec<Scored<u64>> {
    select_neighbors(candidates, cap, |a, b| {
        match (images.get(&a), images.get(&b)) {
            (Some(x), Some(y)) => metric.distance(x, y),
            _ => f32::INFINITY,
        }
    })
}

/// [`select_cached`] after reading the candidates' images that are not cached yet
/// ([`cache_images`]).
pub fn select_by_images(
    g: &mut DiskGraph,
    images: &mut ImageCache,
    candidates: &[Scored<u64>],
    cap: usize,
) -> Vec<Scored<u64>> {
    cache_images(g, images, candidates.iter().map(|c| c.id));
    select_cached(g.metric, images, candidates, cap)
}

/// The sketch of element `id` for a layer-0 slot of an index with sketches (`None` without
/// them, or when the element cannot be read: the slot then has no sketch).
fn sketch_of(g: &mut DiskGraph, images: &mut ImageCache, id: u64) -> Option<Vec<u8>> {
    let sketcher = g.sketcher.clone()?;
    image(g, images, id).map(|v| sketcher.encode(v))
}

/// The sketches of the ground-layer neighbours found for an element (`layers[0]`, in order).
pub fn layer0_sketches(
    g: &mut DiskGraph,
    images: &mut ImageCache,
    layers: &[Vec<Scored<u64>>],
) -> Vec<Option<Vec<u8>>> {
    match layers.first() {
        Some(l0) if g.sketcher.is_some() => l0.iter().map(|n| sketch_of(g, images, n.id)).collect(),
        _ => Vec::new(),
    }
}

/// The neighbour tuple of an element of `level` with the lists found for it and the sketches
/// of its ground-layer neighbours ([`layer0_sketches`]).
pub fn neighbor_tuple(
    shape: &Shape,
    level: usize,
    layers: &[Vec<Scored<u64>>],
    key_layers: &[Vec<Scored<u64>>],
    sketches: &[Option<Vec<u8>>],
) -> Vec<u8> {
    let mut ntup = shape.encode(level, &tids(layers), &tids(key_layers));
    for (i, s) in sketches
        .iter()
        .enumerate()
        .take(shape.capacity(List::Layer(0)))
    {
        shape.set_sketch(&mut ntup, i, s.as_deref());
    }
    ntup
}

/// A level for a new element: ⌊−ln(U)·mL⌋ from PostgreSQL's PRNG, capped.
fn random_level(shape: &Shape) -> usize {
    // SAFETY: the backend's global PRNG, on the main thread.
    let u = unsafe { pg_sys::pg_prng_double(&raw mut pg_sys::pg_global_prng_state) };
    let ml = 1.0 / (shape.m as f64).ln();
    let max = super::build::max_level(shape.m, shape.key_lists * shape.key_m);
    ((-(1.0 - u).ln() * ml) as usize).min(max)
}

/// Finds the neighbours of the graph's query value for layers `0..=min(level, entry level)`,
/// starting from `entry`: search with `ef_construction`, drop elements being deleted (no heap
/// rows) and `skip`, then the neighbour-selection heuristic. Per layer, nearest first.
pub fn find_neighbors(
    g: &mut DiskGraph,
    meta: &MetaPage,
    entry: Option<(Tid, usize)>,
    level: usize,
    skip: Option<u64>,
    images: &mut ImageCache,
) -> Vec<Vec<Scored<u64>>> {
    let Some((entry, entry_level)) = entry else {
        return Vec::new();
    };
    let params = Params {
        m: meta.m as usize,
        ef_construction: meta.ef_construction as usize,
    };
    let ef = params.ef_construction + skip.is_some() as usize;
    let mut visited = HashVisited::with_capacity(ef * 8);
    let Some(s) = g.visit(entry.pack()) else {
        return Vec::new();
    };
    let start = Scored {
        distance: s.distance,
        id: entry.pack(),
    };
    let ep = descend(g, start, entry_level, level, &mut visited);
    let top = level.min(entry_level);
    let mut layers = vec![Vec::new(); top + 1];
    let mut eps = vec![ep];
    for lc in (0..=top).rev() {
        visited.clear();
        for e in &eps {
            visited.insert(e.id);
        }
        let w = search_layer(g, &eps, ef, lc, &mut visited, None);
        let candidates: Vec<Scored<u64>> = w
            .iter()
            .copied()
            .filter(|s| Some(s.id) != skip && g.seen.get(&s.id).is_some_and(|x| x.has_rows()))
            .collect();
        layers[lc] = select_by_images(g, images, &candidates, params.max_neighbors(lc));
        if !w.is_empty() {
            eps = w;
        }
    }
    layers
}

/// Inserts one value image (already validated and normalised) with its key blob for heap row
/// `heap_tid`.
pub fn insert_image(index: Rel, value: &[u8], keys: &[u8], heap_tid: Tid) {
    let mut lock = PageLock::share(index, UPDATE_LOCK);
    let mut meta = read_meta(index);
    let level = random_level(&Shape::of(&meta));
    if meta.entry().is_none_or(|(_, l)| level > l) {
        drop(lock);
        lock = PageLock::exclusive(index, UPDATE_LOCK);
        meta = read_meta(index);
    }

    let mut images = ImageCache::default();
    let mut g = DiskGraph::new(
        index,
        &meta,
        Some(value.to_vec()),
        meta.ef_construction as usize * 32,
    );
    let layers = find_neighbors(&mut g, &meta, meta.entry(), level, None, &mut images);

    // Rows with identical values and keys share an element (up to HEAP_TIDS rows).
    if let Some(layer0) = layers.first() {
        for n in layer0.iter().take_while(|n| n.distance == 0.0) {
            if images.get(&n.id).map(|v| v.as_slice()) == Some(value)
                && g.read_item(Tid::unpack(n.id), |item| layout::element_keys(item) == keys)
                    == Some(true)
                && add_duplicate(index, Tid::unpack(n.id), heap_tid)
            {
                return;
            }
        }
    }
    g.release();
    let key_layout = (meta.keys > 0).then(|| key_columns(index, &meta).layout);
    // Key links: the nearest elements with the same key, per key column that has them.
    let key_layers = match &key_layout {
        Some(kl) if meta.key_links != 0 => keylinks::find(
            index,
            &meta,
            kl,
            value,
            keys,
            layers.first().map_or(&[][..], |l| &l[..]),
            None,
            &mut images,
        ),
        _ => Vec::new(),
    };
    // A quantized index stores the value's code; neighbour selection above and below works
    // on the vectors the codes stand for (`DiskGraph::image`).
    let stored = match g.codebook() {
        Some(cb) => crate::am::quantize::encode_image(cb, g.metric, value),
        None => value.to_vec(),
    };
    let format = meta.code_format();
    let sketches = layer0_sketches(&mut g, &mut images, &layers);
    g.release();
    // A code (or an image) split over code pages: the element holds their directory, written
    // with them.
    let (in_element, split) = if format == layout::FORMAT_CODE_PARTS {
        let directory = vec![Tid::INVALID; layout::code_parts(stored.len())];
        (
            layout::encode_directory(&directory),
            Some(stored.as_slice()),
        )
    } else {
        (stored.clone(), None)
    };

    let element = layout::Element {
        level: level as u8,
        deleted: false,
        version: 0,
        format,
        heap_tids: vec![heap_tid],
        neighbors: Tid::INVALID,
    };
    let ntup = neighbor_tuple(&Shape::of(&meta), level, &layers, &key_layers, &sketches);
    let (etid, new_insert_page) = add_element(
        index,
        &meta,
        &element,
        &in_element,
        keys,
        split,
        ntup,
        &mut |etid| {
            if let Some(layout) = &key_layout {
                keydir::append(index, meta.key_head, layout, etid, keys);
            }
        },
    );
    if let Some(p) = new_insert_page {
        update_meta(index, |mm| mm.insert_page = p);
    }

    images.insert(etid.pack(), value.to_vec());
    // The search's graph, with what it read: the elements it visited are not read again to
    // know whether they still have rows (`DiskGraph::live`).
    link_back(&mut g, &mut images, etid, &layers, &key_layers);
    drop(g);

    if meta.entry().is_none_or(|(_, l)| level > l) {
        update_meta(index, |mm| {
            if mm.entry().is_none_or(|(_, l)| level > l) {
                mm.set_entry(Some((etid, level)));
            }
        });
    }
    drop(lock);
}

/// The element TIDs of found neighbour lists (per layer, or per key list).
pub fn tids(lists: &[Vec<Scored<u64>>]) -> Vec<Vec<Tid>> {
    lists
        .iter()
        .map(|l| l.iter().map(|s| Tid::unpack(s.id)).collect())
        .collect()
}

/// Adds the reverse links of a new (or repaired) element to its neighbours (`layers`, per
/// layer, nearest first, and `key_layers`, per key list), making sure at least one exists on
/// the ground layer and in each key list that has neighbours.
pub fn link_back(
    g: &mut DiskGraph,
    images: &mut ImageCache,
    element: Tid,
    layers: &[Vec<Scored<u64>>],
    key_layers: &[Vec<Scored<u64>>],
) {
    let lists = layers
        .iter()
        .enumerate()
        .map(|(l, n)| (List::Layer(l), n))
        .chain(
            key_layers
                .iter()
                .enumerate()
                .map(|(j, n)| (List::Key(j), n)),
        );
    let sketch = sketch_of(g, images, element.pack());
    for (list, neighbors) in lists {
        let mut linked = 0;
        for n in neighbors {
            if add_connection(
                g,
                images,
                Tid::unpack(n.id),
                (element, sketch.as_deref()),
                n.distance,
                list,
                Connect::Heuristic,
            ) {
                linked += 1;
            }
        }
        if linked == 0 && matches!(list, List::Layer(0) | List::Key(_)) {
            ensure_in_link(g, images, element, neighbors, list);
        }
    }
}

/// Adds `heap_tid` to an existing element with the same value, if it has room and is not
/// being deleted.
fn add_duplicate(index: Rel, element: Tid, heap_tid: Tid) -> bool {
    let buf = Locked::read(index, element.block, Exclusive);
    let wal = WalChange::start(index);
    let mut page = wal.register(&buf, false);
    let Some(item) = page.item_mut(element.offset) else {
        return false;
    };
    let Some(e) = layout::decode_element(item) else {
        return false;
    };
    if e.deleted || e.heap_tids.is_empty() || e.heap_tids.len() >= layout::HEAP_TIDS {
        return false;
    }
    let mut tids = e.heap_tids;
    tids.push(heap_tid);
    layout::set_element_heap_tids(item, &tids);
    wal.commit();
    true
}

/// Writes a new element and its neighbour tuple: on the first page from the meta page's insert
/// page that has room, or in the slot of a deleted element, or on new pages at the end.
/// `ntup` is its neighbour tuple. `split`: the code of a [`layout::FORMAT_CODE_PARTS`]
/// element (`value` is then a directory to fill in), written on new code pages, or over the
/// parts of the deleted element whose slot is reused. `chosen` is called with the element's TID once its slot is chosen and locked,
/// before the element is written (the key directory entry goes first, `keydir.rs`). Returns
/// the element's TID and, if it changed, the new insert page.
#[allow(clippy::too_many_arguments)]
fn add_element(
    index: Rel,
    meta: &MetaPage,
    element: &layout::Element,
    value: &[u8],
    keys: &[u8],
    split: Option<&[u8]>,
    ntup: Vec<u8>,
    chosen: &mut dyn FnMut(Tid),
) -> (Tid, Option<u32>) {
    let new_parts = |etup: &mut Vec<u8>| {
        if let Some(code) = split {
            let directory = write_parts(index, code);
            *etup = layout::encode_element(element, &layout::encode_directory(&directory), keys);
        }
    };
    let mut etup = layout::encode_element(element, value, keys);
    let esize = maxalign(etup.len());
    let nsize = maxalign(ntup.len());
    if esize > layout::MAX_ITEM {
        raise(VecError::new(
            SqlState::ProgramLimitExceeded,
            "index tuple too large",
        ));
    }
    let line_pointer = std::mem::size_of::<pg_sys::ItemIdData>();
    let combined = esize + nsize + line_pointer;
    let min_nsize = maxalign(Shape::of(meta).tuple_size(0));
    let min_combined = esize + min_nsize + line_pointer;
    let split_parts = split.map(|code| layout::code_parts(code.len()));
    // Walk the page chain from the insert page, one exclusive lock at a time. The last page
    // stays locked when the walk ends, so new pages are chained after it by one backend at a
    // time (block 1 always exists: builds write it even for an empty table).
    let mut blk = meta.insert_page.max(layout::HEAD_BLKNO);
    let mut new_insert_page = None;
    let mut buf = Locked::read(index, blk, Exclusive);
    loop {
        let (free, next) = {
            let p = buf.page();
            (p.free_space(), p.opaque().next_blkno)
        };
        // The slot of a deleted element (and the code pages of its parts). A split value takes
        // one before free space on the page: it overwrites the old element's code pages, where
        // free space would need new ones.
        let slot = if split.is_some() || free < combined {
            free_slot(&buf, esize, nsize, split_parts)
        } else {
            None
        };
        // The next insert starts at the first page with room for a ground-layer element: free
        // space, or the slot of a deleted element (one a higher element like this one may not
        // fit), so that slots VACUUM freed are not left behind.
        if new_insert_page.is_none()
            && (free >= min_combined
                || slot.is_some()
                || (nsize > min_nsize && free_slot(&buf, esize, min_nsize, split_parts).is_some()))
        {
            new_insert_page = Some(blk);
        }
        // Both tuples on this page.
        if slot.is_none() && free >= combined {
            new_parts(&mut etup);
            chosen(Tid::new(blk, buf.page().max_offset() + 1));
            let wal = WalChange::start(index);
            let mut page = wal.register(&buf, false);
            let eoff = page.as_ref().max_offset() + 1;
            let ntid = Tid::new(blk, eoff + 1);
            layout::set_element_neighbors(&mut etup, ntid);
            let ok = page.add_item(&etup) == Some(eoff) && page.add_item(&ntup) == Some(eoff + 1);
            if !ok {
                failed_to_add(index);
            }
            wal.commit();
            return (
                Tid::new(blk, eoff),
                changed(new_insert_page, meta.insert_page),
            );
        }
        if let Some((etid, ntid, parts)) = slot {
            chosen(etid);
            let part_bufs: Vec<Locked<Exclusive>> = parts
                .iter()
                .map(|t| Locked::read(index, t.block, Exclusive))
                .collect();
            // One WAL record holds at most MAX_GENERIC_XLOG_PAGES (4) pages: the element page
            // and the last parts in the final one, earlier parts (more than 3: a split image)
            // in records before it. A crash between them leaves the element deleted, its parts
            // holding some of the new value: no search reaches a deleted element, and the
            // next insert into the slot overwrites them all again.
            let overwrite = |wal: &WalChange, from: usize, to: usize| {
                let code = split.expect("parts only for a split value");
                let chunks = code.chunks(layout::PART_MAX).enumerate();
                for (i, chunk) in chunks.skip(from).take(to - from) {
                    let mut part_page = wal.register(&part_bufs[i], false);
                    if !part_page
                        .overwrite_item(parts[i].offset, &layout::encode_code_part(i, chunk))
                    {
                        failed_to_add(index);
                    }
                }
            };
            let last_group = parts.len().saturating_sub(WAL_PAGES - 1);
            for from in (0..last_group).step_by(WAL_PAGES) {
                let wal = WalChange::start(index);
                overwrite(&wal, from, (from + WAL_PAGES).min(last_group));
                wal.commit();
            }
            let wal = WalChange::start(index);
            let mut page = wal.register(&buf, false);
            if split.is_some() {
                etup = layout::encode_element(element, &layout::encode_directory(&parts), keys);
                overwrite(&wal, last_group, parts.len());
            }
            layout::set_element_neighbors(&mut etup, ntid);
            // Keep the slot's version: VACUUM bumped it when it marked the element deleted.
            let version = page
                .as_ref()
                .item(etid.offset)
                .filter(|old| layout::is_element_tuple(old))
                .map_or(0, layout::element_version);
            layout::set_element_version(&mut etup, version);
            if !(page.overwrite_item(etid.offset, &etup) && page.overwrite_item(ntid.offset, &ntup))
            {
                failed_to_add(index);
            }
            wal.commit();
            return (etid, changed(new_insert_page, meta.insert_page));
        }
        if next == pg_sys::InvalidBlockNumber {
            break;
        }
        drop(buf);
        blk = next;
        buf = Locked::read(index, blk, Exclusive);
    }

    // Extend: the element (and its neighbours if both fit a page) on a new page chained after
    // the last one, which `buf` still holds; lock order stays increasing.
    new_parts(&mut etup);
    let prev = buf;
    let ebuf = Locked::extend(index);
    let nbuf = (combined > layout::MAX_ITEM).then(|| Locked::extend(index));
    chosen(Tid::new(ebuf.block(), 1));
    let wal = WalChange::start(index);
    {
        let mut pp = wal.register(&prev, false);
        let mut o = pp.as_ref().opaque();
        o.next_blkno = ebuf.block();
        pp.set_opaque(o);
    }
    let mut epage = wal.register(&ebuf, true);
    epage.init(layout::PAGE_ELEMENT);
    let eblk = ebuf.block();
    let ntid = match nbuf.as_ref() {
        Some(nb) => {
            let mut o = epage.as_ref().opaque();
            o.next_blkno = nb.block();
            epage.set_opaque(o);
            Tid::new(nb.block(), 1)
        }
        None => Tid::new(eblk, 2),
    };
    layout::set_element_neighbors(&mut etup, ntid);
    if epage.add_item(&etup) != Some(1) {
        failed_to_add(index);
    }
    match nbuf.as_ref() {
        Some(nb) => {
            let mut npage = wal.register(nb, true);
            npage.init(layout::PAGE_ELEMENT);
            if npage.add_item(&ntup) != Some(1) {
                failed_to_add(index);
            }
        }
        None => {
            if epage.add_item(&ntup) != Some(2) {
                failed_to_add(index);
            }
        }
    }
    wal.commit();
    let page = new_insert_page.unwrap_or(ntid.block);
    (Tid::new(eblk, 1), changed(Some(page), meta.insert_page))
}

fn changed(new: Option<u32>, old: u32) -> Option<u32> {
    new.filter(|p| *p != old)
}

fn failed_to_add(index: Rel) -> ! {
    raise(VecError::new(
        SqlState::InternalError,
        format!(
            "failed to add index item to \"{}\"",
            crate::am::relation_name(index)
        ),
    ))
}

/// Pages one generic WAL record may hold (PostgreSQL's `MAX_GENERIC_XLOG_PAGES`).
const WAL_PAGES: usize = pg_sys::MAX_GENERIC_XLOG_PAGES as usize;

/// Writes the parts of a split code (or image) on code pages — pages maintenance reclaimed
/// first, then new ones — in WAL records of up to [`WAL_PAGES`] pages; returns their TIDs.
/// Until an element refers to them they are unreachable: a crash or cancel in between leaves
/// unused pages (which maintenance reclaims), not a wrong index.
fn write_parts(index: Rel, code: &[u8]) -> Vec<Tid> {
    let mut tids = Vec::with_capacity(layout::code_parts(code.len()));
    let chunks: Vec<&[u8]> = code.chunks(layout::PART_MAX).collect();
    for (group, record) in chunks.chunks(WAL_PAGES).enumerate() {
        let bufs: Vec<Locked<Exclusive>> = record
            .iter()
            .map(|_| {
                Locked::recycled(index, layout::PAGE_FREE).unwrap_or_else(|| Locked::extend(index))
            })
            .collect();
        let wal = WalChange::start(index);
        for (j, (buf, chunk)) in bufs.iter().zip(record).enumerate() {
            let mut page = wal.register(buf, true);
            page.init(layout::PAGE_CODE);
            let part = group * WAL_PAGES + j;
            if page.add_item(&layout::encode_code_part(part, chunk)) != Some(1) {
                failed_to_add(index);
            }
        }
        wal.commit();
        tids.extend(bufs.iter().map(|b| Tid::new(b.block(), 1)));
    }
    tids
}

/// A deleted element on this page, with its neighbour tuple on the same page, whose two slots
/// can hold the new tuples (the freed bytes plus the page's unused space, counted as pgvector
/// does: the tuples are overwritten one after the other). With `split` (the new code's part
/// count), also the TIDs of the element's code parts (from its directory), which the new
/// element's parts overwrite.
fn free_slot<M: LockMode>(
    buf: &Locked<M>,
    esize: usize,
    nsize: usize,
    split: Option<usize>,
) -> Option<(Tid, Tid, Vec<Tid>)> {
    let page = buf.page();
    let blk = buf.block();
    let exact_free = page.exact_free_space();
    for off in 1..=page.max_offset() {
        let Some(item) = page.item(off) else { continue };
        if !layout::is_element_tuple(item) || !layout::element_deleted(item) {
            continue;
        }
        let nt = layout::element_neighbors(item);
        if nt.block != blk {
            continue;
        }
        let Some(nitem) = page.item(nt.offset) else {
            continue;
        };
        let parts = match split {
            Some(n) => {
                let parts = layout::decode_directory(layout::element_value(item));
                if parts.len() != n || parts.iter().any(|t| !t.is_valid()) {
                    continue;
                }
                parts
            }
            None => Vec::new(),
        };
        // Items take MAXALIGNed space (PageIndexTupleOverwrite compares aligned sizes): a
        // neighbour tuple of 196 bytes holds 200, which a new 200-byte one fits.
        let efree = maxalign(item.len()) + exact_free;
        let nfree = maxalign(nitem.len()) + efree.saturating_sub(esize);
        if efree >= esize && nfree >= nsize {
            return Some((Tid::new(blk, off), nt, parts));
        }
    }
    None
}

/// How [`add_connection`] treats a full neighbour list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connect {
    /// Add the link only if the neighbour-selection heuristic keeps it.
    Heuristic,
    /// Add the link in any case, displacing the farthest neighbour: used when an element would
    /// otherwise have no incoming link on the ground layer, and so could never be found.
    Force,
}

/// Makes `new` a neighbour of element `n` in `list` (a layer's, or a key list) if the
/// heuristic keeps it (or there is a free slot, or `mode` forces it), replacing the neighbour
/// it displaces (and, on the ground layer of an index with sketches, `new`'s sketch in that
/// slot). Returns whether `n` links to `new` afterwards.
pub fn add_connection(
    g: &mut DiskGraph,
    images: &mut ImageCache,
    n: Tid,
    (new, sketch): (Tid, Option<&[u8]>),
    distance: f32,
    list: List,
    mode: Connect,
) -> bool {
    let index = g.relation();
    let shape = g.shape;
    let metric = g.metric;
    // Read n's element and current list without holding locks while computing.
    let Some((ntid, nlevel)) = element_links(g, n) else {
        return false;
    };
    if matches!(list, List::Layer(lc) if nlevel < lc) {
        return false;
    }
    let current = neighbor_list(g, ntid, list);
    let cap = shape.capacity(list);
    let valid: Vec<Tid> = current.iter().copied().filter(|t| t.is_valid()).collect();
    if valid.contains(&new) {
        return true;
    }
    let target: Option<Tid> = if valid.len() < cap {
        None // a free slot
    } else if let Some(dying) = valid.iter().copied().find(|t| !g.live(t.pack())) {
        // A neighbour without rows (being deleted: VACUUM will unlink it) gives up its slot,
        // without reading any value — during VACUUM the lists still to be repaired, which
        // every repaired element links back to, all have one.
        Some(dying)
    } else {
        // The heuristic decides over the list and `new`, from their values (the ones not
        // cached read in one batch); an unreadable one gives up its slot.
        cache_images(
            g,
            images,
            std::iter::once(n.pack()).chain(valid.iter().map(|t| t.pack())),
        );
        let Some(nimg) = images.get(&n.pack()) else {
            return false;
        };
        let mut candidates = Vec::with_capacity(valid.len() + 1);
        let mut unreadable = None;
        for t in &valid {
            match images.get(&t.pack()) {
                Some(x) => candidates.push(Scored {
                    distance: metric.distance(nimg, x),
                    id: t.pack(),
                }),
                None => {
                    unreadable = Some(*t);
                    break;
                }
            }
        }
        match unreadable {
            Some(t) => Some(t),
            None if mode == Connect::Force => candidates.iter().max().map(|s| Tid::unpack(s.id)),
            None => {
                candidates.push(Scored {
                    distance,
                    id: new.pack(),
                });
                let chosen = select_cached(metric, images, &candidates, cap);
                if !chosen.iter().any(|s| s.id == new.pack()) {
                    return false;
                }
                valid
                    .iter()
                    .copied()
                    .find(|t| !chosen.iter().any(|s| s.id == t.pack()))
            }
        }
    };
    g.release();

    let buf = Locked::read(index, ntid.block, Exclusive);
    let wal = WalChange::start(index);
    let mut page = wal.register(&buf, false);
    let Some(item) = page.item_mut(ntid.offset) else {
        return false;
    };
    if !layout::is_neighbor_tuple(item) {
        return false;
    }
    let mut links = shape.tids(item, list);
    if links.contains(&new) {
        return true;
    }
    let slot = match target {
        Some(old) => links.iter().position(|t| *t == old),
        None => None,
    }
    .or_else(|| links.iter().position(|t| !t.is_valid()));
    let Some(slot) = slot else {
        return false; // the list changed meanwhile and has no room: leave the link out
    };
    links[slot] = new;
    shape.set(item, list, &links);
    if list == List::Layer(0) {
        shape.set_sketch(item, slot, sketch);
    }
    wal.commit();
    true
}

/// Makes sure some element links to `element` in `list` (the ground layer, or a key list): if
/// none of its neighbours (`neighbors`, nearest first) kept it, the nearest that can take it
/// is made to. An element without incoming links is unreachable by any search — it happens to
/// vectors far from all others, whose neighbours all have closer neighbours (e.g. outliers
/// inserted later).
pub fn ensure_in_link(
    g: &mut DiskGraph,
    images: &mut ImageCache,
    element: Tid,
    neighbors: &[Scored<u64>],
    list: List,
) {
    let sketch = sketch_of(g, images, element.pack());
    for n in neighbors {
        if add_connection(
            g,
            images,
            Tid::unpack(n.id),
            (element, sketch.as_deref()),
            n.distance,
            list,
            Connect::Force,
        ) {
            return;
        }
    }
}

/// An element's neighbour-tuple TID and level.
pub(super) fn element_links(g: &mut DiskGraph, e: Tid) -> Option<(Tid, usize)> {
    if let Some(s) = g.seen.get(&e.pack()) {
        return Some((s.neighbors, s.level as usize));
    }
    let s = g.visit(e.pack())?;
    Some((s.neighbors, s.level as usize))
}

/// The slots of `list` in the neighbour tuple at `ntid`.
fn neighbor_list(g: &mut DiskGraph, ntid: Tid, list: List) -> Vec<Tid> {
    let shape = g.shape;
    g.read_item(ntid, |item| {
        if layout::is_neighbor_tuple(item) {
            shape.tids(item, list)
        } else {
            Vec::new()
        }
    })
    .unwrap_or_default()
}

/// `aminsert`.
#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: PostgreSQL passes the row's index column values (`values` and `isnull`: one
    // entry per index column, the vector first), valid for the duration of aminsert.
    if unsafe { *isnull } {
        return false;
    }
    // SAFETY: PostgreSQL passes a valid index relation, open and locked, and the row's heap
    // TID, valid for the duration of aminsert.
    let (index, tid) = unsafe { (Rel::from_raw(index), Tid::from_item_pointer(&*heap_tid)) };
    crate::am::memcx::scoped(c"ruhnsw insert", || {
        crate::am::corrupt::guard(index, || {
            let meta = read_meta(index);
            let metric = meta.metric().expect("validated meta page");
            // SAFETY: `values` as above; its first datum is not NULL (checked above) and of the
            // vector column's type.
            let image =
                unsafe { crate::am::value::image_from_datum(*values, metric, Some("ruhnsw")) };
            if let Some(image) = image {
                // SAFETY: `values`/`isnull` hold one entry per index column (above).
                let keys = unsafe { key_columns(index, &meta).encode(values, isnull) };
                insert_image(index, &image, &keys, tid);
            }
        })
    });
    false
}
