//! The on-disk graph seen from one query: implements the pure search's [`Graph`] over index
//! pages, plus the meta-page accessors. Distances are computed on the value image in place,
//! under a share lock, without copying; one buffer stays pinned between accesses so that an
//! element and its neighbour tuple (usually on the same page) cost one buffer read.

use super::layout::{self, MetaPage, Tid};
use crate::am::page::{Locked, Mode, Pinned, Rel, WalChange};
use crate::format::{SqlState, VecError};
use crate::graph::search::{Graph, IdHash};
use crate::kernels::metric::Metric;
use crate::types::error::raise;
use std::collections::HashMap;

/// Reads the meta page.
pub fn read_meta(rel: Rel) -> MetaPage {
    let buf = Locked::read(rel, layout::META_BLKNO, Mode::Share);
    let page = buf.page();
    match MetaPage::from_bytes(page.contents()) {
        Some(m) => m,
        None => raise(VecError::new(
            SqlState::InternalError,
            "ruhnsw index meta page is not valid (index needs REINDEX?)",
        )),
    }
}

/// Changes the meta page under an exclusive lock, WAL-logged.
pub fn update_meta(rel: Rel, f: impl FnOnce(&mut MetaPage)) {
    let buf = Locked::read(rel, layout::META_BLKNO, Mode::Exclusive);
    let wal = WalChange::start(rel);
    let mut page = wal.register(&buf, false);
    let Some(mut meta) = MetaPage::from_bytes(page.as_ref().contents()) else {
        raise(VecError::new(
            SqlState::InternalError,
            "ruhnsw index meta page is not valid (index needs REINDEX?)",
        ));
    };
    f(&mut meta);
    page.set_contents(&meta.to_bytes());
    wal.commit();
}

/// What a search remembers about an element whose distance it computed (fixed size: the scan
/// allocates nothing per visited element besides amortised map growth).
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub neighbors: Tid,
    pub level: u8,
    ntids: u8,
    heap_tids: [Tid; layout::HEAP_TIDS],
    pub distance: f32,
}

impl Seen {
    pub fn heap_tids(&self) -> &[Tid] {
        &self.heap_tids[..self.ntids as usize]
    }
}

/// The graph of an index, with a query bound in (`None`: every distance is 0, as for a NULL
/// ORDER BY argument).
pub struct DiskGraph {
    rel: Rel,
    pub metric: Metric,
    pub m: usize,
    query: Option<Vec<u8>>,
    pin: Option<Pinned>,
    /// Elements whose distance was computed.
    pub seen: HashMap<u64, Seen, IdHash>,
    /// Elements read (for `ruvector.hnsw_max_scan_tuples`).
    pub tuples: usize,
}

impl DiskGraph {
    pub fn new(rel: Rel, meta: &MetaPage, query: Option<Vec<u8>>) -> DiskGraph {
        DiskGraph {
            rel,
            metric: meta.metric().expect("validated meta page"),
            m: meta.m as usize,
            query,
            pin: None,
            seen: HashMap::default(),
            tuples: 0,
        }
    }

    pub fn relation(&self) -> Rel {
        self.rel
    }

    /// Runs `f` on the page of `block` under a share lock, reusing the pinned buffer.
    fn with_page<T>(&mut self, block: u32, f: impl FnOnce(crate::am::page::PageRef<'_>) -> T) -> T {
        if self.pin.as_ref().map(|p| p.block()) != Some(block) {
            self.pin = None;
            self.pin = Some(Pinned::read(self.rel, block));
        }
        let pin = self.pin.as_ref().expect("pinned above");
        let lock = pin.share();
        f(lock.page())
    }

    /// Drops the pin (before the caller takes locks of its own).
    pub fn release(&mut self) {
        self.pin = None;
    }

    /// The value image of an element (copied; for neighbour selection).
    pub fn image(&mut self, id: u64) -> Option<Vec<u8>> {
        let t = Tid::unpack(id);
        self.with_page(t.block, |page| {
            let item = page.item(t.offset)?;
            layout::decode_element(item)?;
            Some(layout::element_value(item).to_vec())
        })
    }

    /// Runs `f` on the item at `tid` (under a share lock); `None` if there is no item.
    pub fn read_item<T>(&mut self, tid: Tid, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.with_page(tid.block, |page| page.item(tid.offset).map(f))
    }

    /// Bytes of memory held for the search's bookkeeping.
    pub fn memory(&self) -> usize {
        self.seen.capacity() * (std::mem::size_of::<Seen>() + 16)
    }

    /// Computes the distance to an element at `tid` and records it; `None` if there is no
    /// live element there.
    pub fn visit(&mut self, id: u64) -> Option<f32> {
        let t = Tid::unpack(id);
        let metric = self.metric;
        let query = self.query.take();
        let seen = self.with_page(t.block, |page| {
            let item = page.item(t.offset)?;
            if item.len() < layout::ELEMENT_HEADER
                || item[0] != layout::ELEMENT_TUPLE
                || layout::element_deleted(item)
            {
                return None;
            }
            let n = layout::element_heap_tid_count(item);
            let mut heap_tids = [Tid::INVALID; layout::HEAP_TIDS];
            for (i, t) in heap_tids.iter_mut().enumerate().take(n) {
                *t = layout::element_heap_tid(item, i);
            }
            Some(Seen {
                neighbors: layout::element_neighbors(item),
                level: layout::element_level(item),
                ntids: n as u8,
                heap_tids,
                distance: query
                    .as_deref()
                    .map_or(0.0, |q| metric.distance(q, layout::element_value(item))),
            })
        });
        self.query = query;
        let seen = seen?;
        self.tuples += 1;
        let d = seen.distance;
        self.seen.insert(id, seen);
        Some(d)
    }
}

impl Graph for DiskGraph {
    type Id = u64;

    fn neighbors(&mut self, id: u64, level: usize, out: &mut Vec<u64>) {
        let Some(s) = self.seen.get(&id) else {
            return;
        };
        if (s.level as usize) < level {
            return;
        }
        let nt = s.neighbors;
        let m = self.m;
        self.with_page(nt.block, |page| {
            if let Some(item) = page.item(nt.offset) {
                if layout::is_neighbor_tuple(item) {
                    layout::read_layer(item, level, m, out);
                }
            }
        });
    }

    fn distance(&mut self, id: u64, level: usize) -> Option<f32> {
        let d = self.visit(id)?;
        let s = &self.seen[&id];
        ((s.level as usize) >= level).then_some(d)
    }
}
