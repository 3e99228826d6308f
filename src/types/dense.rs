//! What `ruvector` and `halfvec` share: text and binary I/O, distances, arithmetic, comparison,
//! normalisation, sub-vectors and aggregate steps — written once over the element type and
//! exposed to SQL by the thin `#[pg_extern]` wrappers in `vector.rs` and `halfvec.rs`.
//! Semantics and error texts are pgvector's (`src/vector.c`, `src/halfvec.c`).

use super::error::OrRaise;
use super::varlena::{BitVec, Dense, DenseElem};
use crate::format::{
    self, binary, check_dense_dim, check_element, check_expected_dim, check_same_dims, dense_text,
    SqlState, TypeNames, VecError,
};
use crate::kernels::{kernels, Kernels};
use half::f16;
use std::cmp::Ordering;
use std::ffi::CStr;

/// An element type with its SQL type's names, conversions and kernels.
pub trait DenseType: DenseElem {
    const NAMES: TypeNames;
    fn to_f32(self) -> f32;
    /// Conversion from `f32` with the type's range error (`Float4ToHalf` for halfvec).
    fn from_f32(x: f32) -> Result<Self, VecError>;
    /// Rounding conversion without a range check (results are checked for infinity after).
    fn from_f32_unchecked(x: f32) -> Self;
    fn l2_squared(k: &Kernels) -> fn(&[Self], &[Self]) -> f32;
    fn dot(k: &Kernels) -> fn(&[Self], &[Self]) -> f32;
    fn l1(k: &Kernels) -> fn(&[Self], &[Self]) -> f32;
    fn cosine(k: &Kernels) -> fn(&[Self], &[Self]) -> f64;
    fn parse_text(lit: &CStr, typmod: i32) -> Result<Vec<Self>, VecError>;
    fn decode(buf: &[u8], typmod: i32) -> Result<(Vec<Self>, usize), VecError>;
    fn encode(x: &[Self]) -> Vec<u8>;
}

impl DenseType for f32 {
    const NAMES: TypeNames = format::RUVECTOR;
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(x: f32) -> Result<f32, VecError> {
        Ok(x)
    }
    fn from_f32_unchecked(x: f32) -> f32 {
        x
    }
    fn l2_squared(k: &Kernels) -> fn(&[f32], &[f32]) -> f32 {
        k.l2_squared_f32
    }
    fn dot(k: &Kernels) -> fn(&[f32], &[f32]) -> f32 {
        k.dot_f32
    }
    fn l1(k: &Kernels) -> fn(&[f32], &[f32]) -> f32 {
        k.l1_f32
    }
    fn cosine(k: &Kernels) -> fn(&[f32], &[f32]) -> f64 {
        k.cosine_distance_f32
    }
    fn parse_text(lit: &CStr, typmod: i32) -> Result<Vec<f32>, VecError> {
        dense_text::parse(
            lit,
            typmod,
            Self::NAMES,
            dense_text::f32_element(Self::NAMES),
        )
    }
    fn decode(buf: &[u8], typmod: i32) -> Result<(Vec<f32>, usize), VecError> {
        binary::decode_f32(buf, typmod, Self::NAMES)
    }
    fn encode(x: &[f32]) -> Vec<u8> {
        binary::encode_f32(x)
    }
}

impl DenseType for f16 {
    const NAMES: TypeNames = format::HALFVEC;
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn from_f32(x: f32) -> Result<f16, VecError> {
        dense_text::f32_to_f16(x)
    }
    fn from_f32_unchecked(x: f32) -> f16 {
        f16::from_f32(x)
    }
    fn l2_squared(k: &Kernels) -> fn(&[f16], &[f16]) -> f32 {
        k.l2_squared_f16
    }
    fn dot(k: &Kernels) -> fn(&[f16], &[f16]) -> f32 {
        k.dot_f16
    }
    fn l1(k: &Kernels) -> fn(&[f16], &[f16]) -> f32 {
        k.l1_f16
    }
    fn cosine(k: &Kernels) -> fn(&[f16], &[f16]) -> f64 {
        k.cosine_distance_f16
    }
    fn parse_text(lit: &CStr, typmod: i32) -> Result<Vec<f16>, VecError> {
        dense_text::parse(
            lit,
            typmod,
            Self::NAMES,
            dense_text::f16_element(Self::NAMES),
        )
    }
    fn decode(buf: &[u8], typmod: i32) -> Result<(Vec<f16>, usize), VecError> {
        binary::decode_f16(buf, typmod, Self::NAMES)
    }
    fn encode(x: &[f16]) -> Vec<u8> {
        binary::encode_f16(x)
    }
}

