//! `ruvector_index_check()` for a `ruhnsw` index: every page, tuple and link read and checked
//! against the format (`layout.rs`), under share locks only, so writers go on meanwhile.
//!
//! Pass 1 reads every block in order: page types, line pointers, element tuples (header,
//! heap TIDs, key blob, value image or code, a split code's parts) and neighbour tuples. Pass 2
//! reads the element pages again and checks every link: it points at an element present on
//! the layer it is on. Then the element chain, the entry point, the codebook, the key
//! directory (every live element's keys have their entries) and reachability: a walk over
//! layer 0 from the entry point, as a search would go, counts the live elements it never
//! reaches (a warning: HNSW's neighbour selection can strand a few; the index still answers,
//! just without them).
//!
//! Inserts and VACUUM may change pages between the passes. A check that sees an
//! inconsistency across pages — a link to an element pass 1 did not see, an element without
//! its directory entries — looks again at the pages involved before it reports a problem, as
//! amcheck's `bt_index_check` does for its cross-page checks; what is still inconsistent then
//! is damage.

use super::disk::{element_key_word, try_read_meta};
use super::keydir;
use super::layout::{self, Tid};
use crate::am::check::{heap_tid_problem, Heap};
use crate::am::page::{BulkRead, Locked, Rel, Share};
use crate::check::{image_problem, Findings};
use crate::graph::search::{reach, HashVisited, IdHash};
use pgrx::pg_sys::InvalidBlockNumber;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// What pass 1 keeps of an element.
#[derive(Clone, Copy)]
struct Element {
    level: u8,
    deleted: bool,
    neighbors: Tid,
}

