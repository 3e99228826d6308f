//! The one way ruvector's index access methods touch index pages.
//!
//! * [`Locked`] — a pinned buffer holding a content lock, [`Share`] or [`Exclusive`] by type
//!   (only an exclusively locked buffer can be registered for a change); dropping it unlocks
//!   and unpins.
//! * [`WalChange`] — a Generic WAL record (PostgreSQL `access/generic_xlog.h`) over up to four
//!   locked pages. Changes are made to the page images it hands out ([`PageMut`]); `commit`
//!   writes the WAL record and applies them atomically; dropping it uncommitted abandons them
//!   (`GenericXLogAbort`), so an ERROR half-way through a change leaves the pages untouched.
//! * [`BuildPages`] — pages written by a bulk index build without per-change WAL; `finish`
//!   WAL-logs all of them at once with `log_newpage_range` (when the relation needs WAL, and
//!   always for the init fork of an unlogged index), as PostgreSQL's own index builds do.
//!
//! Every page ruvector writes carries an [`Opaque`] trailer in its special space: the next page
//! in the chain, a page type, and a magic id so that a page of another AM is never misread.
//! Reading a page ([`PageRef`]) checks that trailer.

use pgrx::pg_sys;
use std::cell::Cell;
use std::marker::PhantomData;

/// Magic id in every ruvector index page's special space ("RV").
pub const PAGE_ID: u16 = 0x5256;

/// Page trailer (special space), 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Opaque {
    /// Next page in this index's page chain, or `InvalidBlockNumber`.
    pub next_blkno: u32,
    /// Access-method specific page kind.
    pub page_type: u8,
    pub flags: u8,
    pub page_id: u16,
}

/// An open index (or heap) relation, as handed to an access-method callback.
///
/// PostgreSQL keeps the relation open and locked for the whole callback, so a `Rel` built at
/// the entry point stays valid while the AM code below uses it; wrapping the raw pointer once,
/// there, keeps the `unsafe` at the FFI boundary instead of in every page helper.
#[derive(Clone, Copy, Debug)]
pub struct Rel(pg_sys::Relation);

impl Rel {
    /// # Safety
    /// `rel` must be a valid, open relation for as long as the `Rel` (and copies) are used.
    pub unsafe fn from_raw(rel: pg_sys::Relation) -> Rel {
        debug_assert!(!rel.is_null());
        Rel(rel)
    }

    pub fn as_ptr(self) -> pg_sys::Relation {
        self.0
    }

    /// The relation's OID.
    pub fn oid(self) -> pg_sys::Oid {
        // SAFETY: valid per `from_raw`.
        unsafe { (*self.0).rd_id }
    }

    /// The relation's physical file.
    pub fn file_node(self) -> crate::compat::RelFileLocator {
        // SAFETY: valid per `from_raw`.
        unsafe { crate::compat::rel_file_locator(self.0) }
    }

    /// The physical file as three numbers (tablespace, database, file), for per-file caches.
    pub fn file_key(self) -> [u32; 3] {
        crate::compat::file_key(&self.file_node())
    }

    /// Number of blocks in the main fork.
    pub fn blocks(self) -> u32 {
        self.blocks_in(pg_sys::ForkNumber::MAIN_FORKNUM)
    }

    pub fn blocks_in(self, fork: pg_sys::ForkNumber::Type) -> u32 {
        // SAFETY: valid per `from_raw`.
        unsafe { pg_sys::RelationGetNumberOfBlocksInFork(self.0, fork) }
    }

