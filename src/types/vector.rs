//! SQL surface of `ruvector` (pgvector's `vector`): I/O, distances, functions, arithmetic,
//! comparison and aggregate steps. Each function is a thin wrapper over `dense.rs`; the type,
//! operators, casts and aggregates themselves are declared in `sql/finalize.sql`.

use super::arrays::{array_to_f32, RawArray};
use super::dense;
use super::fmgr::distance_fn;
use super::varlena::{BitVec, Vector};
use pgrx::datum::Internal;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_in(input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> Vector {
    dense::input(input, typmod)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_out(v: Vector) -> CString {
    CString::new(dense::output(&v)).expect("formatted vectors contain no NUL")
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_typmod_in(list: super::typmod::TypmodList) -> i32 {
    list.dimensions(crate::format::RUVECTOR, crate::format::DENSE_MAX_DIM)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_recv(buf: Internal, _oid: pg_sys::Oid, typmod: i32) -> Vector {
    super::typmod::receive(buf, |bytes| dense::receive::<f32>(bytes, typmod))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_send(v: Vector) -> Vec<u8> {
    dense::send(&v)
}

/// Length-coercion cast `::ruvector(n)`.
#[pg_extern(immutable, strict, parallel_safe, name = "ruvector")]
fn ruvector_typmod(v: Vector, typmod: i32, _explicit: bool) -> Vector {
    dense::enforce_typmod(v, typmod)
}

/// Bound by `sql/finalize.sql` to `integer[]`, `real[]`, `double precision[]` and `numeric[]`.
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn array_to_ruvector(arr: RawArray, typmod: i32, _explicit: bool) -> Vector {
    let x = array_to_f32(&arr, |n| dense::check_len::<f32>(n, typmod));
    dense::from_f32_values(&x)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_to_float4(v: Vector, _typmod: i32, _explicit: bool) -> Vec<f32> {
    dense::to_f32_vec(&v)
}

// ---- distances (direct fmgr entry points, see fmgr.rs) -----------------------------------------
// pgvector's names, and RuVector-Postgres' documented names bound to the same C functions.

distance_fn! {
    fn rv_l2_distance / pg_finfo_rv_l2_distance (a, b: Vector) { dense::l2(&a, &b) }
    sql "rv_l2_distance" = "
CREATE FUNCTION l2_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruvector_l2_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn rv_inner_product / pg_finfo_rv_inner_product (a, b: Vector) { dense::inner_product(&a, &b) }
    sql "rv_inner_product" = "
CREATE FUNCTION inner_product(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    /// `<#>` and `ruvector_ip_distance` (RuVector-Postgres' documented meaning: negated).
    fn rv_negative_inner_product / pg_finfo_rv_negative_inner_product (a, b: Vector) {
        dense::negative_inner_product(&a, &b)
    }
    sql "rv_negative_inner_product" = "
CREATE FUNCTION ruvector_negative_inner_product(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruvector_ip_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn rv_cosine_distance / pg_finfo_rv_cosine_distance (a, b: Vector) { dense::cosine(&a, &b) }
    sql "rv_cosine_distance" = "
CREATE FUNCTION cosine_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruvector_cosine_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn rv_l1_distance / pg_finfo_rv_l1_distance (a, b: Vector) { dense::l1(&a, &b) }
    sql "rv_l1_distance" = "
CREATE FUNCTION l1_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruvector_l1_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn rv_l2_squared_distance / pg_finfo_rv_l2_squared_distance (a, b: Vector) {
        dense::l2_squared(&a, &b)
    }
    sql "rv_l2_squared_distance" = "
CREATE FUNCTION ruvector_l2_squared_distance(ruvector, ruvector) RETURNS float8
    AS 'MODULE_PATHNAME', 'rv_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

// ---- functions -------------------------------------------------------------------------------

#[pg_extern(immutable, strict, parallel_safe, name = "vector_dims")]
fn rv_vector_dims(v: Vector) -> i32 {
    v.dim() as i32
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_dims(v: Vector) -> i32 {
    v.dim() as i32
}

#[pg_extern(immutable, strict, parallel_safe, name = "vector_norm")]
fn rv_vector_norm(v: Vector) -> f64 {
    dense::norm(&v)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_norm(v: Vector) -> f64 {
    dense::norm(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "l2_normalize")]
fn rv_l2_normalize(v: Vector) -> Vector {
    dense::l2_normalize(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "binary_quantize")]
fn rv_binary_quantize(v: Vector) -> BitVec {
    dense::binary_quantize(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "subvector")]
fn rv_subvector(v: Vector, start: i32, count: i32) -> Vector {
    dense::subvector(&v, start, count)
}

// ---- operators' functions --------------------------------------------------------------------

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_add(a: Vector, b: Vector) -> Vector {
    dense::add(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_sub(a: Vector, b: Vector) -> Vector {
    dense::sub(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_mul(a: Vector, b: Vector) -> Vector {
    dense::mul(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_concat(a: Vector, b: Vector) -> Vector {
    dense::concat(&a, &b)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_lt(a: Vector, b: Vector) -> bool {
    dense::compare(&a, &b).is_lt()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_le(a: Vector, b: Vector) -> bool {
    dense::compare(&a, &b).is_le()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_eq(a: Vector, b: Vector) -> bool {
    dense::compare(&a, &b).is_eq()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_ne(a: Vector, b: Vector) -> bool {
    dense::compare(&a, &b).is_ne()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_ge(a: Vector, b: Vector) -> bool {
    dense::compare(&a, &b).is_ge()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_gt(a: Vector, b: Vector) -> bool {
    dense::compare(&a, &b).is_gt()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_cmp(a: Vector, b: Vector) -> i32 {
    dense::compare(&a, &b) as i32
}

// ---- aggregate steps -------------------------------------------------------------------------

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_accum(state: RawArray, v: Vector) -> Vec<f64> {
    dense::accum(state.state("ruvector_accum"), &v)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_combine(a: RawArray, b: RawArray) -> Vec<f64> {
    dense::combine(a.state("ruvector_combine"), b.state("ruvector_combine"))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_avg(state: RawArray) -> Option<Vector> {
    dense::average(state.state("ruvector_avg"))
}
