//! PURE: the external formats of ruvector's types, byte-compatible with pgvector 0.8 — text input
//! and output, binary send/recv — and the validation rules and error texts that go with them.
//! The pgrx layer (`src/types/`) only moves bytes in and out and turns [`VecError`] into ERROR.

pub mod binary;
pub mod dense_text;
pub mod error;
pub mod float;
pub mod shortest;
pub mod sparse_text;

pub use error::{SqlState, VecError};

/// Maximum dimensions of `ruvector` and `halfvec` (pgvector's `VECTOR_MAX_DIM`).
pub const DENSE_MAX_DIM: i32 = 16000;
/// Maximum dimensions of `sparsevec` (pgvector's `SPARSEVEC_MAX_DIM`).
pub const SPARSE_MAX_DIM: i32 = 1_000_000_000;
/// Maximum stored (non-zero) elements of `sparsevec` (pgvector's `SPARSEVEC_MAX_NNZ`).
pub const SPARSE_MAX_NNZ: i32 = 16000;

/// How a type is named in error messages. pgvector's texts name the SQL type in some messages
/// ("invalid input syntax for type vector") and use a noun in others ("NaN not allowed in
/// vector"). ruvector puts its own type name where the SQL type is named and keeps pgvector's
/// noun elsewhere, so those texts stay identical to pgvector's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeNames {
    /// The SQL type name: `ruvector`, `halfvec`, `sparsevec`.
    pub sql: &'static str,
    /// The noun pgvector uses in prose messages: `vector`, `halfvec`, `sparsevec`.
    pub noun: &'static str,
}

pub const RUVECTOR: TypeNames = TypeNames {
    sql: "ruvector",
    noun: "vector",
};
pub const HALFVEC: TypeNames = TypeNames {
    sql: "halfvec",
    noun: "halfvec",
};
pub const SPARSEVEC: TypeNames = TypeNames {
    sql: "sparsevec",
    noun: "sparsevec",
};

/// pgvector's `CheckDim` for a dense type.
pub fn check_dense_dim(names: TypeNames, dim: i32) -> Result<(), VecError> {
    check_dim(names, dim, DENSE_MAX_DIM)
}

/// pgvector's `CheckDim` with the type's maximum.
pub fn check_dim(names: TypeNames, dim: i32, max: i32) -> Result<(), VecError> {
    if dim < 1 {
        return Err(VecError::new(
            SqlState::DataException,
            format!("{} must have at least 1 dimension", names.noun),
        ));
    }
    if dim > max {
        return Err(VecError::new(
            SqlState::ProgramLimitExceeded,
            format!("{} cannot have more than {} dimensions", names.noun, max),
        ));
    }
    Ok(())
}

/// pgvector's `CheckExpectedDim`: a typmod of -1 accepts any dimensions.
pub fn check_expected_dim(typmod: i32, dim: i32) -> Result<(), VecError> {
    if typmod != -1 && typmod != dim {
        return Err(VecError::new(
            SqlState::DataException,
            format!("expected {typmod} dimensions, not {dim}"),
        ));
    }
    Ok(())
}

/// pgvector's `CheckDims` for binary operators.
pub fn check_same_dims(names: TypeNames, a: i32, b: i32) -> Result<(), VecError> {
    if a != b {
        return Err(VecError::new(
            SqlState::DataException,
            format!("different {} dimensions {} and {}", names.noun, a, b),
        ));
    }
    Ok(())
}

/// pgvector's `CheckElement`: no NaN, no infinity.
pub fn check_element(names: TypeNames, x: f32) -> Result<(), VecError> {
    if x.is_nan() {
        return Err(VecError::new(
            SqlState::DataException,
            format!("NaN not allowed in {}", names.noun),
        ));
    }
    if x.is_infinite() {
        return Err(VecError::new(
            SqlState::DataException,
            format!("infinite value not allowed in {}", names.noun),
        ));
    }
    Ok(())
}

/// The type modifier check of `ruvector(n)`, `halfvec(n)`, `sparsevec(n)` (pgvector's
/// `*_typmod_in`), given the integers PostgreSQL parsed from the modifier list.
pub fn check_typmod(names: TypeNames, mods: &[i32], max: i32) -> Result<i32, VecError> {
    if mods.len() != 1 {
        return Err(VecError::new(
            SqlState::InvalidParameterValue,
            "invalid type modifier",
        ));
    }
    let n = mods[0];
    if n < 1 {
        return Err(VecError::new(
            SqlState::InvalidParameterValue,
            format!("dimensions for type {} must be at least 1", names.sql),
        ));
    }
    if n > max {
        return Err(VecError::new(
            SqlState::InvalidParameterValue,
            format!("dimensions for type {} cannot exceed {}", names.sql, max),
        ));
    }
    Ok(n)
}
