//! `ruvector_index_maintenance()` for a `ruivfflat` index: every list's insert hint moves to
//! the first page of its chain with room for a row (as VACUUM leaves it; a list VACUUM has not
//! visited since rows were deleted keeps a hint past free space), and the list sizes are
//! measured against what the build left (its row count and largest list, on the meta page):
//! REINDEX is recommended when the lists' layout no longer fits the data
//! (`crate::ivf::layout_hint`: the largest list more than twice as far above the average as at
//! build — inserts drifting away from the centres trained then — the table grown beyond 4× the
//! rows the lists were built for, or a list count far from √rows). Inserts and scans go on meanwhile; each hint change is one WAL-logged update of
//! the list tuple.

use super::layout::{self, ListHeader, Tid};
use super::lists::{for_each_list, read_meta, update_list};
use super::vacuum::{has_room, is_row};
use crate::am::page::{BulkRead, Locked, Rel, Share};
use serde_json::{json, Value};

/// Maintains a ruivfflat index; returns what it did, as JSON.
pub fn maintain(index: Rel) -> Value {
    let meta = read_meta(index);
    let mut lists: Vec<(Tid, ListHeader)> = Vec::with_capacity(meta.lists as usize);
    for_each_list(index, &meta, |loc, header, _| lists.push((loc, header)));
    let strategy = BulkRead::new();
    let mut sizes = Vec::with_capacity(lists.len());
    let mut hints_moved = 0u64;
    for (loc, header) in &lists {
        let mut blk = header.start;
        let mut first_with_room = None;
        let mut rows = 0u64;
        let mut chain = crate::am::corrupt::Chain::new(index);
        while blk != layout::INVALID_BLOCK {
            chain.step(blk);
            crate::am::vacuum::delay_point();
            let buf = Locked::read_with(index, blk, Share, &strategy);
            let page = buf.page();
            rows += (1..=page.max_offset())
                .filter(|o| page.item(*o).is_some_and(|i| is_row(&meta, i)))
                .count() as u64;
            if first_with_room.is_none() && has_room(&meta, page.free_space()) {
                first_with_room = Some(blk);
            }
            blk = page.opaque().next_blkno;
        }
        sizes.push(rows);
        if let Some(b) = first_with_room {
            let mut moved = false;
            update_list(index, &meta, *loc, |h| {
                moved = h.insert != b && h.start != layout::INVALID_BLOCK;
                moved.then_some(ListHeader { insert: b, ..h })
            });
            hints_moved += moved as u64;
        }
    }
    let rows: u64 = sizes.iter().sum();
    let built = meta.built();
    let advice = crate::ivf::layout_hint(lists.len(), &sizes, built);
    let largest = sizes.iter().max().copied().unwrap_or(0);
    json!({
        "access_method": "ruivfflat",
        "lists": lists.len(),
        "tuples": rows,
        "tuples_per_list_max": largest,
        "tuples_per_list_avg": if sizes.is_empty() { 0.0 } else { rows as f64 / sizes.len() as f64 },
        // The largest list over the average, now and as the build left it (null: not recorded).
        "imbalance": crate::ivf::imbalance(rows, largest, sizes.len()),
        "imbalance_at_build": built.map(|b| crate::ivf::imbalance(b.rows, b.largest, sizes.len())),
        "tuples_at_build": built.map(|b| b.rows),
        "insert_hints_moved": hints_moved,
        "reindex_recommended": advice.is_some(),
        "advice": advice.into_iter().collect::<Vec<_>>(),
    })
}