fn overflow() -> VecError {
    VecError::new(
        SqlState::NumericValueOutOfRange,
        "value out of range: overflow",
    )
}

fn underflow() -> VecError {
    VecError::new(
        SqlState::NumericValueOutOfRange,
        "value out of range: underflow",
    )
}

// ---- I/O -------------------------------------------------------------------------------------

pub fn input<E: DenseType>(lit: &CStr, typmod: i32) -> Dense<E> {
    Dense::from_slice(&E::parse_text(lit, typmod).or_raise())
}

pub fn output<E: DenseType>(v: &Dense<E>) -> String {
    dense_text::format(v.as_slice().iter().map(|x| x.to_f32()))
}

/// Reads the value from a binary message; returns it and the bytes consumed.
pub fn receive<E: DenseType>(buf: &[u8], typmod: i32) -> (Dense<E>, usize) {
    let (x, used) = E::decode(buf, typmod).or_raise();
    (Dense::from_slice(&x), used)
}

pub fn send<E: DenseType>(v: &Dense<E>) -> Vec<u8> {
    E::encode(v.as_slice())
}

/// The length-coercion cast `x::ruvector(n)`.
pub fn enforce_typmod<E: DenseType>(v: Dense<E>, typmod: i32) -> Dense<E> {
    check_expected_dim(typmod, v.dim() as i32).or_raise();
    v
}

// ---- distances -------------------------------------------------------------------------------

fn same_dims<E: DenseType>(a: &Dense<E>, b: &Dense<E>) {
    check_same_dims(E::NAMES, a.dim() as i32, b.dim() as i32).or_raise();
}

pub fn l2_squared<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> f64 {
    same_dims(a, b);
    E::l2_squared(kernels())(a.as_slice(), b.as_slice()) as f64
}

pub fn l2<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> f64 {
    l2_squared(a, b).sqrt()
}

pub fn inner_product<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> f64 {
    same_dims(a, b);
    E::dot(kernels())(a.as_slice(), b.as_slice()) as f64
}

/// `<#>`: the negated inner product, so that ascending order is most-similar first.
pub fn negative_inner_product<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> f64 {
    same_dims(a, b);
    -E::dot(kernels())(a.as_slice(), b.as_slice()) as f64
}

pub fn cosine<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> f64 {
    same_dims(a, b);
    E::cosine(kernels())(a.as_slice(), b.as_slice())
}

pub fn l1<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> f64 {
    same_dims(a, b);
    E::l1(kernels())(a.as_slice(), b.as_slice()) as f64
}

/// Euclidean norm, accumulated in double (pgvector's `vector_norm`).
pub fn norm<E: DenseType>(v: &Dense<E>) -> f64 {
    // fold from +0.0 (`Sum` for floats starts at -0.0)
    v.as_slice()
        .iter()
        .fold(0.0f64, |s, x| {
            let x = x.to_f32() as f64;
            s + x * x
        })
        .sqrt()
}

// ---- element-wise ----------------------------------------------------------------------------

pub fn l2_normalize<E: DenseType>(v: &Dense<E>) -> Dense<E> {
    let n = norm(v);
    let mut out = Dense::<E>::zeroed(v.dim());
    // A zero vector normalises to itself (all zeros).
    if n > 0.0 {
        for (o, x) in out.as_mut_slice().iter_mut().zip(v.as_slice()) {
            *o = E::from_f32_unchecked((x.to_f32() as f64 / n) as f32);
        }
        if out.as_slice().iter().any(|x| x.to_f32().is_infinite()) {
            crate::types::error::raise(overflow());
        }
    }
    out
}

