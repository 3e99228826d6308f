//! Key columns of a filtered index (pgrx glue for the PURE `crate::filter`): which columns an
//! index carries after its vector, their values as key blobs, and a scan's `WHERE` clauses
//! (its scan keys) as a [`Predicate`].
//!
//! The first column of a `ruhnsw` index is the vector, ordered by its operator class's
//! distance; every further column is a *key column* whose operator class (`int2_ops`,
//! `int4_ops`, `int8_ops` of family `integer_ops`, `text_ops`, `uuid_ops`, in
//! `sql/finalize.sql`) lists btree's comparison operators under btree's strategy numbers, so
//! that the planner hands the index the clauses on those columns as scan keys (`Index Cond`).

use crate::am::page::Rel;
use crate::filter::keys::text_hash;
use crate::filter::{Cmp, KeyKind, KeyLayout, KeyValue, Predicate, PredicateBuilder};
use crate::format::{SqlState, VecError};
use crate::types::error::raise;
use pgrx::pg_sys;

/// The key columns of an index: their layout and SQL types.
#[derive(Clone, Debug)]
pub struct KeyColumns {
    pub layout: KeyLayout,
    types: Vec<pg_sys::Oid>,
}

fn kind_of(typid: pg_sys::Oid) -> Option<KeyKind> {
    match typid {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => Some(KeyKind::Int),
        pg_sys::TEXTOID | pg_sys::VARCHAROID => Some(KeyKind::Text),
        pg_sys::UUIDOID => Some(KeyKind::Uuid),
        _ => None,
    }
}

/// Raises a clear error unless the first column of `index` has a distance operator class (a
/// vector column): `USING ruhnsw (category, embedding)` is refused at CREATE INDEX.
pub fn check_first_column(index: Rel, am: &str) {
    // SAFETY: an open index relation.
    let proc = unsafe { pg_sys::index_getprocid(index.as_ptr(), 1, 1) };
    if proc == pg_sys::InvalidOid {
        raise(VecError::new(
            SqlState::FeatureNotSupported,
            format!("the first column of a {am} index must be a vector column"),
        ));
    }
}

