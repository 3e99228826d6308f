//! Short DDL transactions against a busy table: each runs with `lock_timeout`, so that waiting
//! for a lock never queues the application's statements behind it for long, and is retried
//! with a growing pause when the lock is not granted in time.

use anyhow::{Context, Result};
use postgres::error::SqlState;
use postgres::{Client, Transaction};
use std::time::Duration;

/// How DDL waits for its locks.
#[derive(Clone, Copy, Debug)]
pub struct LockPolicy {
    pub lock_timeout_ms: u64,
    pub attempts: u32,
}

impl Default for LockPolicy {
    fn default() -> Self {
        LockPolicy {
            lock_timeout_ms: 2000,
            attempts: 30,
        }
    }
}

/// Runs `f` in a transaction with the policy's `lock_timeout`; retries the whole transaction
/// when a lock was not granted in time (SQLSTATE 55P03), up to `attempts` times.
pub fn transaction<T>(
    client: &mut Client,
    policy: LockPolicy,
    what: &str,
    mut f: impl FnMut(&mut Transaction) -> Result<T>,
) -> Result<T> {
    let mut attempt = 1;
    loop {
        let mut tx = client.transaction()?;
        tx.batch_execute(&format!(
            "SET LOCAL lock_timeout = '{}ms'",
            policy.lock_timeout_ms
        ))?;
        let result = f(&mut tx).and_then(|v| {
            tx.commit()?;
            Ok(v)
        });
        match result {
            Ok(v) => return Ok(v),
            Err(e) if lock_timeout(&e) && attempt < policy.attempts => {
                eprintln!(
                    "{what}: lock not granted within {} ms (attempt {attempt} of {}), retrying",
                    policy.lock_timeout_ms, policy.attempts
                );
                std::thread::sleep(Duration::from_millis(200 * attempt.min(10) as u64));
                attempt += 1;
            }
            Err(e) => return Err(e).with_context(|| what.to_string()),
        }
    }
}

/// Whether `e` is (caused by) a lock timeout.
fn lock_timeout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<postgres::Error>()
            .and_then(|p| p.code())
            .is_some_and(|code| *code == SqlState::LOCK_NOT_AVAILABLE)
    })
}
