//! Observability functions: `ruvector_version()`, `ruvector_simd_info()`,
//! `ruvector_index_stats()`, `ruvector_memory_stats()`.

use crate::kernels::{self, Selection};
use pgrx::prelude::*;

/// The extension's version (the crate version the library was built from). Stable, not
/// immutable: it changes when the library is upgraded.
#[pg_extern(stable, parallel_safe)]
fn ruvector_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Which distance-kernel tier this backend uses, what it could use and why, e.g.
/// `tier=avx2; isa=AVX2+FMA, F16C, POPCNT; available=avx512,avx2,scalar; selection=auto; cpu=...`.
/// Volatile: a server restarted with another `RUVECTOR_SIMD` reports differently.
#[pg_extern(volatile, parallel_safe)]
fn ruvector_simd_info() -> String {
    simd_info()
}

pub fn simd_info() -> String {
    let k = kernels::kernels();
    let available: Vec<&str> = kernels::available_tiers()
        .into_iter()
        .map(|t| t.name())
        .collect();
    let selection = match kernels::selection() {
        Selection::Auto => "auto".to_string(),
        Selection::Forced(t) => format!("{}={}", kernels::SIMD_ENV, t.name()),
        Selection::Ignored(r) => format!("auto ({}={r} is not available here)", kernels::SIMD_ENV),
    };
    let cpu: Vec<&str> = kernels::cpu_features()
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| name)
        .collect();
    format!(
        "tier={}; isa={}; available={}; selection={}; cpu={}",
        k.tier.name(),
        k.isa,
        available.join(","),
        selection,
        cpu.join(",")
    )
}

