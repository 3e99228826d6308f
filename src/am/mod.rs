//! pgrx glue for ruvector's index access methods. `page.rs` is the only code that touches
//! index pages; `value.rs` turns column values into the images indexes store; `memcx.rs` scopes
//! per-call memory.

pub mod codebook;
pub mod hnsw;
pub mod ivf;
pub mod memcx;
pub mod memstats;
pub mod page;
pub mod quantize;
pub mod rerank;
pub mod routine;
pub mod scan;
pub mod threads;
pub mod tid;
pub mod vacuum;
pub mod value;
