//! PURE: distance kernels and their runtime dispatch. No pgrx in this module tree.
//!
//! Every kernel exists once per tier (`scalar`, x86-64 `avx2` = AVX2+FMA+F16C, x86-64 `avx512` =
//! AVX-512F (+BW/VPOPCNTDQ for bit kernels when present), aarch64 `neon`). The tier is chosen once,
//! the first time [`kernels`] is called, from what the CPU reports (`is_x86_feature_detected!`)
//! and the `RUVECTOR_SIMD` environment variable (`auto`, `scalar`, `avx2`, `avx512`, `neon`), and
//! cached as a `&'static Kernels` table of plain function pointers: one atomic load and an
//! indirect call per distance, no per-call feature test.
//!
//! Semantics follow pgvector: sums are accumulated in `f32` (pgvector's `VectorL2SquaredDistance`
//! etc. do the same), so results agree with pgvector up to summation order. The SIMD tiers are
//! checked against the scalar tier and an `f64` reference in `tests/kernels.rs`.

pub mod bits;
pub mod metric;
pub mod prefetch;
pub mod scalar;
pub mod sparse;

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;

use half::f16;
use std::sync::OnceLock;

/// An instruction-set tier; each has one complete [`Kernels`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    Scalar,
    Avx2,
    Avx512,
    Neon,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Avx512, Tier::Avx2, Tier::Neon, Tier::Scalar];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
            Tier::Neon => "neon",
        }
    }

    pub fn from_name(s: &str) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// The three sums cosine distance needs, computed in one pass: `a·b`, `|a|²`, `|b|²`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CosineSums {
    pub dot: f32,
    pub norm_a: f32,
    pub norm_b: f32,
}

impl CosineSums {
    /// pgvector's cosine distance: `1 - dot / sqrt(|a|²|b|²)` in double, similarity clamped to
    /// [-1, 1]; a zero vector gives NaN (0/0), which the clamp leaves alone.
    #[inline]
    pub fn distance(self) -> f64 {
        let sim = self.dot as f64 / (self.norm_a as f64 * self.norm_b as f64).sqrt();
        1.0 - clamp_similarity(sim)
    }
}

/// Clamp a cosine similarity to [-1, 1]; NaN passes through.
#[inline]
pub fn clamp_similarity(sim: f64) -> f64 {
    sim.clamp(-1.0, 1.0)
}

/// Popcounts for Jaccard distance: `|a∧b|`, `|a|`, `|b|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JaccardCounts {
    pub both: u64,
    pub a: u64,
    pub b: u64,
}

impl JaccardCounts {
    /// pgvector's Jaccard distance: 1 when the sets do not intersect, else `1 - |a∧b| / |a∨b|`.
    pub fn distance(self) -> f64 {
        if self.both == 0 {
            1.0
        } else {
            1.0 - self.both as f64 / (self.a + self.b - self.both) as f64
        }
    }
}

/// One tier's kernels. Slices passed to a kernel must have equal lengths (callers check the
/// dimensions first and raise pgvector's error); kernels only look at the common prefix.
pub struct Kernels {
    pub tier: Tier,
    /// Human-readable list of the instruction sets the tier uses.
    pub isa: &'static str,
    pub l2_squared_f32: fn(&[f32], &[f32]) -> f32,
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    pub l1_f32: fn(&[f32], &[f32]) -> f32,
    pub cosine_f32: fn(&[f32], &[f32]) -> CosineSums,
    /// [`CosineSums::distance`] of `cosine_f32`, computed where the sums are still in
    /// registers: returned as a struct, they went through memory, and reading them back with
    /// a wider load than the kernel's stores stalled on store-to-load forwarding (10 ns of a
    /// 28 ns cosine distance at 50-d on an AMD EPYC). What the `<=>` operators call per row.
    pub cosine_distance_f32: fn(&[f32], &[f32]) -> f64,
    pub l2_squared_f16: fn(&[f16], &[f16]) -> f32,
    pub dot_f16: fn(&[f16], &[f16]) -> f32,
    pub l1_f16: fn(&[f16], &[f16]) -> f32,
    pub cosine_f16: fn(&[f16], &[f16]) -> CosineSums,
    pub cosine_distance_f16: fn(&[f16], &[f16]) -> f64,
    pub hamming: fn(&[u8], &[u8]) -> u64,
    pub jaccard: fn(&[u8], &[u8]) -> JaccardCounts,
    /// Σ a[i]·b[i] of int8 codes, exact (|Σ| ≤ 16,000 · 128² < 2³¹): the distances an index
    /// build chooses a graph's links by (`metric::int8_image`, `metric::int8_cosine_distance`).
    pub dot_i8: fn(&[i8], &[i8]) -> i32,
}

