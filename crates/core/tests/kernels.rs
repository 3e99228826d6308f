//! Every kernel of every tier this CPU can run, against an `f64` reference (dense) or a bit-by-bit
//! reference (bits), on awkward lengths and on proptest-generated inputs. The tiers a CPU lacks
//! are reported as skipped (AVX-512 on most CI machines, NEON on x86-64).

use half::f16;
use proptest::prelude::*;
use ruvector_core::kernels::{self, CosineSums, Kernels, Tier};

const LENGTHS: [usize; 18] = [
    0, 1, 2, 3, 5, 6, 7, 8, 15, 16, 17, 31, 33, 50, 127, 1023, 1536, 16000,
];

fn tiers() -> Vec<&'static Kernels> {
    let mut out = Vec::new();
    for t in Tier::ALL {
        match kernels::for_tier(t) {
            Some(k) => out.push(k),
            None => eprintln!(
                "kernel tier {} skipped: not supported by this CPU",
                t.name()
            ),
        }
    }
    assert!(out.iter().any(|k| k.tier == Tier::Scalar));
    out
}

/// Deterministic values in [-scale, scale].
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Reference sums in f64 with the sum of absolute terms (for the error bound).
struct Ref {
    value: f64,
    abs: f64,
}

fn reference(a: &[f64], b: &[f64], term: impl Fn(f64, f64) -> f64) -> Ref {
    let (mut value, mut abs) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let t = term(*x, *y);
        value += t;
        abs += t.abs();
    }
    Ref { value, abs }
}

/// Error bound of an f32 sum whose accumulation chains are at most n/8 + 16 deep (every tier
/// uses at least eight independent accumulators), each step adding one rounding of the term.
fn check(what: &str, tier: Tier, n: usize, got: f32, want: Ref) {
    let tol = (n as f64 / 8.0 + 16.0) * f32::EPSILON as f64 * want.abs + 1e-30;
    assert!(
        (got as f64 - want.value).abs() <= tol,
        "{what} tier={} n={n}: got {got}, want {} (tol {tol})",
        tier.name(),
        want.value
    );
}

/// The distance computed in the kernel is the sums' distance, bit for bit (NaN for a zero
/// vector).
fn same_distance(tier: Tier, n: usize, d: f64, want: f64) {
    assert!(
        d.to_bits() == want.to_bits() || d.is_nan() && want.is_nan(),
        "{tier:?} n={n}: {d} vs {want}"
    );
}

fn check_dense_f32(k: &Kernels, a: &[f32], b: &[f32]) {
    let n = a.len();
    let (a64, b64): (Vec<f64>, Vec<f64>) = (
        a.iter().map(|x| *x as f64).collect(),
        b.iter().map(|x| *x as f64).collect(),
    );
    check(
        "l2_squared_f32",
        k.tier,
        n,
        (k.l2_squared_f32)(a, b),
        reference(&a64, &b64, |x, y| (x - y) * (x - y)),
    );
    check(
        "dot_f32",
        k.tier,
        n,
        (k.dot_f32)(a, b),
        reference(&a64, &b64, |x, y| x * y),
    );
    check(
        "l1_f32",
        k.tier,
        n,
        (k.l1_f32)(a, b),
        reference(&a64, &b64, |x, y| (x - y).abs()),
    );
    let c: CosineSums = (k.cosine_f32)(a, b);
    check(
        "cosine_f32.dot",
        k.tier,
        n,
        c.dot,
        reference(&a64, &b64, |x, y| x * y),
    );
    check(
        "cosine_f32.norm_a",
        k.tier,
        n,
        c.norm_a,
        reference(&a64, &a64, |x, y| x * y),
    );
    check(
        "cosine_f32.norm_b",
        k.tier,
        n,
        c.norm_b,
        reference(&b64, &b64, |x, y| x * y),
    );
    same_distance(k.tier, n, (k.cosine_distance_f32)(a, b), c.distance());
}

fn check_dense_f16(k: &Kernels, a: &[f16], b: &[f16]) {
    let n = a.len();
    let (a64, b64): (Vec<f64>, Vec<f64>) = (
        a.iter().map(|x| x.to_f64()).collect(),
        b.iter().map(|x| x.to_f64()).collect(),
    );
    check(
        "l2_squared_f16",
        k.tier,
        n,
        (k.l2_squared_f16)(a, b),
        reference(&a64, &b64, |x, y| (x - y) * (x - y)),
    );
    check(
        "dot_f16",
        k.tier,
        n,
        (k.dot_f16)(a, b),
        reference(&a64, &b64, |x, y| x * y),
    );
    check(
        "l1_f16",
        k.tier,
        n,
        (k.l1_f16)(a, b),
        reference(&a64, &b64, |x, y| (x - y).abs()),
    );
    let c = (k.cosine_f16)(a, b);
    check(
        "cosine_f16.dot",
        k.tier,
        n,
        c.dot,
        reference(&a64, &b64, |x, y| x * y),
    );
    check(
        "cosine_f16.norm_a",
        k.tier,
        n,
        c.norm_a,
        reference(&a64, &a64, |x, y| x * y),
    );
    check(
        "cosine_f16.norm_b",
        k.tier,
        n,
        c.norm_b,
        reference(&b64, &b64, |x, y| x * y),
    );
    same_distance(k.tier, n, (k.cosine_distance_f16)(a, b), c.distance());
}

