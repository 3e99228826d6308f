//! SQL surface of `sparsevec` (pgvector's `sparsevec`): I/O, distances over the stored entries,
//! normalisation, comparison and conversions to and from the dense types.

use super::arrays::{array_to_f32, RawArray};
use super::dense::DenseType;
use super::error::{raise, OrRaise};
use super::fmgr::distance_fn;
use super::varlena::{Dense, HalfVec, SparseVec, Vector};
use crate::format::sparse_text::{self, check_nnz};
use crate::format::{
    binary, check_dim, check_element, check_expected_dim, check_same_dims, SqlState, VecError,
    SPARSEVEC, SPARSE_MAX_DIM,
};
use crate::kernels::sparse as k;
use pgrx::datum::Internal;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cmp::Ordering;
use std::ffi::{CStr, CString};

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_in(input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> SparseVec {
    let s = sparse_text::parse(input, typmod).or_raise();
    SparseVec::new(s.dim, &s.indices, &s.values)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_out(v: SparseVec) -> CString {
    CString::new(sparse_text::format(v.dim(), v.indices(), v.values()))
        .expect("formatted vectors contain no NUL")
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_typmod_in(list: super::typmod::TypmodList) -> i32 {
    list.dimensions(SPARSEVEC, SPARSE_MAX_DIM)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_recv(buf: Internal, _oid: pg_sys::Oid, typmod: i32) -> SparseVec {
    super::typmod::receive(buf, |bytes| {
        let (s, used) = binary::decode_sparse(bytes, typmod).or_raise();
        (SparseVec::new(s.dim, &s.indices, &s.values), used)
    })
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_send(v: SparseVec) -> Vec<u8> {
    binary::encode_sparse(v.dim(), v.indices(), v.values())
}

/// Length-coercion cast `::sparsevec(n)`.
#[pg_extern(immutable, strict, parallel_safe, name = "sparsevec")]
fn sparsevec_typmod(v: SparseVec, typmod: i32, _explicit: bool) -> SparseVec {
    check_expected_dim(typmod, v.dim()).or_raise();
    v
}

// ---- conversions -----------------------------------------------------------------------------

/// Dense to sparse: the non-zero elements, with sparsevec's limits.
fn from_dense<E: DenseType>(v: &Dense<E>, typmod: i32) -> SparseVec {
    let dim = v.dim() as i32;
    check_dim(SPARSEVEC, dim, SPARSE_MAX_DIM).or_raise();
    check_expected_dim(typmod, dim).or_raise();
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for (i, x) in v.as_slice().iter().enumerate() {
        let x = x.to_f32();
        if x != 0.0 {
            indices.push(i as i32);
            values.push(x);
        }
    }
    check_nnz(indices.len() as i32, dim).or_raise();
    SparseVec::new(dim, &indices, &values)
}

/// Sparse to dense, with the dense type's dimension limit and element conversion.
fn to_dense<E: DenseType>(v: &SparseVec, typmod: i32) -> Dense<E> {
    let dim = v.dim();
    crate::format::check_dense_dim(E::NAMES, dim).or_raise();
    check_expected_dim(typmod, dim).or_raise();
    let mut out = Dense::<E>::zeroed(dim as usize);
    let x = out.as_mut_slice();
    for (i, val) in v.indices().iter().zip(v.values()) {
        x[*i as usize] = E::from_f32(*val).or_raise();
    }
    out
}

#[pg_extern(immutable, strict, parallel_safe)]
fn ruvector_to_sparsevec(v: Vector, typmod: i32, _explicit: bool) -> SparseVec {
    from_dense(&v, typmod)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn halfvec_to_sparsevec(v: HalfVec, typmod: i32, _explicit: bool) -> SparseVec {
    from_dense(&v, typmod)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_to_ruvector(v: SparseVec, typmod: i32, _explicit: bool) -> Vector {
    to_dense(&v, typmod)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_to_halfvec(v: SparseVec, typmod: i32, _explicit: bool) -> HalfVec {
    to_dense(&v, typmod)
}

/// Bound by `sql/finalize.sql` to `integer[]`, `real[]`, `double precision[]` and `numeric[]`.
#[pg_extern(immutable, strict, parallel_safe, sql = false)]
fn array_to_sparsevec(arr: RawArray, typmod: i32, _explicit: bool) -> SparseVec {
    let x = array_to_f32(&arr, |n| {
        check_dim(SPARSEVEC, n.min(i32::MAX as usize) as i32, SPARSE_MAX_DIM).or_raise();
        check_expected_dim(typmod, n as i32).or_raise();
    });
    let nnz = x.iter().filter(|v| **v != 0.0).count();
    check_nnz(nnz.min(i32::MAX as usize) as i32, x.len() as i32).or_raise();
    let (mut indices, mut values) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
    for (i, v) in x.iter().enumerate() {
        if *v != 0.0 {
            indices.push(i as i32);
            values.push(*v);
        }
    }
    for v in &values {
        check_element(SPARSEVEC, *v).or_raise();
    }
    SparseVec::new(x.len() as i32, &indices, &values)
}

// ---- distances (direct fmgr entry points, see fmgr.rs) -----------------------------------------

fn same_dims(a: &SparseVec, b: &SparseVec) {
    check_same_dims(SPARSEVEC, a.dim(), b.dim()).or_raise();
}

distance_fn! {
    fn sparsevec_l2_distance / pg_finfo_sparsevec_l2_distance (a, b: SparseVec) {
        same_dims(&a, &b);
        (k::l2_squared(a.as_ref(), b.as_ref()) as f64).sqrt()
    }
    sql "sparsevec_l2_distance" = "
CREATE FUNCTION l2_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'sparsevec_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn sparsevec_l2_squared_distance / pg_finfo_sparsevec_l2_squared_distance (a, b: SparseVec) {
        same_dims(&a, &b);
        k::l2_squared(a.as_ref(), b.as_ref()) as f64
    }
    sql "sparsevec_l2_squared_distance" = "
CREATE FUNCTION sparsevec_l2_squared_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'sparsevec_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn sparsevec_inner_product / pg_finfo_sparsevec_inner_product (a, b: SparseVec) {
        same_dims(&a, &b);
        k::dot(a.as_ref(), b.as_ref()) as f64
    }
    sql "sparsevec_inner_product" = "
CREATE FUNCTION inner_product(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'sparsevec_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn sparsevec_negative_inner_product / pg_finfo_sparsevec_negative_inner_product (a, b: SparseVec) {
        same_dims(&a, &b);
        -k::dot(a.as_ref(), b.as_ref()) as f64
    }
    sql "sparsevec_negative_inner_product" = "
CREATE FUNCTION sparsevec_negative_inner_product(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'sparsevec_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn sparsevec_cosine_distance / pg_finfo_sparsevec_cosine_distance (a, b: SparseVec) {
        same_dims(&a, &b);
        k::cosine(a.as_ref(), b.as_ref()).distance()
    }
    sql "sparsevec_cosine_distance" = "
CREATE FUNCTION cosine_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'sparsevec_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

distance_fn! {
    fn sparsevec_l1_distance / pg_finfo_sparsevec_l1_distance (a, b: SparseVec) {
        same_dims(&a, &b);
        k::l1(a.as_ref(), b.as_ref()) as f64
    }
    sql "sparsevec_l1_distance" = "
CREATE FUNCTION l1_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'sparsevec_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;"
}

// ---- functions -------------------------------------------------------------------------------

fn norm(v: &SparseVec) -> f64 {
    v.values()
        .iter()
        // fold from +0.0: `Sum` for floats starts at -0.0, which would print "-0" for {}/n
        .fold(0.0f64, |s, x| s + *x as f64 * *x as f64)
        .sqrt()
}

#[pg_extern(immutable, strict, parallel_safe, name = "l2_norm")]
fn sparsevec_l2_norm(v: SparseVec) -> f64 {
    norm(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "ruvector_norm")]
fn sparsevec_ruvector_norm(v: SparseVec) -> f64 {
    norm(&v)
}

#[pg_extern(immutable, strict, parallel_safe, name = "ruvector_dims")]
fn sparsevec_ruvector_dims(v: SparseVec) -> i32 {
    v.dim()
}

#[pg_extern(immutable, strict, parallel_safe, name = "l2_normalize")]
fn sparsevec_l2_normalize(v: SparseVec) -> SparseVec {
    let n = norm(&v);
    if n <= 0.0 {
        return SparseVec::new(v.dim(), v.indices(), v.values());
    }
    let (mut indices, mut values) = (Vec::with_capacity(v.nnz()), Vec::with_capacity(v.nnz()));
    for (i, x) in v.indices().iter().zip(v.values()) {
        let y = (*x as f64 / n) as f32;
        if y.is_infinite() {
            raise(VecError::new(
                SqlState::NumericValueOutOfRange,
                "value out of range: overflow",
            ));
        }
        // An entry that underflows to zero is dropped: the stored form has no zeros.
        if y != 0.0 {
            indices.push(*i);
            values.push(y);
        }
    }
    SparseVec::new(v.dim(), &indices, &values)
}

// ---- comparison ------------------------------------------------------------------------------

/// pgvector's `sparsevec_cmp_internal`: as if comparing the dense forms element by element,
/// then by dimensions.
fn compare(a: &SparseVec, b: &SparseVec) -> Ordering {
    let (ai, av, bi, bv) = (a.indices(), a.values(), b.indices(), b.values());
    let nnz = ai.len().min(bi.len());
    let sign = |neg: bool| {
        if neg {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    };
    for i in 0..nnz {
        if ai[i] < bi[i] {
            return sign(av[i] < 0.0);
        }
        if ai[i] > bi[i] {
            return sign(bv[i] < 0.0).reverse();
        }
        if av[i] < bv[i] {
            return Ordering::Less;
        }
        if av[i] > bv[i] {
            return Ordering::Greater;
        }
    }
    if ai.len() < bi.len() && bi[nnz] < a.dim() {
        return sign(bv[nnz] < 0.0).reverse();
    }
    if ai.len() > bi.len() && ai[nnz] < b.dim() {
        return sign(av[nnz] < 0.0);
    }
    a.dim().cmp(&b.dim())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_lt(a: SparseVec, b: SparseVec) -> bool {
    compare(&a, &b).is_lt()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_le(a: SparseVec, b: SparseVec) -> bool {
    compare(&a, &b).is_le()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_eq(a: SparseVec, b: SparseVec) -> bool {
    compare(&a, &b).is_eq()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_ne(a: SparseVec, b: SparseVec) -> bool {
    compare(&a, &b).is_ne()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_ge(a: SparseVec, b: SparseVec) -> bool {
    compare(&a, &b).is_ge()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_gt(a: SparseVec, b: SparseVec) -> bool {
    compare(&a, &b).is_gt()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn sparsevec_cmp(a: SparseVec, b: SparseVec) -> i32 {
    compare(&a, &b) as i32
}
