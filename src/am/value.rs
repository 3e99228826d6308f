//! Indexed values: which [`Metric`] an operator class uses, and turning a column datum into the
//! value image the index stores (normalised for cosine, validated against the index's limits).

use crate::am::page::Rel;
use crate::format::{SqlState, VecError};
use crate::kernels::metric::{self, Metric, ValueKind};
use crate::types::error::raise;
use half::f16;
use pgrx::pg_sys;

/// Support function 1 of every ruvector index operator class is the distance function of its
/// operator; its C symbol tells us the metric. (Index AMs receive opclass support functions by
/// OID; the symbol is stable across schemas and renames, unlike the SQL name.)
pub fn metric_from_support(index: Rel) -> Metric {
    // SAFETY: `index` is an open index with one key column.
    let symbol = unsafe {
        let proc = pg_sys::index_getprocid(index.as_ptr(), 1, 1);
        if proc == pg_sys::InvalidOid {
            raise(VecError::new(
                SqlState::InternalError,
                "index operator class has no distance support function",
            ));
        }
        proc_symbol(proc)
    };
    let m = match symbol.as_deref() {
        Some("rv_l2_squared_distance") | Some("rv_l2_distance") => Metric::L2F32,
        Some("rv_negative_inner_product") => Metric::IpF32,
        Some("rv_cosine_distance") => Metric::CosineF32,
        Some("rv_l1_distance") => Metric::L1F32,
        Some("halfvec_l2_squared_distance") | Some("halfvec_l2_distance") => Metric::L2F16,
        Some("halfvec_negative_inner_product") => Metric::IpF16,
        Some("halfvec_cosine_distance") => Metric::CosineF16,
        Some("halfvec_l1_distance") => Metric::L1F16,
        Some("sparsevec_l2_squared_distance") | Some("sparsevec_l2_distance") => Metric::L2Sparse,
        Some("sparsevec_negative_inner_product") => Metric::IpSparse,
        Some("sparsevec_cosine_distance") => Metric::CosineSparse,
        Some("sparsevec_l1_distance") => Metric::L1Sparse,
        Some("bit_hamming_distance") => Metric::Hamming,
        Some("bit_jaccard_distance") => Metric::Jaccard,
        _ => raise(VecError::new(
            SqlState::InternalError,
            "index operator class support function 1 is not a ruvector distance function",
        )),
    };
    m
}

/// The link symbol (`prosrc`) of a C-language function.
///
/// # Safety
/// Called in a backend inside a transaction (it reads the system catalog cache).
unsafe fn proc_symbol(proc: pg_sys::Oid) -> Option<String> {
    // SAFETY: a catalog cache lookup by OID, in a transaction (the caller's contract).
    let tup = unsafe {
        pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::PROCOID as i32,
            pg_sys::Datum::from(proc),
        )
    };
    if tup.is_null() {
        return None;
    }
    // SAFETY: `tup` is a valid pg_proc tuple, pinned until `ReleaseSysCache` below.
    let form = unsafe { pg_sys::GETSTRUCT(tup) }.cast::<pg_sys::FormData_pg_proc>();
    let mut isnull = false;
    // SAFETY: as above; `prosrc` is an attribute of pg_proc.
    let src = unsafe {
        pg_sys::SysCacheGetAttr(
            pg_sys::SysCacheIdentifier::PROCOID as i32,
            tup,
            pg_sys::Anum_pg_proc_prosrc as i16,
            &mut isnull,
        )
    };
    // ClanguageId (catalog/pg_language_d.h)
    let c_language = pg_sys::Oid::from(13u32);
    // SAFETY: `form` points into the pinned tuple.
    let out = if unsafe { (*form).prolang } != c_language || isnull {
        None
    } else {
        // SAFETY: `src` is a non-NULL text datum of the pinned tuple; `text_to_cstring`
        // returns a palloc'd NUL-terminated copy, freed once after it was copied.
        let r = unsafe {
            let s = pg_sys::text_to_cstring(src.cast_mut_ptr());
            let r = std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned();
            pg_sys::pfree(s.cast());
            r
        };
        Some(r)
    };
    // SAFETY: `tup` came from `SearchSysCache1` and is released once, no longer used.
    unsafe { pg_sys::ReleaseSysCache(tup) };
    out
}

