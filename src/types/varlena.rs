//! The on-disk layouts of ruvector's types (pgvector's, byte for byte) and the Rust handles that
//! pass them across the pgrx function boundary without copying.
//!
//! * dense (`ruvector`, `halfvec`): `int32 vl_len_; int16 dim; int16 unused; E x[dim]`
//! * `sparsevec`: `int32 vl_len_; int32 dim; int32 nnz; int32 unused; int32 indices[nnz];
//!   float4 values[nnz]`
//! * PostgreSQL `bit` (`VarBit`): `int32 vl_len_; int32 bit_len; uint8 bits[]`
//!
//! A handle points at a detoasted value (an argument) or at a value palloc'd in the current
//! memory context (a result); either way it lives at least until the function returns, which is
//! as long as a handle is used. Handles are `!Send`: they never leave the backend's thread.

use half::f16;
use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::{Datum, FromDatum};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// `VARATT_IS_4B_U`: a plain in-line value with a 4-byte header (not compressed, not external,
/// not a 1-byte short header), usable in place.
#[inline(always)]
unsafe fn is_plain_4b(p: *const u8) -> bool {
    // SAFETY: `p` points at a varlena's first header byte (the caller's contract).
    let first = unsafe { *p };
    #[cfg(target_endian = "little")]
    {
        first & 0x03 == 0x00
    }
    #[cfg(target_endian = "big")]
    {
        first & 0xC0 == 0x00
    }
}

/// Whether the varlena at `p` is a plain in-line value with a 4-byte header, int-aligned:
/// usable where it is. 4-byte-header values are stored int-aligned (typalign 'i'); the check
/// keeps slices over the elements sound even for a value handed over from elsewhere.
///
/// # Safety
/// `p` must point at a varlena's first header byte.
#[inline(always)]
unsafe fn usable_in_place(p: *const u8) -> bool {
    // SAFETY: the caller's contract.
    let plain = unsafe { is_plain_4b(p) };
    plain && (p as usize).is_multiple_of(4)
}

/// Detoasts a varlena datum (decompresses, fetches out-of-line data and expands short headers).
/// A plain 4-byte-header value — the common case for table rows and query constants — is used in
/// place without calling into PostgreSQL: each call through pgrx's FFI guard costs a `setjmp`,
/// which showed up as a third of a sequential-scan distance call.
///
/// # Safety
/// `datum` must be a non-null varlena datum.
#[inline]
unsafe fn detoast(datum: pg_sys::Datum) -> NonNull<u8> {
    let p = datum.cast_mut_ptr::<u8>();
    // SAFETY: a non-null varlena datum (the caller's contract).
    if unsafe { usable_in_place(p) } {
        return NonNull::new(p).expect("non-null datum");
    }
    // SAFETY: as above; detoasting raises an ERROR rather than return an invalid pointer.
    let p = unsafe { pg_sys::pg_detoast_datum(p.cast()) };
    NonNull::new(p.cast()).expect("pg_detoast_datum returned null")
}

/// Hints the CPU to load the row a sequential scan is likely to read after the one holding
/// `datum`, when `datum` is a plain in-line value inside a heap page: PostgreSQL places a
/// page's tuples from its end downwards in line-pointer order (`PageAddItem` takes the space
/// just below `pd_upper`), so the next row of the page usually sits right below this value.
/// A distance function called row by row then overlaps that row's cache misses (its tuple
/// header, read when the scan deforms it, and its value) with its own arithmetic — the
/// executor gives an extension no other hook into the scan. Only a hint: prefetching reads
/// nothing and never faults, whatever memory lies below (another page, a query constant).
/// Values of more than half a page are skipped: such rows do not share pages.
///
/// # Safety
/// `datum` must be a non-null varlena datum.
#[inline]
pub unsafe fn prefetch_row_below(datum: pg_sys::Datum) {
    let p = datum.cast_mut_ptr::<u8>().cast_const();
    // SAFETY: a non-null varlena datum (the caller's contract).
    if !unsafe { usable_in_place(p) } {
        return;
    }
    // SAFETY: a plain 4-byte-header value has its whole header.
    let header = unsafe { std::slice::from_raw_parts(p, 4) };
    let size = crate::kernels::metric::varlena_size(header).unwrap_or(usize::MAX);
    if size > pg_sys::BLCKSZ as usize / 2 {
        return;
    }
    // The next row: its value of about the same size, and before it its tuple header and the
    // columns before the vector (a line or so).
    let below = size + 64;
    crate::kernels::prefetch::prefetch_range(p.wrapping_sub(below), below, usize::MAX);
}

