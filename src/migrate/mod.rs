//! Moving from pgvector: casts between pgvector's types and ruvector's (`casts`).
//!
//! The online migration itself (shadow column, backfill, index, validation, swap) is driven from
//! outside the server; the functions here are the parts that must run inside it.

pub mod casts;
