//! aarch64 NEON tier. Four `f32` lanes per register, four accumulators (16 elements per
//! iteration). f16 data is widened a block at a time (`scalar::via_f32`, the `half` crate's
//! conversion, which uses the FP16 instructions) and then summed with the f32 code; Rust's NEON
//! f16 intrinsics are not stable yet. Bit kernels use `cnt` (per-byte popcount) and a widening add.
//!
//! Note: this file is compiled only for aarch64 targets; the x86-64 machines this project is
//! developed and tested on type-check it (`cargo check -p ruvector-core --target
//! aarch64-unknown-linux-gnu`, which the test command runs when that target's standard library
//! is installed) but cannot run it, so its results are exercised only where aarch64 CI exists.

use super::scalar::{add_sums, via_f32};
use super::{bits, CosineSums, JaccardCounts, Kernels, Tier};
use core::arch::aarch64::*;

pub(super) fn kernels() -> Option<&'static Kernels> {
    // SAFETY of the wrappers below: handed out only when NEON is present.
    std::arch::is_aarch64_feature_detected!("neon").then_some(&KERNELS)
}

static KERNELS: Kernels = Kernels {
    tier: Tier::Neon,
    isa: "NEON",
    l2_squared_f32: |a, b| unsafe { reduce::<L2>(a, b) },
    dot_f32: |a, b| unsafe { reduce::<Dot>(a, b) },
    l1_f32: |a, b| unsafe { reduce::<L1>(a, b) },
    cosine_f32: |a, b| unsafe { cosine(a, b) },
    cosine_distance_f32: |a, b| unsafe { cosine_distance(a, b) },
    l2_squared_f16: |a, b| via_f32(a, b, 0.0, |s, x, y| s + unsafe { reduce::<L2>(x, y) }),
    dot_f16: |a, b| via_f32(a, b, 0.0, |s, x, y| s + unsafe { reduce::<Dot>(x, y) }),
    l1_f16: |a, b| via_f32(a, b, 0.0, |s, x, y| s + unsafe { reduce::<L1>(x, y) }),
    cosine_f16: |a, b| {
        via_f32(a, b, CosineSums::default(), |s, x, y| {
            add_sums(s, unsafe { cosine(x, y) })
        })
    },
    cosine_distance_f16: |a, b| (KERNELS.cosine_f16)(a, b).distance(),
    hamming: |a, b| unsafe { hamming(a, b) },
    jaccard: |a, b| unsafe { jaccard(a, b) },
    // The portable loop, which LLVM vectorises for NEON (`smull`/`sadalp`).
    dot_i8: super::scalar::dot_i8,
};

trait Step {
    unsafe fn step(acc: float32x4_t, x: float32x4_t, y: float32x4_t) -> float32x4_t;
}

struct L2;
struct Dot;
struct L1;

impl Step for L2 {
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn step(acc: float32x4_t, x: float32x4_t, y: float32x4_t) -> float32x4_t {
        let d = vsubq_f32(x, y);
        vfmaq_f32(acc, d, d)
    }
}

impl Step for Dot {
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn step(acc: float32x4_t, x: float32x4_t, y: float32x4_t) -> float32x4_t {
        vfmaq_f32(acc, x, y)
    }
}

impl Step for L1 {
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn step(acc: float32x4_t, x: float32x4_t, y: float32x4_t) -> float32x4_t {
        vaddq_f32(acc, vabdq_f32(x, y))
    }
}

#[inline(always)]
fn pad4(x: &[f32]) -> [f32; 4] {
    let mut out = [0.0f32; 4];
    out[..x.len()].copy_from_slice(x);
    out
}

#[inline]
#[target_feature(enable = "neon")]
unsafe fn reduce<S: Step>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            let o = i + 4 * k;
            // SAFETY: o + 4 <= i + 16 <= n, so both loads read inside `a` and `b`; the CPU has
            // NEON (this function's feature, which `step` was compiled for).
            *acc = unsafe { S::step(*acc, vld1q_f32(pa.add(o)), vld1q_f32(pb.add(o))) };
        }
        i += 16;
    }
    while i < n {
        // SAFETY: a full block lies inside `a` and `b` (i + 4 <= n); a partial one is read from
        // 4-element zero-padded copies.
        let (x, y) = unsafe {
            if i + 4 <= n {
                (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)))
            } else {
                let (ta, tb) = (pad4(&a[i..n]), pad4(&b[i..n]));
                (vld1q_f32(ta.as_ptr()), vld1q_f32(tb.as_ptr()))
            }
        };
        // SAFETY: the CPU has the feature `step` was compiled for (this function's).
        acc[0] = unsafe { S::step(acc[0], x, y) };
        i += 4;
    }
    vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ))
}

/// [`CosineSums::distance`] of [`cosine`], inlined: the sums never leave registers.
#[target_feature(enable = "neon")]
unsafe fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    // SAFETY: the CPU has this function's features, which `cosine` was compiled for.
    unsafe { cosine(a, b) }.distance()
}

#[inline]
#[target_feature(enable = "neon")]
unsafe fn cosine(a: &[f32], b: &[f32]) -> CosineSums {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut dot, mut na, mut nb) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0), vdupq_n_f32(0.0));
    let mut i = 0;
    while i < n {
        // SAFETY: a full block lies inside `a` and `b` (i + 4 <= n); a partial one is read from
        // 4-element zero-padded copies.
        let (x, y) = unsafe {
            if i + 4 <= n {
                (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)))
            } else {
                let (ta, tb) = (pad4(&a[i..n]), pad4(&b[i..n]));
                (vld1q_f32(ta.as_ptr()), vld1q_f32(tb.as_ptr()))
            }
        };
        dot = vfmaq_f32(dot, x, y);
        na = vfmaq_f32(na, x, x);
        nb = vfmaq_f32(nb, y, y);
        i += 4;
    }
    CosineSums {
        dot: vaddvq_f32(dot),
        norm_a: vaddvq_f32(na),
        norm_b: vaddvq_f32(nb),
    }
}

#[target_feature(enable = "neon")]
unsafe fn hamming(a: &[u8], b: &[u8]) -> u64 {
    let n = a.len().min(b.len());
    let mut d = 0u64;
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both 16-byte loads read inside `a` and `b`.
        let (x, y) = unsafe { (vld1q_u8(a.as_ptr().add(i)), vld1q_u8(b.as_ptr().add(i))) };
        let x = veorq_u8(x, y);
        d += vaddlvq_u8(vcntq_u8(x)) as u64;
        i += 16;
    }
    d + bits::hamming_u64(&a[i..n], &b[i..n])
}

#[target_feature(enable = "neon")]
unsafe fn jaccard(a: &[u8], b: &[u8]) -> JaccardCounts {
    let n = a.len().min(b.len());
    let mut c = JaccardCounts::default();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both 16-byte loads read inside `a` and `b`.
        let (x, y) = unsafe { (vld1q_u8(a.as_ptr().add(i)), vld1q_u8(b.as_ptr().add(i))) };
        c.both += vaddlvq_u8(vcntq_u8(vandq_u8(x, y))) as u64;
        c.a += vaddlvq_u8(vcntq_u8(x)) as u64;
        c.b += vaddlvq_u8(vcntq_u8(y)) as u64;
        i += 16;
    }
    let t = bits::jaccard_u64(&a[i..n], &b[i..n]);
    JaccardCounts {
        both: c.both + t.both,
        a: c.a + t.a,
        b: c.b + t.b,
    }
}
