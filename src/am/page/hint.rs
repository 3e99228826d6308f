//! Where this backend last found each block in shared buffers ([`BufferHint`]), and prefetching
//! of buffer descriptors, line pointers and tuples: hints only, verified by `ReadRecentBuffer`.

#[allow(unused_imports)]
use super::*;
use pgrx::pg_sys;
#[allow(unused_imports)]
use std::cell::Cell;
#[allow(unused_imports)]
use std::marker::PhantomData;

/// The shared buffer a block was in when this backend last read it — possibly stale, so only
/// ever used to prefetch memory and as `ReadRecentBuffer`'s guess.
#[derive(Clone, Copy, Debug)]
pub struct BufferHint(pub(super) pg_sys::Buffer);

impl BufferHint {
    pub fn of(rel: Rel, blkno: u32) -> Option<BufferHint> {
        let buf = HINTS.with(|h| h.borrow_mut().get(rel.file_key(), blkno))?;
        BufferHint::valid(buf)
    }

    /// A recorded buffer number as a hint, if it names a buffer of the pool (0: none).
    fn valid(buf: pg_sys::Buffer) -> Option<BufferHint> {
        // SAFETY: reading the size of the buffer pool.
        (buf > 0 && buf as usize <= unsafe { pg_sys::NBuffers } as usize).then_some(BufferHint(buf))
    }

    /// [`BufferHint::of`] for each of `blocks`, appended to `out` (one lookup of the
    /// relation's hints for all of them).
    pub fn of_each(rel: Rel, blocks: impl Iterator<Item = u32>, out: &mut Vec<Option<BufferHint>>) {
        HINTS.with(|h| {
            let mut h = h.borrow_mut();
            let hints = h.slot(rel.file_key());
            out.extend(blocks.map(|block| {
                hints
                    .get(block as usize)
                    .and_then(|&b| BufferHint::valid(b))
            }));
        })
    }

    /// Hints the CPU to fetch the buffer's descriptor and line pointer `off`, so that pinning
    /// it and reading the line pointer later find them in cache. Reads nothing.
    pub fn prefetch(self, off: u16) {
        // SAFETY: address arithmetic inside the shared buffer pool (`self.0` is a valid buffer
        // number, checked in `of`); prefetching reads nothing.
        unsafe {
            prefetch(
                pg_sys::BufferDescriptors
                    .add(self.0 as usize - 1)
                    .cast::<u8>(),
            );
            prefetch(
                pg_sys::BufferGetPage(self.0)
                    .cast::<u8>()
                    .add(line_pointer_offset(off)),
            );
        }
    }

    /// After [`BufferHint::prefetch`]: hints the CPU to fetch the first `bytes` of item `off`.
    /// The (unpinned, unlocked) buffer's line pointer is read to find the item — a racy read
    /// of shared memory used only as a prefetch address, never dereferenced.
    pub fn prefetch_item(self, off: u16, bytes: usize) {
        // SAFETY: a valid shared buffer (maybe holding another page by now, which only makes
        // the prefetch useless).
        unsafe { prefetch_item_of(pg_sys::BufferGetPage(self.0).cast::<u8>(), off, bytes) }
    }
}

thread_local! {
    pub(super) static HINTS: std::cell::RefCell<BufferHints> = std::cell::RefCell::new(BufferHints::default());
}

/// Per backend: for the few indexes read most recently, the buffer each block was last found
/// in (0 = unknown). Hints are only hints — `ReadRecentBuffer` verifies them.
#[derive(Default)]
pub(super) struct BufferHints {
    /// (relation file key, hint per block), most recently used last.
    pub(super) relations: Vec<([u32; 3], Vec<pg_sys::Buffer>)>,
}

impl BufferHints {
    pub(super) const RELATIONS: usize = 8;
    /// Blocks beyond this are not hinted (bounds the memory: 4 bytes per block).
    pub(super) const MAX_BLOCKS: u32 = 1 << 20;

    pub(super) fn slot(&mut self, key: [u32; 3]) -> &mut Vec<pg_sys::Buffer> {
        if self.relations.last().is_some_and(|(k, _)| *k == key) {
            // The common case: the same index again.
        } else if let Some(i) = self.relations.iter().position(|(k, _)| *k == key) {
            let entry = self.relations.remove(i);
            self.relations.push(entry);
        } else {
            if self.relations.len() >= Self::RELATIONS {
                self.relations.remove(0);
            }
            self.relations.push((key, Vec::new()));
        }
        &mut self.relations.last_mut().expect("pushed above").1
    }

    pub(super) fn get(&mut self, key: [u32; 3], block: u32) -> Option<pg_sys::Buffer> {
        let v = self.slot(key);
        v.get(block as usize).copied().filter(|b| *b != 0)
    }

    pub(super) fn set(&mut self, key: [u32; 3], block: u32, buf: pg_sys::Buffer) {
        if block >= Self::MAX_BLOCKS {
            return;
        }
        let v = self.slot(key);
        if v.len() <= block as usize {
            v.resize(block as usize + 1, 0);
        }
        v[block as usize] = buf;
    }
}

/// Byte offset of line pointer `off` in a page, clamped to the page.
pub(super) fn line_pointer_offset(off: u16) -> usize {
    let first = std::mem::offset_of!(pg_sys::PageHeaderData, pd_linp);
    (first + (off.max(1) as usize - 1) * std::mem::size_of::<pg_sys::ItemIdData>())
        .min(pg_sys::BLCKSZ as usize - 4)
}

/// Prefetches the first `bytes` of item `off` of the page at `page`: reads its line pointer
/// (volatile: it may change concurrently; any value is fine, addresses are clamped to the
/// page) and issues prefetches for the item's cache lines.
///
/// # Safety
/// `page` must point at a BLCKSZ-byte page in mapped memory.
pub(super) unsafe fn prefetch_item_of(page: *const u8, off: u16, bytes: usize) {
    // SAFETY: the line pointer's offset is clamped inside the page the caller vouches for.
    let bits = unsafe { std::ptr::read_volatile(page.add(line_pointer_offset(off)).cast::<u32>()) };
    let start = (bits & 0x7fff) as usize;
    let end = (start + bytes.min((bits >> 17) as usize)).min(pg_sys::BLCKSZ as usize);
    prefetch_range(
        page.wrapping_add(start),
        end.saturating_sub(start),
        usize::MAX,
    );
}

/// Asks the CPU to start loading cache lines (no effect on correctness).
pub(super) use crate::kernels::prefetch::{prefetch, prefetch_range};