/// Statistics of a ruvector index, read from its pages (a JSON object; the fields depend on the
/// access method).
#[pg_extern(volatile, strict, parallel_safe)]
fn ruvector_index_stats(index: RegClass) -> pgrx::JsonB {
    let index = index.0;
    use crate::format::{SqlState, VecError};
    use pgrx::pg_sys;
    // SAFETY: index_open raises an ERROR for a relation that is not an index.
    unsafe {
        // Rights first, before any lock is taken (as PostgreSQL's RangeVarGetRelidExtended
        // callbacks do).
        let heap = pg_sys::IndexGetRelation(index, true);
        if heap != pg_sys::InvalidOid {
            check_may_read(index, heap, "Reading the statistics of an index");
        }
        let rel = pg_sys::relation_open(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let am = (*rel).rd_rel.as_ref().and_then(|r| {
            (r.relkind == pg_sys::RELKIND_INDEX as std::ffi::c_char
                && r.relam != pg_sys::InvalidOid)
                .then(|| am_name(r.relam))
                .flatten()
        });
        let r = crate::am::page::Rel::from_raw(rel);
        let stats = match am.as_deref() {
            Some("ruhnsw") => crate::am::corrupt::guard(r, || crate::am::hnsw::stats::stats(r)),
            Some("ruivfflat") => crate::am::corrupt::guard(r, || crate::am::ivf::stats::stats(r)),
            _ => {
                pg_sys::relation_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                crate::types::error::raise(VecError::new(
                    SqlState::InvalidParameterValue,
                    "relation is not a ruvector index",
                ));
            }
        };
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        pgrx::JsonB(stats)
    }
}

/// Checks a ruvector index's pages (a JSON report: `ok`, problems and warnings with block
/// and offset, what was checked); with `heapallindexed`, also that every row of its table
/// that it should hold is in it (`am::check`).
#[pg_extern(volatile, strict, parallel_restricted)]
fn ruvector_index_check(index: RegClass, heapallindexed: default!(bool, false)) -> pgrx::JsonB {
    use crate::am::check::Am;
    use crate::format::{SqlState, VecError};
    use pgrx::pg_sys;
    let index = index.0;
    // SAFETY: catalog lookups by OID without locks, then `run` opens and locks the relations
    // and checks again that the index still belongs to the table.
    unsafe {
        let heap = pg_sys::IndexGetRelation(index, true);
        let am = index_am(index);
        let am = match am.as_deref() {
            Some("ruhnsw") if heap != pg_sys::InvalidOid => Am::Hnsw,
            Some("ruivfflat") if heap != pg_sys::InvalidOid => Am::Ivf,
            _ => crate::types::error::raise(VecError::new(
                SqlState::InvalidParameterValue,
                "relation is not a ruvector index",
            )),
        };
        check_may_read(index, heap, "Checking an index");
        pgrx::JsonB(crate::am::check::run(index, heap, am, heapallindexed))
    }
}

/// Repairs what can be repaired in a ruvector index while writers go on (a JSON report of
/// what it did, and whether a REINDEX is recommended): `am::hnsw::maintain`,
/// `am::ivf::maintain`. Needs what VACUUM needs of the table (its owner; from PostgreSQL 17
/// also `MAINTAIN`); takes `ShareUpdateExclusiveLock` on the table, as VACUUM, so the two never
/// run at once.
#[pg_extern(volatile, strict, parallel_unsafe)]
fn ruvector_index_maintenance(index: RegClass) -> pgrx::JsonB {
    use crate::format::{SqlState, VecError};
    use crate::types::error::raise;
    use pgrx::pg_sys;
    let index = index.0;
    // SAFETY: catalog lookups by OID without locks, then the relations are opened and locked
    // and the index is checked to still belong to the table.
    unsafe {
        let heap = pg_sys::IndexGetRelation(index, true);
        let am = index_am(index);
        if heap == pg_sys::InvalidOid || !matches!(am.as_deref(), Some("ruhnsw" | "ruivfflat")) {
            raise(VecError::new(
                SqlState::InvalidParameterValue,
                "relation is not a ruvector index",
            ));
        }
        if pg_sys::RecoveryInProgress() {
            raise(
                VecError::new(
                    SqlState::ReadOnlySqlTransaction,
                    "cannot maintain an index during recovery",
                )
                .with_hint("Run ruvector_index_maintenance() on the primary."),
            );
        }
        if !crate::compat::may_maintain(heap, pg_sys::GetUserId()) {
            raise(VecError::new(
                SqlState::InsufficientPrivilege,
                format!(
                    "must be owner of table {}",
                    rel_name(heap).unwrap_or_default()
                ),
            ));
        }
        let table_lock = pg_sys::ShareUpdateExclusiveLock as pg_sys::LOCKMODE;
        let index_lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        let heap_rel = pg_sys::relation_open(heap, table_lock);
        let rel = pg_sys::relation_open(index, index_lock);
        if pg_sys::IndexGetRelation(index, true) != heap {
            raise(VecError::new(
                SqlState::UndefinedTable,
                format!(
                    "could not open parent table of index \"{}\"",
                    rel_name(index).unwrap_or_default()
                ),
            ));
        }
        if !(*(*rel).rd_index).indisvalid || !(*(*rel).rd_index).indisready {
            raise(
                VecError::new(
                    SqlState::FeatureNotSupported,
                    format!(
                        "cannot maintain index \"{}\"",
                        rel_name(index).unwrap_or_default()
                    ),
                )
                .with_detail("Index is not valid."),
            );
        }
        let r = crate::am::page::Rel::from_raw(rel);
        let mut report = crate::am::corrupt::guard(r, || match am.as_deref() {
            Some("ruhnsw") => crate::am::hnsw::maintain::maintain(r),
            _ => crate::am::ivf::maintain::maintain(r),
        });
        report["index"] = serde_json::Value::String(crate::am::qualified_name(r));
        pg_sys::relation_close(rel, index_lock);
        pg_sys::relation_close(heap_rel, table_lock);
        pgrx::JsonB(report)
    }
}

/// The access method of index `index` (a syscache lookup, no lock), `None` if it is not an
/// index. Any OID will do (one dropped meanwhile has no syscache entry); called in a backend.
fn index_am(index: pgrx::pg_sys::Oid) -> Option<String> {
    use pgrx::pg_sys;
    // SAFETY: a syscache lookup by OID; a non-NULL result is a valid pg_class tuple, read
    // and then released here.
    let (kind, relam) = unsafe {
        let tup = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::RELOID as i32,
            pg_sys::Datum::from(index),
        );
        if tup.is_null() {
            return None;
        }
        let form = pg_sys::GETSTRUCT(tup).cast::<pg_sys::FormData_pg_class>();
        let fields = ((*form).relkind, (*form).relam);
        pg_sys::ReleaseSysCache(tup);
        fields
    };
    (kind == pg_sys::RELKIND_INDEX as std::ffi::c_char && relam != pg_sys::InvalidOid)
        .then(|| am_name(relam))
        .flatten()
}

