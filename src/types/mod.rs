//! pgrx glue for ruvector's types: `ruvector` (f32), `halfvec` (f16), `sparsevec`, and distances
//! over PostgreSQL's `bit`. Parsing, formatting and validation live in the pure `crate::format`,
//! distance math in `crate::kernels`; this layer moves bytes and raises errors.

pub mod arrays;
pub mod bitvec;
pub mod dense;
pub mod error;
pub mod fmgr;
pub mod halfvec;
pub mod sparsevec;
pub mod typmod;
pub mod varlena;
pub mod vector;
