//! Generic WAL records ([`WalChange`], PostgreSQL `access/generic_xlog.h`): every change to a
//! page after the build.

#[allow(unused_imports)]
use super::*;
use pgrx::pg_sys;
#[allow(unused_imports)]
use std::cell::Cell;
#[allow(unused_imports)]
use std::marker::PhantomData;

/// A Generic WAL record over pages locked exclusively by the caller.
pub struct WalChange {
    pub(super) state: Cell<*mut pg_sys::GenericXLogState>,
    pub(super) registered: Cell<usize>,
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