/// Memory this backend holds for ruvector indexes (a JSON object): the codebooks of quantized
/// indexes it has cached (`codebooks`: per index its quantization, dimensions and bytes; at
/// most `capacity` indexes) and what index scans hold (`scans`: scans open now and their bytes
/// — visited sets, candidate queues, re-rank batches, query tables — the most held at once since
/// the backend started, and scans begun). Per backend: restricted to the leader of a parallel
/// query.
#[pg_extern(volatile, parallel_restricted)]
fn ruvector_memory_stats() -> pgrx::JsonB {
    use serde_json::json;
    let cached = crate::am::codebook::cached();
    let entries: Vec<_> = cached
        .iter()
        .map(|c| {
            let name = rel_name(c.index);
            json!({
                "index": name,
                "quantization": c.quantization.name(),
                "dimensions": c.dimensions,
                "bytes": c.bytes,
            })
        })
        .collect();
    let scans = crate::am::memstats::scans();
    pgrx::JsonB(json!({
        "codebooks": {
            "indexes": cached.len(),
            "bytes": cached.iter().map(|c| c.bytes).sum::<usize>(),
            "capacity": crate::am::codebook::CACHE_ENTRIES,
            "cached": entries,
        },
        "scans": {
            "open": scans.open,
            "bytes": scans.bytes,
            "peak_bytes": scans.peak_bytes,
            "begun": scans.begun,
        },
    }))
}

/// What an index's statistics or check tell (row counts, sizes, key values' spread, which
/// rows it holds) is what reading its table tells: the caller needs SELECT on the table, or the privileges of
/// `pg_read_all_stats` or `pg_stat_scan_tables` (the roles PostgreSQL's statistics views and
/// pgstattuple's functions answer to). The extension is trusted, so its functions are
/// everyone's; this is the check that keeps them from telling more than the tables do.
///
/// `index` and `heap` are relation OIDs (either may be dropped concurrently: the syscache
/// lookups then fail cleanly, with an ERROR at worst); called in a backend.
fn check_may_read(index: pg_sys::Oid, heap: pg_sys::Oid, action: &str) {
    // SAFETY: privilege lookups by OID in this backend; none takes a pointer.
    let allowed = unsafe {
        let user = pg_sys::GetUserId();
        pg_sys::pg_class_aclcheck(heap, user, pg_sys::ACL_SELECT as pg_sys::AclMode)
            == pg_sys::AclResult::ACLCHECK_OK
            || pg_sys::has_privs_of_role(user, pg_sys::Oid::from(pg_sys::ROLE_PG_READ_ALL_STATS))
            || pg_sys::has_privs_of_role(user, pg_sys::Oid::from(pg_sys::ROLE_PG_STAT_SCAN_TABLES))
    };
    if !allowed {
        let name = |oid| rel_name(oid).unwrap_or_default();
        crate::types::error::raise(
            crate::format::VecError::new(
                crate::format::SqlState::InsufficientPrivilege,
                format!("permission denied for index {}", name(index)),
            )
            .with_detail(format!(
                "{action} needs SELECT on its table ({}), or the privileges of \
                 pg_read_all_stats or pg_stat_scan_tables.",
                name(heap)
            )),
        );
    }
}

/// A relation's name, `None` for one dropped meanwhile (a syscache lookup, no lock).
fn rel_name(oid: pgrx::pg_sys::Oid) -> Option<String> {
    // SAFETY: get_rel_name returns NULL or a palloc'd C string.
    unsafe {
        let p = pgrx::pg_sys::get_rel_name(oid);
        (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

/// The name of an access method, `None` for an OID that is none (a syscache lookup); called
/// in a backend.
fn am_name(am: pgrx::pg_sys::Oid) -> Option<String> {
    // SAFETY: a syscache lookup by OID; returns NULL or a palloc'd C string.
    let p = unsafe { pgrx::pg_sys::get_am_name(am) };
    if p.is_null() {
        None
    } else {
        // SAFETY: not NULL: the NUL-terminated name get_am_name returned.
        let name = unsafe { std::ffi::CStr::from_ptr(p) };
        Some(name.to_string_lossy().into_owned())
    }
}

/// A `regclass` argument (so `ruvector_index_stats('items_embedding_idx')` resolves the name).
pub struct RegClass(pub pgrx::pg_sys::Oid);

impl pgrx::datum::FromDatum for RegClass {
    unsafe fn from_polymorphic_datum(
        datum: pgrx::pg_sys::Datum,
        is_null: bool,
        _typoid: pgrx::pg_sys::Oid,
    ) -> Option<Self> {
        (!is_null).then(|| RegClass(pgrx::pg_sys::Oid::from(datum.value() as u32)))
    }
}

crate::types::varlena::arg_abi_via_from_datum!(RegClass);

// SAFETY: a `regclass` datum is an OID, which is what `RegClass` reads.
unsafe impl pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable for RegClass {
    const TYPE_IDENT: &'static str = "ruvector::admin::RegClass";
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
    const ARGUMENT_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef,
        pgrx::pgrx_sql_entity_graph::metadata::ArgumentError,
    > = Ok(pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef::literal("regclass"));
    const RETURN_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef,
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsError,
    > = Err(pgrx::pgrx_sql_entity_graph::metadata::ReturnsError::Datum);
}
