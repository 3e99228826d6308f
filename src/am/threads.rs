//! The Rust thread pool index builds run their PURE parallel work on.

use crate::format::{SqlState, VecError};
use crate::types::error::raise;
use pgrx::pg_sys;

/// A pool of `1 + max_parallel_maintenance_workers` threads (so setting that to 0 gives a
/// serial build), bounded by the CPUs available. Its threads block every signal: PostgreSQL's
/// handlers must only ever run on the backend's own thread, which also alone calls into
/// PostgreSQL (interrupt checks, progress) between parallel steps.
pub fn build_pool(name: &'static str) -> rayon::ThreadPool {
    // SAFETY: reading a GUC variable.
    let workers = unsafe { pg_sys::max_parallel_maintenance_workers }.max(0) as usize;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (1 + workers).min(cpus).max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("{name} {i}"))
        .start_handler(|_| block_signals())
        .build()
        .unwrap_or_else(|e| {
            raise(VecError::new(
                SqlState::InternalError,
                format!("could not start build threads: {e}"),
            ))
        })
}

fn block_signals() {
    // SAFETY: changes only the calling thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
