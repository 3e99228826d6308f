//! Distances over PostgreSQL's own `bit` type (pgvector's `bitvec.c`): Hamming and Jaccard, the
//! targets of `binary_quantize`.

use super::error::raise;
use super::fmgr::distance_fn;
use super::varlena::BitVec;
use crate::format::{SqlState, VecError};
use crate::kernels::kernels;

fn same_len(a: &BitVec, b: &BitVec) {
    if a.len() != b.len() {
        raise(VecError::new(
            SqlState::DataException,
            format!("different bit lengths {} and {}", a.len(), b.len()),
        ));
    }
}

distance_fn! {
    fn bit_hamming_distance / pg_finfo_bit_hamming_distance (a, b: BitVec) {
        same_len(&a, &b);
        (kernels().hamming)(a.bytes(), b.bytes()) as f64
    }
    sql "bit_hamming_distance" = "
CREATE FUNCTION hamming_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'bit_hamming_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn bit_jaccard_distance / pg_finfo_bit_jaccard_distance (a, b: BitVec) {
        same_len(&a, &b);
        (kernels().jaccard)(a.bytes(), b.bytes()).distance()
    }
    sql "bit_jaccard_distance" = "
CREATE FUNCTION jaccard_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'bit_jaccard_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}
