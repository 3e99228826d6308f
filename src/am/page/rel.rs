//! Relations as access-method callbacks hold them ([`Rel`]): their size (checked before a
//! block a page names is read), their name, WAL needs, and bulk-read strategies ([`BulkRead`]).

#[allow(unused_imports)]
use super::*;
use pgrx::pg_sys;
#[allow(unused_imports)]
use std::cell::Cell;
#[allow(unused_imports)]
use std::marker::PhantomData;

/// An open index (or heap) relation, as handed to an access-method callback.
///
/// PostgreSQL keeps the relation open and locked for the whole callback, so a `Rel` built at
/// the entry point stays valid while the AM code below uses it; wrapping the raw pointer once,
/// there, keeps the `unsafe` at the FFI boundary instead of in every page helper.
#[derive(Clone, Copy, Debug)]
pub struct Rel(pub(super) pg_sys::Relation);

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

    /// Records `blkno` as free in the index's free space map (`RecordFreeIndexPage`, as
    /// btree's VACUUM does); [`crate::am::page::Locked::recycled`] hands it out again. Call
    /// [`Rel::publish_free_pages`] after recording a batch.
    pub fn record_free_page(self, blkno: u32) {
        // SAFETY: valid per `from_raw`; the free space map takes its own locks.
        unsafe { pg_sys::RecordFreeIndexPage(self.0, blkno) }
    }

    /// Makes pages recorded free visible to searches of the free space map
    /// (`IndexFreeSpaceMapVacuum`: updates its upper levels).
    pub fn publish_free_pages(self) {
        // SAFETY: valid per `from_raw`.
        unsafe { pg_sys::IndexFreeSpaceMapVacuum(self.0) }
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
    pub(super) static SIZES: std::cell::RefCell<Vec<([u32; 3], u32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A bulk-read buffer access strategy (a small ring of buffers), so that a VACUUM pass over the
/// whole index does not evict the rest of shared buffers. Freed on drop.
pub struct BulkRead(pub(super) pg_sys::BufferAccessStrategy);

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