/// palloc0's a varlena of `size` bytes in the current memory context and sets its header.
fn alloc_varlena(size: usize) -> NonNull<u8> {
    // A 4-byte varlena header holds sizes below 1 GB; every caller's size is bounded far below
    // (16000 dims, 16000 nnz).
    assert!(size < (1 << 30), "varlena too large");
    // SAFETY: palloc0 either returns memory or raises an ERROR.
    unsafe {
        let p = pg_sys::palloc0(size).cast::<u8>();
        // SET_VARSIZE for a 4-byte header on little- and big-endian builds alike.
        set_varsize_4b(p, size);
        NonNull::new(p).expect("palloc0 returned null")
    }
}

#[cfg(target_endian = "little")]
unsafe fn set_varsize_4b(p: *mut u8, size: usize) {
    // SAFETY: the caller passes at least 4 writable, int-aligned bytes (a palloc'd varlena).
    unsafe { p.cast::<u32>().write((size as u32) << 2) };
}

#[cfg(target_endian = "big")]
unsafe fn set_varsize_4b(p: *mut u8, size: usize) {
    // SAFETY: as on little-endian builds.
    unsafe { p.cast::<u32>().write((size as u32) & 0x3FFF_FFFF) };
}

/// Element types of dense vectors.
pub trait DenseElem: Copy + bytemuck::Pod + 'static {}
impl DenseElem for f32 {}
impl DenseElem for f16 {}

const DENSE_HEADER: usize = 8;

/// A dense vector value (`ruvector` when `E = f32`, `halfvec` when `E = f16`).
pub struct Dense<E: DenseElem> {
    ptr: NonNull<u8>,
    _elem: PhantomData<*const E>,
}

/// `ruvector`
pub type Vector = Dense<f32>;
/// `halfvec`
pub type HalfVec = Dense<f16>;

impl<E: DenseElem> Dense<E> {
    /// A zero-filled vector of `dim` elements. Callers check `dim` (1..=16000) first.
    pub fn zeroed(dim: usize) -> Dense<E> {
        assert!(
            dim <= i16::MAX as usize,
            "dense dimensions exceed the header"
        );
        let ptr = alloc_varlena(DENSE_HEADER + dim * std::mem::size_of::<E>());
        // SAFETY: the allocation holds the header; dim fits in i16 (checked above).
        unsafe { ptr.as_ptr().add(4).cast::<i16>().write(dim as i16) };
        Dense {
            ptr,
            _elem: PhantomData,
        }
    }

    pub fn from_slice(x: &[E]) -> Dense<E> {
        let mut v = Dense::zeroed(x.len());
        v.as_mut_slice().copy_from_slice(x);
        v
    }

    pub fn dim(&self) -> usize {
        // SAFETY: a Dense always points at a complete header.
        unsafe { self.ptr.as_ptr().add(4).cast::<i16>().read() as usize }
    }

    pub fn as_slice(&self) -> &[E] {
        // SAFETY: the value holds `dim` elements after the 8-byte header; detoasted and palloc'd
        // values are at least 4-byte aligned, enough for f32 and f16.
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().add(DENSE_HEADER).cast(), self.dim())
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [E] {
        // SAFETY: as in `as_slice`; only vectors this backend allocated are mutated (results).
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(DENSE_HEADER).cast(), self.dim())
        }
    }

    fn into_datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.ptr.as_ptr())
    }
}

/// A `sparsevec` value.
pub struct SparseVec {
    ptr: NonNull<u8>,
}

const SPARSE_HEADER: usize = 16;

impl SparseVec {
    /// Builds a sparse vector from its stored form. Callers validate the entries first.
    pub fn new(dim: i32, indices: &[i32], values: &[f32]) -> SparseVec {
        assert_eq!(indices.len(), values.len());
        let nnz = indices.len();
        let ptr = alloc_varlena(SPARSE_HEADER + 8 * nnz);
        let mut v = SparseVec { ptr };
        // SAFETY: the allocation holds the header and both arrays.
        unsafe {
            let p = v.ptr.as_ptr();
            p.add(4).cast::<i32>().write(dim);
            p.add(8).cast::<i32>().write(nnz as i32);
        }
        v.indices_mut().copy_from_slice(indices);
        v.values_mut().copy_from_slice(values);
        v
    }

    pub fn dim(&self) -> i32 {
        // SAFETY: a SparseVec always points at a complete header.
        unsafe { self.ptr.as_ptr().add(4).cast::<i32>().read() }
    }

    pub fn nnz(&self) -> usize {
        // SAFETY: as in `dim`.
        unsafe { self.ptr.as_ptr().add(8).cast::<i32>().read() as usize }
    }

