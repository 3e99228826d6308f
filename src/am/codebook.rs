//! Codebooks of quantized indexes in index pages, and a per-backend cache of them.
//!
//! A codebook (`crate::quant::Codebook`, serialised) is written at build time into a chain of
//! pages of its own (one item per page holding a slice of the bytes), through the build's
//! `BuildPages`, so it is WAL-logged with the rest of the index by `log_newpage_range`. Its
//! location, length, quantization and a build identifier are in the index's meta page
//! ([`CodebookRef`]). Codebooks never change after the build (REINDEX and TRUNCATE write a new
//! relation file), so a backend caches them by (relation file, build identifier) and reads the
//! pages once per index rather than once per scan. A newer codebook of the same index (after
//! REINDEX or TRUNCATE) replaces the older one in the cache; `ruvector_memory_stats()` lists
//! what is cached ([`cached`]).

use super::page::{max_item_size, BuildPages, Locked, Rel, Share};
use crate::quant::{Codebook, Quantization};
use pgrx::pg_sys;
use std::sync::{Arc, Mutex};

/// Page type of codebook pages (distinct from every access method's own page types).
pub const PAGE_CODEBOOK: u8 = 16;

/// Where an index's codebook is: part of both access methods' meta pages.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodebookRef {
    /// `Quantization::to_u32` (0: none, no codebook).
    pub quantization: u32,
    pub block: u32,
    pub len: u32,
    /// Identifies the build that wrote the codebook (cache key).
    pub id: [u32; 2],
}

impl CodebookRef {
    pub fn quantization(&self) -> Quantization {
        Quantization::from_u32(self.quantization).unwrap_or(Quantization::None)
    }

    pub fn is_quantized(&self) -> bool {
        self.quantization() != Quantization::None
    }
}

/// Appends `codebook` as a chain of pages to a build and returns its reference.
pub fn write(pages: &mut BuildPages, codebook: &Codebook) -> CodebookRef {
    let bytes = codebook.to_bytes();
    let chunk = max_item_size() - 8;
    let mut first = None;
    for (i, part) in bytes.chunks(chunk).enumerate() {
        let (blkno, mut page) = if i == 0 {
            pages.append_new_chain(PAGE_CODEBOOK)
        } else {
            pages.append(PAGE_CODEBOOK)
        };
        first.get_or_insert(blkno);
        page.add_item(part)
            .expect("a codebook slice fits an empty page");
    }
    // SAFETY: plain calls; the identifier only has to differ between builds of one file.
    let (now, pid) = unsafe { (pg_sys::GetCurrentTimestamp(), pg_sys::MyProcPid) };
    let id = (now as u64) ^ ((pid as u64) << 40);
    CodebookRef {
        quantization: codebook.quantization().to_u32(),
        block: first.expect("a codebook has bytes"),
        len: bytes.len() as u32,
        id: [id as u32, (id >> 32) as u32],
    }
}

type Key = ([u32; 3], CodebookRef);

struct Entry {
    key: Key,
    /// The index (its OID survives REINDEX, its relation file does not).
    index: pg_sys::Oid,
    codebook: Arc<Codebook>,
}

/// Cached codebooks of this backend, most recently used last.
static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Indexes whose codebooks a backend keeps.
pub const CACHE_ENTRIES: usize = 16;

/// The codebook an index's meta page refers to.
pub fn load(rel: Rel, r: &CodebookRef) -> Arc<Codebook> {
    let key = (rel.file_key(), *r);
    {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(|e| e.key == key) {
            let e = cache.remove(i);
            let cb = e.codebook.clone();
            cache.push(e);
            return cb;
        }
    }
    let cb = Arc::new(read(rel, r));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    // An older build of this index is never read again.
    cache.retain(|e| e.index != rel.oid());
    if cache.len() >= CACHE_ENTRIES {
        cache.remove(0);
    }
    cache.push(Entry {
        key,
        index: rel.oid(),
        codebook: cb.clone(),
    });
    cb
}

/// A codebook in this backend's cache.
pub struct Cached {
    pub index: pg_sys::Oid,
    pub quantization: Quantization,
    pub dimensions: usize,
    /// [`Codebook::memory`].
    pub bytes: usize,
}

/// This backend's cached codebooks, least recently used first.
pub fn cached() -> Vec<Cached> {
    let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .iter()
        .map(|e| Cached {
            index: e.index,
            quantization: e.codebook.quantization(),
            dimensions: e.codebook.dims(),
            bytes: e.codebook.memory(),
        })
        .collect()
}

fn read(rel: Rel, r: &CodebookRef) -> Codebook {
    read_checked(rel, r)
        .unwrap_or_else(|_| crate::am::corrupt::damaged("Its codebook is damaged."))
        .0
}

/// Reads the codebook `r` refers to, with the blocks it is stored in; what is wrong with it,
/// if anything (`ruvector_index_check()` reports that; searches raise the corruption error).
pub fn read_checked(rel: Rel, r: &CodebookRef) -> Result<(Codebook, Vec<u32>), String> {
    let mut bytes = Vec::with_capacity(r.len as usize);
    let mut blocks = Vec::new();
    let mut blk = r.block;
    let nblocks = rel.blocks();
    while bytes.len() < r.len as usize {
        if blk == pg_sys::InvalidBlockNumber || blk >= nblocks || blocks.len() >= nblocks as usize {
            return Err(format!(
                "its codebook's chain ends after {} of {} bytes",
                bytes.len(),
                r.len
            ));
        }
        blocks.push(blk);
        let buf = Locked::read(rel, blk, Share);
        let page = buf.page_unchecked();
        if !page.is_ruvector() || page.opaque().page_type != PAGE_CODEBOOK {
            return Err(format!(
                "block {blk} of its codebook is not a codebook page"
            ));
        }
        match page.item(1) {
            Some(item) if !item.is_empty() => bytes.extend_from_slice(item),
            _ => {
                return Err(format!(
                    "block {blk} of its codebook holds no codebook bytes"
                ))
            }
        }
        blk = page.opaque().next_blkno;
    }
    bytes.truncate(r.len as usize);
    match Codebook::from_bytes(&bytes) {
        Some(cb) if cb.quantization() == r.quantization() => Ok((cb, blocks)),
        _ => Err("its codebook does not decode".to_string()),
    }
}