/// The table for `tier`, if this CPU can run it.
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    match tier {
        Tier::Scalar => Some(&scalar::KERNELS),
        #[cfg(target_arch = "x86_64")]
        Tier::Avx2 => x86_avx2::kernels(),
        #[cfg(target_arch = "x86_64")]
        Tier::Avx512 => x86_avx512::kernels(),
        #[cfg(target_arch = "aarch64")]
        Tier::Neon => neon::kernels(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Tiers this CPU can run, best first.
pub fn available_tiers() -> Vec<Tier> {
    Tier::ALL
        .into_iter()
        .filter(|t| for_tier(*t).is_some())
        .collect()
}

/// How the active tier was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// No override: the best tier the CPU supports.
    Auto,
    /// `RUVECTOR_SIMD` named this tier and it is available.
    Forced(Tier),
    /// `RUVECTOR_SIMD` named something unknown or unavailable here; the best tier was used.
    Ignored(String),
}

struct Active {
    kernels: &'static Kernels,
    selection: Selection,
}

static ACTIVE: OnceLock<Active> = OnceLock::new();

/// Environment variable that overrides the tier (read once per process).
pub const SIMD_ENV: &str = "RUVECTOR_SIMD";

fn select(request: Option<&str>) -> Active {
    let best = || for_tier(available_tiers()[0]).expect("scalar is always available");
    match request.map(str::trim) {
        None | Some("") => Active {
            kernels: best(),
            selection: Selection::Auto,
        },
        Some(r) if r.eq_ignore_ascii_case("auto") => Active {
            kernels: best(),
            selection: Selection::Auto,
        },
        Some(r) => match Tier::from_name(r).and_then(for_tier) {
            Some(k) => Active {
                kernels: k,
                selection: Selection::Forced(k.tier),
            },
            None => Active {
                kernels: best(),
                selection: Selection::Ignored(r.to_string()),
            },
        },
    }
}

fn active() -> &'static Active {
    ACTIVE.get_or_init(|| select(std::env::var(SIMD_ENV).ok().as_deref()))
}

/// The kernels in use by this process.
#[inline]
pub fn kernels() -> &'static Kernels {
    active().kernels
}

/// How [`kernels`] was chosen.
pub fn selection() -> &'static Selection {
    &active().selection
}

/// CPU features relevant to the kernels, as (name, present) pairs, for diagnostics.
pub fn cpu_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::is_x86_feature_detected!("avx512bw")),
            (
                "avx512vpopcntdq",
                std::is_x86_feature_detected!("avx512vpopcntdq"),
            ),
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("f16c", std::is_x86_feature_detected!("f16c")),
            ("popcnt", std::is_x86_feature_detected!("popcnt")),
        ]
    }
    #[cfg(target_arch = "aarch64")]
    {
        vec![("neon", std::arch::is_aarch64_feature_detected!("neon"))]
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_honours_env_values() {
        assert_eq!(select(None).selection, Selection::Auto);
        assert_eq!(select(Some("auto")).selection, Selection::Auto);
        let s = select(Some("scalar"));
        assert_eq!(s.selection, Selection::Forced(Tier::Scalar));
        assert_eq!(s.kernels.tier, Tier::Scalar);
        let bogus = select(Some("sse9"));
        assert_eq!(bogus.selection, Selection::Ignored("sse9".into()));
        assert_eq!(bogus.kernels.tier, available_tiers()[0]);
    }

    #[test]
    fn cosine_of_zero_vector_is_nan() {
        let s = CosineSums {
            dot: 0.0,
            norm_a: 0.0,
            norm_b: 1.0,
        };
        assert!(s.distance().is_nan());
    }

    #[test]
    fn jaccard_without_intersection_is_one() {
        let c = JaccardCounts {
            both: 0,
            a: 0,
            b: 0,
        };
        assert_eq!(c.distance(), 1.0);
        let c = JaccardCounts {
            both: 1,
            a: 2,
            b: 2,
        };
        assert!((c.distance() - (1.0 - 1.0 / 3.0)).abs() < 1e-15);
    }
}