    pub fn indices(&self) -> &[i32] {
        // SAFETY: nnz indices follow the 16-byte header.
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().add(SPARSE_HEADER).cast(), self.nnz())
        }
    }

    pub fn values(&self) -> &[f32] {
        // SAFETY: nnz values follow the indices.
        unsafe {
            std::slice::from_raw_parts(
                self.ptr.as_ptr().add(SPARSE_HEADER + 4 * self.nnz()).cast(),
                self.nnz(),
            )
        }
    }

    fn indices_mut(&mut self) -> &mut [i32] {
        // SAFETY: as in `indices`; only for values this backend allocated.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(SPARSE_HEADER).cast(), self.nnz())
        }
    }

    fn values_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `values`; only for values this backend allocated.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.as_ptr().add(SPARSE_HEADER + 4 * self.nnz()).cast(),
                self.nnz(),
            )
        }
    }

    pub fn as_ref(&self) -> crate::kernels::sparse::SparseRef<'_> {
        crate::kernels::sparse::SparseRef {
            indices: self.indices(),
            values: self.values(),
        }
    }

    fn into_datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.ptr.as_ptr())
    }
}

/// A PostgreSQL `bit` / `varbit` value.
pub struct BitVec {
    ptr: NonNull<u8>,
}

impl BitVec {
    /// An all-zero bit string of `bits` bits.
    pub fn zeroed(bits: usize) -> BitVec {
        let ptr = alloc_varlena(8 + bits.div_ceil(8));
        // SAFETY: the allocation holds the 8-byte header.
        unsafe { ptr.as_ptr().add(4).cast::<i32>().write(bits as i32) };
        BitVec { ptr }
    }

    /// Number of bits (`VARBITLEN`).
    pub fn len(&self) -> usize {
        // SAFETY: a BitVec always points at a complete header.
        unsafe { self.ptr.as_ptr().add(4).cast::<i32>().read() as usize }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packed bits (`VARBITS`), most significant bit first; unused trailing bits are zero.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: VARBITBYTES = ceil(bit_len / 8) bytes follow the header.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(8), self.len().div_ceil(8)) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; only for values this backend allocated.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(8), self.len().div_ceil(8)) }
    }

    fn into_datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.ptr.as_ptr())
    }
}

/// Lets a [`FromDatum`] handle be a `#[pg_extern]` argument (NULLs never reach STRICT functions).
macro_rules! arg_abi_via_from_datum {
    ($ty:ty) => {
        // SAFETY: the argument is unboxed through the type's own `FromDatum`, which reads
        // the datum as the SQL type the function declares for it.
        unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for $ty {
            unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
                let index = arg.index();
                // SAFETY: the argument is a datum of the type's SQL type (pgrx's contract).
                unsafe { arg.unbox_arg_using_from_datum() }
                    .unwrap_or_else(|| panic!("argument {index} must not be null"))
            }
        }
    };
}
pub(crate) use arg_abi_via_from_datum;

/// Gives a handle type the three traits pgrx needs to pass it in and out of `#[pg_extern]`
/// functions, under the SQL type name `$sql`.
macro_rules! varlena_handle {
    ($ty:ty, $sql:literal, |$p:ident| $make:expr) => {
        impl FromDatum for $ty {
            unsafe fn from_polymorphic_datum(
                datum: pg_sys::Datum,
                is_null: bool,
                _typoid: pg_sys::Oid,
            ) -> Option<Self> {
                if is_null || datum.is_null() {
                    None
                } else {
                    // SAFETY: a non-null datum of this varlena type (the caller's contract).
                    let $p = unsafe { detoast(datum) };
                    Some($make)
                }
            }
        }

        arg_abi_via_from_datum!($ty);

        // SAFETY: the handle returns its own varlena datum (`into_datum`), of the SQL type
        // `SqlTranslatable` names.
        unsafe impl BoxRet for $ty {
            unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
                // SAFETY: the datum is this handle's own varlena, of the declared return type.
                unsafe { fcinfo.return_raw_datum(self.into_datum()) }
            }
        }

        // SAFETY: `$sql` is the SQL type whose datums `FromDatum` and `BoxRet` read and write.
        unsafe impl SqlTranslatable for $ty {
            const TYPE_IDENT: &'static str = concat!("ruvector::types::", $sql);
            const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
            const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
                Ok(SqlMappingRef::literal($sql));
            const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
                Ok(ReturnsRef::One(SqlMappingRef::literal($sql)));
        }
    };
}

varlena_handle!(Vector, "ruvector", |p| Dense {
    ptr: p,
    _elem: PhantomData
});
varlena_handle!(HalfVec, "halfvec", |p| Dense {
    ptr: p,
    _elem: PhantomData
});
varlena_handle!(SparseVec, "sparsevec", |p| SparseVec { ptr: p });
varlena_handle!(BitVec, "bit", |p| BitVec { ptr: p });
