//! `amcostestimate` for `ruhnsw`: pgvector's model (`hnswcostestimate`). An index path without
//! ORDER BY on the distance operator gets infinite cost, so a plain WHERE or COUNT(*) never uses
//! the index; otherwise the share of the index a search reads grows with `ef_search` and `m`
//! and shrinks (logarithmically) with the number of rows, so a selective btree plan can win.
//!
//! WHERE clauses on key columns (index quals) filter inside the index: the search walks on
//! until `ef_search` elements pass, so it reads about 1/selectivity times as much of the
//! index (at most all of it) — the planner's estimate of the clauses' selectivity decides
//! between this, a sequential scan and a btree/bitmap plan. An equality on a key column with
//! key links (`keylinks.rs`) is walked among the elements that pass: it reads about what an
//! unfiltered search does.

use super::disk::try_read_meta;
use super::keydir;
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
    let mut costs = pg_sys::GenericCosts {
        // A search reads the whole index's pages at most, whatever the quals' selectivity
        // (which genericcostestimate would otherwise apply to the tuples and pages read).
        numIndexTuples: info.tuples.max(1.0),
        ..Default::default()
    };
    // SAFETY: `root` and `path` are the planner's, valid for this call; `costs` is a local.
    unsafe { pg_sys::genericcostestimate(root, path, loop_count, &mut costs) };
    let filter_selectivity = if index_path.indexclauses.is_null() {
        1.0
    } else {
        costs
            .indexSelectivity
            .clamp(1.0 / costs.numIndexTuples, 1.0)
    };

    // An index this build cannot read is costed with the default m: its scan raises the error
    // (`am::meta`), and planning must not, so that the query can run without the index.
    let meta = with_index(info.indexoid, |index| try_read_meta(index).ok());
    let m = meta.map_or(options::DEFAULT_M as u16, |meta| meta.m) as f64;
    let key_columns = meta.map_or(0, |meta| meta.keys as usize);
    let key_links = meta.map_or(0, |meta| meta.key_links);

    let tuples = info.tuples;
    let ef_search = options::EF_SEARCH.get() as f64;
    // Tuples a search visits: entry level · m to reach layer 0, then up to 2m · ef_search on
    // layer 0, of which a share (scaling factor 0.55, pgvector's fit) are new.
    let ratio = if tuples > 0.0 {
        let entry_level = (tuples.ln() / m.ln()).floor();
        let layer0_max = 2.0 * m * ef_search;
        let layer0_selectivity = 0.55 * tuples.ln() / (m.ln() * (1.0 + ef_search.ln()));
        // SAFETY: the planner's IndexOptInfo and IndexPath, valid for this call.
        let equalities = unsafe { equality_key_columns(index_path.indexinfo, path) };
        let walked = if equalities & key_links as u32 != 0 {
            1.0
        } else {
            filter_selectivity
        };
        ((entry_level * m + layer0_max * layer0_selectivity) / tuples / walked).min(1.0)
    } else {
        1.0
    };
    let mut spc_seq_page_cost = 0.0;
    // SAFETY: a catalog lookup by OID; the null out-parameter is documented as not wanted.
    unsafe {
        pg_sys::get_tablespace_page_costs(
            info.reltablespace,
            std::ptr::null_mut(),
            &mut spc_seq_page_cost,
        )
    };
    costs.indexStartupCost = costs.indexTotalCost * ratio;
    // A search reads its pages at random, but not more pages than a sequential scan would.
    let startup_pages = costs.numIndexPages * ratio;
    // SAFETY: the IndexOptInfo's table (`rel`) is the planner's, valid with it.
    let rel_pages = unsafe { (*info.rel).pages } as f64;
    if startup_pages > rel_pages && ratio < 0.5 {
        costs.indexStartupCost -= startup_pages * (costs.spc_random_page_cost - spc_seq_page_cost);
        costs.indexStartupCost -= (startup_pages - rel_pages) * spc_seq_page_cost;
    }
    // Few rows pass the key columns' clauses: the scan visits them directly from the key
    // directory (`keydir.rs`), reading the directory and the element pages that hold them in
    // block order, and produces every row before the first.
    let passing = filter_selectivity * tuples;
    if !index_path.indexclauses.is_null()
        && key_columns > 0
        && passing <= keydir::exact_most(ef_search as usize, m as usize, tuples) as f64
    {
        let dir_pages = keydir::lookup_pages(
            tuples,
            passing,
            // SAFETY: the planner's IndexOptInfo and IndexPath, valid for this call.
            unsafe { equality_key_columns(index_path.indexinfo, path) } != 0,
            key_columns,
        );
        let element_pages = (costs.numIndexPages - dir_pages).max(1.0);
        let touched = element_pages * (1.0 - (-passing / element_pages).exp());
        // SAFETY: planner cost GUCs, plain values read in the backend's only thread.
        let (cpu_operator_cost, cpu_index_tuple_cost) =
            unsafe { (pg_sys::cpu_operator_cost, pg_sys::cpu_index_tuple_cost) };
        let cost = (dir_pages + touched) * spc_seq_page_cost
            + tuples * cpu_operator_cost
            + passing * (cpu_index_tuple_cost + cpu_operator_cost);
        costs.indexStartupCost = cost;
        costs.indexTotalCost = cost;
    }
    estimate.set(&costs);
}

/// The key columns (bit `i`: key column `i`, index column `i + 1`) on which a clause of the
/// path is an equality (`=`, `IN`, `= ANY`): the key directory then reads that column's buckets
/// of the values looked for, not all of them, and a walk may follow its key links.
///
/// # Safety
/// `info` and `path` must be the planner's valid IndexOptInfo and IndexPath of this index.
unsafe fn equality_key_columns(
    info: *mut pg_sys::IndexOptInfo,
    path: *mut pg_sys::IndexPath,
) -> u32 {
    // SAFETY: `path` is valid (the caller's contract).
    let clauses = unsafe { (*path).indexclauses };
    if clauses.is_null() {
        return 0;
    }
    let mut mask = 0u32;
    // SAFETY: `clauses` is the path's non-null List of IndexClauses.
    let length = unsafe { (*clauses).length };
    for i in 0..length {
        // SAFETY: `i` is below the list's length; each element is a valid IndexClause whose
        // RestrictInfo is valid.
        let (column, clause) = unsafe {
            let ic = pg_sys::list_nth(clauses, i) as *const pg_sys::IndexClause;
            (
                (*ic).indexcol as usize,
                (*(*ic).rinfo).clause as *const pg_sys::Node,
            )
        };
        if column == 0 || column > 32 || clause.is_null() {
            continue;
        }
        // SAFETY: `clause` is a non-null expression node; its tag says which node it is.
        let opno = unsafe {
            match (*clause).type_ {
                pg_sys::NodeTag::T_OpExpr => (*(clause as *const pg_sys::OpExpr)).opno,
                pg_sys::NodeTag::T_ScalarArrayOpExpr => {
                    (*(clause as *const pg_sys::ScalarArrayOpExpr)).opno
                }
                _ => continue,
            }
        };
        // SAFETY: `info` is valid (the caller's contract) and its `opfamily` array has an
        // entry for each of the index's columns, `column` among them.
        let family = unsafe { *(*info).opfamily.add(column) };
        // SAFETY: a catalog lookup by OIDs.
        let strategy = unsafe { pg_sys::get_op_opfamily_strategy(opno, family) };
        if strategy == pg_sys::BTEqualStrategyNumber as i32 {
            mask |= 1 << (column - 1);
        }
    }
    mask
}
