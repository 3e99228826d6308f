//! What both access methods' `amcostestimate` share: the out-parameters, the infinite cost of a
//! path the index cannot serve, and a look at the index being costed.

use super::page::Rel;
use pgrx::pg_sys;

/// `amcostestimate`'s five out-parameters, as references.
pub struct Estimate<'a> {
    startup: &'a mut pg_sys::Cost,
    total: &'a mut pg_sys::Cost,
    selectivity: &'a mut pg_sys::Selectivity,
    correlation: &'a mut f64,
    pages: &'a mut f64,
}

impl<'a> Estimate<'a> {
    /// # Safety
    /// The out-parameters PostgreSQL passed to `amcostestimate`: valid, distinct cells, for
    /// the duration of the call.
    pub unsafe fn from_raw(
        startup: *mut pg_sys::Cost,
        total: *mut pg_sys::Cost,
        selectivity: *mut pg_sys::Selectivity,
        correlation: *mut f64,
        pages: *mut f64,
    ) -> Estimate<'a> {
        // SAFETY: the caller's contract.
        unsafe {
            Estimate {
                startup: &mut *startup,
                total: &mut *total,
                selectivity: &mut *selectivity,
                correlation: &mut *correlation,
                pages: &mut *pages,
            }
        }
    }

    /// A path the index cannot serve (no ORDER BY on the distance operator): infinite cost, so
    /// a plain WHERE or COUNT(*) never uses it.
    pub fn unusable(self) {
        *self.startup = f64::INFINITY;
        *self.total = f64::INFINITY;
        *self.selectivity = 0.0;
        *self.correlation = 0.0;
        *self.pages = 0.0;
    }

    /// The estimate `costs` holds.
    pub fn set(self, costs: &pg_sys::GenericCosts) {
        *self.startup = costs.indexStartupCost;
        *self.total = costs.indexTotalCost;
        *self.selectivity = costs.indexSelectivity;
        *self.correlation = costs.indexCorrelation;
        *self.pages = costs.numIndexPages;
    }
}

/// Runs `f` on the index being costed, opened without a lock: the planner holds one on every
/// index it considers. Reading its meta page lets the estimate follow the index's own
/// parameters (m, lists).
pub fn with_index<T>(indexoid: pg_sys::Oid, f: impl FnOnce(Rel) -> T) -> T {
    // SAFETY: the planner holds a lock on the index it costs, so opening it without one gives a
    // valid relation, used only until `index_close` below.
    let index = unsafe { pg_sys::index_open(indexoid, pg_sys::NoLock as pg_sys::LOCKMODE) };
    // SAFETY: as above: open until the close below.
    let result = f(unsafe { Rel::from_raw(index) });
    // SAFETY: the relation opened above.
    unsafe { pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE) };
    result
}
