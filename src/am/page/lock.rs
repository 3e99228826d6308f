//! Heavyweight page locks ([`PageLock`]): AM-level mutexes on a page number.

#[allow(unused_imports)]
use super::*;
use pgrx::pg_sys;
#[allow(unused_imports)]
use std::cell::Cell;
#[allow(unused_imports)]
use std::marker::PhantomData;

/// A heavyweight lock on a page number of an index (`LockPage`), used as an AM-level mutex
/// rather than to protect the page's contents; released on drop (and by PostgreSQL at
/// transaction end, should an ERROR skip the drop).
pub struct PageLock {
    pub(super) rel: Rel,
    pub(super) blkno: u32,
    pub(super) mode: pg_sys::LOCKMODE,
}

impl PageLock {
    pub fn share(rel: Rel, blkno: u32) -> PageLock {
        Self::take(rel, blkno, pg_sys::ShareLock as pg_sys::LOCKMODE)
    }

    pub fn exclusive(rel: Rel, blkno: u32) -> PageLock {
        Self::take(rel, blkno, pg_sys::ExclusiveLock as pg_sys::LOCKMODE)
    }

    pub(super) fn take(rel: Rel, blkno: u32, mode: pg_sys::LOCKMODE) -> PageLock {
        // SAFETY: an open relation; the lock manager handles waiting and deadlock detection.
        unsafe { pg_sys::LockPage(rel.as_ptr(), blkno, mode) };
        PageLock { rel, blkno, mode }
    }

    /// Waits until no other backend holds the lock (take it exclusively and let go at once).
    pub fn wait_exclusive(rel: Rel, blkno: u32) {
        drop(Self::exclusive(rel, blkno));
    }
}

impl Drop for PageLock {
    fn drop(&mut self) {
        // SAFETY: we took this lock.
        unsafe { pg_sys::UnlockPage(self.rel.as_ptr(), self.blkno, self.mode) };
    }
}