    /// Checks that `blkno` — read from the index's own pages: a TID, a link, a list head —
    /// names a block of its main fork, so that a damaged page gives the corruption error
    /// instead of a read past the end of the file. The fork's size is cached per backend and
    /// looked up again only for a block beyond it (an index file only grows: PostgreSQL does
    /// not truncate indexes, and REINDEX or TRUNCATE give the index a new file).
    pub fn check_block(self, blkno: u32) {
        let key = self.file_key();
        let known = SIZES.with(|s| {
            s.borrow()
                .iter()
                .find(|(k, _)| *k == key)
                .is_some_and(|(_, n)| blkno < *n)
        });
        if known {
            return;
        }
        let blocks = self.blocks();
        SIZES.with(|s| {
            let mut s = s.borrow_mut();
            s.retain(|(k, _)| *k != key);
            if s.len() >= 8 {
                s.remove(0);
            }
            s.push((key, blocks));
        });
        if blkno >= blocks {
            crate::am::corrupt::corrupted(
                self,
                format!(
                    "A page refers to block {blkno}, past the end of the index ({blocks} blocks)."
                ),
            );
        }
    }
}

thread_local! {
    /// Per backend: the main fork sizes of the indexes read most recently ([`Rel::check_block`]).
    static SIZES: std::cell::RefCell<Vec<([u32; 3], u32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A bulk-read buffer access strategy (a small ring of buffers), so that a VACUUM pass over the
/// whole index does not evict the rest of shared buffers. Freed on drop.
pub struct BulkRead(pg_sys::BufferAccessStrategy);

impl BulkRead {
    pub fn new() -> BulkRead {
        // SAFETY: allocates in the current memory context.
        BulkRead(unsafe {
            pg_sys::GetAccessStrategy(pg_sys::BufferAccessStrategyType::BAS_BULKREAD)
        })
    }
}

impl Default for BulkRead {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BulkRead {
    fn drop(&mut self) {
        // SAFETY: allocated by GetAccessStrategy and not freed elsewhere.
        unsafe { pg_sys::FreeAccessStrategy(self.0) };
    }
}

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
    buf: pg_sys::Buffer,
    _mode: PhantomData<M>,
    _not_send: PhantomData<*const u8>,
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

    fn read_raw(rel: Rel, blkno: u32, strategy: pg_sys::BufferAccessStrategy) -> Locked<M> {
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

/// The shared buffer a block was in when this backend last read it — possibly stale, so only
/// ever used to prefetch memory and as `ReadRecentBuffer`'s guess.
#[derive(Clone, Copy, Debug)]
pub struct BufferHint(pg_sys::Buffer);

impl BufferHint {
    pub fn of(rel: Rel, blkno: u32) -> Option<BufferHint> {
        let buf = HINTS.with(|h| h.borrow_mut().get(rel.file_key(), blkno))?;
        // SAFETY: reading the size of the buffer pool.
        (buf > 0 && buf as usize <= unsafe { pg_sys::NBuffers } as usize).then_some(BufferHint(buf))
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
    static HINTS: std::cell::RefCell<BufferHints> = std::cell::RefCell::new(BufferHints::default());
}

/// Per backend: for the few indexes read most recently, the buffer each block was last found
/// in (0 = unknown). Hints are only hints — `ReadRecentBuffer` verifies them.
#[derive(Default)]
struct BufferHints {
    /// (relation file key, hint per block), most recently used last.
    relations: Vec<([u32; 3], Vec<pg_sys::Buffer>)>,
}

impl BufferHints {
    const RELATIONS: usize = 8;
    /// Blocks beyond this are not hinted (bounds the memory: 4 bytes per block).
    const MAX_BLOCKS: u32 = 1 << 20;

    fn slot(&mut self, key: [u32; 3]) -> &mut Vec<pg_sys::Buffer> {
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

    fn get(&mut self, key: [u32; 3], block: u32) -> Option<pg_sys::Buffer> {
        let v = self.slot(key);
        v.get(block as usize).copied().filter(|b| *b != 0)
    }

    fn set(&mut self, key: [u32; 3], block: u32, buf: pg_sys::Buffer) {
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
fn line_pointer_offset(off: u16) -> usize {
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
unsafe fn prefetch_item_of(page: *const u8, off: u16, bytes: usize) {
    let bits = std::ptr::read_volatile(page.add(line_pointer_offset(off)).cast::<u32>());
    let start = (bits & 0x7fff) as usize;
    let end = (start + bytes.min((bits >> 17) as usize)).min(pg_sys::BLCKSZ as usize);
    let mut at = start & !63;
    while at < end {
        prefetch(page.add(at));
        at += 64;
    }
}

/// Asks the CPU to start loading the cache line at `p` (no effect on correctness).
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch instructions never fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// A pinned buffer without a content lock: cheap to lock again and again while a search keeps
/// coming back to the same block. Locks are taken one at a time and never held across another
/// buffer access ([`Pinned::share`] borrows the pin), so readers cannot deadlock with writers.
pub struct Pinned {
    buf: pg_sys::Buffer,
    block: u32,
    _not_send: PhantomData<*const u8>,
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
    pin: &'a Pinned,
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
        PageRef {
            // SAFETY: pinned and share-locked for the lifetime of the borrow.
            ptr: unsafe { pg_sys::BufferGetPage(self.pin.buf) }.cast(),
            _borrow: PhantomData,
        }
    }
}

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        // SAFETY: we took this share lock.
        unsafe { pg_sys::LockBuffer(self.pin.buf, pg_sys::BUFFER_LOCK_UNLOCK as i32) };
    }
}

/// A heavyweight lock on a page number of an index (`LockPage`), used as an AM-level mutex
/// rather than to protect the page's contents; released on drop (and by PostgreSQL at
/// transaction end, should an ERROR skip the drop).
pub struct PageLock {
    rel: Rel,
    blkno: u32,
    mode: pg_sys::LOCKMODE,
}

impl PageLock {
    pub fn share(rel: Rel, blkno: u32) -> PageLock {
        Self::take(rel, blkno, pg_sys::ShareLock as pg_sys::LOCKMODE)
    }

    pub fn exclusive(rel: Rel, blkno: u32) -> PageLock {
        Self::take(rel, blkno, pg_sys::ExclusiveLock as pg_sys::LOCKMODE)
    }

    fn take(rel: Rel, blkno: u32, mode: pg_sys::LOCKMODE) -> PageLock {
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

/// Read-only view of an 8 KB page.
#[derive(Clone, Copy)]
pub struct PageRef<'a> {
    ptr: *const u8,
    _borrow: PhantomData<&'a [u8]>,
}

/// Fields of PostgreSQL's `PageHeaderData` we read (see `storage/bufpage.h`).
#[inline]
unsafe fn header(p: *const u8) -> *const pg_sys::PageHeaderData {
    p.cast()
}

impl<'a> PageRef<'a> {
    fn new(ptr: *const u8) -> PageRef<'a> {
        let page = PageRef {
            ptr,
            _borrow: PhantomData,
        };
        if !page.is_new() {
            let o = page.opaque();
            if o.page_id != PAGE_ID {
                crate::am::corrupt::damaged("A page is not a ruvector index page.");
            }
        }
        page
    }

    /// Whether the page has a ruvector trailer where its header says the special space is
    /// (a new page has none).
    pub fn is_ruvector(&self) -> bool {
        // SAFETY: reading the header.
        let special = unsafe { (*header(self.ptr)).pd_special } as usize;
        special == pg_sys::BLCKSZ as usize - maxalign(std::mem::size_of::<Opaque>())
            && self.opaque().page_id == PAGE_ID
    }

    /// What is wrong with line pointer `off` (1-based, at most [`max_offset`]): a used item
    /// must lie between the line pointers' end and the special space and be non-empty.
    /// PostgreSQL checks the page header when it reads a page, not the line pointers.
    ///
    /// [`max_offset`]: PageRef::max_offset
    pub fn line_pointer_problem(&self, off: u16) -> Option<String> {
        // SAFETY: `off` is within the line pointer array (the caller's bound); reading words.
        unsafe {
            let lp = pg_sys::PageGetItemId(self.ptr as pg_sys::Page, off);
            let bits = *(lp as *const u32);
            let (lp_off, flags, len) = (
                (bits & 0x7fff) as usize,
                (bits >> 15) & 0x3,
                (bits >> 17) as usize,
            );
            if flags != pg_sys::LP_NORMAL {
                return None;
            }
            let h = header(self.ptr);
            let (upper, special) = ((*h).pd_upper as usize, (*h).pd_special as usize);
            (len == 0 || lp_off < upper || lp_off + len > special).then(|| {
                format!(
                    "line pointer {off} puts an item of {len} bytes at byte {lp_off}, outside the \
                     item area ({upper} to {special})"
                )
            })
        }
    }

    /// True for an all-zero page (never initialised, e.g. after a crash during extension).
    pub fn is_new(&self) -> bool {
        // SAFETY: pages are BLCKSZ bytes.
        unsafe { (*header(self.ptr)).pd_upper == 0 }
    }

    pub fn max_offset(&self) -> u16 {
        // SAFETY: a page header precedes the line pointer array.
        unsafe {
            let lower = (*header(self.ptr)).pd_lower as usize;
            let first = std::mem::offset_of!(pg_sys::PageHeaderData, pd_linp);
            if lower <= first {
                0
            } else {
                ((lower - first) / std::mem::size_of::<pg_sys::ItemIdData>()) as u16
            }
        }
    }

    /// The bytes of item `off` (1-based), or `None` if it is not a used line pointer.
    pub fn item(&self, off: u16) -> Option<&'a [u8]> {
        if off == 0 || off > self.max_offset() {
            return None;
        }
        // SAFETY: `off` is within the line pointer array; offsets and lengths stored in line
        // pointers stay within the page.
        unsafe {
            let lp = pg_sys::PageGetItemId(self.ptr as pg_sys::Page, off);
            let bits = *(lp as *const u32);
            // ItemIdData: lp_off:15, lp_flags:2, lp_len:15 (little-endian bitfield order)
            let lp_off = (bits & 0x7fff) as usize;
            let lp_flags = (bits >> 15) & 0x3;
            let lp_len = (bits >> 17) as usize;
            if lp_flags != pg_sys::LP_NORMAL || lp_off + lp_len > pg_sys::BLCKSZ as usize {
                return None;
            }
            Some(std::slice::from_raw_parts(self.ptr.add(lp_off), lp_len))
        }
    }

    pub fn opaque(&self) -> Opaque {
        // SAFETY: ruvector pages reserve `size_of::<Opaque>()` bytes of special space; special
        // space is MAXALIGNed. A damaged pd_special is clamped to stay inside the page.
        unsafe {
            let special = ((*header(self.ptr)).pd_special as usize)
                .min(pg_sys::BLCKSZ as usize - std::mem::size_of::<Opaque>());
            self.ptr.add(special).cast::<Opaque>().read_unaligned()
        }
    }

    /// The page's contents area (after the header), for a meta page's struct.
    pub fn contents(&self) -> &'a [u8] {
        // SAFETY: the area between the header and the special space belongs to the page.
        unsafe {
            let start = maxalign(std::mem::size_of::<pg_sys::PageHeaderData>());
            let special = (*header(self.ptr)).pd_special as usize;
            std::slice::from_raw_parts(self.ptr.add(start), special.saturating_sub(start))
        }
    }

    /// Unused bytes between line pointers and items (PageGetExactFreeSpace).
    pub fn exact_free_space(&self) -> usize {
        // SAFETY: reading the header.
        unsafe {
            let h = header(self.ptr);
            ((*h).pd_upper as isize - (*h).pd_lower as isize).max(0) as usize
        }
    }

    /// Space available for one new item, accounting for its line pointer (PageGetFreeSpace).
    pub fn free_space(&self) -> usize {
        // SAFETY: reading the header.
        unsafe {
            let h = header(self.ptr);
            let space = (*h).pd_upper as isize - (*h).pd_lower as isize;
            let lp = std::mem::size_of::<pg_sys::ItemIdData>() as isize;
            (space - lp).max(0) as usize
        }
    }
}

/// `MAXALIGN` (c.h): `x` rounded up to the platform's maximum alignment.
pub const fn maxalign(x: usize) -> usize {
    let a = pg_sys::MAXIMUM_ALIGNOF as usize;
    (x + a - 1) & !(a - 1)
}

// Page geometry (storage/bufpage.h), the one source every page layout plans with (the bulk
// build's page planner in `hnsw/layout.rs` included): the page size, its header up to the
// line pointers, ruvector's trailer in the special space, and a line pointer.
pub const BLCKSZ: usize = pg_sys::BLCKSZ as usize;
pub const PAGE_HEADER: usize = maxalign(std::mem::size_of::<pg_sys::PageHeaderData>());
pub const SPECIAL: usize = maxalign(std::mem::size_of::<Opaque>());
pub const LINE_POINTER: usize = std::mem::size_of::<pg_sys::ItemIdData>();

/// Largest item a ruvector page holds (one item, one line pointer, the trailer).
pub const MAX_ITEM: usize = BLCKSZ - PAGE_HEADER - SPECIAL - LINE_POINTER;

/// [`MAX_ITEM`].
pub fn max_item_size() -> usize {
    MAX_ITEM
}

/// A writable page image inside a [`WalChange`] or [`BuildPages`].
pub struct PageMut<'w> {
    ptr: *mut u8,
    _borrow: PhantomData<&'w ()>,
}

impl<'w> PageMut<'w> {
    pub fn as_ref(&self) -> PageRef<'_> {
        PageRef {
            ptr: self.ptr,
            _borrow: PhantomData,
        }
    }

    /// Formats the page as an empty ruvector page of `page_type`.
    pub fn init(&mut self, page_type: u8) {
        // SAFETY: the image is BLCKSZ bytes we may write.
        unsafe {
            pg_sys::PageInit(
                self.ptr as pg_sys::Page,
                pg_sys::BLCKSZ as usize,
                std::mem::size_of::<Opaque>(),
            );
        }
        self.set_opaque(Opaque {
            next_blkno: pg_sys::InvalidBlockNumber,
            page_type,
            flags: 0,
            page_id: PAGE_ID,
        });
    }

    pub fn set_opaque(&mut self, o: Opaque) {
        // SAFETY: special space holds an Opaque (see `init`).
        unsafe {
            let special = (*header(self.ptr)).pd_special as usize;
            self.ptr.add(special).cast::<Opaque>().write(o);
        }
    }

    /// Adds an item after the last one; its offset, or `None` if it does not fit.
    pub fn add_item(&mut self, data: &[u8]) -> Option<u16> {
        if self.as_ref().free_space() < maxalign(data.len()) {
            return None;
        }
        // SAFETY: PageAddItemExtended copies `data` into the page or returns InvalidOffsetNumber.
        let off = unsafe {
            pg_sys::PageAddItemExtended(
                self.ptr as pg_sys::Page,
                data.as_ptr() as pg_sys::Item,
                data.len(),
                pg_sys::InvalidOffsetNumber,
                0,
            )
        };
        (off != pg_sys::InvalidOffsetNumber).then_some(off)
    }

    /// Replaces item `off` with `data` (sizes may differ; PageIndexTupleOverwrite).
    pub fn overwrite_item(&mut self, off: u16, data: &[u8]) -> bool {
        // SAFETY: PageIndexTupleOverwrite validates the offset and the size.
        unsafe {
            pg_sys::PageIndexTupleOverwrite(
                self.ptr as pg_sys::Page,
                off,
                data.as_ptr() as pg_sys::Item,
                data.len(),
            )
        }
    }

    /// Removes items (PageIndexMultiDelete: the remaining items move up, offsets change).
    pub fn delete_items(&mut self, offsets: &mut [u16]) {
        if offsets.is_empty() {
            return;
        }
        offsets.sort_unstable();
        // SAFETY: offsets are sorted, distinct and valid for this page image.
        unsafe {
            pg_sys::PageIndexMultiDelete(
                self.ptr as pg_sys::Page,
                offsets.as_mut_ptr(),
                offsets.len() as i32,
            )
        };
    }

    /// Mutable bytes of item `off`.
    pub fn item_mut(&mut self, off: u16) -> Option<&mut [u8]> {
        let item = self.as_ref().item(off)?;
        let (start, len) = (item.as_ptr() as usize - self.ptr as usize, item.len());
        // SAFETY: the item lies within this page image, which we may write.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) })
    }

    /// Writes `data` at the start of the contents area and moves `pd_lower` past it, so the
    /// bytes are part of the page as far as WAL and checksums are concerned (a meta page).
    pub fn set_contents(&mut self, data: &[u8]) {
        // SAFETY: the contents area is larger than any meta struct we store.
        unsafe {
            let start = maxalign(std::mem::size_of::<pg_sys::PageHeaderData>());
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(start), data.len());
            let h = self.ptr.cast::<pg_sys::PageHeaderData>();
            (*h).pd_lower = (start + data.len()) as u16;
        }
    }
}

/// A Generic WAL record over pages locked exclusively by the caller.
pub struct WalChange {
    state: Cell<*mut pg_sys::GenericXLogState>,
    registered: Cell<usize>,
}

impl WalChange {
    pub fn start(rel: Rel) -> WalChange {
        // SAFETY: `rel` is an open index relation.
        let state = unsafe { pg_sys::GenericXLogStart(rel.as_ptr()) };
        WalChange {
            state: Cell::new(state),
            registered: Cell::new(0),
        }
    }

    /// Registers `buf` (exclusively locked) and returns its writable image. `full_image` logs
    /// the whole page (new or re-initialised pages).
    pub fn register<'w>(&'w self, buf: &'w Locked<Exclusive>, full_image: bool) -> PageMut<'w> {
        assert!(
            self.registered.get() < pg_sys::MAX_GENERIC_XLOG_PAGES as usize,
            "too many pages in one generic WAL record"
        );
        self.registered.set(self.registered.get() + 1);
        let flags = if full_image {
            pg_sys::GENERIC_XLOG_FULL_IMAGE as i32
        } else {
            0
        };
        // SAFETY: the state is live until commit/drop; the buffer is locked exclusively.
        let ptr = unsafe { pg_sys::GenericXLogRegisterBuffer(self.state.get(), buf.buf, flags) };
        PageMut {
            ptr: ptr.cast(),
            _borrow: PhantomData,
        }
    }

    /// Writes the WAL record and applies the changes to the buffers.
    pub fn commit(self) {
        let state = self.state.replace(std::ptr::null_mut());
        // SAFETY: a live state, finished exactly once.
        unsafe { pg_sys::GenericXLogFinish(state) };
    }
}

impl Drop for WalChange {
    fn drop(&mut self) {
        let state = self.state.get();
        if !state.is_null() {
            // SAFETY: a live, unfinished state.
            unsafe { pg_sys::GenericXLogAbort(state) };
        }
    }
}

/// `RelationNeedsWAL(rel)` (utils/rel.h).
pub fn relation_needs_wal(rel: Rel) -> bool {
    let rel = rel.as_ptr();
    // SAFETY: reading fields of an open relation.
    unsafe {
        let permanent = (*(*rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as i8;
        let first_subid = crate::compat::first_relfilelocator_subid(rel);
        permanent
            && (pg_sys::wal_level >= pg_sys::WalLevel::WAL_LEVEL_REPLICA as i32
                || ((*rel).rd_createSubid == 0 && first_subid == 0))
    }
}

/// Pages written sequentially by a bulk build, WAL-logged together at the end.
pub struct BuildPages {
    rel: Rel,
    fork: pg_sys::ForkNumber::Type,
    current: Option<pg_sys::Buffer>,
}

impl BuildPages {
    pub fn new(rel: Rel, fork: pg_sys::ForkNumber::Type) -> BuildPages {
        BuildPages {
            rel,
            fork,
            current: None,
        }
    }

    fn release_current(&mut self) {
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

    fn append_page(&mut self, page_type: u8, chain: bool) -> (u32, PageMut<'_>) {
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

    /// The page being written.
    pub fn current_page(&mut self) -> PageMut<'_> {
        let buf = self.current.expect("no current build page");
        // SAFETY: pinned and exclusively locked by us.
        PageMut {
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
