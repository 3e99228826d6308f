//! Array arguments: the `float8[]` aggregate state, the numeric arrays cast to vectors, and the
//! `cstring[]` type-modifier list. Each is read in place from the detoasted `ArrayType`.

use super::error::raise;
use crate::format::{SqlState, VecError};
use pgrx::datum::FromDatum;
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use std::ptr::NonNull;

/// A detoasted array argument.
pub struct RawArray {
    ptr: NonNull<pg_sys::ArrayType>,
}

impl RawArray {
    fn header(&self) -> &pg_sys::ArrayType {
        // SAFETY: points at a detoasted array.
        unsafe { self.ptr.as_ref() }
    }

    pub fn ndim(&self) -> i32 {
        self.header().ndim
    }

    pub fn elem_type(&self) -> pg_sys::Oid {
        self.header().elemtype
    }

    /// `ARR_DIMS(a)[0]` (for ndim ≥ 1).
    fn first_dim(&self) -> i32 {
        // SAFETY: ndim dims follow the fixed header.
        unsafe {
            self.ptr
                .as_ptr()
                .cast::<u8>()
                .add(std::mem::size_of::<pg_sys::ArrayType>())
                .cast::<i32>()
                .read()
        }
    }

    /// `ARR_HASNULL(a) && array_contains_nulls(a)`
    pub fn contains_nulls(&self) -> bool {
        // SAFETY: a valid array.
        self.header().dataoffset != 0 && unsafe { pg_sys::array_contains_nulls(self.ptr.as_ptr()) }
    }

    /// Deconstructs the elements into Datums (`deconstruct_array`).
    pub fn datums(&self) -> Vec<pg_sys::Datum> {
        // SAFETY: a valid array; deconstruct_array pallocs the output arrays.
        unsafe {
            let (mut typlen, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
            pg_sys::get_typlenbyvalalign(self.elem_type(), &mut typlen, &mut byval, &mut align);
            let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
            let mut n: i32 = 0;
            pg_sys::deconstruct_array(
                self.ptr.as_ptr(),
                self.elem_type(),
                typlen as i32,
                byval,
                align,
                &mut elems,
                std::ptr::null_mut(),
                &mut n,
            );
            if n == 0 || elems.is_null() {
                return Vec::new();
            }
            std::slice::from_raw_parts(elems, n as usize).to_vec()
        }
    }

    /// The values of a one-dimensional, null-free `float8[]` aggregate state (pgvector's
    /// `CheckStateArray`); an internal error names `caller` otherwise.
    pub fn state(&self, caller: &str) -> &[f64] {
        let h = self.header();
        let ok = h.ndim == 1
            && self.first_dim() >= 1
            && h.dataoffset == 0
            && h.elemtype == pg_sys::FLOAT8OID;
        if !ok {
            raise(VecError::new(
                SqlState::InternalError,
                format!("{caller}: expected state array"),
            ));
        }
        // SAFETY: without a null bitmap the data starts at MAXALIGN(header + 2·4·ndim) and holds
        // `dims[0]` float8 values.
        unsafe {
            let off = crate::am::page::maxalign(std::mem::size_of::<pg_sys::ArrayType>() + 8);
            std::slice::from_raw_parts(
                self.ptr.as_ptr().cast::<u8>().add(off).cast::<f64>(),
                self.first_dim() as usize,
            )
        }
    }

    /// The integers of a `cstring[]` type-modifier list (`ArrayGetIntegerTypmods`, which raises
    /// PostgreSQL's own error for a non-integer modifier).
    pub fn typmods(&self) -> Vec<i32> {
        let mut n: std::ffi::c_int = 0;
        // SAFETY: a valid cstring[] array.
        unsafe {
            let p = pg_sys::ArrayGetIntegerTypmods(self.ptr.as_ptr(), &mut n);
            if n <= 0 || p.is_null() {
                return Vec::new();
            }
            std::slice::from_raw_parts(p, n as usize).to_vec()
        }
    }
}

impl FromDatum for RawArray {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null || datum.is_null() {
            return None;
        }
        // SAFETY: a non-null array datum (the caller's contract); detoasting raises an ERROR
        // rather than return an invalid pointer.
        let p = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr::<pg_sys::varlena>()) };
        NonNull::new(p.cast()).map(|ptr| RawArray { ptr })
    }
}

super::varlena::arg_abi_via_from_datum!(RawArray);

/// The SQL type of a [`RawArray`] argument is declared by the hand-written SQL that binds the
/// function (one C function serves `integer[]`, `real[]`, `double precision[]` and `numeric[]`,
/// as in pgvector); `float8[]` is what pgrx writes where it generates the declaration.
// SAFETY: `RawArray` reads any array datum by its own header (element type checked there).
unsafe impl SqlTranslatable for RawArray {
    const TYPE_IDENT: &'static str = "ruvector::types::RawArray";
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Ok(SqlMappingRef::literal("double precision[]"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Err(ReturnsError::Datum);
}

/// Converts the elements of an `integer[]`, `real[]`, `double precision[]` or `numeric[]` to
/// `f32` as pgvector's `array_to_vector` does (C casts; `numeric_float4` for numeric), after its
/// shape checks: one dimension, no NULLs, then `check_len(number of elements)`.
pub fn array_to_f32(arr: &RawArray, check_len: impl FnOnce(usize)) -> Vec<f32> {
    if arr.ndim() > 1 {
        raise(VecError::new(SqlState::DataException, "array must be 1-D"));
    }
    if arr.contains_nulls() {
        raise(VecError::new(
            SqlState::NullValueNotAllowed,
            "array must not contain nulls",
        ));
    }
    let datums = arr.datums();
    check_len(datums.len());
    let t = arr.elem_type();
    if t == pg_sys::INT4OID {
        datums.iter().map(|d| d.value() as i32 as f32).collect()
    } else if t == pg_sys::FLOAT8OID {
        datums
            .iter()
            .map(|d| f64::from_bits(d.value() as u64) as f32)
            .collect()
    } else if t == pg_sys::FLOAT4OID {
        datums
            .iter()
            .map(|d| f32::from_bits(d.value() as u32))
            .collect()
    } else if t == pg_sys::NUMERICOID {
        datums
            .iter()
            .map(|d| {
                // SAFETY: `d` is a numeric datum; numeric_float4 raises its own range errors.
                unsafe {
                    pgrx::direct_function_call::<f32>(pg_sys::numeric_float4, &[Some(*d)])
                        .expect("numeric_float4 returned NULL")
                }
            })
            .collect()
    } else {
        raise(VecError::new(
            SqlState::DataException,
            "unsupported array type",
        ))
    }
}
