//! Observability functions: `ruvector_version()`, `ruvector_simd_info()`.

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
