//! Distances over PostgreSQL's own `bit` type (pgvector's `bitvec.c`): Hamming and Jaccard, the
//! targets of `binary_quantize`.

use super::error::raise;
use super::varlena::BitVec;
use crate::format::{SqlState, VecError};
use crate::kernels::kernels;
use pgrx::prelude::*;

fn same_len(a: &BitVec, b: &BitVec) {
    if a.len() != b.len() {
        raise(VecError::new(
            SqlState::DataException,
            format!("different bit lengths {} and {}", a.len(), b.len()),
        ));
    }
}

#[pg_extern(immutable, strict, parallel_safe)]
fn hamming_distance(a: BitVec, b: BitVec) -> f64 {
    same_len(&a, &b);
    (kernels().hamming)(a.bytes(), b.bytes()) as f64
}

#[pg_extern(immutable, strict, parallel_safe)]
fn jaccard_distance(a: BitVec, b: BitVec) -> f64 {
    same_len(&a, &b);
    (kernels().jaccard)(a.bytes(), b.bytes()).distance()
}
