//! Views of a page's bytes: [`PageRef`] (read-only, trailer and line pointers checked) and
//! [`PageMut`] (a writable image inside a WAL change or a bulk build).

#[allow(unused_imports)]
use super::*;
use pgrx::pg_sys;
#[allow(unused_imports)]
use std::cell::Cell;
#[allow(unused_imports)]
use std::marker::PhantomData;

/// Read-only view of an 8 KB page.
#[derive(Clone, Copy)]
pub struct PageRef<'a> {
    pub(super) ptr: *const u8,
    pub(super) _borrow: PhantomData<&'a [u8]>,
}

/// Fields of PostgreSQL's `PageHeaderData` we read (see `storage/bufpage.h`).
#[inline]
pub(super) unsafe fn header(p: *const u8) -> *const pg_sys::PageHeaderData {
    p.cast()
}

impl<'a> PageRef<'a> {
    pub(super) fn new(ptr: *const u8) -> PageRef<'a> {
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

    /// A page of this index named by a TID read from its own pages, without the trailer check
    /// ([`Shared::page_of_this_index`]).
    ///
    /// # Safety
    /// `ptr` is a pinned, share-locked buffer's page, for `'a`.
    pub(super) unsafe fn of_this_index(ptr: *const u8) -> PageRef<'a> {
        PageRef {
            ptr,
            _borrow: PhantomData,
        }
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

/// A writable page image inside a [`WalChange`] or [`BuildPages`].
pub struct PageMut<'w> {
    pub(super) ptr: *mut u8,
    pub(super) _borrow: PhantomData<&'w ()>,
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
