//! ruvector's algorithms, free of PostgreSQL: nothing in this crate calls pgrx or PostgreSQL,
//! so it runs on any thread (index builds call it from rayon workers) and its tests need no
//! server. The extension crate (`ruvector`) re-exports these modules and stores what they
//! compute in index pages.
//!
//! - `kernels`: distance kernels and their runtime SIMD dispatch;
//! - `format`: pgvector's text and binary formats of the vector types, and their validation;
//! - `graph`: HNSW in memory (build) and its search over any [`graph::search::Graph`];
//! - `ivf`: k-means for IVF list centres, sampling, list assignment;
//! - `quant`: SQ8, PQ and binary quantizers;
//! - `filter`: key columns of multi-column indexes (encoding, predicates on them);
//! - `check`: the findings of an index check, value-image validation, the Bloom filter of
//!   `heapallindexed`.

pub mod check;
pub mod filter;
pub mod format;
pub mod graph;
pub mod ivf;
pub mod kernels;
pub mod quant;
