//! Every difference between the PostgreSQL major versions ruvector builds for, in one place.
//!
//! The majors are chosen by a Cargo feature (`pg15`, `pg16`, `pg17`, `pg18`; `scripts/majors.sh`
//! lists the ones built and tested). Code elsewhere calls these helpers and never carries a
//! `cfg(feature = "pgNN")` of its own, so supporting a new major means reading this file and the
//! compiler's errors, not the whole tree. Each item says which release changed what, citing the
//! PostgreSQL header that holds it.
//!
//! Differences PostgreSQL 18 made that need nothing here: new `IndexAmRoutine` fields
//! (`amcanhash`, `amconsistentequality`, `amconsistentordering`, `amtranslatestrategy`,
//! `amtranslatecmptype`; and 17's `amcanbuildparallel`, `amgettreeheight`) are left zero by
//! `am::routine`'s `palloc0`, which PostgreSQL reads as "not supported"; read streams (17) are
//! optional, the buffer manager's `ReadBufferExtended` still works; the page layout, item
//! pointers and Generic WAL record format are unchanged, so index files are byte-compatible
//! across the majors (the `pg_upgrade` test checks this).

use pgrx::pg_sys;
use std::ffi::CStr;

/// A relation's physical file. PostgreSQL 16 renamed `RelFileNode` to `RelFileLocator`
/// (`storage/relfilelocator.h`) and `rd_node` to `rd_locator`.
#[cfg(feature = "pg15")]
pub type RelFileLocator = pg_sys::RelFileNode;
#[cfg(not(feature = "pg15"))]
pub type RelFileLocator = pg_sys::RelFileLocator;

/// The physical file of an open relation.
///
/// # Safety
/// `rel` must be a valid, open relation.
pub unsafe fn rel_file_locator(rel: pg_sys::Relation) -> RelFileLocator {
    // SAFETY: valid per the caller.
    #[cfg(feature = "pg15")]
    let locator = unsafe { (*rel).rd_node };
    // SAFETY: valid per the caller.
    #[cfg(not(feature = "pg15"))]
    let locator = unsafe { (*rel).rd_locator };
    locator
}

/// The physical file as three numbers (tablespace, database, file), for per-file caches.
pub fn file_key(n: &RelFileLocator) -> [u32; 3] {
    #[cfg(feature = "pg15")]
    let key = [n.spcNode.into(), n.dbNode.into(), n.relNode.into()];
    #[cfg(not(feature = "pg15"))]
    let key = [n.spcOid.into(), n.dbOid.into(), n.relNumber.into()];
    key
}

/// The subtransaction that gave the relation its current file (`rd_firstRelfilenodeSubid`,
/// renamed `rd_firstRelfilelocatorSubid` in PostgreSQL 16; `utils/rel.h`).
///
/// # Safety
/// `rel` must be a valid, open relation.
pub unsafe fn first_relfilelocator_subid(rel: pg_sys::Relation) -> pg_sys::SubTransactionId {
    // SAFETY: valid per the caller.
    #[cfg(feature = "pg15")]
    let subid = unsafe { (*rel).rd_firstRelfilenodeSubid };
    // SAFETY: valid per the caller.
    #[cfg(not(feature = "pg15"))]
    let subid = unsafe { (*rel).rd_firstRelfilelocatorSubid };
    subid
}

/// Cost-based VACUUM delay (`vacuum_delay_point`; PostgreSQL 18 added its `is_analyze`
/// argument, `commands/vacuum.h`). May sleep or raise a query cancel.
pub fn vacuum_delay_point() {
    // SAFETY: callable from any VACUUM callback; may sleep or ereport.
    #[cfg(not(feature = "pg18"))]
    unsafe {
        pg_sys::vacuum_delay_point()
    };
    // SAFETY: as above.
    #[cfg(feature = "pg18")]
    unsafe {
        pg_sys::vacuum_delay_point(false)
    };
}

/// An entry of an access method's `build_reloptions` table (`access/reloptions.h`; PostgreSQL
/// 18 added `isset_offset`, 0 meaning "not recorded").
pub fn relopt_parse_elt(
    name: &'static CStr,
    opttype: pg_sys::relopt_type::Type,
    offset: usize,
) -> pg_sys::relopt_parse_elt {
    pg_sys::relopt_parse_elt {
        optname: name.as_ptr(),
        opttype,
        offset: offset as i32,
        #[cfg(feature = "pg18")]
        isset_offset: 0,
    }
}

/// `pgstat_count_index_scan(rel)` (`pgstat.h`; the counter moved from `t_counts.t_numscans`
/// to `counts.numscans` in PostgreSQL 18).
///
/// # Safety
/// `rel` must be an open relation.
pub unsafe fn count_index_scan(rel: pg_sys::Relation) {
    // SAFETY: `rel` is open (caller); pgstat_assoc_relation is what the macro calls.
    unsafe {
        if (*rel).pgstat_info.is_null() && (*rel).pgstat_enabled {
            pg_sys::pgstat_assoc_relation(rel);
        }
        if !(*rel).pgstat_info.is_null() {
            #[cfg(not(feature = "pg18"))]
            {
                (*(*rel).pgstat_info).t_counts.t_numscans += 1;
            }
            #[cfg(feature = "pg18")]
            {
                (*(*rel).pgstat_info).counts.numscans += 1;
            }
        }
    }
}

/// Attribute `i` (0-based) of a tuple descriptor (`TupleDescAttr`, `access/tupdesc.h`: a
/// flexible array member `attrs` up to PostgreSQL 17, an inline function over
/// `compact_attrs` from 18).
///
/// # Safety
/// `desc` must be a valid tuple descriptor with more than `i` attributes.
pub unsafe fn tuple_desc_attr(
    desc: pg_sys::TupleDesc,
    i: usize,
) -> *const pg_sys::FormData_pg_attribute {
    // SAFETY: valid per the caller.
    #[cfg(not(feature = "pg18"))]
    let att = unsafe { (*desc).attrs.as_ptr().add(i) };
    // SAFETY: valid per the caller.
    #[cfg(feature = "pg18")]
    let att = unsafe { pg_sys::TupleDescAttr(desc, i as i32) };
    att
}

/// Whether `role` may maintain table `table` as VACUUM may: its owner (or a member of the
/// owning role) — and from PostgreSQL 17, also a role holding the table's `MAINTAIN` privilege
/// or the privileges of `pg_maintain` (`commands/vacuum.c`, `vacuum_is_permitted_for_relation`).
/// PostgreSQL 16 replaced `pg_class_ownercheck` by `object_ownercheck` (`utils/acl.h`).
///
/// # Safety
/// A syscache lookup: `table` may be any OID.
pub unsafe fn may_maintain(table: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    #[cfg(feature = "pg15")]
    // SAFETY: a syscache lookup of any OID (a missing relation raises an ERROR).
    let owner = unsafe { pg_sys::pg_class_ownercheck(table, role) };
    #[cfg(not(feature = "pg15"))]
    // SAFETY: as above.
    let owner = unsafe { pg_sys::object_ownercheck(pg_sys::RelationRelationId, table, role) };
    #[cfg(any(feature = "pg15", feature = "pg16"))]
    let maintain = false;
    #[cfg(not(any(feature = "pg15", feature = "pg16")))]
    // SAFETY: a syscache lookup of any OID.
    let maintain = unsafe {
        pg_sys::pg_class_aclcheck(table, role, pg_sys::ACL_MAINTAIN as pg_sys::AclMode)
            == pg_sys::AclResult::ACLCHECK_OK
    };
    owner || maintain
}