fn zip_with<E: DenseType>(a: &Dense<E>, b: &Dense<E>, f: impl Fn(f32, f32) -> f32) -> Dense<E> {
    same_dims(a, b);
    let mut out = Dense::<E>::zeroed(a.dim());
    for ((o, x), y) in out
        .as_mut_slice()
        .iter_mut()
        .zip(a.as_slice())
        .zip(b.as_slice())
    {
        *o = E::from_f32_unchecked(f(x.to_f32(), y.to_f32()));
    }
    if out.as_slice().iter().any(|x| x.to_f32().is_infinite()) {
        crate::types::error::raise(overflow());
    }
    out
}

pub fn add<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> Dense<E> {
    zip_with(a, b, |x, y| x + y)
}

pub fn sub<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> Dense<E> {
    zip_with(a, b, |x, y| x - y)
}

pub fn mul<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> Dense<E> {
    let out = zip_with(a, b, |x, y| x * y);
    // A product that rounds to zero although neither factor is zero underflowed.
    let underflowed = out
        .as_slice()
        .iter()
        .zip(a.as_slice().iter().zip(b.as_slice()))
        .any(|(r, (x, y))| r.to_f32() == 0.0 && x.to_f32() != 0.0 && y.to_f32() != 0.0);
    if underflowed {
        crate::types::error::raise(underflow());
    }
    out
}

pub fn concat<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> Dense<E> {
    let dim = a.dim() + b.dim();
    check_dense_dim(E::NAMES, dim as i32).or_raise();
    let mut out = Dense::<E>::zeroed(dim);
    let o = out.as_mut_slice();
    o[..a.dim()].copy_from_slice(a.as_slice());
    o[a.dim()..].copy_from_slice(b.as_slice());
    out
}

