//! Buffers pinned and content-locked: [`Locked`] (share or exclusive by type, for one access)
//! and [`Pinned`] with [`Shared`] (a pin a search keeps while it comes back to the same block).

#[allow(unused_imports)]
use super::*;
use pgrx::pg_sys;
#[allow(unused_imports)]
use std::cell::Cell;
#[allow(unused_imports)]
use std::marker::PhantomData;

/// The strength of a buffer's content lock, as the type of a [`Locked`] buffer: only a
/// `Locked<Exclusive>` can be changed ([`WalChange::register`], [`PageMut`]).
pub trait LockMode: Copy {
    /// `BUFFER_LOCK_SHARE` or `BUFFER_LOCK_EXCLUSIVE` (storage/bufmgr.h).
    const LOCK: u32;
}

/// A share lock: readers, any number at once.
#[derive(Clone, Copy, Debug)]
pub struct Share;

/// An exclusive lock: the one backend changing the page.
#[derive(Clone, Copy, Debug)]
pub struct Exclusive;

impl LockMode for Share {
    const LOCK: u32 = pg_sys::BUFFER_LOCK_SHARE;
}

impl LockMode for Exclusive {
    const LOCK: u32 = pg_sys::BUFFER_LOCK_EXCLUSIVE;
}

/// A pinned and content-locked buffer, share- or exclusively locked as its type says.
pub struct Locked<M: LockMode = Share> {
    pub(super) buf: pg_sys::Buffer,
    pub(super) _mode: PhantomData<M>,
    pub(super) _not_send: PhantomData<*const u8>,
}

impl<M: LockMode> Locked<M> {
    /// Reads block `blkno` of the main fork and locks it (`Share` or `Exclusive`).
    pub fn read(rel: Rel, blkno: u32, _mode: M) -> Locked<M> {
        Self::read_raw(rel, blkno, std::ptr::null_mut())
    }

    /// As [`Locked::read`], through a buffer access strategy (bulk reads by VACUUM).
    pub fn read_with(rel: Rel, blkno: u32, _mode: M, strategy: &BulkRead) -> Locked<M> {
        Self::read_raw(rel, blkno, strategy.0)
    }

    pub(super) fn read_raw(
        rel: Rel,
        blkno: u32,
        strategy: pg_sys::BufferAccessStrategy,
    ) -> Locked<M> {
        rel.check_block(blkno);
        // SAFETY: `rel` is an open index relation; ReadBufferExtended raises an ERROR (not UB)
        // on a block that does not exist.
        unsafe {
            let buf = pg_sys::ReadBufferExtended(
                rel.as_ptr(),
                pg_sys::ForkNumber::MAIN_FORKNUM,
                blkno,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                strategy,
            );
            pg_sys::LockBuffer(buf, M::LOCK as i32);
            Locked {
                buf,
                _mode: PhantomData,
                _not_send: PhantomData,
            }
        }
    }

    pub fn block(&self) -> u32 {
        // SAFETY: a valid pinned buffer.
        unsafe { pg_sys::BufferGetBlockNumber(self.buf) }
    }

    /// Read access to the page (checks the ruvector page trailer unless the page is new).
    pub fn page(&self) -> PageRef<'_> {
        // SAFETY: the buffer is pinned and locked for the lifetime of the borrow.
        let p = unsafe { pg_sys::BufferGetPage(self.buf) };
        PageRef::new(p.cast())
    }

    /// Read access to the page without checking its trailer, for `ruvector_index_check()`,
    /// which reports a page that is not a ruvector page instead of stopping at it
    /// ([`PageRef::is_ruvector`]).
    pub fn page_unchecked(&self) -> PageRef<'_> {
        // SAFETY: as in `page`.
        let p = unsafe { pg_sys::BufferGetPage(self.buf) };
        PageRef {
            ptr: p.cast(),
            _borrow: PhantomData,
        }
    }
}

