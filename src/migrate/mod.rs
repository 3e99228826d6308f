//! Moving from pgvector: casts between pgvector's types and ruvector's (`casts`) and the
//! assessment `ruvector_migration_plan()` (plain SQL: `sql/migration_plan.sql`).
//!
//! The online migration itself (shadow column, backfill, index, validation, swap) is driven from
//! outside the server; the functions here are the parts that must run inside it.

pub mod casts;

pgrx::extension_sql_file!("../../sql/migration_plan.sql", name = "migration_plan");
