//! `amcostestimate` for `ruivfflat` (pgvector's model, `ivfflatcostestimate`): without ORDER BY
//! on the distance operator the index is never used (infinite cost); otherwise a scan reads the
//! share `probes / lists` of the index, all of it before the first row comes back.

use super::lists::try_read_meta;
use super::options;
use crate::am::cost::{with_index, Estimate};
use pgrx::pg_sys;

#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn amcostestimate(
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: PostgreSQL passes a valid IndexPath and IndexOptInfo for the duration of
    // amcostestimate; the planner only reads them while we do.
    let (index_path, info) = unsafe { (&*path, &*(*path).indexinfo) };
    // SAFETY: PostgreSQL passes valid, distinct output cells for amcostestimate to fill.
    let estimate = unsafe { Estimate::from_raw(startup, total, selectivity, correlation, pages) };
    if index_path.indexorderbys.is_null() {
        estimate.unusable();
        return;
    }
    // An index this build cannot read is costed as having one list: its scan raises the error
    // (`am::meta`), and planning must not, so that the query can run without the index.
    let lists = with_index(info.indexoid, |index| {
        try_read_meta(index).map_or(1, |meta| meta.lists).max(1) as f64
    });
    let probes = options::PROBES.get().max(1) as f64;
    let ratio = (probes / lists).min(1.0);

    let mut costs = pg_sys::GenericCosts {
        numIndexTuples: info.tuples * ratio,
        ..Default::default()
    };
    // SAFETY: `root` and `path` are the planner's, valid for this call; `costs` is a local.
    unsafe { pg_sys::genericcostestimate(root, path, loop_count, &mut costs) };
    let mut spc_seq_page_cost = 0.0;
    // SAFETY: a catalog lookup by OID; the null out-parameter is documented as not wanted.
    unsafe {
        pg_sys::get_tablespace_page_costs(
            info.reltablespace,
            std::ptr::null_mut(),
            &mut spc_seq_page_cost,
        )
    };
    // A list's pages are chained in block order where the build wrote them, so about half of
    // the page reads are sequential (pgvector's estimate).
    costs.indexTotalCost -=
        0.5 * costs.numIndexPages * (costs.spc_random_page_cost - spc_seq_page_cost);
    // All the work happens before the first row is returned.
    costs.indexStartupCost = costs.indexTotalCost;
    estimate.set(&costs);
}
