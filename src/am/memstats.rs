//! Per-backend accounting of what index scans hold in memory, for `ruvector_memory_stats()`:
//! visited sets, candidate queues, re-rank batches and prepared query tables of the scans that
//! are open, and the most held at once since the backend started. (Codebooks are accounted by
//! their cache, `codebook::cached`.)
//!
//! A backend runs its scans on its main thread; the counters are atomics only so that the
//! statics need no lock.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static OPEN: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BEGUN: AtomicUsize = AtomicUsize::new(0);

/// One open scan's share. Begun with the scan, updated as its buffers grow, given back when
/// the scan ends — by `amendscan`, or by the drop of the scan's state when its memory context
/// goes away after an ERROR.
#[derive(Debug)]
pub struct ScanAccount {
    bytes: usize,
    open: bool,
}

impl ScanAccount {
    pub fn begin() -> ScanAccount {
        OPEN.fetch_add(1, Relaxed);
        BEGUN.fetch_add(1, Relaxed);
        ScanAccount {
            bytes: 0,
            open: true,
        }
    }

    /// The scan now holds `bytes`.
    pub fn set(&mut self, bytes: usize) {
        if !self.open {
            return;
        }
        if bytes >= self.bytes {
            let grown = bytes - self.bytes;
            let now = BYTES.fetch_add(grown, Relaxed) + grown;
            PEAK.fetch_max(now, Relaxed);
        } else {
            BYTES.fetch_sub(self.bytes - bytes, Relaxed);
        }
        self.bytes = bytes;
    }

    /// The scan ended: its bytes are given back.
    pub fn end(&mut self) {
        if self.open {
            self.set(0);
            self.open = false;
            OPEN.fetch_sub(1, Relaxed);
        }
    }
}

impl Drop for ScanAccount {
    fn drop(&mut self) {
        self.end();
    }
}

/// This backend's index scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scans {
    /// Scans begun and not ended.
    pub open: usize,
    /// Bytes the open scans hold.
    pub bytes: usize,
    /// Most bytes held by open scans at once since the backend started.
    pub peak_bytes: usize,
    /// Scans begun since the backend started.
    pub begun: usize,
}

pub fn scans() -> Scans {
    Scans {
        open: OPEN.load(Relaxed),
        bytes: BYTES.load(Relaxed),
        peak_bytes: PEAK.load(Relaxed),
        begun: BEGUN.load(Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test touches the process-wide counters (tests run in parallel threads).
    #[test]
    fn accounts_grow_shrink_and_end() {
        let before = scans();
        let mut a = ScanAccount::begin();
        a.set(1000);
        let mut b = ScanAccount::begin();
        b.set(500);
        let mid = scans();
        assert_eq!(mid.open, before.open + 2);
        assert_eq!(mid.bytes, before.bytes + 1500);
        assert!(mid.peak_bytes >= mid.bytes);
        a.set(200);
        assert_eq!(scans().bytes, before.bytes + 700);
        a.end();
        a.end();
        drop(b);
        let after = scans();
        assert_eq!((after.open, after.bytes), (before.open, before.bytes));
        assert_eq!(after.begun, before.begun + 2);
        assert!(after.peak_bytes >= before.bytes + 1500);
    }
}
