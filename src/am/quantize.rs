//! The `quantization` index option of `ruhnsw` and `ruivfflat`, the `ruvector.rerank` GUC, and
//! the glue between index value images and the pure quantizers of `crate::quant` (crates/core).

use crate::am::page::Rel;
use crate::format::{SqlState, VecError};
use crate::kernels::metric::{self, Metric, ValueKind};
use crate::quant::{Codebook, Op, Quantization};
use crate::types::error::raise;
use pgrx::pg_sys;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CStr;

/// Default of `ruvector.rerank`, chosen by measurement (README, "Choosing `ruvector.rerank`"):
/// sq8 and pq48 recall saturate by 100 on minilm-384-50k; 200 costs pq48 a quarter of its QPS.
pub const DEFAULT_RERANK: i32 = 100;

/// `ruvector.rerank`: how many candidates of a quantized index scan are re-ranked at a time by
/// the exact distance of their full vectors (read from the table) before they are returned.
pub static RERANK: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_RERANK);

pub const OPTION: &CStr = c"quantization";
const DESCRIPTION: &CStr = c"Quantization of stored vectors: none, sq8, pq<M> or binary";

/// Registers `quantization` for an access method's reloption kind; called from `_PG_init`.
///
/// # Safety
/// Called from `_PG_init` with a kind from `add_reloption_kind`.
pub unsafe fn add_reloption(kind: pg_sys::relopt_kind::Type) {
    // SAFETY: called from `_PG_init` with a registered kind (the caller's contract); the name,
    // description and default are static C strings, `validate` a guarded callback.
    unsafe {
        pg_sys::add_string_reloption(
            kind as pg_sys::bits32,
            OPTION.as_ptr(),
            DESCRIPTION.as_ptr(),
            c"none".as_ptr(),
            Some(validate),
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        )
    };
}

/// Registers `ruvector.rerank` (once, from `_PG_init`).
pub fn init_guc() {
    GucRegistry::define_int_guc(
        c"ruvector.rerank",
        c"Sets how many candidates of a quantized index scan are re-ranked by exact distance at a time",
        c"Valid range is 1..100000.",
        &RERANK,
        1,
        100_000,
        GucContext::Userset,
        GucFlags::default(),
    );
}

