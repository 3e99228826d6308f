//! Share-locked reads of pinned buffers with one pgrx FFI guard for a whole batch.
//!
//! Every PostgreSQL function pgrx binds is called through `pg_guard_ffi_boundary`, which takes
//! a `sigsetjmp` so that an `ERROR` raised inside becomes a Rust panic instead of a `longjmp`
//! over Rust frames. A search visiting an element makes four such calls (pin, lock, unlock,
//! unpin), and at 50 dimensions the guards were ~17% of a search's CPU time (perf, glove-100k,
//! ef_search 200). Here the pin (`ReadRecentBuffer`), lock, unlock and release calls of a batch
//! are made unguarded inside *one* guard: an error raised by any of them still `longjmp`s to
//! that guard and becomes a panic there. What the `longjmp` skips is only the batch's own loop frame, which holds
//! nothing to drop when it makes a PostgreSQL call (a "plain old frame", RFC 2945), and the
//! Rust code run between the calls — reading the locked page — is wrapped in `catch_unwind`,
//! its panic re-raised after the guard (a panic must not cross the guard's C frame).

use super::*;
use pgrx::pg_sys;
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The buffer manager calls of the batches, without pgrx's guard: called only inside
/// [`guarded`].
mod raw {
    use pgrx::pg_sys;
    unsafe extern "C-unwind" {
        pub fn ReadRecentBuffer(
            rlocator: crate::compat::RelFileLocator,
            fork_num: pg_sys::ForkNumber::Type,
            block_num: pg_sys::BlockNumber,
            recent_buffer: pg_sys::Buffer,
        ) -> bool;
        pub fn LockBuffer(buffer: pg_sys::Buffer, mode: std::ffi::c_int);
        pub fn ReleaseBuffer(buffer: pg_sys::Buffer);
    }
}

/// Runs `body`, which makes [`raw`] calls, inside one pgrx FFI guard; a panic `body` caught
/// (in `caught`) is re-raised afterwards.
///
/// # Safety
/// When `body` calls PostgreSQL its own frame must hold no value with a destructor, and any
/// Rust code it runs must be wrapped in [`contain`].
unsafe fn guarded(body: impl FnOnce(&mut Option<Box<dyn Any + Send>>)) {
    let mut caught = None;
    let slot = &mut caught;
    // SAFETY: called on the backend's thread; `body` upholds the frame rule above.
    unsafe { pg_sys::ffi::pg_guard_ffi_boundary(move || body(slot)) };
    if let Some(panic) = caught {
        resume_unwind(panic);
    }
}

/// Runs `f`, keeping a panic in `caught` instead of letting it unwind (the first one: after
/// a panic nothing more runs).
fn contain(caught: &mut Option<Box<dyn Any + Send>>, f: impl FnOnce()) {
    if caught.is_none() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
            *caught = Some(panic);
        }
    }
}

/// The page of a pinned buffer of this index, read as [`Shared::page_of_this_index`] does.
///
/// # Safety
/// `buf` is pinned and share-locked for as long as the page is used.
unsafe fn page_of<'a>(buf: pg_sys::Buffer) -> PageRef<'a> {
    // SAFETY: as the caller promises.
    unsafe { PageRef::of_this_index(pg_sys::BufferGetPage(buf).cast()) }
}