impl Locked<Exclusive> {
    /// Reads and cleanup-locks a block (exclusive, and no other backend holds a pin): VACUUM
    /// takes this before it makes tuples reusable (PostgreSQL docs, "Index Locking
    /// Considerations").
    pub fn cleanup(rel: Rel, blkno: u32, strategy: &BulkRead) -> Locked<Exclusive> {
        rel.check_block(blkno);
        // SAFETY: as in `read_with`.
        unsafe {
            let buf = pg_sys::ReadBufferExtended(
                rel.as_ptr(),
                pg_sys::ForkNumber::MAIN_FORKNUM,
                blkno,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                strategy.0,
            );
            pg_sys::LockBufferForCleanup(buf);
            Locked {
                buf,
                _mode: PhantomData,
                _not_send: PhantomData,
            }
        }
    }

    /// A page the free space map records as free ([`Rel::record_free_page`]) whose ruvector
    /// trailer says `free_type` once it is locked, exclusively locked for new contents; `None`
    /// when the map has none. The map is not WAL-logged and may be stale after a crash, so
    /// its word is checked under the lock, and a page another backend holds is passed over
    /// (a conditional lock, as btree's `_bt_allocbuf`: never wait while holding other pages).
    pub fn recycled(rel: Rel, free_type: u8) -> Option<Locked<Exclusive>> {
        loop {
            // SAFETY: `rel` is an open index relation; the map marks the page it returns used.
            let blkno = unsafe { pg_sys::GetFreeIndexPage(rel.as_ptr()) };
            if blkno == pg_sys::InvalidBlockNumber {
                return None;
            }
            if blkno == 0 || blkno >= rel.blocks() {
                continue;
            }
            // SAFETY: as in `read_with`, for a block below the fork's size.
            let buf = unsafe {
                pg_sys::ReadBufferExtended(
                    rel.as_ptr(),
                    pg_sys::ForkNumber::MAIN_FORKNUM,
                    blkno,
                    pg_sys::ReadBufferMode::RBM_NORMAL,
                    std::ptr::null_mut(),
                )
            };
            // SAFETY: a pinned buffer.
            if !unsafe { pg_sys::ConditionalLockBuffer(buf) } {
                // SAFETY: the pin taken above.
                unsafe { pg_sys::ReleaseBuffer(buf) };
                continue;
            }
            let locked = Locked {
                buf,
                _mode: PhantomData,
                _not_send: PhantomData,
            };
            let page = locked.page_unchecked();
            if page.is_ruvector() && page.opaque().page_type == free_type {
                return Some(locked);
            }
        }
    }

    /// Adds a new, uninitialised block at the end of the main fork, exclusively locked. The
    /// relation extension lock serialises concurrent extenders.
    pub fn extend(rel: Rel) -> Locked<Exclusive> {
        // SAFETY: `rel` is an open index relation.
        unsafe {
            pg_sys::LockRelationForExtension(rel.as_ptr(), pg_sys::ExclusiveLock as i32);
            let buf = pg_sys::ReadBufferExtended(
                rel.as_ptr(),
                pg_sys::ForkNumber::MAIN_FORKNUM,
                pg_sys::InvalidBlockNumber,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            );
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            pg_sys::UnlockRelationForExtension(rel.as_ptr(), pg_sys::ExclusiveLock as i32);
            Locked {
                buf,
                _mode: PhantomData,
                _not_send: PhantomData,
            }
        }
    }
}

impl<M: LockMode> Drop for Locked<M> {
    fn drop(&mut self) {
        // SAFETY: we hold exactly one pin and one lock on `buf`.
        unsafe { pg_sys::UnlockReleaseBuffer(self.buf) };
    }
}

/// A pinned buffer without a content lock: cheap to lock again and again while a search keeps
/// coming back to the same block. Locks are taken one at a time and never held across another
/// buffer access ([`Pinned::share`] borrows the pin), so readers cannot deadlock with writers.
pub struct Pinned {
    pub(super) buf: pg_sys::Buffer,
    pub(super) block: u32,
    pub(super) _not_send: PhantomData<*const u8>,
}

impl Pinned {
    pub fn read(rel: Rel, blkno: u32) -> Pinned {
        rel.check_block(blkno);
        // SAFETY: as in `Locked::read_with`.
        let buf = unsafe {
            pg_sys::ReadBufferExtended(
                rel.as_ptr(),
                pg_sys::ForkNumber::MAIN_FORKNUM,
                blkno,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            )
        };
        Pinned {
            buf,
            block: blkno,
            _not_send: PhantomData,
        }
    }

