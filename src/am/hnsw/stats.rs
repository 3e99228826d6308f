//! `ruvector_index_stats()` for a `ruhnsw` index: read from the pages themselves.

use super::disk::{key_columns, read_meta};
use super::keydir;
use super::layout::{self, Tid};
use crate::am::page::{Locked, Rel, Share};
use crate::am::value::opclass_name;
use pgrx::pg_sys;
use serde_json::{json, Value};

/// Statistics of a ruhnsw index, as JSON.
pub fn stats(index: Rel) -> Value {
    let meta = read_meta(index);
    let shape = layout::Shape::of(&meta);
    let mut key_links = 0u64;
    let split = meta.code_format() == layout::FORMAT_CODE_PARTS;
    let mut elements = 0u64;
    let mut deleted = 0u64;
    let mut heap_tuples = 0u64;
    let mut levels: Vec<u64> = Vec::new();
    let mut layer0_links = 0u64;
    let mut upper_links = 0u64;
    let mut upper_slots = 0u64;
    let mut value_bytes = 0u64;
    let mut element_pages = 0u64;
    let keys = (meta.keys > 0).then(|| key_columns(index, &meta).layout);
    // Keys of live elements that are not NULL: what the key directory needs entries for.
    let mut live_keys = 0u64;
    let mut blk = layout::HEAD_BLKNO;
    let mut chain = crate::am::corrupt::Chain::new(index);
    while blk != pg_sys::InvalidBlockNumber {
        chain.step(blk);
        let buf = Locked::read(index, blk, Share);
        let page = buf.page();
        element_pages += 1;
        for off in 1..=page.max_offset() {
            let Some(item) = page.item(off) else { continue };
            if let Some(e) = layout::decode_element(item) {
                if e.deleted {
                    deleted += 1;
                    continue;
                }
                elements += 1;
                heap_tuples += e.heap_tids.len() as u64;
                if let Some(k) = &keys {
                    let blob = layout::element_keys(item);
                    if blob.len() == k.len() {
                        live_keys += (0..k.count()).filter(|&c| !k.is_null(blob, c)).count() as u64;
                    }
                }
                value_bytes += match meta.stored_len() {
                    Some(len) if split => len as u64,
                    _ => layout::element_value(item).len() as u64,
                };
                let l = e.level as usize;
                if levels.len() <= l {
                    levels.resize(l + 1, 0);
                }
                levels[l] += 1;
            } else if layout::is_neighbor_tuple(item) {
                let count = layout::neighbor_slot_count(item);
                let level = shape.level_of(count, item.len()).unwrap_or(0);
                for j in 0..shape.key_lists {
                    key_links += shape
                        .tids(item, layout::List::Key(j))
                        .iter()
                        .filter(|t| t.is_valid())
                        .count() as u64;
                }
                for lc in 0..=level {
                    let n = shape
                        .tids(item, layout::List::Layer(lc))
                        .iter()
                        .filter(|t| t.is_valid())
                        .count() as u64;
                    if lc == 0 {
                        layer0_links += n;
                    } else {
                        upper_links += n;
                        upper_slots += 1;
                    }
                }
            }
        }
        blk = page.opaque().next_blkno;
    }
    let pages = index.blocks() as u64;
    let size = pages * pg_sys::BLCKSZ as u64;
    let entry = meta.entry();
    let live = elements.max(1) as f64;
    let directory = keys.as_ref().map(|_| {
        let (pages, entries) = keydir::summary(index, (meta.key_head, meta.key_tail));
        // Entries of deleted elements, and repeated ones of reused slots, stay until REINDEX.
        json!({
            "pages": pages,
            "entries": entries,
            "stale_entries": entries.saturating_sub(live_keys),
        })
    });
    let mut out = json!({
        "access_method": "ruhnsw",
        "format_version": meta.version,
        "opclass": meta.metric().map(opclass_name),
        "quantization": meta.codebook.quantization().name(),
        "code_bytes": meta.codebook.quantization().code_len(meta.dimensions as usize),
        "codebook_bytes": meta.codebook.len,
        "code_parts": meta.parts(),
        "dimensions": meta.dimensions,
        "m": meta.m,
        "ef_construction": meta.ef_construction,
        "pages": pages,
        "element_pages": element_pages,
        "size_bytes": size,
        "elements": elements,
        "deleted_elements": deleted,
        "heap_tuples": heap_tuples,
        "levels": levels.len(),
        "elements_per_level": levels,
        "entry_point": entry.map(|(t, _)| tid_text(t)),
        "entry_level": entry.map(|(_, l)| l),
        "avg_degree_layer0": if elements > 0 { layer0_links as f64 / live } else { 0.0 },
        "avg_degree_upper": if upper_slots > 0 { upper_links as f64 / upper_slots as f64 } else { 0.0 },
        "bytes_per_vector": if heap_tuples > 0 { size as f64 / heap_tuples as f64 } else { 0.0 },
        "value_bytes_per_vector": if elements > 0 { value_bytes as f64 / live } else { 0.0 },
        "key_columns": meta.keys,
        "key_bytes": meta.key_len,
        "key_directory": directory,
        // Key columns with key links, numbered from 1 among the key columns (`layout::Shape`).
        "key_link_columns": (0..16).filter(|c| meta.key_links & (1 << c) != 0).map(|c| c + 1).collect::<Vec<_>>(),
        "avg_key_links": if elements > 0 && shape.key_lists > 0 { key_links as f64 / live / shape.key_lists as f64 } else { 0.0 },
    });
    if meta.sketched() {
        // Neighbour sketches (`WITH (sketches = on)`): bits, and bytes per ground-layer link.
        out["sketch_bits"] = json!(meta.sketch_bits);
        out["sketch_bytes"] = json!(meta.sketch_len());
    }
    out
}

fn tid_text(t: Tid) -> Value {
    Value::String(format!("({},{})", t.block, t.offset))
}