/// Checks a ruhnsw index; live elements' heap TIDs go to `heap` (the `heapallindexed` pass).
/// Returns what was checked, as JSON.
pub fn check(index: Rel, f: &mut Findings, heap: &mut Heap) -> Value {
    let Some(meta) = crate::am::check::meta_page(
        index,
        f,
        layout::PAGE_META,
        "ruhnsw",
        layout::VERSIONS,
        try_read_meta,
    ) else {
        return json!({});
    };
    let m = meta.m as usize;
    let shape = layout::Shape::of(&meta);
    let kind = meta.metric().expect("validated meta page").kind();
    let dims = meta.dimensions as usize;
    // Bytes of each element's code, or of its image when images are split (version 4).
    let code_len = meta.stored_len();
    let format = meta.code_format();
    let split_images = format == layout::FORMAT_CODE_PARTS && !meta.is_quantized();
    let Some(keys) = crate::am::check::key_layout(index, f, "ruhnsw", meta.keys, meta.key_len)
    else {
        return json!({});
    };
    let nblocks = index.blocks();
    let strategy = BulkRead::new();

    // Pass 1: every block.
    let mut page_types = vec![0u8; nblocks as usize];
    let mut elements: HashMap<u64, Element, IdHash> = HashMap::default();
    let mut neighbor_tuples: HashMap<u64, u16, IdHash> = HashMap::default();
    // Code parts referenced by elements: part TID -> (element, part number).
    let mut parts: HashMap<u64, (Tid, usize), IdHash> = HashMap::default();
    // Live elements' directory words (index with key columns): (element, column, word).
    let mut wanted_entries: Vec<(Tid, u16, u64)> = Vec::new();
    // The key columns with key links, and each live element's directory words of them (equal
    // keys have equal words): a key link must join two elements of the same key.
    let linked = super::keylinks::columns(meta.key_links);
    let mut linked_words: HashMap<u64, Vec<Option<u64>>, IdHash> = HashMap::default();
    // Sketches (version 5): each live element's sketch from its value (images in the element
    // tuples), which the sketches its neighbours' layer-0 lists hold must equal.
    let sketcher = super::sketches::Sketcher::of(index, &meta);
    if meta.sketched() && sketcher.is_none() {
        f.page(
            layout::META_BLKNO,
            "the meta page's sketch centroid is missing or not finite",
        );
    }
    let mut element_sketches: HashMap<u64, Vec<u8>, IdHash> = HashMap::default();
    let (mut sketches_checked, mut sketches_absent) = (0u64, 0u64);
    let mut new_pages = 0u64;
    let mut free_pages = 0u64;
    let (mut live, mut deleted, mut heap_tuples, mut rowless) = (0u64, 0u64, 0u64, 0u64);
    for blk in 1..nblocks {
        pgrx::check_for_interrupts!();
        let buf = Locked::read_with(index, blk, Share, &strategy);
        let page = buf.page_unchecked();
        if page.is_new() {
            new_pages += 1;
            continue;
        }
        if !page.is_ruvector() {
            f.page(blk, "block is not a ruvector index page");
            continue;
        }
        let t = page.opaque().page_type;
        page_types[blk as usize] = t;
        match t {
            layout::PAGE_ELEMENT | layout::PAGE_CODE => {}
            // Key directory pages hold their contents in the page's contents area, not as
            // items (`keydir.rs` checks them); codebook pages are read with the codebook.
            layout::PAGE_KEYS | layout::PAGE_KEY_TABLE | crate::am::codebook::PAGE_CODEBOOK => {
                continue
            }
            // A code page maintenance reclaimed: empty until an insert reuses it.
            layout::PAGE_FREE => {
                free_pages += 1;
                continue;
            }
            other => {
                f.page(
                    blk,
                    format!("page has type {other}, which a ruhnsw index has none of"),
                );
                continue;
            }
        }
        for off in 1..=page.max_offset() {
            let Some(item) = crate::am::check::item(page, blk, off, f) else {
                continue;
            };
            let here = Tid::new(blk, off);
            match t {
                layout::PAGE_ELEMENT if layout::tuple_type(item) == layout::ELEMENT_TUPLE => {
                    let Some(e) = layout::decode_element(item) else {
                        f.at(blk, off, format!("element tuple of {} bytes is shorter than its header and value say", item.len()));
                        continue;
                    };
                    if e.deleted {
                        deleted += 1;
                        if !e.heap_tids.is_empty() {
                            f.at(blk, off, "deleted element still has heap TIDs");
                        }
                    } else {
                        live += 1;
                        // No heap rows, not yet marked deleted: VACUUM between its first and
                        // third passes, or a VACUUM cancelled there (maintenance finishes it).
                        rowless += e.heap_tids.is_empty() as u64;
                        for t in &e.heap_tids {
                            match heap_tid_problem(heap, *t) {
                                Some(p) => f.at(blk, off, p),
                                None => heap.add(*t),
                            }
                        }
                        heap_tuples += e.heap_tids.len() as u64;
                        if e.format != format {
                            f.at(
                                blk,
                                off,
                                format!(
                                    "element's value format is {}, the index's {format}",
                                    e.format
                                ),
                            );
                        } else {
                            let value = layout::element_value(item);
                            match (format, code_len) {
                                (layout::FORMAT_PLAIN, _) => match image_problem(kind, dims, value)
                                {
                                    Some(p) => f.at(blk, off, p),
                                    None => {
                                        if let Some(sk) = &sketcher {
                                            element_sketches.insert(here.pack(), sk.encode(value));
                                        }
                                    }
                                },
                                (layout::FORMAT_CODE, Some(len)) if value.len() != len => {
                                    f.at(
                                        blk,
                                        off,
                                        format!(
                                            "element's code has {} bytes, {len} expected",
                                            value.len()
                                        ),
                                    );
                                }
                                _ => {}
                            }
                        }
                        if let Some(k) = &keys {
                            let blob = layout::element_keys(item);
                            if blob.len() != k.len() {
                                f.at(
                                    blk,
                                    off,
                                    format!(
                                        "element's key blob has {} bytes, {} expected",
                                        blob.len(),
                                        k.len()
                                    ),
                                );
                            } else {
                                for c in 0..k.count() {
                                    if let Some(w) = k.directory_word(blob, c) {
                                        wanted_entries.push((here, c as u16, w));
                                    }
                                }
                                if !linked.is_empty() {
                                    let words =
                                        linked.iter().map(|&c| k.directory_word(blob, c)).collect();
                                    linked_words.insert(here.pack(), words);
                                }
                            }
                        }
                    }
                    // A deleted element keeps its split code's directory (the slot is reused
                    // with its parts).
                    if format == layout::FORMAT_CODE_PARTS && e.format == format {
                        let dir = layout::decode_directory(layout::element_value(item));
                        let want = code_len.map_or(0, layout::code_parts);
                        if dir.len() != want {
                            f.at(
                                blk,
                                off,
                                format!(
                                    "element's code directory lists {} parts, {want} expected",
                                    dir.len()
                                ),
                            );
                        }
                        for (i, p) in dir.into_iter().enumerate() {
                            if let Some((other, _)) = parts.insert(p.pack(), (here, i)) {
                                f.at(
                                    blk,
                                    off,
                                    format!(
                                        "element's code part ({},{}) is also element ({},{})'s",
                                        p.block, p.offset, other.block, other.offset
                                    ),
                                );
                            }
                        }
                    }
                    elements.insert(
                        here.pack(),
                        Element {
                            level: e.level,
                            deleted: e.deleted,
                            neighbors: e.neighbors,
                        },
                    );
                }
                layout::PAGE_ELEMENT if layout::is_neighbor_tuple(item) => {
                    let count = layout::neighbor_slot_count(item);
                    if shape.level_of(count, item.len()).is_none() {
                        f.at(
                            blk,
                            off,
                            format!(
                                "neighbour tuple of {} bytes says it holds {count} links",
                                item.len()
                            ),
                        );
                        continue;
                    }
                    neighbor_tuples.insert(here.pack(), count as u16);
                }
                layout::PAGE_ELEMENT => f.at(
                    blk,
                    off,
                    format!(
                        "item of type {} on an element page",
                        layout::tuple_type(item)
                    ),
                ),
                // Code parts are checked from the directories that list them; key directory
                // pages by keydir::check.
                _ => {}
            }
        }
    }

    // The element chain, from the first element page: acyclic, element pages only, and every
    // element page on it (looked at again if one is not: an insert may have added a page
    // to the end of the chain after the walk passed it).
    let on_chain = walk_chain(index, nblocks, f);
    let off_chain: Vec<u32> = (1..nblocks)
        .filter(|b| page_types[*b as usize] == layout::PAGE_ELEMENT && !on_chain.contains(b))
        .collect();
    if !off_chain.is_empty() {
        let again = walk_chain(index, index.blocks(), &mut Findings::default());
        for b in off_chain.into_iter().filter(|b| !again.contains(b)) {
            f.page(b, "element page is not on the element chain");
        }
    }

    // The insert hint: an element page (or one added since pass 1; 0 reads as the first).
    let hint_problem = |meta: &layout::MetaPage| {
        let b = meta.insert_page;
        (b != 0 && b < nblocks && page_types[b as usize] != layout::PAGE_ELEMENT
            || b >= index.blocks())
        .then(|| format!("the meta page's insert page, block {b}, is not an element page"))
    };
    if hint_problem(&meta).is_some() {
        if let Some(p) = hint_problem(&try_read_meta(index).unwrap_or(meta)) {
            f.page(layout::META_BLKNO, p);
        }
    }

    // Pass 2: links.
    let owners: HashMap<u64, Tid, IdHash> = elements
        .iter()
        .map(|(t, e)| (e.neighbors.pack(), Tid::unpack(*t)))
        .collect();
    let mut links = 0u64;
    let mut links_to_deleted = 0u64;
    let mut key_links_across_keys = 0u64;
    for (&t, e) in &elements {
        let fits = neighbor_tuples
            .get(&e.neighbors.pack())
            .is_some_and(|&count| count as usize == shape.slots(e.level as usize));
        // An insert reusing a deleted element's slot rewrites the element and its neighbour
        // tuple together; pass 1 may have read one before and one after.
        if !fits {
            let tid = Tid::unpack(t);
            if let Some(p) = neighbor_tuple_problem(index, tid, &shape) {
                f.at(tid.block, tid.offset, p);
            }
        }
    }
    for blk in (1..nblocks).filter(|b| page_types[*b as usize] == layout::PAGE_ELEMENT) {
        pgrx::check_for_interrupts!();
        let buf = Locked::read_with(index, blk, Share, &strategy);
        let page = buf.page_unchecked();
        for off in 1..=page.max_offset() {
            let here = Tid::new(blk, off);
            let Some(&count) = neighbor_tuples.get(&here.pack()) else {
                continue;
            };
            let Some(item) = page.item(off) else { continue };
            if !layout::is_neighbor_tuple(item) {
                continue;
            }
            let Some(owner) = owners.get(&here.pack()) else {
                f.warn(
                    Some(blk),
                    Some(off),
                    "neighbour tuple that no element refers to",
                );
                continue;
            };
            let Some(levels) = shape.level_of(count as usize, item.len()) else {
                continue; // rewritten since pass 1, which checked its count
            };
            let lists = (0..=levels)
                .map(layout::List::Layer)
                .chain((0..shape.key_lists).map(layout::List::Key));
            for list in lists {
                // A key link may point at an element of any level.
                let level = match list {
                    layout::List::Layer(l) => l,
                    layout::List::Key(_) => 0,
                };
                for (slot, target) in shape.tids(item, list).into_iter().enumerate() {
                    if !target.is_valid() {
                        continue;
                    }
                    links += 1;
                    if list == layout::List::Layer(0) {
                        let stored = shape.sketch(item, slot);
                        match (stored, element_sketches.get(&target.pack())) {
                            (Some(s), _) if s.iter().all(|&b| b == 0) => sketches_absent += 1,
                            (Some(s), Some(want)) => {
                                sketches_checked += 1;
                                // Read the element again: since pass 1, VACUUM may have
                                // deleted it and an insert reused its slot for another value.
                                let now = || {
                                    sketcher
                                        .as_ref()
                                        .and_then(|sk| sk.element_sketch(index, target, dims))
                                };
                                if s != &want[..] && now().is_some_and(|n| n != s) {
                                    f.at(
                                        blk,
                                        off,
                                        format!(
                                            "element ({},{})'s sketch of its layer-0 link to \
                                             ({},{}) does not match that element's value",
                                            owner.block, owner.offset, target.block, target.offset
                                        ),
                                    );
                                }
                            }
                            _ => {}
                        }
                    }
                    if let layout::List::Key(j) = list {
                        let word = |t: Tid| linked_words.get(&t.pack()).map(|w| w[j]);
                        let (a, b) = (word(*owner), word(target));
                        if a.is_some() && b.is_some() && a != b {
                            // Read both again: an insert may have reused either slot since.
                            let now = |t: Tid| {
                                keys.as_ref()
                                    .and_then(|k| element_key_word(index, t, k, linked[j]))
                            };
                            let (a, b) = (now(*owner), now(target));
                            if a.is_some() && b.is_some() && a != b {
                                key_links_across_keys += 1;
                                f.warn(
                                    Some(blk),
                                    Some(off),
                                    format!(
                                        "element ({},{})'s key link (list {j}) points to ({},{}), \
                                         an element with another key",
                                        owner.block, owner.offset, target.block, target.offset
                                    ),
                                );
                            }
                        }
                    }
                    match elements.get(&target.pack()) {
                        Some(e) if e.deleted => links_to_deleted += 1,
                        Some(e) if e.level as usize >= level => {}
                        _ => {
                            if let Some(p) = link_problem(index, target, level) {
                                let on = match list {
                                    layout::List::Layer(l) => format!("link on layer {l}"),
                                    layout::List::Key(j) => format!("key link (list {j})"),
                                };
                                f.at(
                                    blk,
                                    off,
                                    format!(
                                        "element ({},{})'s {on} points to ({},{}), {p}",
                                        owner.block, owner.offset, target.block, target.offset
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    // Code parts: each on a code page, with its part number and length; split images, joined
    // element by element, must be valid images.
    if let (layout::FORMAT_CODE_PARTS, Some(len)) = (format, code_len) {
        let n = layout::code_parts(len);
        let mut by_element: Vec<(Tid, usize, Tid)> = parts
            .iter()
            .map(|(&p, &(element, i))| (element, i, Tid::unpack(p)))
            .collect();
        by_element.sort_unstable_by_key(|&(element, i, _)| (element.pack(), i));
        let mut image = Vec::new();
        for (k, &(element, i, p)) in by_element.iter().enumerate() {
            pgrx::check_for_interrupts!();
            let want = if i + 1 == n {
                len - (n - 1) * layout::PART_MAX
            } else {
                layout::PART_MAX
            };
            if i == 0 {
                image.clear();
            }
            let ok = p.block != 0 && p.block < index.blocks() && {
                let buf = Locked::read(index, p.block, Share);
                let page = buf.page_unchecked();
                page.is_ruvector()
                    && page.opaque().page_type == layout::PAGE_CODE
                    && page
                        .item(p.offset)
                        .and_then(|item| layout::code_part(item, i))
                        .is_some_and(|b| {
                            if split_images {
                                image.extend_from_slice(b);
                            }
                            b.len() == want
                        })
            };
            let last = by_element.get(k + 1).is_none_or(|next| next.0 != element);
            if split_images && last && image.len() == len {
                if let Some(problem) = image_problem(kind, dims, &image) {
                    f.at(element.block, element.offset, problem);
                }
            }
            if !ok {
                f.at(
                    element.block,
                    element.offset,
                    format!(
                        "element's code part {i} at ({},{}) is not a code part of {want} bytes",
                        p.block, p.offset
                    ),
                );
            }
        }
    }

    // The entry point: a live element of the level the meta page gives (looked at again,
    // with the meta page, if not: an insert may have made a new one).
    let entry_problem =
        |meta: &layout::MetaPage, elements: &HashMap<u64, Element, IdHash>| match meta.entry() {
            None if live > 0 => Some("the index has live elements but no entry point".to_string()),
            None => None,
            Some((t, level)) => match elements.get(&t.pack()) {
                Some(e) if !e.deleted && e.level as usize == level => None,
                _ => Some(format!(
                    "the entry point ({},{}) is not a live element of level {level}",
                    t.block, t.offset
                )),
            },
        };
    if entry_problem(&meta, &elements).is_some() {
        let now = try_read_meta(index).unwrap_or(meta);
        let mut again = elements.clone();
        if let Some((t, _)) = now.entry() {
            if let Some(e) = read_element(index, t) {
                again.insert(t.pack(), e);
            }
        }
        if let Some(p) = entry_problem(&now, &again) {
            f.page(layout::META_BLKNO, p);
        }
    }

    // The codebook.
    let codebook_pages = crate::am::check::codebook(index, f, &meta.codebook, dims);

    // The key directory: every live element's keys have their entries.
    let mut directory = Value::Null;
    if let Some(k) = &keys {
        let d = keydir::check(index, (meta.key_head, meta.key_tail), k.count(), f);
        // Elements whose entries the directory read lacked, still live with that key: VACUUM
        // may have deleted the element (and compacted its entries) since pass 1, and an insert
        // may have reused its slot with the same key — appending the new entry, before writing
        // the element, after the directory was read. So the element is re-read first, then, if
        // any is still missing, the directory once more.
        let lacking: Vec<(Tid, u16, u64)> = wanted_entries
            .iter()
            .copied()
            .filter(|&(element, column, word)| {
                !d.keys
                    .contains(&keydir::entry_key(element, column as usize, word))
                    && Locked::read(index, element.block, Share)
                        .page_unchecked()
                        .item(element.offset)
                        .and_then(|item| {
                            let e = layout::decode_element(item)?;
                            (!e.deleted).then(|| {
                                k.directory_word(layout::element_keys(item), column as usize)
                            })?
                        })
                        == Some(word)
            })
            .collect();
        let again = (!lacking.is_empty()).then(|| {
            keydir::check(
                index,
                (meta.key_head, meta.key_tail),
                k.count(),
                &mut Findings::default(),
            )
        });
        let mut missing = 0u64;
        for (element, column, word) in lacking {
            let key = keydir::entry_key(element, column as usize, word);
            if again.as_ref().is_some_and(|a| a.keys.contains(&key)) {
                continue;
            }
            missing += 1;
            f.at(
                element.block,
                element.offset,
                format!("element's key column {column} has no entry in the key directory"),
            );
        }
        for b in &d.pages {
            if let Some(t) = page_types.get_mut(*b as usize) {
                *t = layout::PAGE_KEY_TABLE;
            }
        }
        directory =
            json!({"pages": d.pages.len(), "entries": d.entries, "missing_entries": missing});
    }

    // Pages nothing refers to.
    for b in codebook_pages {
        if let Some(t) = page_types.get_mut(b as usize) {
            *t = 0;
        }
    }
    let used_code_pages: HashSet<u32> = parts.keys().map(|p| Tid::unpack(*p).block).collect();
    for blk in 1..nblocks {
        match page_types[blk as usize] {
            layout::PAGE_CODE if !used_code_pages.contains(&blk) => {
                f.warn(Some(blk), None, "code page no element refers to")
            }
            layout::PAGE_KEYS => f.warn(Some(blk), None, "key directory page on no bucket's chain"),
            crate::am::codebook::PAGE_CODEBOOK => {
                f.page(blk, "codebook page that is not the index's codebook")
            }
            _ => {}
        }
    }

    // Reachability on layer 0 from the entry point.
    let unreachable = match meta.entry() {
        Some((entry, _)) if f.ok() => {
            let reached = reachable(index, entry, m, &elements);
            let stranded: Vec<Tid> = elements
                .iter()
                .filter(|(t, e)| !e.deleted && !reached.contains(**t))
                .map(|(t, _)| Tid::unpack(*t))
                .collect();
            if !stranded.is_empty() {
                let some: Vec<String> = stranded
                    .iter()
                    .take(10)
                    .map(|t| format!("({},{})", t.block, t.offset))
                    .collect();
                f.warn(None, None, format!("{} live elements are not reachable from the entry point on layer 0 (searches cannot return them; REINDEX relinks them), e.g. {}", stranded.len(), some.join(", ")));
            }
            Some(stranded.len())
        }
        _ => None,
    };

    if rowless > 0 {
        f.warn(
            None,
            None,
            format!(
                "{rowless} elements have no heap rows but are not deleted (a VACUUM is running, \
                 or one was cancelled: the next VACUUM or ruvector_index_maintenance() deletes \
                 them)"
            ),
        );
    }
    let mut out = json!({
        "pages": nblocks,
        "new_pages": new_pages,
        "free_pages": free_pages,
        "elements": live,
        "elements_without_rows": rowless,
        "deleted_elements": deleted,
        "heap_tuples": heap_tuples,
        "neighbor_tuples": neighbor_tuples.len(),
        "links": links,
        "links_to_deleted": links_to_deleted,
        "key_links_across_keys": key_links_across_keys,
        "unreachable_elements": unreachable,
        "code_parts": parts.len(),
        "key_directory": directory,
    });
    if sketcher.is_some() {
        out["sketches_checked"] = json!(sketches_checked);
        out["sketches_absent"] = json!(sketches_absent);
    }
    out
}

/// The blocks of the element chain (problems with it go to `f`).
fn walk_chain(index: Rel, nblocks: u32, f: &mut Findings) -> HashSet<u32> {
    let mut seen = HashSet::new();
    let mut blk = layout::HEAD_BLKNO;
    while blk != InvalidBlockNumber {
        if blk >= nblocks {
            // A page added since the check began is fine; one past the end is not.
            if blk >= index.blocks() {
                f.page(blk, "the element chain leads past the end of the index");
            }
            break;
        }
        if !seen.insert(blk) {
            f.page(blk, "the element chain loops back to this block");
            break;
        }
        let buf = Locked::read(index, blk, Share);
        let page = buf.page_unchecked();
        if !page.is_ruvector() || page.opaque().page_type != layout::PAGE_ELEMENT {
            f.page(
                blk,
                "the element chain leads to a page that is not an element page",
            );
            break;
        }
        blk = page.opaque().next_blkno;
    }
    seen
}

/// The element at `t` now, if there is one.
/// The directory word of key `column` of the live element at `t`, read now (`None` if there
/// is no live element there or its key is NULL).
fn read_element(index: Rel, t: Tid) -> Option<Element> {
    if t.block >= index.blocks() {
        return None;
    }
    let buf = Locked::read(index, t.block, Share);
    let page = buf.page_unchecked();
    let e = layout::decode_element(page.item(t.offset)?)?;
    Some(Element {
        level: e.level,
        deleted: e.deleted,
        neighbors: e.neighbors,
    })
}

/// What is wrong with the neighbour tuple of the element at `tid`, looked at now: the
/// element's page stays locked while the neighbour tuple's is read (the order inserts and
/// VACUUM lock them in), so the two are seen as one change left them.
fn neighbor_tuple_problem(index: Rel, tid: Tid, shape: &layout::Shape) -> Option<String> {
    let buf = Locked::read(index, tid.block, Share);
    let e = layout::decode_element(buf.page_unchecked().item(tid.offset)?)?;
    let n = e.neighbors;
    if !n.is_valid() || n.block == 0 || n.block >= index.blocks() {
        return Some(format!(
            "element's neighbour tuple ({},{}) is outside the element pages",
            n.block as i64, n.offset
        ));
    }
    let other = (n.block != tid.block).then(|| Locked::read(index, n.block, Share));
    let page = match &other {
        Some(b) => b.page_unchecked(),
        None => buf.page_unchecked(),
    };
    let want = shape.slots(e.level as usize);
    match page.item(n.offset).filter(|i| layout::is_neighbor_tuple(i)) {
        None => Some(format!(
            "element's neighbour tuple ({},{}) is not a neighbour tuple",
            n.block, n.offset
        )),
        Some(item) => {
            let count = layout::neighbor_slot_count(item);
            (count != want).then(|| {
                format!(
                    "element of level {} has a neighbour tuple of {count} links, {want} expected",
                    e.level
                )
            })
        }
    }
}

/// What is wrong with a link on `level` to `target`, looked at now (`None`: an element
/// inserted after pass 1 read its page, fine).
fn link_problem(index: Rel, target: Tid, level: usize) -> Option<String> {
    if target.block == 0 || target.block >= index.blocks() {
        return Some("outside the element pages".into());
    }
    match read_element(index, target) {
        None => Some("which is not an element".into()),
        Some(e) if !e.deleted && (e.level as usize) < level => {
            Some(format!("an element of level {}", e.level))
        }
        Some(_) => None,
    }
}

/// The live elements a search can reach on layer 0 from `entry` (through live elements, as
/// a search goes: deleted ones are not expanded).
fn reachable(
    index: Rel,
    entry: Tid,
    m: usize,
    elements: &HashMap<u64, Element, IdHash>,
) -> HashVisited {
    let mut visited = HashVisited::with_capacity(elements.len());
    let mut expanded = 0u64;
    reach(entry.pack(), &mut visited, |t, out| {
        let Some(e) = elements.get(&t) else { return };
        if e.deleted {
            return;
        }
        expanded += 1;
        if expanded.is_multiple_of(1024) {
            pgrx::check_for_interrupts!();
        }
        let buf = Locked::read(index, e.neighbors.block, Share);
        if let Some(item) = buf.page_unchecked().item(e.neighbors.offset) {
            if layout::is_neighbor_tuple(item) {
                let from = out.len();
                layout::Shape::plain(m).read(item, layout::List::Layer(0), out);
                // Only elements pass 1 saw are walked to (a TID elsewhere is damage, which
                // the link checks report).
                let mut i = from;
                while i < out.len() {
                    if elements.contains_key(&out[i]) {
                        i += 1;
                    } else {
                        out.swap_remove(i);
                    }
                }
            }
        }
    });
    visited
}