    /// As [`Pinned::read`], trying first the shared buffer that held this block the last time
    /// this backend read it (see [`BufferHint`]).
    pub fn read_hinted(rel: Rel, blkno: u32) -> Pinned {
        Pinned::read_with_hint(rel, blkno, BufferHint::of(rel, blkno))
    }

    /// As [`Pinned::read_hinted`] with a hint looked up earlier. `ReadRecentBuffer` checks the
    /// hinted buffer's tag and pins it, skipping the buffer mapping table lookup and its
    /// partition lock — a large share of the cost of each element a search visits. A stale
    /// hint falls back to a normal read, which records a fresh hint.
    pub fn read_with_hint(rel: Rel, blkno: u32, hint: Option<BufferHint>) -> Pinned {
        if let Some(BufferHint(buf)) = hint {
            // SAFETY: `rel` is open; ReadRecentBuffer validates `buf` itself.
            let pinned = unsafe {
                pg_sys::ReadRecentBuffer(
                    rel.file_node(),
                    pg_sys::ForkNumber::MAIN_FORKNUM,
                    blkno,
                    buf,
                )
            };
            if pinned {
                return Pinned {
                    buf,
                    block: blkno,
                    _not_send: PhantomData,
                };
            }
        }
        let p = Pinned::read(rel, blkno);
        HINTS.with(|h| h.borrow_mut().set(rel.file_key(), blkno, p.buf));
        p
    }

    pub fn block(&self) -> u32 {
        self.block
    }

    /// Hints the CPU to fetch the cache line holding line pointer `off` (and the page header
    /// for small offsets). No lock is needed: nothing is read.
    pub fn prefetch_line_pointer(&self, off: u16) {
        // SAFETY: address arithmetic within the pinned page; prefetching reads nothing.
        unsafe {
            prefetch(
                pg_sys::BufferGetPage(self.buf)
                    .cast::<u8>()
                    .add(line_pointer_offset(off)),
            )
        }
    }

    /// Hints the CPU to fetch the first `bytes` of item `off`. The line pointer is read
    /// without a content lock, which is harmless for a hint: the item is read again, under a
    /// share lock and with bounds checks, before it is used.
    pub fn prefetch_item(&self, off: u16, bytes: usize) {
        // SAFETY: a pinned page.
        unsafe { prefetch_item_of(pg_sys::BufferGetPage(self.buf).cast::<u8>(), off, bytes) }
    }

    /// Takes a share lock until the returned guard is dropped.
    pub fn share(&self) -> Shared<'_> {
        // SAFETY: we hold a pin on `buf`.
        unsafe { pg_sys::LockBuffer(self.buf, pg_sys::BUFFER_LOCK_SHARE as i32) };
        Shared { pin: self }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: we hold one pin and no lock.
        unsafe { pg_sys::ReleaseBuffer(self.buf) };
    }
}

/// A share lock on a [`Pinned`] buffer.
pub struct Shared<'a> {
    pub(super) pin: &'a Pinned,
}

impl Shared<'_> {
    pub fn page(&self) -> PageRef<'_> {
        // SAFETY: pinned and share-locked for the lifetime of the borrow.
        PageRef::new(unsafe { pg_sys::BufferGetPage(self.pin.buf) }.cast())
    }

    /// The page, without checking its ruvector trailer: for blocks named by TIDs read from
    /// this index's own pages, on search paths where the extra cache miss per page matters.
    /// Item reads remain bounds-checked, so a damaged page yields no item rather than a
    /// wild read.
    pub fn page_of_this_index(&self) -> PageRef<'_> {
        // SAFETY: pinned and share-locked for the lifetime of the borrow.
        unsafe { PageRef::of_this_index(pg_sys::BufferGetPage(self.pin.buf).cast()) }
    }
}

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        // SAFETY: we took this share lock.
        unsafe { pg_sys::LockBuffer(self.pin.buf, pg_sys::BUFFER_LOCK_UNLOCK as i32) };
    }
}