/// Sign bits as a `bit` string: bit i is set when xᵢ > 0.
pub fn binary_quantize<E: DenseType>(v: &Dense<E>) -> BitVec {
    let mut out = BitVec::zeroed(v.dim());
    let bytes = out.bytes_mut();
    for (i, x) in v.as_slice().iter().enumerate() {
        if x.to_f32() > 0.0 {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

/// Elements `start .. start + count` (1-based, clipped like `substring`).
pub fn subvector<E: DenseType>(v: &Dense<E>, start: i32, count: i32) -> Dense<E> {
    let dim = v.dim() as i32;
    let none = || {
        VecError::new(
            SqlState::DataException,
            format!("{} must have at least 1 dimension", E::NAMES.noun),
        )
    };
    if count < 1 {
        crate::types::error::raise(none());
    }
    // start + count > dim, without overflow (dim and count are positive)
    let end = if start > dim - count {
        dim + 1
    } else {
        start + count
    };
    let start = if start < 1 {
        1
    } else if start > dim {
        crate::types::error::raise(none())
    } else {
        start
    };
    let n = end - start;
    check_dense_dim(E::NAMES, n).or_raise();
    Dense::from_slice(&v.as_slice()[(start - 1) as usize..(end - 1) as usize])
}

// ---- comparison ------------------------------------------------------------------------------

/// Element by element, then by length (consistent with PostgreSQL arrays).
pub fn compare<E: DenseType>(a: &Dense<E>, b: &Dense<E>) -> Ordering {
    for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
        let (x, y) = (x.to_f32(), y.to_f32());
        if x < y {
            return Ordering::Less;
        }
        if x > y {
            return Ordering::Greater;
        }
    }
    a.dim().cmp(&b.dim())
}

// ---- conversions -----------------------------------------------------------------------------

/// Between dense types (`ruvector` ↔ `halfvec`) with the target's range check and typmod.
pub fn convert<S: DenseType, T: DenseType>(v: &Dense<S>, typmod: i32) -> Dense<T> {
    let dim = v.dim() as i32;
    check_dense_dim(T::NAMES, dim).or_raise();
    check_expected_dim(typmod, dim).or_raise();
    let mut out = Dense::<T>::zeroed(v.dim());
    for (o, x) in out.as_mut_slice().iter_mut().zip(v.as_slice()) {
        *o = T::from_f32(x.to_f32()).or_raise();
    }
    out
}

/// The array casts' length checks: dimensions in range, then the type modifier.
pub fn check_len<E: DenseType>(len: usize, typmod: i32) {
    check_dense_dim(E::NAMES, len.min(i32::MAX as usize) as i32).or_raise();
    check_expected_dim(typmod, len as i32).or_raise();
}

/// Builds a vector from `f32` values (array casts, after [`check_len`]): the element type's
/// range conversion, then the NaN/infinity checks.
pub fn from_f32_values<E: DenseType>(values: &[f32]) -> Dense<E> {
    let mut out = Dense::<E>::zeroed(values.len());
    for (o, x) in out.as_mut_slice().iter_mut().zip(values) {
        *o = E::from_f32(*x).or_raise();
    }
    for x in out.as_slice() {
        check_element(E::NAMES, x.to_f32()).or_raise();
    }
    out
}

pub fn to_f32_vec<E: DenseType>(v: &Dense<E>) -> Vec<f32> {
    v.as_slice().iter().map(|x| x.to_f32()).collect()
}

// ---- aggregates ------------------------------------------------------------------------------
// State: a float8[] {n, Σx₁, ..., Σx_dim}, initially {0}, as in pgvector (so a plan can combine
// partial states from parallel workers).

fn state_overflow(v: f64) -> f64 {
    if v.is_infinite() {
        crate::types::error::raise(overflow());
    }
    v
}

pub fn accum<E: DenseType>(state: &[f64], v: &Dense<E>) -> Vec<f64> {
    let dim = state.len() - 1;
    let x = v.as_slice();
    let mut out = Vec::with_capacity(x.len() + 1);
    out.push(state[0] + 1.0);
    if dim == 0 {
        out.extend(x.iter().map(|x| x.to_f32() as f64));
    } else {
        check_expected_dim(dim as i32, x.len() as i32).or_raise();
        out.extend(
            state[1..]
                .iter()
                .zip(x)
                .map(|(s, x)| state_overflow(s + x.to_f32() as f64)),
        );
    }
    out
}

/// Combines two partial states (shared by `ruvector` and `halfvec`).
pub fn combine(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (n1, n2) = (a[0], b[0]);
    if n1 == 0.0 {
        check_dense_dim(format::RUVECTOR, (b.len() - 1) as i32).or_raise();
        return b.to_vec();
    }
    if n2 == 0.0 {
        check_dense_dim(format::RUVECTOR, (a.len() - 1) as i32).or_raise();
        return a.to_vec();
    }
    check_dense_dim(format::RUVECTOR, (a.len() - 1) as i32).or_raise();
    check_expected_dim((a.len() - 1) as i32, (b.len() - 1) as i32).or_raise();
    let mut out = Vec::with_capacity(a.len());
    out.push(n1 + n2);
    out.extend(
        a[1..]
            .iter()
            .zip(&b[1..])
            .map(|(x, y)| state_overflow(x + y)),
    );
    out
}

/// The mean, or NULL (`None`) for no rows.
pub fn average<E: DenseType>(state: &[f64]) -> Option<Dense<E>> {
    let n = state[0];
    if n == 0.0 {
        return None;
    }
    let dim = state.len() - 1;
    check_dense_dim(E::NAMES, dim as i32).or_raise();
    let mut out = Dense::<E>::zeroed(dim);
    for (o, s) in out.as_mut_slice().iter_mut().zip(&state[1..]) {
        *o = E::from_f32((s / n) as f32).or_raise();
        check_element(E::NAMES, o.to_f32()).or_raise();
    }
    Some(out)
}
