//! ruvector-migrate: moves a column from pgvector to ruvector while the application keeps
//! running, in phases that each commit their progress to `ruvector_migrate.jobs`:
//!
//! 1. `start`: a shadow column of ruvector's type and a trigger that fills it on every write;
//! 2. `backfill`: existing rows in primary-key batches, resumable after a crash;
//! 3. `index`: the ruvector indexes, built concurrently on the shadow column;
//! 4. `validate`: values byte for byte, recall of both indexes against exact answers;
//! 5. `swap`: names exchanged in one short transaction (lock_timeout, retried);
//!
//! then `rollback` (undo the swap, or abandon before it) or `cleanup` (drop the pgvector column).
//! `in-place` converts a small table in one transaction instead. The index mapping is the
//! extension's own (`ruvector_migration_plan()`).

pub mod backfill;
pub mod ddl;
pub mod ident;
pub mod index;
pub mod job;
pub mod start;
pub mod swap;
pub mod target;
pub mod validate;