impl KeyColumns {
    /// The key columns of `index` (an index of access method `am`), checked: a supported type,
    /// a deterministic collation for text, and no distance operator class (only the first
    /// column holds vectors).
    pub fn of(index: Rel, am: &str) -> KeyColumns {
        // SAFETY: an open index relation has a tuple descriptor with its key columns first,
        // and `rd_indcollation` has one entry per key column.
        unsafe {
            let r = index.as_ptr();
            let natts = (*(*r).rd_index).indnkeyatts as usize;
            let mut kinds = Vec::new();
            let mut types = Vec::new();
            for i in 1..natts {
                let att = crate::compat::tuple_desc_attr((*r).rd_att, i);
                let typid = (*att).atttypid;
                if pg_sys::index_getprocid(r, (i + 1) as i16, 1) != pg_sys::InvalidOid {
                    raise(VecError::new(
                        SqlState::FeatureNotSupported,
                        format!("only the first column of a {am} index can be a vector"),
                    ));
                }
                let Some(kind) = kind_of(typid) else {
                    raise(VecError::new(
                        SqlState::FeatureNotSupported,
                        format!(
                            "data type {} is not supported as a key column of a {am} index",
                            type_name(typid)
                        ),
                    ));
                };
                if kind == KeyKind::Text {
                    let coll = *(*r).rd_indcollation.add(i);
                    if coll != pg_sys::InvalidOid && !pg_sys::get_collation_isdeterministic(coll) {
                        raise(VecError::new(
                            SqlState::FeatureNotSupported,
                            format!(
                                "nondeterministic collations are not supported for key columns \
                                 of a {am} index"
                            ),
                        ));
                    }
                }
                kinds.push(kind);
                types.push(typid);
            }
            KeyColumns {
                layout: KeyLayout::new(kinds),
                types,
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The key columns of `index` if they are what its meta page says were built (`count`
    /// columns, blobs of `len` bytes); `None` for an index whose pages disagree with its
    /// definition (damaged: the caller raises its access method's error).
    pub fn built(index: Rel, am: &str, count: u16, len: u16) -> Option<KeyColumns> {
        let keys = KeyColumns::of(index, am);
        (keys.layout.count() == count as usize && keys.layout.len() == len as usize).then_some(keys)
    }

    /// The key blob of one row: `values`/`isnull` are the index's column values as
    /// `ambuild`'s callback and `aminsert` receive them (the vector first).
    ///
    /// # Safety
    /// `values` and `isnull` hold one entry per index column.
    pub unsafe fn encode(&self, values: *const pg_sys::Datum, isnull: *const bool) -> Vec<u8> {
        if self.is_empty() {
            return Vec::new();
        }
        let keys: Vec<Option<KeyValue>> = (0..self.types.len())
            .map(|i| {
                // SAFETY: one entry per index column, per the caller.
                let (null, datum) = unsafe { (*isnull.add(i + 1), *values.add(i + 1)) };
                // SAFETY: a non-null datum of the column's type.
                (!null).then(|| unsafe { key_value(self.types[i], datum) })
            })
            .collect();
        self.layout.encode(&keys)
    }

    /// The scan's keys (`scan.keyData`) as a predicate on key blobs.
    ///
    /// # Safety
    /// `scan` is a valid index scan of an index with these key columns.
    pub unsafe fn predicate(&self, scan: pg_sys::IndexScanDesc) -> Predicate {
        let mut b = PredicateBuilder::new(self.layout.clone());
        // SAFETY: keyData holds numberOfKeys scan keys (copied in amrescan).
        let keys = unsafe {
            let n = (*scan).numberOfKeys.max(0) as usize;
            if n == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts((*scan).keyData, n)
            }
        };
        for key in keys {
            let column = key.sk_attno as usize;
            if column < 2 || column - 2 >= self.types.len() {
                raise(VecError::new(
                    SqlState::InternalError,
                    format!("unexpected scan key on index column {}", key.sk_attno),
                ));
            }
            let col = column - 2;
            let Some(cmp) = Cmp::from_strategy(key.sk_strategy) else {
                raise(VecError::new(
                    SqlState::InternalError,
                    format!("unexpected scan key strategy {}", key.sk_strategy),
                ));
            };
            if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
                b.never();
                continue;
            }
            // The right-hand side: one value, or the array of `col op ANY(array)`.
            // SAFETY: the argument is a non-null datum of the operator's right-hand type (the
            // column's type when sk_subtype is invalid), or an array of it.
            let (typid, values) = unsafe {
                if key.sk_flags & pg_sys::SK_SEARCHARRAY as i32 != 0 {
                    array_elements(key.sk_argument)
                } else {
                    let t = if key.sk_subtype == pg_sys::InvalidOid {
                        self.types[col]
                    } else {
                        key.sk_subtype
                    };
                    (t, vec![key.sk_argument])
                }
            };
            // SAFETY: datums of type `typid`.
            let values: Vec<KeyValue> = values
                .into_iter()
                .map(|d| unsafe { key_value(typid, d) })
                .collect();
            let single = key.sk_flags & pg_sys::SK_SEARCHARRAY as i32 == 0;
            match self.layout.kind(col) {
                KeyKind::Int => {
                    let xs: Vec<i64> = values
                        .iter()
                        .filter_map(|v| match v {
                            KeyValue::Int(x) => Some(*x),
                            _ => None,
                        })
                        .collect();
                    if single {
                        b.int(col, cmp, xs[0]);
                    } else {
                        b.int_any(col, cmp, &xs);
                    }
                }
                KeyKind::Text | KeyKind::Uuid if cmp != Cmp::Eq => raise(VecError::new(
                    SqlState::InternalError,
                    "only equality is supported on text and uuid key columns",
                )),
                KeyKind::Text => {
                    let hs: Vec<u64> = values
                        .iter()
                        .filter_map(|v| match v {
                            KeyValue::Text(h) => Some(*h),
                            _ => None,
                        })
                        .collect();
                    b.text_in(col, &hs);
                }
                KeyKind::Uuid => {
                    let us: Vec<[u8; 16]> = values
                        .iter()
                        .filter_map(|v| match v {
                            KeyValue::Uuid(u) => Some(*u),
                            _ => None,
                        })
                        .collect();
                    b.uuid_in(col, &us);
                }
            }
        }
        b.build()
    }
}

/// A non-null datum of type `typid` (a key column's type or a right-hand operand type of its
/// operator family) as a key value.
///
/// # Safety
/// `datum` is a valid, non-null datum of type `typid`.
unsafe fn key_value(typid: pg_sys::Oid, datum: pg_sys::Datum) -> KeyValue {
    match typid {
        pg_sys::INT2OID => KeyValue::Int(datum.value() as i16 as i64),
        pg_sys::INT4OID => KeyValue::Int(datum.value() as i32 as i64),
        pg_sys::INT8OID => KeyValue::Int(datum.value() as i64),
        pg_sys::TEXTOID | pg_sys::VARCHAROID => {
            // SAFETY: a text datum, possibly toasted or with a short header.
            unsafe {
                let v = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
                let bytes = pgrx::varlena::varlena_to_byte_slice(v);
                KeyValue::Text(text_hash(bytes))
            }
        }
        pg_sys::UUIDOID => {
            let p = datum.cast_mut_ptr::<u8>();
            let mut u = [0u8; 16];
            // SAFETY: a uuid datum points at its 16 bytes.
            unsafe { std::ptr::copy_nonoverlapping(p, u.as_mut_ptr(), 16) };
            KeyValue::Uuid(u)
        }
        other => raise(VecError::new(
            SqlState::InternalError,
            format!("unexpected key type {}", type_name(other)),
        )),
    }
}

/// The element type and non-null elements of an array datum (NULL elements match nothing).
///
/// # Safety
/// `datum` is a valid, non-null array datum.
unsafe fn array_elements(datum: pg_sys::Datum) -> (pg_sys::Oid, Vec<pg_sys::Datum>) {
    // SAFETY: per the caller; deconstruct_array pallocs its outputs.
    unsafe {
        let arr = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()).cast::<pg_sys::ArrayType>();
        let elemtype = (*arr).elemtype;
        let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
        pg_sys::get_typlenbyvalalign(elemtype, &mut len, &mut byval, &mut align);
        let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
        let mut nulls: *mut bool = std::ptr::null_mut();
        let mut n = 0i32;
        pg_sys::deconstruct_array(
            arr, elemtype, len as i32, byval, align, &mut elems, &mut nulls, &mut n,
        );
        let values = (0..n as usize)
            .filter(|&i| !*nulls.add(i))
            .map(|i| *elems.add(i))
            .collect();
        (elemtype, values)
    }
}

fn type_name(typid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be pallocs the name of any type OID (or raises).
    unsafe {
        std::ffi::CStr::from_ptr(pg_sys::format_type_be(typid))
            .to_string_lossy()
            .into_owned()
    }
}
