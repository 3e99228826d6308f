//! The one way a damaged index is reported: SQLSTATE `XX002` (`index_corrupted`), the primary
//! message `index "X" is corrupted`, what was found in the DETAIL, and the HINT to rebuild it
//! (`REINDEX INDEX schema.X;`, as the format-version error of `am::meta` gives it).
//!
//! Index code runs inside [`guard`], which names the index for every report made below it —
//! decoders deep in the page code need no relation to report through [`damaged`] — and turns a
//! Rust panic into the same error. Decoders check what they read (item lengths, TIDs against
//! the relation's size, chains for cycles, stored values' headers against their lengths in
//! `quantize::Estimator::distance`) and report through [`damaged`]; the panic conversion is
//! the backstop for bytes that pass those checks yet contradict each other deeper down, which
//! must reach the user as a damaged index, never as `XX000` with the panic's text.

use super::page::Rel;
use crate::format::{SqlState, VecError};
use crate::types::error::raise;
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;

thread_local! {
    /// The indexes of the guards this backend is inside, innermost last.
    static INDEXES: RefCell<Vec<Rel>> = const { RefCell::new(Vec::new()) };
}

/// Raises the corruption error of `index`.
pub fn corrupted(index: Rel, detail: impl Into<String>) -> ! {
    raise(error(index, detail.into()))
}

/// Raises the corruption error of the index the innermost [`guard`] runs for.
pub fn damaged(detail: impl Into<String>) -> ! {
    match INDEXES.with(|i| i.borrow().last().copied()) {
        Some(index) => corrupted(index, detail),
        None => raise(
            VecError::new(SqlState::IndexCorrupted, "ruvector index is corrupted")
                .with_detail(detail)
                .with_hint("Rebuild the index with REINDEX."),
        ),
    }
}

/// The corruption error of `index`.
pub fn error(index: Rel, detail: String) -> VecError {
    VecError::new(
        SqlState::IndexCorrupted,
        format!("index \"{}\" is corrupted", super::relation_name(index)),
    )
    .with_detail(detail)
    .with_hint(format!(
        "Rebuild the index with REINDEX INDEX {};",
        super::qualified_name(index)
    ))
}

/// Runs `f`, index code reading `index`'s pages: errors it raises pass through unchanged, a
/// Rust panic becomes `index`'s corruption error (its text in the DETAIL).
pub fn guard<T>(index: Rel, f: impl FnOnce() -> T) -> T {
    INDEXES.with(|i| i.borrow_mut().push(index));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    INDEXES.with(|i| i.borrow_mut().pop());
    match result {
        Ok(v) => v,
        Err(payload) => {
            // PostgreSQL errors (raised by ruvector or by a PostgreSQL function pgrx called)
            // travel as pgrx's own payload type; plain strings are Rust panics.
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            match text {
                Some(t) => corrupted(index, format!("A page holds inconsistent data ({t}).")),
                None => std::panic::resume_unwind(payload),
            }
        }
    }
}

/// Follows a chain of pages (their `next_blkno` links) with a bound: a chain longer than the
/// index has blocks must loop, which would otherwise hang the backend. The index may grow while
/// the chain is followed (concurrent inserts append pages to it), so its size is looked up
/// again before a long chain is called a loop.
pub struct Chain {
    index: Rel,
    steps: u64,
    /// The index's size when last looked up (0: not yet).
    blocks: u64,
}

impl Chain {
    pub fn new(index: Rel) -> Chain {
        Chain {
            index,
            steps: 0,
            blocks: 0,
        }
    }

    /// Counts a step to `blk`; a damaged index's error once there were more steps than blocks.
    pub fn step(&mut self, blk: u32) {
        self.steps += 1;
        if self.steps <= self.blocks {
            return;
        }
        self.blocks = self.index.blocks() as u64;
        if self.steps > self.blocks {
            corrupted(
                self.index,
                format!("A chain of pages loops (it comes back to block {blk})."),
            );
        }
    }
}

/// The table's size as a scan last looked it up, to refuse heap TIDs past its end: an index
/// entry damaged there would otherwise send the table access method to read a block that does
/// not exist. Looked up again only for a block beyond it (the table may have grown meanwhile).
#[derive(Default)]
pub struct HeapBound(u32);

impl HeapBound {
    /// Checks heap block `blk` of `heap`, read from `index`.
    ///
    /// # Safety
    /// `heap` must be an open relation.
    pub unsafe fn check(&mut self, index: Rel, heap: pgrx::pg_sys::Relation, blk: u32) {
        if blk < self.0 {
            return;
        }
        // SAFETY: `heap` is open (the caller's contract).
        let blocks = unsafe { Rel::from_raw(heap) }.blocks();
        self.0 = blocks;
        if blk >= blocks {
            corrupted(
                index,
                format!(
                    "An index entry points to block {blk} of its table, past the table's end \
                     ({blocks} blocks)."
                ),
            );
        }
    }
}
