//! `ruvector_index_stats()` for a `ruivfflat` index: read from the pages themselves.

use super::layout;
use super::lists::{for_each_list, read_meta};
use super::vacuum::is_row;
use crate::am::page::{Locked, Rel, Share};
use crate::am::value::opclass_name;
use pgrx::pg_sys;
use serde_json::{json, Value};

/// Statistics of a ruivfflat index, as JSON.
pub fn stats(index: Rel) -> Value {
    let meta = read_meta(index);
    let mut starts = Vec::with_capacity(meta.lists as usize);
    for_each_list(index, &meta, |_, h, _| starts.push(h.start));
    let list_pages = {
        let mut n = 0u64;
        let mut blk = meta.list_head;
        let mut chain = crate::am::corrupt::Chain::new(index);
        while blk != pg_sys::InvalidBlockNumber {
            chain.step(blk);
            n += 1;
            blk = Locked::read(index, blk, Share).page().opaque().next_blkno;
        }
        n
    };
    let mut per_list = Vec::with_capacity(starts.len());
    let mut data_pages = 0u64;
    for start in starts {
        let mut rows = 0u64;
        let mut blk = start;
        let mut chain = crate::am::corrupt::Chain::new(index);
        while blk != layout::INVALID_BLOCK {
            chain.step(blk);
            let buf = Locked::read(index, blk, Share);
            let page = buf.page();
            rows += (1..=page.max_offset())
                .filter(|off| page.item(*off).is_some_and(|i| is_row(&meta, i)))
                .count() as u64;
            data_pages += 1;
            blk = page.opaque().next_blkno;
        }
        per_list.push(rows);
    }
    let tuples: u64 = per_list.iter().sum();
    let pages = index.blocks() as u64;
    let size = pages * pg_sys::BLCKSZ as u64;
    let lists = per_list.len();
    json!({
        "access_method": "ruivfflat",
        "format_version": meta.version,
        "opclass": meta.metric().map(opclass_name),
        "quantization": meta.codebook.quantization().name(),
        "code_bytes": meta.codebook.quantization().code_len(meta.dimensions as usize),
        "codebook_bytes": meta.codebook.len,
        "dimensions": meta.dimensions,
        "lists": meta.lists,
        "tuples": tuples,
        "empty_lists": per_list.iter().filter(|n| **n == 0).count(),
        "tuples_per_list_min": per_list.iter().min().copied().unwrap_or(0),
        "tuples_per_list_avg": if lists > 0 { tuples as f64 / lists as f64 } else { 0.0 },
        "tuples_per_list_max": per_list.iter().max().copied().unwrap_or(0),
        "pages": pages,
        "list_pages": list_pages,
        "data_pages": data_pages,
        "size_bytes": size,
        "bytes_per_vector": if tuples > 0 { size as f64 / tuples as f64 } else { 0.0 },
        // Tuples longer than a page are stored in parts (full precision past ~2,000 dims).
        "data_tuple_bytes": meta.data_tuple_len(),
        "data_tuples_in_parts": meta.data_parts(),
        "centres_in_parts": meta.list_parts(),
        "key_columns": meta.keys,
        "key_bytes": meta.key_len,
        "hint": crate::ivf::layout_hint(lists, &per_list, meta.built()),
    })
}