impl Pinned {
    /// Runs `f` on the page (of this index: see [`Shared::page_of_this_index`]) under a share
    /// lock, taken and released inside one FFI guard.
    pub fn read_shared<T>(&self, f: impl FnOnce(PageRef<'_>) -> T) -> T {
        let mut out = None;
        let mut f = Some(f);
        let buf = self.buf;
        {
            let (out, f) = (&mut out, &mut f);
            // SAFETY: the frame holds references only while it calls PostgreSQL (`f` and the
            // result stay in this function's frame); the page is read between the lock and
            // the unlock.
            unsafe {
                guarded(|caught| {
                    raw::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
                    contain(caught, || {
                        if let Some(f) = f.take() {
                            *out = Some(f(page_of(buf)));
                        }
                    });
                    raw::LockBuffer(buf, pg_sys::BUFFER_LOCK_UNLOCK as i32);
                })
            };
        }
        out.expect("read_shared ran its closure or re-raised its panic")
    }

    /// For each `i`, runs `f(i, page)` on the page (of this index) of `pins[which[i]]` under a
    /// share lock, one lock at a time, all inside one FFI guard. An index out of `pins` is
    /// skipped.
    pub fn read_each_shared(
        pins: &[Pinned],
        which: &[usize],
        mut f: impl FnMut(usize, PageRef<'_>),
    ) {
        let f = &mut f;
        // SAFETY: as in `read_shared`; the loop's state is plain integers and references.
        unsafe {
            guarded(|caught| {
                for (i, &p) in which.iter().enumerate() {
                    let Some(pin) = pins.get(p) else { continue };
                    let buf = pin.buf;
                    raw::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
                    contain(caught, || f(i, page_of(buf)));
                    raw::LockBuffer(buf, pg_sys::BUFFER_LOCK_UNLOCK as i32);
                }
            })
        }
    }

    /// Pins the buffers of `blocks` (of `rel`, each with the hint looked up for it), appending
    /// them to `pins` in order, as [`Pinned::read_with_hint`] does one at a time: the hinted
    /// buffers are checked and pinned by `ReadRecentBuffer` inside one FFI guard, and only
    /// blocks without a hint, or whose hint was stale, are read the usual way afterwards.
    pub fn read_each_with_hint(
        rel: Rel,
        blocks: &[(u32, Option<BufferHint>)],
        pins: &mut Vec<Pinned>,
    ) {
        const AT_ONCE: usize = 8;
        let locator = rel.file_node();
        for group in blocks.chunks(AT_ONCE) {
            // (A block past the relation's end is in no buffer: `ReadRecentBuffer` finds no
            // buffer with its tag, and the usual read below checks the block.)
            // The buffer pinned for each block of the group (0: not pinned yet).
            let mut recent = [0 as pg_sys::Buffer; AT_ONCE];
            {
                let recent = &mut recent;
                // SAFETY: the frame holds integers and references only; `rel` is open and
                // `ReadRecentBuffer` validates the hinted buffer itself. Buffers pinned before
                // an error are released by the resource owner.
                unsafe {
                    guarded(|_| {
                        for (j, &(block, hint)) in group.iter().enumerate() {
                            if let Some(BufferHint(buf)) = hint {
                                if raw::ReadRecentBuffer(
                                    locator,
                                    pg_sys::ForkNumber::MAIN_FORKNUM,
                                    block,
                                    buf,
                                ) {
                                    recent[j] = buf;
                                }
                            }
                        }
                    })
                }
            }
            for (&(block, _), &buf) in group.iter().zip(&recent) {
                pins.push(if buf != 0 {
                    Pinned {
                        buf,
                        block,
                        _not_send: PhantomData,
                    }
                } else {
                    Pinned::read_with_hint(rel, block, None)
                });
            }
        }
    }

    /// Releases every pin of `pins` inside one FFI guard, leaving it empty.
    pub fn release_all(pins: &mut Vec<Pinned>) {
        let n = pins.len();
        let first = pins.as_ptr();
        // SAFETY: the pins are forgotten first, so that an error midway (on which the resource
        // owner releases what is left) cannot make their destructors release them again; their
        // memory stays allocated and is read below.
        unsafe {
            pins.set_len(0);
            guarded(|_| {
                for i in 0..n {
                    raw::ReleaseBuffer((*first.add(i)).buf);
                }
            })
        }
    }
}

#[cfg(any(test, feature = "pg_test"))]
impl Pinned {
    /// The pinned buffer (for the in-server tests).
    pub fn buffer(&self) -> pg_sys::Buffer {
        self.buf
    }
}

/// Makes an unguarded `LockBuffer` call with `mode` inside a batch's guard: lets the in-server
/// tests check that an error PostgreSQL raises there becomes an ordinary `ERROR`.
#[cfg(any(test, feature = "pg_test"))]
pub fn lock_in_batch_for_test(pin: &Pinned, mode: i32) {
    let buf = pin.buf;
    // SAFETY: the frame holds an integer only.
    unsafe { guarded(|_| raw::LockBuffer(buf, mode)) }
}
