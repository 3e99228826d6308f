//! Pages a bulk index build writes without per-change WAL ([`BuildPages`]), WAL-logged together
//! at the end with `log_newpage_range`.

#[allow(unused_imports)]
use super::*;
use pgrx::pg_sys;
#[allow(unused_imports)]
use std::cell::Cell;
#[allow(unused_imports)]
use std::marker::PhantomData;

/// Pages written sequentially by a bulk build, WAL-logged together at the end.
pub struct BuildPages {
    pub(super) rel: Rel,
    pub(super) fork: pg_sys::ForkNumber::Type,
    pub(super) current: Option<pg_sys::Buffer>,
}

impl BuildPages {
    pub fn new(rel: Rel, fork: pg_sys::ForkNumber::Type) -> BuildPages {
        BuildPages {
            rel,
            fork,
            current: None,
        }
    }

    pub(super) fn release_current(&mut self) {
        if let Some(buf) = self.current.take() {
            // SAFETY: the current buffer is pinned and exclusively locked by us.
            unsafe {
                pg_sys::MarkBufferDirty(buf);
                pg_sys::UnlockReleaseBuffer(buf);
            }
        }
    }

    /// Appends a new page of `page_type` (the previous one is finished, and chained to it
    /// through `Opaque::next_blkno`) and returns its block number and image.
    pub fn append(&mut self, page_type: u8) -> (u32, PageMut<'_>) {
        self.append_page(page_type, true)
    }

    /// Appends a new page that starts a chain of its own (the previous page's chain ends).
    pub fn append_new_chain(&mut self, page_type: u8) -> (u32, PageMut<'_>) {
        self.append_page(page_type, false)
    }

    pub(super) fn append_page(&mut self, page_type: u8, chain: bool) -> (u32, PageMut<'_>) {
        if let (Some(buf), true) = (self.current, chain) {
            // SAFETY: valid buffer; build pages are appended in block order.
            let next = unsafe { pg_sys::BufferGetBlockNumber(buf) } + 1;
            let mut prev = self.current_page();
            let mut o = prev.as_ref().opaque();
            o.next_blkno = next;
            prev.set_opaque(o);
        }
        self.release_current();
        // SAFETY: extending the fork during a build; the index is not visible to others yet.
        let buf = unsafe {
            let buf = pg_sys::ReadBufferExtended(
                self.rel.as_ptr(),
                self.fork,
                pg_sys::InvalidBlockNumber,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            );
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            buf
        };
        self.current = Some(buf);
        let mut page = self.current_page();
        page.init(page_type);
        // SAFETY: valid buffer.
        let blkno = unsafe { pg_sys::BufferGetBlockNumber(buf) };
        (blkno, page)
    }

    /// The block of the page being written, if any.
    pub fn current_block(&self) -> Option<u32> {
        // SAFETY: a buffer pinned by us.
        self.current
            .map(|buf| unsafe { pg_sys::BufferGetBlockNumber(buf) })
    }

    /// The page being written.
    pub fn current_page(&mut self) -> PageMut<'_> {
        let buf = self.current.expect("no current build page");
        PageMut {
            // SAFETY: pinned and exclusively locked by us.
            ptr: unsafe { pg_sys::BufferGetPage(buf) }.cast(),
            _borrow: PhantomData,
        }
    }

    /// Rewrites an already written block `blkno` (for example the meta page at the end).
    pub fn rewrite(&mut self, blkno: u32, f: impl FnOnce(&mut PageMut<'_>)) {
        // SAFETY: as in `append`; the block exists.
        unsafe {
            let buf = pg_sys::ReadBufferExtended(
                self.rel.as_ptr(),
                self.fork,
                blkno,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            );
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            let mut page = PageMut {
                ptr: pg_sys::BufferGetPage(buf).cast(),
                _borrow: PhantomData,
            };
            f(&mut page);
            pg_sys::MarkBufferDirty(buf);
            pg_sys::UnlockReleaseBuffer(buf);
        }
    }

    /// Finishes the last page and WAL-logs every page of the fork.
    pub fn finish(mut self) {
        self.release_current();
        // SAFETY: an open relation.
        unsafe {
            if relation_needs_wal(self.rel) || self.fork == pg_sys::ForkNumber::INIT_FORKNUM {
                let n = self.rel.blocks_in(self.fork);
                if n > 0 {
                    pg_sys::log_newpage_range(self.rel.as_ptr(), self.fork, 0, n, true);
                }
            }
        }
    }
}

impl Drop for BuildPages {
    fn drop(&mut self) {
        // On error the transaction aborts and PostgreSQL releases buffers itself; here we only
        // release a page still held when the builder is dropped normally without `finish`.
        if let Some(buf) = self.current.take() {
            // SAFETY: pinned and locked by us.
            unsafe { pg_sys::UnlockReleaseBuffer(buf) };
        }
    }
}