fn parse_or_raise(s: &str) -> Quantization {
    match Quantization::parse(s) {
        Some(q) => q,
        None => raise(
            VecError::new(
                SqlState::InvalidParameterValue,
                format!("invalid value for quantization: \"{s}\""),
            )
            .with_detail(
                "Valid values are \"none\", \"sq8\", \"pq<M>\" (M sub-spaces, 1..4096) and \"binary\".",
            ),
        ),
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn validate(value: *const std::ffi::c_char) {
    if !value.is_null() {
        // SAFETY: PostgreSQL passes the option's value as a NUL-terminated C string (non-null,
        // checked above) that lives for the call.
        parse_or_raise(&unsafe { CStr::from_ptr(value) }.to_string_lossy());
    }
}

/// The option's entry in an access method's `build_reloptions` table: `offset` is that of the
/// options struct's int field that receives the string's offset.
pub fn parse_elt(offset: usize) -> pg_sys::relopt_parse_elt {
    crate::compat::relopt_parse_elt(OPTION, pg_sys::relopt_type::RELOPT_TYPE_STRING, offset)
}

/// `quantization` of an index whose `rd_options` is an `O` built by `build_reloptions`
/// (`field` reads the string's offset from it, 0 when unset); `none` when not given.
pub fn of_index<O>(index: Rel, field: impl FnOnce(&O) -> i32) -> Quantization {
    // SAFETY: rd_options is null or points at the AM's options struct `O`; a string option's
    // bytes follow the struct at the offset it records.
    unsafe {
        let o = (*index.as_ptr()).rd_options.cast::<O>();
        if o.is_null() {
            return Quantization::None;
        }
        let offset = field(&*o);
        if offset == 0 {
            return Quantization::None;
        }
        let s = CStr::from_ptr(o.cast::<u8>().add(offset as usize).cast());
        parse_or_raise(&s.to_string_lossy())
    }
}

/// Checks that an index of `metric` and `dims` can use `q` (raises the error otherwise), and
/// returns the estimate's [`Op`] (`None` for no quantization).
pub fn check(q: Quantization, metric: Metric, dims: usize) -> Option<Op> {
    if let Err(e) = q.check(metric, dims) {
        raise(VecError::new(SqlState::InvalidParameterValue, e));
    }
    if q == Quantization::None {
        return None;
    }
    Op::of(metric).or_else(|| {
        raise(VecError::new(
            SqlState::InvalidParameterValue,
            "quantization is not supported for this operator class",
        ))
    })
}

/// The f32 vector of a dense value image (halfvec widened).
pub fn image_floats(metric: Metric, image: &[u8]) -> Vec<f32> {
    match metric.kind() {
        ValueKind::DenseF32 => metric::dense_f32(image).to_vec(),
        ValueKind::DenseF16 => metric::dense_f16(image)
            .iter()
            .map(|x| x.to_f32())
            .collect(),
        _ => unreachable!("quantization is only for dense vectors"),
    }
}

/// Trains the codebook of a quantized index on `sample` (row-major floats; empty: a codebook
/// for unit-scale data, see `Codebook::train`), checking for interrupts between k-means steps.
pub fn train(
    q: Quantization,
    dims: usize,
    sample: &[f32],
    pool: Option<&rayon::ThreadPool>,
) -> Codebook {
    Codebook::train(q, dims, sample, pool, &mut || {
        pgrx::check_for_interrupts!();
    })
}

/// The code of a value image.
pub fn encode_image(codebook: &Codebook, metric: Metric, image: &[u8]) -> Vec<u8> {
    codebook.encode(&image_floats(metric, image))
}

/// Rows of a training sample: enough for SQ8's ranges and binary's means, and for PQ's k-means
/// ([`crate::quant::pq::TRAINING_POINTS`]).
pub const SAMPLE_ROWS: usize = crate::quant::pq::TRAINING_POINTS;

/// The NOTICE for a codebook trained on few rows.
pub fn little_data_notice(q: Quantization, rows: usize) {
    if rows < 1000 {
        pgrx::notice!(
            "{} codebook trained on {} rows; REINDEX when the table has more data for better recall",
            q.name(),
            rows
        );
    }
}

/// Distances from a query to the values an index stores: exact on value images, estimated on
/// codes.
pub struct Estimator {
    metric: Metric,
    /// The query's value image (`None`: a NULL query, every distance is 0).
    pub query: Option<Vec<u8>>,
    prepared: Option<crate::quant::Prepared>,
    /// Bytes of a code (quantized indexes).
    code_len: usize,
}

impl Estimator {
    pub fn new(metric: Metric, query: Option<Vec<u8>>, codebook: Option<&Codebook>) -> Estimator {
        let prepared = match (codebook, &query) {
            (Some(cb), Some(q)) => {
                let op = Op::of(metric).expect("checked at build");
                Some(cb.prepare(&image_floats(metric, q), op))
            }
            _ => None,
        };
        Estimator {
            metric,
            query,
            prepared,
            code_len: codebook.map_or(0, |cb| cb.code_len()),
        }
    }

    /// Whether distances are estimates (the index is quantized).
    pub fn estimates(&self) -> bool {
        self.prepared.is_some()
    }

    /// Distance to a stored value (image or code), read from an index page: one whose length
    /// or header disagrees with what the kernels will slice (only damage makes one) raises the
    /// index's corruption error (`corrupt::damaged`) here rather than a bounds-check panic in
    /// the kernels.
    #[inline]
    pub fn distance(&self, stored: &[u8]) -> f32 {
        match (&self.prepared, &self.query) {
            (Some(p), _) => {
                if stored.len() != self.code_len {
                    stored_damaged(format!(
                        "A stored code has {} bytes, {} expected.",
                        stored.len(),
                        self.code_len
                    ));
                }
                p.distance(stored)
            }
            (None, Some(q)) => {
                if !self.metric.holds(stored) {
                    stored_damaged(format!(
                        "A stored value's header does not match its {} bytes.",
                        stored.len()
                    ));
                }
                self.metric.distance(q, stored)
            }
            (None, None) => 0.0,
        }
    }

    /// Bytes of the prepared query (distance tables).
    pub fn memory(&self) -> usize {
        self.prepared.as_ref().map_or(0, |p| p.memory())
            + self.query.as_ref().map_or(0, |q| q.len())
    }
}

#[cold]
fn stored_damaged(detail: String) -> ! {
    crate::am::corrupt::damaged(detail)
}