fn bit(x: &[u8], i: usize) -> bool {
    x[i / 8] & (0x80 >> (i % 8)) != 0
}

fn check_bits(k: &Kernels, a: &[u8], b: &[u8]) {
    let nbits = a.len() * 8;
    let hamming = (0..nbits).filter(|&i| bit(a, i) != bit(b, i)).count() as u64;
    assert_eq!(
        (k.hamming)(a, b),
        hamming,
        "hamming tier={} bytes={}",
        k.tier.name(),
        a.len()
    );
    let j = (k.jaccard)(a, b);
    let both = (0..nbits).filter(|&i| bit(a, i) && bit(b, i)).count() as u64;
    let ca = (0..nbits).filter(|&i| bit(a, i)).count() as u64;
    let cb = (0..nbits).filter(|&i| bit(b, i)).count() as u64;
    assert_eq!(
        (j.both, j.a, j.b),
        (both, ca, cb),
        "jaccard tier={} bytes={}",
        k.tier.name(),
        a.len()
    );
}

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    values(n, seed, 1.0)
        .iter()
        .map(|x| (x.to_bits() >> 7) as u8)
        .collect()
}

#[test]
fn every_tier_on_awkward_lengths() {
    for k in tiers() {
        for (i, &n) in LENGTHS.iter().enumerate() {
            let a = values(n, 2 * i as u64 + 1, 10.0);
            let b = values(n, 2 * i as u64 + 2, 10.0);
            check_dense_f32(k, &a, &b);
            let ha: Vec<f16> = a.iter().map(|x| f16::from_f32(*x)).collect();
            let hb: Vec<f16> = b.iter().map(|x| f16::from_f32(*x)).collect();
            check_dense_f16(k, &ha, &hb);
            check_bits(k, &bytes(n, i as u64 + 100), &bytes(n, i as u64 + 200));
        }
    }
}

#[test]
fn tiers_agree_with_scalar() {
    let scalar = kernels::for_tier(Tier::Scalar).unwrap();
    for k in tiers() {
        for &n in &LENGTHS {
            let a = values(n, 7, 3.0);
            let b = values(n, 8, 3.0);
            let bound =
                |x: f32| (n as f32 / 4.0 + 32.0) * f32::EPSILON * (x.abs() + n as f32 * 9.0);
            let (s, v) = ((scalar.l2_squared_f32)(&a, &b), (k.l2_squared_f32)(&a, &b));
            assert!(
                (s - v).abs() <= bound(s),
                "l2 {} n={n}: {s} vs {v}",
                k.tier.name()
            );
            let (s, v) = ((scalar.dot_f32)(&a, &b), (k.dot_f32)(&a, &b));
            assert!(
                (s - v).abs() <= bound(s),
                "dot {} n={n}: {s} vs {v}",
                k.tier.name()
            );
            assert_eq!(
                (scalar.hamming)(&bytes(n, 1), &bytes(n, 2)),
                (k.hamming)(&bytes(n, 1), &bytes(n, 2))
            );
            // int8 dot products are exact: equal to an i64 sum, extremes included.
            let (x, y) = (bytes(n, 3), bytes(n, 4));
            let (x, y): (Vec<i8>, Vec<i8>) = (
                x.iter().map(|&v| v as i8).collect(),
                y.iter().map(|&v| v as i8).collect(),
            );
            let exact: i64 = x.iter().zip(&y).map(|(&a, &b)| a as i64 * b as i64).sum();
            assert_eq!(
                (k.dot_i8)(&x, &y) as i64,
                exact,
                "dot_i8 {} n={n}",
                k.tier.name()
            );
            let low = vec![i8::MIN; n];
            assert_eq!(
                (k.dot_i8)(&low, &low) as i64,
                n as i64 * 128 * 128,
                "dot_i8 {} n={n}",
                k.tier.name()
            );
        }
    }
}

#[test]
fn identical_vectors_have_zero_distance() {
    for k in tiers() {
        for &n in &LENGTHS {
            let a = values(n, 3, 100.0);
            assert_eq!((k.l2_squared_f32)(&a, &a), 0.0);
            assert_eq!((k.l1_f32)(&a, &a), 0.0);
        }
    }
}

#[test]
fn active_tier_is_the_best_available_unless_forced() {
    let active = kernels::kernels().tier;
    match std::env::var(kernels::SIMD_ENV).ok().as_deref() {
        None | Some("") | Some("auto") => assert_eq!(active, kernels::available_tiers()[0]),
        Some(forced) => {
            if let Some(t) = Tier::from_name(forced).filter(|t| kernels::for_tier(*t).is_some()) {
                assert_eq!(active, t)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn dense_kernels_match_reference(
        pairs in prop::collection::vec((-1.0e3f32..1.0e3, -1.0e3f32..1.0e3), 0..2100)
    ) {
        let (a, b): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
        let ha: Vec<f16> = a.iter().map(|x| f16::from_f32(*x)).collect();
        let hb: Vec<f16> = b.iter().map(|x| f16::from_f32(*x)).collect();
        for k in tiers() {
            check_dense_f32(k, &a, &b);
            check_dense_f16(k, &ha, &hb);
        }
    }

    #[test]
    fn bit_kernels_match_reference(
        pairs in prop::collection::vec((any::<u8>(), any::<u8>()), 0..300)
    ) {
        let (a, b): (Vec<u8>, Vec<u8>) = pairs.into_iter().unzip();
        for k in tiers() {
            check_bits(k, &a, &b);
        }
    }
}
