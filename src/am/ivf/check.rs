//! `ruvector_index_check()` for a `ruivfflat` index: the meta page, the list pages and every
//! list's chain of data pages (acyclic, no page in two lists, the insert hint on the list),
//! every data tuple (heap TID, key blob, value image or code) and the codebook, under share
//! locks only. A data page on no list is looked for again before it is reported: an insert
//! may have linked it to its list after the walk passed.

use super::layout::{self, Tid};
use super::lists::try_read_meta;
use super::parts::{self, Joiner};
use crate::am::check::{heap_tid_problem, Heap};
use crate::am::page::{BulkRead, Locked, Rel, Share};
use crate::check::{image_problem, Findings};
use pgrx::pg_sys::InvalidBlockNumber;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Checks a ruivfflat index; its rows' heap TIDs go to `heap`. Returns what was checked.
pub fn check(index: Rel, f: &mut Findings, heap: &mut Heap) -> Value {
    let Some(meta) = crate::am::check::meta_page(
        index,
        f,
        layout::PAGE_META,
        "ruivfflat",
        layout::VERSIONS,
        try_read_meta,
    ) else {
        return json!({});
    };
    let kind = meta.metric().expect("validated meta page").kind();
    let dims = meta.dimensions as usize;
    let code_len = meta.codebook.quantization().code_len(dims);
    let Some(keys) = crate::am::check::key_layout(index, f, "ruivfflat", meta.keys, meta.key_len)
    else {
        return json!({});
    };
    let key_len = keys.map_or(0, |k| k.len());
    let nblocks = index.blocks();

    // Every block's type.
    let mut page_types = vec![0u8; nblocks as usize];
    let mut new_pages = 0u64;
    let strategy = BulkRead::new();
    for blk in 1..nblocks {
        pgrx::check_for_interrupts!();
        let buf = Locked::read_with(index, blk, Share, &strategy);
        let page = buf.page_unchecked();
        if page.is_new() {
            new_pages += 1;
        } else if !page.is_ruvector() {
            f.page(blk, "block is not a ruvector index page");
        } else {
            let t = page.opaque().page_type;
            match t {
                layout::PAGE_LIST | layout::PAGE_DATA | crate::am::codebook::PAGE_CODEBOOK => {
                    page_types[blk as usize] = t
                }
                other => f.page(
                    blk,
                    format!("page has type {other}, which a ruivfflat index has none of"),
                ),
            }
        }
    }

    // The lists.
    let mut lists: Vec<(Tid, layout::ListHeader)> = Vec::new();
    let mut list_parts = meta.list_parts().then(Joiner::default);
    let mut blk = meta.list_head;
    let mut list_pages = 0u64;
    while blk != InvalidBlockNumber {
        if blk >= nblocks || page_types[blk as usize] != layout::PAGE_LIST {
            f.page(
                blk.min(nblocks),
                format!("the chain of list pages leads to block {blk}, which is not a list page"),
            );
            break;
        }
        page_types[blk as usize] = 0;
        list_pages += 1;
        let buf = Locked::read(index, blk, Share);
        let page = buf.page_unchecked();
        for off in 1..=page.max_offset() {
            let Some(item) = crate::am::check::item(page, blk, off, f) else {
                continue;
            };
            let Some((Tid { block, offset }, item)) =
                join(&mut list_parts, blk, off, item, f, "list")
            else {
                continue;
            };
            if item.len() < layout::TUPLE_HEADER {
                f.at(
                    block,
                    offset,
                    format!(
                        "list tuple of {} bytes is shorter than its header",
                        item.len()
                    ),
                );
                continue;
            }
            if let Some(p) = image_problem(kind, dims, layout::image(item)) {
                f.at(block, offset, format!("list centre: {p}"));
            }
            let Some(header) = layout::list_header(item) else {
                continue; // shorter than its header: reported above
            };
            lists.push((Tid::new(block, offset), header));
        }
        blk = page.opaque().next_blkno;
    }
    // The build writes list tuples once: parts that join none are damage.
    if let Some(mut j) = list_parts {
        j.finish();
        if j.dropped > 0 {
            f.page(
                meta.list_head,
                format!(
                    "{} list tuple parts are not part of a whole list tuple",
                    j.dropped
                ),
            );
        }
    }
    if lists.len() != meta.lists as usize {
        f.page(
            layout::META_BLKNO,
            format!(
                "the index has {} lists, its meta page says {}",
                lists.len(),
                meta.lists
            ),
        );
    }

    // Each list's data pages and tuples.
    let mut owner: HashMap<u32, usize> = HashMap::new();
    let mut tuples = 0u64;
    let mut lasts = Vec::with_capacity(lists.len());
    let mut data_parts = meta.data_parts().then(Joiner::default);
    for (i, (at, h)) in lists.iter().enumerate() {
        let mut blk = h.start;
        let mut last = InvalidBlockNumber;
        // A hint to a page added since the check began is not looked at.
        let mut hint_seen =
            h.insert == InvalidBlockNumber || (h.insert >= nblocks && h.insert < index.blocks());
        while blk != InvalidBlockNumber {
            pgrx::check_for_interrupts!();
            if blk >= nblocks {
                if blk >= index.blocks() {
                    f.at(
                        at.block,
                        at.offset,
                        format!("list {i}'s chain leads to block {blk}, past the end of the index"),
                    );
                }
                // Else a page an insert added after the first pass: not checked this time.
                break;
            }
            if page_types[blk as usize] != layout::PAGE_DATA {
                f.at(
                    at.block,
                    at.offset,
                    format!("list {i}'s chain leads to block {blk}, which is not a data page"),
                );
                break;
            }
            if let Some(other) = owner.insert(blk, i) {
                f.at(
                    at.block,
                    at.offset,
                    format!(
                        "list {i}'s chain reaches block {blk}, {}",
                        if other == i {
                            "a second time (it loops)".to_string()
                        } else {
                            format!("which is list {other}'s")
                        }
                    ),
                );
                break;
            }
            hint_seen |= blk == h.insert;
            let buf = Locked::read_with(index, blk, Share, &strategy);
            let page = buf.page_unchecked();
            for off in 1..=page.max_offset() {
                let Some(item) = crate::am::check::item(page, blk, off, f) else {
                    continue;
                };
                let Some((
                    Tid {
                        block: blk,
                        offset: off,
                    },
                    item,
                )) = join(&mut data_parts, blk, off, item, f, "data")
                else {
                    continue;
                };
                if item.len() < layout::TUPLE_HEADER {
                    f.at(
                        blk,
                        off,
                        format!(
                            "data tuple of {} bytes is shorter than its header",
                            item.len()
                        ),
                    );
                    continue;
                }
                tuples += 1;
                let t = layout::data_heap_tid(item);
                match heap_tid_problem(heap, t) {
                    Some(p) => f.at(blk, off, p),
                    None => heap.add(t),
                }
                let keys = layout::data_keys(item);
                if keys.len() != key_len
                    || item.len() < layout::TUPLE_HEADER + layout::key_area(key_len)
                {
                    f.at(
                        blk,
                        off,
                        format!(
                            "data tuple's key blob has {} bytes, {key_len} expected",
                            keys.len()
                        ),
                    );
                    continue;
                }
                let value = layout::data_image(item);
                let p = match code_len {
                    Some(len) => (value.len() != len).then(|| {
                        format!(
                            "data tuple's code has {} bytes, {len} expected",
                            value.len()
                        )
                    }),
                    None => image_problem(kind, dims, value),
                };
                if let Some(p) = p {
                    f.at(blk, off, p);
                }
            }
            last = blk;
            blk = page.opaque().next_blkno;
        }
        if let Some(j) = data_parts.as_mut() {
            j.finish();
        }
        if !hint_seen {
            f.at(
                at.block,
                at.offset,
                format!(
                    "list {i}'s insert hint, block {}, is not one of its pages",
                    h.insert
                ),
            );
        }
        lasts.push(last);
    }

    // Data parts that join no tuple are the rest of an insert that failed or crashed (its
    // transaction aborted; the next VACUUM removes them): a warning, never read as a row.
    let unjoined_parts = data_parts.map_or(0, |j| j.dropped);
    if unjoined_parts > 0 {
        f.warn(
            None,
            None,
            format!("{unjoined_parts} data tuple parts are not part of a whole tuple (an insert that did not finish; VACUUM removes them)"),
        );
    }

    // Data pages on no list: an insert may have added them to a list since; follow each
    // list on from its last page before reporting them.
    let mut unowned: Vec<u32> = (1..nblocks)
        .filter(|b| page_types[*b as usize] == layout::PAGE_DATA && !owner.contains_key(b))
        .collect();
    if !unowned.is_empty() {
        for mut blk in lasts.into_iter().filter(|b| *b != InvalidBlockNumber) {
            let mut steps = 0;
            while blk != InvalidBlockNumber && blk < index.blocks() && steps < nblocks {
                unowned.retain(|b| *b != blk);
                blk = Locked::read(index, blk, Share)
                    .page_unchecked()
                    .opaque()
                    .next_blkno;
                steps += 1;
            }
        }
        for b in unowned {
            f.page(b, "data page on no list");
        }
    }

    // The codebook.
    let codebook_pages = crate::am::check::codebook(index, f, &meta.codebook, dims);
    for b in codebook_pages {
        page_types[b as usize] = 0;
    }
    for blk in 1..nblocks {
        match page_types[blk as usize] {
            layout::PAGE_LIST => f.page(blk, "list page that is not on the chain of list pages"),
            crate::am::codebook::PAGE_CODEBOOK => {
                f.page(blk, "codebook page that is not the index's codebook")
            }
            _ => {}
        }
    }

    json!({
        "pages": nblocks,
        "new_pages": new_pages,
        "lists": lists.len(),
        "list_pages": list_pages,
        "data_pages": owner.len(),
        "tuples": tuples,
        "unjoined_parts": unjoined_parts,
    })
}

/// [`parts::whole`], reporting a part item whose part header is not one.
fn join<'a>(
    joiner: &'a mut Option<Joiner>,
    blk: u32,
    off: u16,
    item: &'a [u8],
    f: &mut Findings,
    what: &str,
) -> Option<(Tid, &'a [u8])> {
    if joiner.is_some() && parts::header(item).is_none() {
        f.at(
            blk,
            off,
            format!(
                "{what} tuple part of {} bytes has no valid part header",
                item.len()
            ),
        );
    }
    parts::whole(joiner, Tid::new(blk, off), item)
}