/// Most dimensions an index can hold for a value kind (an element must fit on a page; pgvector's
/// limits: 2,000 float4, 4,000 float2, 64,000 bits; sparse vectors are limited by entries).
pub fn max_dimensions(kind: ValueKind) -> i32 {
    match kind {
        ValueKind::DenseF32 => 2000,
        ValueKind::DenseF16 => 4000,
        ValueKind::Bits => 64000,
        ValueKind::Sparse => crate::format::SPARSE_MAX_DIM,
    }
}

/// Most stored entries of a sparse vector in an index.
pub const MAX_SPARSE_NNZ: usize = 1000;

/// The SQL type name of a value kind, for messages.
pub fn type_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::DenseF32 => "ruvector",
        ValueKind::DenseF16 => "halfvec",
        ValueKind::Sparse => "sparsevec",
        ValueKind::Bits => "bit",
    }
}

/// The image an index stores for a (non-NULL) column datum: the detoasted varlena bytes,
/// normalised to unit length for cosine metrics. `None` for values an index cannot order
/// (a zero vector under cosine has no direction; pgvector leaves those out as well).
///
/// `am` names the access method for limit errors (values being indexed); `None` for queries,
/// which are not limited.
///
/// # Safety
/// `datum` must be a non-NULL value of the index column's type.
pub unsafe fn image_from_datum(
    datum: pg_sys::Datum,
    metric: Metric,
    am: Option<&str>,
) -> Option<Vec<u8>> {
    // SAFETY: a non-NULL varlena datum (the caller's contract); detoasting raises an ERROR
    // rather than return an invalid pointer.
    let raw = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) };
    // SAFETY: a detoasted varlena has a 4-byte header and is contiguous: all VARSIZE bytes of
    // it are readable.
    let bytes = unsafe {
        let len = varsize_4b(raw.cast());
        std::slice::from_raw_parts(raw.cast::<u8>(), len)
    };
    let image = bytes.to_vec();
    if raw.cast::<u8>() != datum.cast_mut_ptr::<u8>() {
        // SAFETY: a copy palloc'd by detoasting (not the caller's datum), no longer used:
        // `bytes` was copied into `image`.
        unsafe { pg_sys::pfree(raw.cast()) };
    }
    if let Some(am) = am {
        if metric.kind() == ValueKind::Sparse
            && metric::sparse(&image).values.len() > MAX_SPARSE_NNZ
        {
            raise(VecError::new(
                SqlState::ProgramLimitExceeded,
                format!("sparsevec cannot have more than {MAX_SPARSE_NNZ} non-zero elements for {am} index"),
            ));
        }
    }
    if metric.normalizes() {
        if metric.is_zero(&image) {
            return None;
        }
        return Some(normalize(metric.kind(), &image));
    }
    Some(image)
}

/// Length of a 4-byte-header varlena.
///
/// # Safety
/// `p` points at a varlena's 4 readable header bytes.
unsafe fn varsize_4b(p: *const u8) -> usize {
    // SAFETY: the caller's contract; the read needs no alignment.
    let word = unsafe { p.cast::<u32>().read_unaligned() };
    if cfg!(target_endian = "little") {
        ((word >> 2) & 0x3FFF_FFFF) as usize
    } else {
        (word & 0x3FFF_FFFF) as usize
    }
}

