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
//!
//! | file | concern |
//! |---|---|
//! | `rel.rs` | [`Rel`], relation size checks, [`BulkRead`], `relation_needs_wal` |
//! | `buffer.rs` | [`Locked`] (lock mode by type), [`Pinned`] / [`Shared`] |
//! | `hint.rs` | [`BufferHint`]: last-known buffers, prefetching |
//! | `lock.rs` | [`PageLock`] |
//! | `view.rs` | [`PageRef`], [`PageMut`] |
//! | `wal.rs` | [`WalChange`] |
//! | `build.rs` | [`BuildPages`] |
//! | `mod.rs` | the page trailer ([`Opaque`]) and page geometry |

mod batch;
mod buffer;
mod build;
mod hint;
mod lock;
mod rel;
mod view;
mod wal;

#[cfg(any(test, feature = "pg_test"))]
pub use batch::lock_in_batch_for_test;
pub use buffer::*;
pub use build::*;
pub use hint::*;
pub use lock::*;
pub use rel::*;
pub use view::*;
pub use wal::*;

use pgrx::pg_sys;

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
