//! SQL surface of `halfvec` (pgvector's `halfvec`: IEEE fp16 elements, f32 arithmetic).
//! Thin wrappers over `dense.rs`; declarations of the type, operators, casts and aggregates are
//! in `sql/finalize.sql`.

use super::arrays::{array_to_f32, RawArray};
use super::dense;
use super::fmgr::distance_fn;
use super::varlena::{BitVec, HalfVec, Vector};
use half::f16;
use pgrx::datum::Internal;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_in(input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> HalfVec {
    dense::input(input, typmod)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_out(v: HalfVec) -> CString {
    CString::new(dense::output(&v)).expect("formatted vectors contain no NUL")
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_typmod_in(list: super::typmod::TypmodList) -> i32 {
    list.dimensions(crate::format::HALFVEC, crate::format::DENSE_MAX_DIM)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_recv(buf: Internal, _oid: pg_sys::Oid, typmod: i32) -> HalfVec {
    super::typmod::receive(buf, |bytes| dense::receive::<f16>(bytes, typmod))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_send(v: HalfVec) -> Vec<u8> {
    dense::send(&v)
}

/// Length-coercion cast `::halfvec(n)`.
#[pg_extern(immutable, strict, parallel_safe, name = "halfvec")]
fn halfvec_typmod(v: HalfVec, typmod: i32, _explicit: bool) -> HalfVec {
    dense::enforce_typmod(v, typmod)
}

/// Bound by `sql/finalize.sql` to `integer[]`, `real[]`, `double precision[]` and `numeric[]`.
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn array_to_halfvec(arr: RawArray, typmod: i32, _explicit: bool) -> HalfVec {
    let x = array_to_f32(&arr, |n| dense::check_len::<f16>(n, typmod));
    dense::from_f32_values(&x)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_to_float4(v: HalfVec, _typmod: i32, _explicit: bool) -> Vec<f32> {
    dense::to_f32_vec(&v)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_to_ruvector(v: HalfVec, typmod: i32, _explicit: bool) -> Vector {
    dense::convert(&v, typmod)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_to_halfvec(v: Vector, typmod: i32, _explicit: bool) -> HalfVec {
    dense::convert(&v, typmod)
}

// ---- distances (direct fmgr entry points, see fmgr.rs) -----------------------------------------

distance_fn! {
    fn halfvec_l2_distance / pg_finfo_halfvec_l2_distance (a, b: HalfVec) { dense::l2(&a, &b) }
    sql "halfvec_l2_distance" = "
CREATE FUNCTION l2_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'halfvec_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn halfvec_inner_product / pg_finfo_halfvec_inner_product (a, b: HalfVec) { dense::inner_product(&a, &b) }
    sql "halfvec_inner_product" = "
CREATE FUNCTION inner_product(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'halfvec_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn halfvec_negative_inner_product / pg_finfo_halfvec_negative_inner_product (a, b: HalfVec) { dense::negative_inner_product(&a, &b) }
    sql "halfvec_negative_inner_product" = "
CREATE FUNCTION halfvec_negative_inner_product(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'halfvec_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn halfvec_cosine_distance / pg_finfo_halfvec_cosine_distance (a, b: HalfVec) { dense::cosine(&a, &b) }
    sql "halfvec_cosine_distance" = "
CREATE FUNCTION cosine_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'halfvec_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn halfvec_l1_distance / pg_finfo_halfvec_l1_distance (a, b: HalfVec) { dense::l1(&a, &b) }
    sql "halfvec_l1_distance" = "
CREATE FUNCTION l1_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'halfvec_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn halfvec_l2_squared_distance / pg_finfo_halfvec_l2_squared_distance (a, b: HalfVec) { dense::l2_squared(&a, &b) }
    sql "halfvec_l2_squared_distance" = "
CREATE FUNCTION halfvec_l2_squared_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'halfvec_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

// ---- functions -------------------------------------------------------------------------------

#[pg_extern(immutable, strict, parallel_safe, name = "vector_dims")]
fn halfvec_vector_dims(v: HalfVec) -> i32 {
    v.dim() as i32
}

#[pg_extern(immutable, strict, parallel_safe, name = "ruvector_dims")]
fn halfvec_ruvector_dims(v: HalfVec) -> i32 {
    v.dim() as i32
}

#[pg_extern(immutable, strict, parallel_safe, name = "l2_norm")]
fn halfvec_l2_norm(v: HalfVec) -> f64 {
    dense::norm(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "ruvector_norm")]
fn halfvec_ruvector_norm(v: HalfVec) -> f64 {
    dense::norm(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "l2_normalize")]
fn halfvec_l2_normalize(v: HalfVec) -> HalfVec {
    dense::l2_normalize(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "binary_quantize")]
fn halfvec_binary_quantize(v: HalfVec) -> BitVec {
    dense::binary_quantize(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "subvector")]
fn halfvec_subvector(v: HalfVec, start: i32, count: i32) -> HalfVec {
    dense::subvector(&v, start, count)
}

// ---- operators' functions --------------------------------------------------------------------

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_add(a: HalfVec, b: HalfVec) -> HalfVec {
    dense::add(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_sub(a: HalfVec, b: HalfVec) -> HalfVec {
    dense::sub(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_mul(a: HalfVec, b: HalfVec) -> HalfVec {
    dense::mul(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_concat(a: HalfVec, b: HalfVec) -> HalfVec {
    dense::concat(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_lt(a: HalfVec, b: HalfVec) -> bool {
    dense::compare(&a, &b).is_lt()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_le(a: HalfVec, b: HalfVec) -> bool {
    dense::compare(&a, &b).is_le()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_eq(a: HalfVec, b: HalfVec) -> bool {
    dense::compare(&a, &b).is_eq()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_ne(a: HalfVec, b: HalfVec) -> bool {
    dense::compare(&a, &b).is_ne()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_ge(a: HalfVec, b: HalfVec) -> bool {
    dense::compare(&a, &b).is_ge()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_gt(a: HalfVec, b: HalfVec) -> bool {
    dense::compare(&a, &b).is_gt()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_cmp(a: HalfVec, b: HalfVec) -> i32 {
    dense::compare(&a, &b) as i32
}

// ---- aggregate steps (combine is shared with ruvector: same state) ----------------------------

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_accum(state: RawArray, v: HalfVec) -> Vec<f64> {
    dense::accum(state.state("halfvec_accum"), &v)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_avg(state: RawArray) -> Option<HalfVec> {
    dense::average(state.state("halfvec_avg"))
}
