//! Portable kernels: the fallback tier and the reference the SIMD tiers are tested against.
//!
//! Eight independent `f32` accumulators per sum: it keeps each accumulation chain short (a
//! tighter error bound than one running sum) and lets the compiler keep them in vector registers
//! without reassociating anything itself. f16 data is widened block by block first.

use super::{bits, CosineSums, Kernels, Tier};
use half::f16;
use half::slice::HalfFloatSliceExt;

pub static KERNELS: Kernels = Kernels {
    tier: Tier::Scalar,
    isa: "portable Rust",
    l2_squared_f32: l2_squared,
    dot_f32: dot,
    l1_f32: l1,
    cosine_f32: cosine,
    cosine_distance_f32: |a, b| cosine(a, b).distance(),
    l2_squared_f16,
    dot_f16,
    l1_f16,
    cosine_f16,
    cosine_distance_f16: |a, b| cosine_f16(a, b).distance(),
    hamming: bits::hamming_u64,
    jaccard: bits::jaccard_u64,
    dot_i8,
};

/// Σ a[i]·b[i] in i32 (exact; the compiler vectorises the widening multiply-add).
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

const LANES: usize = 8;

#[inline(always)]
fn sum_lanes(acc: [f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Applies `step(acc, x, y)` to every pair, lane-wise over blocks of eight, then the tail.
#[inline(always)]
fn fold(a: &[f32], b: &[f32], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        // fixed-size blocks: no bounds checks, so the eight lanes become vector operations
        let (x, y): (&[f32; LANES], &[f32; LANES]) =
            (x.try_into().expect("block"), y.try_into().expect("block"));
        for j in 0..LANES {
            acc[j] = step(acc[j], x[j], y[j]);
        }
    }
    for (j, (x, y)) in ta.iter().zip(tb).enumerate() {
        acc[j] = step(acc[j], *x, *y);
    }
    sum_lanes(acc)
}

/// Widens f16 data block by block into stack buffers and folds `f` over the `f32` blocks (the
/// conversion is the `half` crate's, which uses F16C/FP16 instructions where the CPU has them).
pub(super) fn via_f32<T>(a: &[f16], b: &[f16], init: T, f: impl Fn(T, &[f32], &[f32]) -> T) -> T {
    const BLOCK: usize = 256;
    let n = a.len().min(b.len());
    let (mut xa, mut xb) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
    let mut acc = init;
    for (ca, cb) in a[..n].chunks(BLOCK).zip(b[..n].chunks(BLOCK)) {
        let len = ca.len();
        ca.convert_to_f32_slice(&mut xa[..len]);
        cb.convert_to_f32_slice(&mut xb[..len]);
        acc = f(acc, &xa[..len], &xb[..len]);
    }
    acc
}

/// Adds two partial cosine sums.
pub(super) fn add_sums(s: CosineSums, c: CosineSums) -> CosineSums {
    CosineSums {
        dot: s.dot + c.dot,
        norm_a: s.norm_a + c.norm_a,
        norm_b: s.norm_b + c.norm_b,
    }
}

/// Σ (aᵢ - bᵢ)²
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |s, x, y| {
        let d = x - y;
        s + d * d
    })
}

/// Σ aᵢ·bᵢ
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |s, x, y| s + x * y)
}

/// Σ |aᵢ - bᵢ|
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |s, x, y| s + (x - y).abs())
}

/// a·b, |a|², |b|². Three passes: LLVM vectorises each single-accumulator loop, but not one loop
/// updating three accumulator blocks (measured 2x slower).
pub fn cosine(a: &[f32], b: &[f32]) -> CosineSums {
    CosineSums {
        dot: dot(a, b),
        norm_a: dot(a, a),
        norm_b: dot(b, b),
    }
}

fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    via_f32(a, b, 0.0, |s, x, y| s + l2_squared(x, y))
}

fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    via_f32(a, b, 0.0, |s, x, y| s + dot(x, y))
}

fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    via_f32(a, b, 0.0, |s, x, y| s + l1(x, y))
}

fn cosine_f16(a: &[f16], b: &[f16]) -> CosineSums {
    via_f32(a, b, CosineSums::default(), |s, x, y| {
        add_sums(s, cosine(x, y))
    })
}