/// The unit-length version of a value image (l2_normalize: norm in double, elements divided in
/// double and rounded to the element type).
pub fn normalize(kind: ValueKind, image: &[u8]) -> Vec<u8> {
    let mut out = image.to_vec();
    match kind {
        ValueKind::DenseF32 => {
            let x = metric::dense_f32(image);
            let n = x
                .iter()
                .fold(0.0f64, |s, v| s + (*v as f64) * (*v as f64))
                .sqrt();
            let y: Vec<f32> = x.iter().map(|v| (*v as f64 / n) as f32).collect();
            out[8..].copy_from_slice(bytemuck::cast_slice(&y));
        }
        ValueKind::DenseF16 => {
            let x = metric::dense_f16(image);
            let n = x
                .iter()
                .fold(0.0f64, |s, v| s + v.to_f64() * v.to_f64())
                .sqrt();
            let y: Vec<f16> = x
                .iter()
                .map(|v| f16::from_f32((v.to_f64() / n) as f32))
                .collect();
            out[8..].copy_from_slice(bytemuck::cast_slice(&y));
        }
        ValueKind::Sparse => {
            let s = metric::sparse(image);
            let nnz = s.values.len();
            let n = s
                .values
                .iter()
                .fold(0.0f64, |a, v| a + (*v as f64) * (*v as f64))
                .sqrt();
            let y: Vec<f32> = s.values.iter().map(|v| (*v as f64 / n) as f32).collect();
            out[16 + 4 * nnz..16 + 8 * nnz].copy_from_slice(bytemuck::cast_slice(&y));
        }
        ValueKind::Bits => {}
    }
    out
}

/// Checks an index's column as pgvector does (type, dimensions given, within the limit for the
/// value kind — or `max`, for quantized indexes, whose codes are smaller than the values) and
/// returns its dimensions; `am` names the access method in messages.
pub fn column_dimensions(index: Rel, metric: Metric, am: &str, max: Option<usize>) -> u32 {
    // SAFETY: an index relation has a tuple descriptor with one attribute.
    let (typmod, typid) = unsafe {
        let att = crate::compat::tuple_desc_attr((*index.as_ptr()).rd_att, 0);
        ((*att).atttypmod, (*att).atttypid)
    };
    if typid == pg_sys::VARBITOID {
        raise(VecError::new(
            SqlState::FeatureNotSupported,
            format!("type not supported for {am} index"),
        ));
    }
    if typmod < 0 {
        raise(VecError::new(
            SqlState::InvalidParameterValue,
            "column does not have dimensions",
        ));
    }
    let max = max.map_or(max_dimensions(metric.kind()), |m| m as i32);
    if typmod > max {
        raise(VecError::new(
            SqlState::ProgramLimitExceeded,
            format!("column cannot have more than {max} dimensions for {am} index"),
        ));
    }
    typmod as u32
}

/// Bytes of a value image of a fixed-size kind with `dims` dimensions (`None` for sparse
/// vectors, whose size varies).
pub fn image_len(kind: ValueKind, dims: usize) -> Option<usize> {
    match kind {
        ValueKind::DenseF32 => Some(8 + 4 * dims),
        ValueKind::DenseF16 => Some(8 + 2 * dims),
        ValueKind::Bits => Some(8 + dims.div_ceil(8)),
        ValueKind::Sparse => None,
    }
}

/// The operator class of a metric (the name `ruvector_index_stats()` reports).
pub fn opclass_name(m: Metric) -> &'static str {
    use Metric::*;
    match m {
        L2F32 => "ruvector_l2_ops",
        IpF32 => "ruvector_ip_ops",
        CosineF32 => "ruvector_cosine_ops",
        L1F32 => "ruvector_l1_ops",
        L2F16 => "halfvec_l2_ops",
        IpF16 => "halfvec_ip_ops",
        CosineF16 => "halfvec_cosine_ops",
        L1F16 => "halfvec_l1_ops",
        L2Sparse => "sparsevec_l2_ops",
        IpSparse => "sparsevec_ip_ops",
        CosineSparse => "sparsevec_cosine_ops",
        L1Sparse => "sparsevec_l1_ops",
        Hamming => "bit_hamming_ops",
        Jaccard => "bit_jaccard_ops",
    }
}
