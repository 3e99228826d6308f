//! Reading and updating a `ruivfflat` index's meta page and list directory.

use super::layout::{self, ListHeader, MetaPage, Tid};
use super::parts::{self, Joiner, PART_HEADER};
use crate::am::meta::{raise_meta_error, MetaError};
use crate::am::page::{Exclusive, Locked, PageMut, Rel, Share, WalChange};
use crate::format::{SqlState, VecError};
use crate::kernels::metric::Metric;
use crate::types::error::raise;
use pgrx::pg_sys;

fn invalid_meta() -> ! {
    raise(VecError::new(
        SqlState::InternalError,
        "ruivfflat index meta page is not valid (index needs REINDEX?)",
    ))
}

/// Reads the meta page; an index this build cannot read raises its error (`am::meta`).
pub fn read_meta(rel: Rel) -> MetaPage {
    try_read_meta(rel).unwrap_or_else(|e| raise_meta_error(rel, "ruivfflat", layout::VERSIONS, e))
}

/// Reads the meta page, or says why it cannot be used.
pub fn try_read_meta(rel: Rel) -> Result<MetaPage, MetaError> {
    let buf = Locked::read(rel, layout::META_BLKNO, Share);
    MetaPage::from_bytes(buf.page().contents())
}

/// The key columns of an index, checked against what its meta page says were built (an index
/// whose pages disagree with its definition is damaged).
pub fn key_columns(rel: Rel, meta: &MetaPage) -> crate::am::keys::KeyColumns {
    crate::am::keys::KeyColumns::built(rel, "ruivfflat", meta.keys, meta.key_len)
        .unwrap_or_else(|| raise_meta_error(rel, "ruivfflat", layout::VERSIONS, MetaError::Damaged))
}

/// Calls `f(location, header, centre image)` for every list, in list order (the location of a
/// list tuple in parts is its first part's). A list tuple too short for its header, or whose
/// centre is not an image of the index's type and dimensions, is the corruption error (a
/// distance to it would read past it).
pub fn for_each_list(rel: Rel, meta: &MetaPage, mut f: impl FnMut(Tid, ListHeader, &[u8])) {
    let kind = meta.metric().expect("validated meta page").kind();
    let centre_len = crate::am::value::image_len(kind, meta.dimensions as usize);
    let mut blk = meta.list_head;
    let mut chain = crate::am::corrupt::Chain::new(rel);
    let mut joiner = meta.list_parts().then(Joiner::default);
    let mut seen = 0usize;
    while blk != pg_sys::InvalidBlockNumber {
        chain.step(blk);
        let buf = Locked::read(rel, blk, Share);
        let page = buf.page();
        if page.opaque().page_type != layout::PAGE_LIST {
            invalid_meta();
        }
        for off in 1..=page.max_offset() {
            let Some(item) = page.item(off) else { continue };
            let Some((at, tuple)) = parts::whole(&mut joiner, Tid::new(blk, off), item) else {
                continue;
            };
            let centre = layout::image(tuple);
            match layout::list_header(tuple) {
                Some(h) if centre_len.is_none_or(|n| n == centre.len()) => {
                    seen += 1;
                    f(at, h, centre)
                }
                _ => crate::am::corrupt::corrupted(
                    rel,
                    format!(
                        "List tuple ({},{}) of {} bytes does not hold a list header and a \
                         centre of {} bytes.",
                        at.block,
                        at.offset,
                        tuple.len(),
                        centre_len.unwrap_or(0)
                    ),
                ),
            }
        }
        blk = page.opaque().next_blkno;
    }
    // List tuples are written once, by the build: a part that joins no tuple is damage.
    if let Some(mut j) = joiner {
        j.finish();
        if j.dropped > 0 || seen != meta.lists as usize {
            crate::am::corrupt::corrupted(
                rel,
                format!(
                    "The list pages hold {seen} whole list tuples of the {} the meta page \
                     records, and {} parts of none.",
                    meta.lists, j.dropped
                ),
            );
        }
    }
}

/// Where a list tuple's header starts in its item (after the part header of a first part).
fn header_offset(meta: &MetaPage) -> usize {
    if meta.list_parts() {
        PART_HEADER
    } else {
        0
    }
}

/// The list header bytes of the list tuple (or its first part) `item`.
fn header_bytes<'a>(meta: &MetaPage, item: &'a [u8]) -> Option<&'a [u8]> {
    item.get(header_offset(meta)..)
}

/// The header of the list tuple at `loc` on a page read by the caller (`None`: not there).
pub fn header_at(
    meta: &MetaPage,
    page: crate::am::page::PageRef<'_>,
    loc: Tid,
) -> Option<ListHeader> {
    layout::list_header(header_bytes(meta, page.item(loc.offset)?)?)
}

/// The list whose centre is nearest to `image` (by the index's own distance), as its
/// location and header.
pub fn nearest_list(rel: Rel, meta: &MetaPage, metric: Metric, image: &[u8]) -> (Tid, ListHeader) {
    let mut best: Option<(f32, Tid, ListHeader)> = None;
    for_each_list(rel, meta, |loc, header, centre| {
        let d = metric.distance(image, centre);
        if best.is_none_or(|b| d < b.0) {
            best = Some((d, loc, header));
        }
    });
    let (_, loc, header) = best.unwrap_or_else(|| invalid_meta());
    (loc, header)
}

/// Changes a list's header under an exclusive lock, WAL-logged; `f` sees the current header
/// and returns the new one, or `None` to leave it.
pub fn update_list(
    rel: Rel,
    meta: &MetaPage,
    loc: Tid,
    f: impl FnOnce(ListHeader) -> Option<ListHeader>,
) {
    let buf = Locked::read(rel, loc.block, Exclusive);
    let current = header_at(meta, buf.page(), loc).unwrap_or_else(|| invalid_meta());
    if let Some(new) = f(current) {
        let wal = WalChange::start(rel);
        let mut page = wal.register(&buf, false);
        set_header(meta, &mut page, loc, new);
        wal.commit();
    }
}

/// Writes the header of the list tuple at `loc` into a page being changed.
pub fn set_header(meta: &MetaPage, page: &mut PageMut<'_>, loc: Tid, header: ListHeader) {
    let item = page.item_mut(loc.offset).unwrap_or_else(|| invalid_meta());
    match item.get_mut(header_offset(meta)..) {
        Some(bytes) if bytes.len() >= layout::TUPLE_HEADER => {
            layout::set_list_header(bytes, header)
        }
        _ => invalid_meta(),
    }
}
