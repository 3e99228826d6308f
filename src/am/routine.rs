//! What both index access methods tell PostgreSQL about themselves (`IndexAmRoutine`).

use pgrx::pg_sys;

/// A new `IndexAmRoutine` for a single-column index that only orders by a distance operator:
/// no strategies, one support function (the distance), no uniqueness, no backward scans, no
/// predicate locks, no parallel scans, bulk delete parallelisable by VACUUM. The caller fills in
/// its callbacks. Operator classes come only from the extension script, so `amvalidate` has
/// nothing to reject.
///
/// # Safety
/// Called from an AM handler (allocates in the current memory context).
pub unsafe fn ordered_by_distance() -> *mut pg_sys::IndexAmRoutine {
    // SAFETY: in a backend, inside a memory context (the caller's contract); palloc0 raises an
    // ERROR rather than return NULL.
    let am = unsafe { pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexAmRoutine>()) }
        .cast::<pg_sys::IndexAmRoutine>();
    // SAFETY: `am` is a fresh, MAXALIGNed allocation of an IndexAmRoutine, zeroed (a valid
    // value: integers, `false` and `None` callbacks) and referred to by nothing else yet.
    let a = unsafe { &mut *am };
    a.type_ = pg_sys::NodeTag::T_IndexAmRoutine;
    a.amstrategies = 0;
    a.amsupport = 1;
    a.amoptsprocnum = 0;
    a.amcanorder = false;
    a.amcanorderbyop = true;
    a.amcanbackward = false;
    a.amcanunique = false;
    a.amcanmulticol = false;
    a.amoptionalkey = true;
    a.amsearcharray = false;
    a.amsearchnulls = false;
    a.amstorage = false;
    a.amclusterable = false;
    a.ampredlocks = false;
    a.amcanparallel = false;
    a.amcaninclude = false;
    a.amusemaintenanceworkmem = false;
    a.amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
    a.amkeytype = pg_sys::InvalidOid;
    a.amvalidate = Some(amvalidate);
    am
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclass: pg_sys::Oid) -> bool {
    true
}
