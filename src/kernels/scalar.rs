//! Portable kernels: the fallback tier and the reference the SIMD tiers are tested against.
//!
//! Eight independent `f32` accumulators per sum: it keeps each accumulation chain short (a
//! tighter error bound than one running sum) and lets the compiler keep them in one vector
//! register without reassociating anything itself.

use super::{bits, CosineSums, Kernels, Tier};
use half::f16;

pub static KERNELS: Kernels = Kernels {
    tier: Tier::Scalar,
    isa: "portable Rust",
    l2_squared_f32: l2_squared::<f32>,
    dot_f32: dot::<f32>,
    l1_f32: l1::<f32>,
    cosine_f32: cosine::<f32>,
    l2_squared_f16: l2_squared::<f16>,
    dot_f16: dot::<f16>,
    l1_f16: l1::<f16>,
    cosine_f16: cosine::<f16>,
    hamming: bits::hamming_u64,
    jaccard: bits::jaccard_u64,
};

/// An element type the dense kernels accept.
pub trait Elem: Copy + Send + Sync + 'static {
    fn to_f32(self) -> f32;
}

impl Elem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Elem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

const LANES: usize = 8;

#[inline(always)]
fn sum_lanes(acc: [f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Applies `step(acc, x, y)` to every pair, lane-wise over blocks of eight, then the tail.
#[inline(always)]
fn fold<E: Elem>(a: &[E], b: &[E], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] = step(acc[j], x[j].to_f32(), y[j].to_f32());
        }
    }
    for (j, (x, y)) in ta.iter().zip(tb).enumerate() {
        acc[j] = step(acc[j], x.to_f32(), y.to_f32());
    }
    sum_lanes(acc)
}

/// Σ (aᵢ - bᵢ)²
pub fn l2_squared<E: Elem>(a: &[E], b: &[E]) -> f32 {
    fold(a, b, |s, x, y| {
        let d = x - y;
        s + d * d
    })
}

/// Σ aᵢ·bᵢ
pub fn dot<E: Elem>(a: &[E], b: &[E]) -> f32 {
    fold(a, b, |s, x, y| s + x * y)
}

/// Σ |aᵢ - bᵢ|
pub fn l1<E: Elem>(a: &[E], b: &[E]) -> f32 {
    fold(a, b, |s, x, y| s + (x - y).abs())
}

/// a·b, |a|², |b|² in one pass.
pub fn cosine<E: Elem>(a: &[E], b: &[E]) -> CosineSums {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut dot = [0.0f32; LANES];
    let mut na = [0.0f32; LANES];
    let mut nb = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            let (x, y) = (x[j].to_f32(), y[j].to_f32());
            dot[j] += x * y;
            na[j] += x * x;
            nb[j] += y * y;
        }
    }
    for (j, (x, y)) in ta.iter().zip(tb).enumerate() {
        let (x, y) = (x.to_f32(), y.to_f32());
        dot[j] += x * y;
        na[j] += x * x;
        nb[j] += y * y;
    }
    CosineSums {
        dot: sum_lanes(dot),
        norm_a: sum_lanes(na),
        norm_b: sum_lanes(nb),
    }
}
